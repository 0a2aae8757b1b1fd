"""What every line plot of the report ends with: labels, legend, grid, a tight layout, the PNG
written and the figure closed (the report's modules share it; none of them imports another for
it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["finish_plot"]


def finish_plot(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """Label ``ax``, save ``fig`` to ``path`` and close it; returns ``path``."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
