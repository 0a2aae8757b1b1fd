"""Loaders on tiny files written by the tests, in every supported format, and their errors."""

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from bench.data import DataFormatError, load_cremi_file, load_dataset, load_volume

RES = (40.0, 4.0, 4.0)


def _arrays(z=6, y=8, x=10, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (z, y, x), dtype=np.uint8)
    labels = rng.integers(0, 5, (z, y, x)).astype(np.uint64)
    return raw, labels


def _h5(path, **arrays):
    with h5py.File(path, "w") as f:
        for key, (arr, attrs) in arrays.items():
            ds = f.create_dataset(key, data=arr)
            ds.attrs.update(attrs)
    return path


def test_cremi_format_roundtrip(tmp_path):
    raw, labels = _arrays()
    p = _h5(tmp_path / "sample.hdf", **{"volumes/raw": (raw, {"resolution": RES}),
                                        "volumes/labels/neuron_ids": (labels, {})})
    vol = load_cremi_file(p)
    assert vol.resolution_nm == RES
    assert np.array_equal(vol.raw[...], raw) and np.array_equal(vol.labels[2:4], labels[2:4])
    assert isinstance(vol.raw, h5py.Dataset)  # lazy


def test_cad_layout_wafer4_and_protocol_splits(tmp_path):
    raw, labels = _arrays(z=125, y=4, x=4)
    (tmp_path / "wafer4").mkdir()
    _h5(tmp_path / "wafer4/wafer4_inputs.h5", main=(raw, {}))
    _h5(tmp_path / "wafer4/wafer4_labels.h5", main=(labels.astype(np.uint32), {}))
    with pytest.warns(UserWarning, match="no 'resolution'.*35.0, 8.0, 8.0"):
        ds = load_dataset("wafer4", data_root=tmp_path)
    assert ds.split("train").shape[0] == 90 and ds.split("val").shape[0] == 10
    assert ds.splits["test"].start == 100 and ds.splits["test"].stop == 125
    test = ds.split("test")
    assert test.labels[...].dtype == np.uint64  # uint32 ids cast lazily
    assert np.array_equal(test.raw[...], raw[100:])


def test_cad_layout_cremi_and_official_cremi_file(tmp_path):
    raw, labels = _arrays(z=125, y=4, x=4)
    (tmp_path / "cremi").mkdir()
    _h5(tmp_path / "cremi/cremiB_inputs.h5", main=(raw, {"resolution": RES}))
    _h5(tmp_path / "cremi/cremiB_labels.h5", main=(labels, {}))
    assert load_dataset("cremiB", data_root=tmp_path).split("val").shape == (10, 4, 4)
    _h5(tmp_path / "cremi/sample_C_20160501.hdf",
        **{"volumes/raw": (raw, {"resolution": RES}),
           "volumes/labels/neuron_ids": (labels, {"resolution": RES})})
    ds = load_dataset("cremiC", data_root=tmp_path)
    assert ds.split("test").shape == (25, 4, 4) and ds.resolution_nm == RES


def test_ac3ac4_h5_and_snemi_tif(tmp_path):
    d = tmp_path / "ac3_ac4"
    d.mkdir()
    raw3, lab3 = _arrays(z=100, y=4, x=4, seed=1)
    raw4, lab4 = _arrays(z=100, y=4, x=4, seed=2)
    _h5(d / "AC3_inputs.h5", main=(raw3, {}))
    _h5(d / "AC3_labels.h5", main=(lab3, {}))
    # AC4 as the SNEMI3D release's TIFF stacks
    tifffile.imwrite(d / "train-input.tif", raw4)
    tifffile.imwrite(d / "train-labels.tif", lab4.astype(np.uint16))
    with pytest.warns(UserWarning, match="resolution"):
        ds = load_dataset("ac3ac4", data_root=tmp_path)
    assert ds.splits["train"].volume == "AC4" and ds.split("train").shape[0] == 70
    assert ds.split("val").shape[0] == 10
    assert ds.splits["test"].volume == "AC3" and ds.split("test").shape[0] == 100
    assert np.array_equal(ds.split("val").raw, raw4[70:80])
    assert np.array_equal(ds.split("test").labels[...], lab3)


def test_generic_h5_spec_and_zarr(tmp_path):
    raw, labels = _arrays(z=20)
    p = _h5(tmp_path / "any.h5", img=(raw, {"resolution": (30, 6, 6)}), seg=(labels, {}))
    ds = load_dataset(f"{p}:img:seg")
    assert ds.resolution_nm == (30.0, 6.0, 6.0)
    assert [ds.split(s).shape[0] for s in ("train", "val", "test")] == [12, 3, 5]
    z = tmp_path / "vol.zarr"
    g = zarr.open_group(str(z), mode="w")
    g.create_array("raw", shape=raw.shape, dtype="u1")[...] = raw
    g.create_array("labels", shape=labels.shape, dtype="u8")[...] = labels
    g.attrs["resolution"] = [35, 8, 8]
    ds = load_dataset(f"{z}:raw:labels")
    assert ds.resolution_nm == (35.0, 8.0, 8.0)
    assert np.array_equal(ds.split("test").labels[...], labels[15:])


def test_tif_spec_raw_and_labels_files(tmp_path):
    raw, labels = _arrays(z=12)
    tifffile.imwrite(tmp_path / "r.tif", raw)
    tifffile.imwrite(tmp_path / "l.tif", labels.astype(np.uint32))
    with pytest.warns(UserWarning, match="resolution"):
        ds = load_dataset(f"{tmp_path / 'r.tif'}:l.tif")
    assert np.array_equal(ds.volumes["volume"].labels[...], labels)


def test_raw_conversion_policy(tmp_path):
    raw, labels = _arrays()
    p = _h5(tmp_path / "f.h5", u16=((raw.astype(np.uint16) << 8), {"resolution": RES}),
            f01=(raw / 255.0, {"resolution": RES}), f255=(raw.astype(np.float32), {}),
            i32=(raw.astype(np.int32), {}), lab=(labels, {}))
    with pytest.warns(UserWarning, match="uint16"):
        assert np.array_equal(load_volume(p, "u16", p, "lab", name="v",
                                          default_resolution_nm=RES).raw, raw)
    with pytest.warns(UserWarning, match=r"\[0, 1\]"):
        assert np.array_equal(load_volume(p, "f01", None, None, name="v",
                                          default_resolution_nm=RES).raw, raw)
    with pytest.raises(DataFormatError, match=r"f\.h5:f255.*\[0, 1\]"):
        load_volume(p, "f255", None, None, name="v", default_resolution_nm=RES)
    with pytest.raises(DataFormatError, match=r"i32.*int32; expected uint8"):
        load_volume(p, "i32", None, None, name="v", default_resolution_nm=RES)


def test_bad_labels_and_shapes(tmp_path):
    raw, labels = _arrays()
    p = _h5(tmp_path / "f.h5", raw=(raw, {"resolution": RES}),
            flt=(labels.astype(np.float32), {}), small=(labels[:3], {}),
            neg=(labels.astype(np.int64) - 2, {}))
    with pytest.raises(DataFormatError, match=r"f\.h5:flt.*float32; expected integer"):
        load_volume(p, "raw", p, "flt", name="v", default_resolution_nm=RES)
    with pytest.raises(DataFormatError, match=r"small.*\(3, 8, 10\) differs from raw shape"):
        load_volume(p, "raw", p, "small", name="v", default_resolution_nm=RES)
    vol = load_volume(p, "raw", p, "neg", name="v", default_resolution_nm=RES)
    with pytest.raises(DataFormatError, match="negative label ids"):
        vol.load()


def test_missing_files_and_keys(tmp_path, monkeypatch):
    # without --data-root the cache folder is the root, and the error says how to fill it
    monkeypatch.setenv("EMSEG_BENCH_DATA", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=r"get them with: python -m bench data fetch "
                       r"cremiA$"):
        load_dataset("cremiA")
    with pytest.raises(FileNotFoundError, match=r"cremi/cremiA_inputs\.h5.*sample_A"):
        load_dataset("cremiA", data_root=tmp_path)
    (tmp_path / "wafer4").mkdir()
    _h5(tmp_path / "wafer4/wafer4_inputs.h5", main=(_arrays(z=125)[0], {}))
    with pytest.raises(FileNotFoundError, match="wafer4_labels.h5"):
        load_dataset("wafer4", data_root=tmp_path)
    p = _h5(tmp_path / "k.h5", raw=(_arrays()[0], {}))
    with pytest.raises(KeyError, match=r"no array 'nope'; arrays in the file: raw"):
        load_dataset(f"{p}:nope:raw")
    with pytest.raises(KeyError, match="volumes/labels/neuron_ids"):
        load_cremi_file(p)
    with pytest.raises(KeyError, match="unknown dataset 'wafer5'"):
        load_dataset("wafer5")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_dataset(str(tmp_path / "absent.h5") + ":a:b")


def test_protocol_needs_125_sections(tmp_path):
    raw, labels = _arrays(z=50)
    (tmp_path / "wafer4").mkdir()
    _h5(tmp_path / "wafer4/wafer4_inputs.h5", main=(raw, {"resolution": (35, 8, 8)}))
    _h5(tmp_path / "wafer4/wafer4_labels.h5", main=(labels, {}))
    with pytest.raises(DataFormatError, match="50 sections; the paper protocol needs 125"):
        load_dataset("wafer4", data_root=tmp_path)


@pytest.mark.shared
def test_gala_fib_through_cremi_loader(shared_data):
    for path in sorted((shared_data / "gala_fib").glob("*.cremi.h5")):
        vol = load_cremi_file(path)
        assert vol.shape == (50, 100, 200) and vol.resolution_nm == (10.0, 10.0, 10.0)
        assert vol.raw.dtype == np.uint8 and vol.labels.dtype == np.uint64
        ds = load_dataset(str(path))  # the same file as a dataset spec (CREMI format)
        assert ds.split("test").labels.shape[0] == 12
        assert (ds.split("train").load().labels > 0).mean() > 0.8
