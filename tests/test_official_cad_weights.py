"""The authors' released CAD weights, run by our student, reproduce the authors' outputs.

``cad_wafer4_golden.npz`` holds the official network's embeddings and ``trunc`` affinities on a
real ISBI 2012 section pair (see ../shared/data/README.md); skipped without ../shared.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.affinity.embedding import trunc_affinities
from bench.infer import predict_section_pairs
from cad.checkpoint import load_official_student, read_official_checkpoint

TOL = 1e-4


@pytest.fixture(scope="module")
def official(shared_data):
    ckpt = shared_data / "cad_official" / "wafer4.ckpt"
    golden = dict(np.load(shared_data / "cad_official" / "cad_wafer4_golden.npz",
                          allow_pickle=False))
    return ckpt, golden


def test_read_official_checkpoint_meta(official):
    meta = read_official_checkpoint(official[0])
    assert meta["current_iter"] == 153_000
    assert meta["valid_result"] is None
    assert meta["n_tensors"] == 158
    assert meta["n_parameters"] == 900_816
    assert meta["n_numbers"] == 903_078


def test_student_reproduces_official_embeddings_and_affinities(official):
    ckpt, golden = official
    net = load_official_student(ckpt)
    assert not net.training
    x = torch.from_numpy(golden["input_sections"].astype(np.float32) / 255.0)[None]
    assert x.shape == (1, 2, 256, 256)
    with torch.no_grad():
        emb_prev, emb_curr = net(x)
        affs = trunc_affinities(emb_prev, emb_curr)[0].numpy()
    assert np.abs(emb_prev[0].numpy() - golden["embedding_prev"]).max() < TOL
    assert np.abs(emb_curr[0].numpy() - golden["embedding_curr"]).max() < TOL
    assert np.abs(affs - golden["affinities_zyx"]).max() < TOL


def test_predict_section_pairs_reproduces_official_section_1(official):
    ckpt, golden = official
    net = load_official_student(ckpt)
    affs, emb_prev, emb_curr = predict_section_pairs(
        net, golden["input_sections"], tile=None, device="cpu", return_embeddings=True
    )
    assert affs.shape == (3, 2, 256, 256) and affs.dtype == np.float32
    assert np.abs(affs[:, 1] - golden["affinities_zyx"]).max() < TOL
    assert np.abs(emb_prev[:, 1] - golden["embedding_prev"]).max() < TOL
    assert np.abs(emb_curr[:, 1] - golden["embedding_curr"]).max() < TOL
    # section 0 is paired with itself
    with torch.no_grad():
        x0 = torch.from_numpy(golden["input_sections"][[0, 0]].astype(np.float32) / 255.0)[None]
        ref0 = trunc_affinities(*net(x0))[0].numpy()
    assert np.abs(affs[:, 0] - ref0).max() < TOL


def test_load_rejects_wrong_files(tmp_path, official):
    weights = torch.load(official[0], map_location="cpu", weights_only=True)["model_weights"]
    broken = dict(weights)
    broken.pop("outc_t.conv.bias")
    broken["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "broken.ckpt"
    torch.save({"current_iter": 1, "valid_result": None, "model_weights": broken}, bad)
    with pytest.raises(ValueError, match=r"missing keys \[outc_t.conv.bias\].*extra.weight"):
        load_official_student(bad)

    no_key = tmp_path / "nokey.ckpt"
    torch.save({"state_dict": weights}, no_key)
    with pytest.raises(ValueError, match="model_weights"):
        load_official_student(no_key)

    not_torch = tmp_path / "text.ckpt"
    not_torch.write_text("hello")
    with pytest.raises(ValueError, match="could not be read"):
        read_official_checkpoint(not_torch)
    with pytest.raises(FileNotFoundError):
        load_official_student(tmp_path / "absent.ckpt")
