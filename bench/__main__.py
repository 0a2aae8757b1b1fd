# before anything imports torch: the OpenMP runtime reads its wait policy once, at start-up
from bench.threads import passive_wait_policy

passive_wait_policy()

from bench.cli import main  # noqa: E402

raise SystemExit(main())
