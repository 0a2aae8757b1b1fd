import numpy as np

from bench.data.types import Dataset, Split, Volume


def _dataset(z=10):
    raw = np.zeros((z, 8, 8), np.uint8)
    labels = np.ones((z, 8, 8), np.uint64)
    vol = Volume(raw, labels, (40.0, 4.0, 4.0), name="v")
    splits = {"train": Split("train", "v", 0, 6), "test": Split("test", "v", 6, z)}
    return Dataset("toy", {"v": vol}, splits)


def test_split_slices_sections():
    ds = _dataset()
    assert ds.split("train").shape == (6, 8, 8)
    assert ds.split("test").shape == (4, 8, 8)


def test_split_hash_is_stable_and_sensitive():
    assert _dataset().split_hash() == _dataset().split_hash()
    assert _dataset(10).split_hash() != _dataset(12).split_hash()
