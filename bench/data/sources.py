"""Where the real datasets and the official CAD weights come from: the fetch registry.

One :class:`Source` per name that ``python -m bench data fetch NAME`` accepts. Each lists its
files (origin, size, checksum and how far each of these was verified), its licence and
citation, and the conversion (:mod:`bench.data.convert`) that turns the downloads into the layout
the loaders read (docs/data.md). Nothing here touches the network.

Checksums are ``"sha256:<hex>"`` or ``"md5:<hex>"`` (pooch's notation). ``None`` means the
hash is not published anywhere we could read: the first download records it in the cache's
``hashes.json`` and every later fetch checks against that record.
"""

from __future__ import annotations

from dataclasses import dataclass

from emseg_registry import Registry

#: the commit of github.com/liuxy1103/CAD whose ``ckpt/`` files are pinned below; a URL at a
#: commit cannot change under us the way a branch can
CAD_COMMIT = "0ac73599ce4f11bf9a330b576f5d7d8c2e678b1f"
_CAD_RAW = f"https://raw.githubusercontent.com/liuxy1103/CAD/{CAD_COMMIT}/ckpt"

_CAD_CITATION = ("Liu, Cai, Chen, Zhang, Shi, Zhang, Chen, Xiong. Cross-dimension Affinity "
                 "Distillation for 3D EM Neuron Segmentation. CVPR 2024")
_CREMI_CITATION = ("CREMI: MICCAI Challenge on Circuit Reconstruction from Electron Microscopy "
                   "Images, https://cremi.org (Funke, Saalfeld, Bock, Turaga, Perlman)")
_KASTHURI_CITATION = ("Kasthuri et al. Saturated reconstruction of a volume of neocortex. Cell "
                      "162(3):648-661, 2015; SNEMI3D challenge, "
                      "https://snemi3d.grand-challenge.org")
_ISBI_CITATION = ("Cardona et al. PLoS Biol 8:e1000502, 2010; Arganda-Carreras et al. Front. "
                  "Neuroanat. 9:142, 2015 (ISBI 2012 EM segmentation challenge)")


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch.

    Attributes
    ----------
    name
        The file's name at its origin; a mirror (``EMSEG_BENCH_MIRROR``) serves it as
        ``MIRROR/name``.
    dest
        Where it is kept, relative to the data root.
    url
        Direct download URL, or None for files inside a Google Drive folder (see
        :attr:`Source.gdrive_folder`).
    known_hash
        ``"sha256:..."``/``"md5:..."`` or None (recorded on first download).
    size_bytes
        Exact size when known, else None.
    hash_note
        Where the checksum comes from and whether it was checked here.
    """

    name: str
    dest: str
    url: str | None = None
    known_hash: str | None = None
    size_bytes: int | None = None
    hash_note: str = "not published; recorded on first download"


@dataclass(frozen=True)
class Source:
    """A fetchable dataset or set of weights.

    Attributes
    ----------
    name
        What ``bench data fetch`` takes (``cremiA``, ``official:wafer4``, ...).
    kind
        ``"dataset"`` or ``"weights"``.
    files
        The downloads.
    made
        Files the conversion writes (relative to the data root); presence of these (or, when
        empty, of every ``files`` entry) means the source is present.
    homepage, licence, citation
        Shown by ``bench data list`` and before a download.
    restrictive
        The licence limits use (e.g. non-commercial): printed before every download.
    convert
        Name of the conversion in :mod:`bench.data.convert` (None: the loaders read the
        downloads as they are).
    gdrive_folder
        A public Google Drive folder holding ``files`` (downloaded with the optional ``gdown``).
    approx_size
        Human-readable size when the exact one is unknown.
    notes
        Anything a user should know (which version, what the conversion does).
    """

    name: str
    kind: str
    files: tuple[RemoteFile, ...]
    homepage: str
    licence: str
    citation: str
    made: tuple[str, ...] = ()
    restrictive: bool = False
    convert: str | None = None
    gdrive_folder: str | None = None
    approx_size: str = ""
    notes: str = ""
    dataset: str | None = None  # the catalog dataset it provides, when one

    def size_text(self) -> str:
        sizes = [f.size_bytes for f in self.files]
        if all(s is not None for s in sizes):
            return f"{sum(sizes) / 2**20:.1f} MiB"
        return self.approx_size or "unknown until first download"


def _cremi(sample: str, sha: str) -> Source:
    fname = f"sample_{sample}_20160501.hdf"
    return Source(
        name=f"cremi{sample}", kind="dataset", dataset=f"cremi{sample}",
        files=(RemoteFile(fname, f"cremi/{fname}", f"https://cremi.org/static/data/{fname}",
                          f"sha256:{sha}", hash_note=(
                              "sha256 as published in torch_em's CREMI loader "
                              "(torch_em/data/datasets/cremi.py); not downloaded here")),),
        homepage="https://cremi.org/data/",
        licence="terms of the CREMI challenge (https://cremi.org); no licence file is published "
                "with the volumes; cite the challenge",
        citation=_CREMI_CITATION,
        approx_size="about 0.2 GiB of raw voxels (125 x 1250 x 1250 uint8) plus labels",
        notes=("the original (unpadded, not realigned) training volume with neuron labels, "
               "125 x 1250 x 1250 at 40 x 4 x 4 nm: the one the CAD protocol uses (its "
               f"cremi{sample}_inputs/labels.h5 are 125 sections 1250 wide, test = sections "
               "100-124). The padded and realigned releases (sample_*_padded_20160501.hdf) are "
               "a larger, re-aligned context for test-set submission and are not used. The "
               "loader reads the file as it is (CREMI format)."),
    )


def _cad_weights(model: str, sha: str, verified: str) -> Source:
    return Source(
        name=f"official:{model}", kind="weights",
        files=(RemoteFile(f"{model}.ckpt", f"weights/cad/{model}.ckpt", f"{_CAD_RAW}/{model}.ckpt",
                          f"sha256:{sha}", 3642904, verified),),
        homepage="https://github.com/liuxy1103/CAD",
        licence=("no licence file in liuxy1103/CAD (the repository states no terms for the "
                 "checkpoints). " + ("Trained on Wafer4 (CC-BY-NC 4.0): non-commercial use only."
                    if model == "wafer4" else "")).strip(),
        restrictive=model == "wafer4",
        citation=_CAD_CITATION,
        notes="the 2D student only (the teacher was not released); legacy torch format, "
              "loaded with weights_only=True",
    )


#: the commit of github.com/funkelab/lsd that added the tutorial's sample data (removed from
#: the repository later): the lsd sample's 200 TIFF files are fetched from it
LSD_COMMIT = "3551c8d9f24c5a44f446f6fc7cbad919a4ae118b"
_LSD_RAW = (f"https://raw.githubusercontent.com/funkelab/lsd/{LSD_COMMIT}/lsd/tutorial/"
            "sample_data")
#: SHA-256 of the converted arrays' bytes (C order): ``volumes/raw`` (uint8) and
#: ``volumes/labels/neuron_ids`` (uint64) of ../shared/data/lsd_sample/lsd_sample.cremi.h5,
#: which the conversion of the files at LSD_COMMIT reproduces exactly
LSD_ARRAY_SHA256 = {
    "raw": "3639ee7ad76161c0f1b680e5f4e72b03f0e8ecb7b51c7e22e04f362be42750f6",
    "labels": "c0e78a83f89239037ec58a61f7cf1db0a4e8299a3bea62cdd6d1bb18a58ae07e",
}
_LSD_CITATION = ("Sheridan, Nguyen, Adjavon, Schlegel, Eckstein, Funke. Local shape descriptors "
                 "for neuron segmentation. Nature Methods 20:295-303, 2023 (funkelab/lsd)")


def _lsd_sample() -> Source:
    from bench.data._lsd_sample_hashes import FILE_SHA256

    files = tuple(
        RemoteFile(f"{kind}_{n}.tif", f"lsd_sample/source/{kind}/{kind}_{n}.tif",
                   f"{_LSD_RAW}/{kind}/{kind}_{n}.tif", f"sha256:{FILE_SHA256[f'{kind}_{n}.tif']}",
                   62804 if kind == "raw" else 500304,
                   f"sha256 of the git blob at funkelab/lsd@{LSD_COMMIT[:7]} (read with git)")
        for kind in ("raw", "labels") for n in range(100))
    return Source(
        name="lsd_sample", kind="dataset", dataset="lsd_sample", files=files,
        made=("lsd_sample/lsd_sample.cremi.h5",), convert="lsd_sample",
        homepage=f"https://github.com/funkelab/lsd/tree/{LSD_COMMIT}/lsd/tutorial/sample_data",
        licence="MIT (funkelab/lsd; setup.py of that commit says MIT)",
        citation=_LSD_CITATION,
        notes=("ssTEM that looks like CREMI (adult Drosophila), 100 sections of 250 x 250 with "
               "dense 3D neuron labels, as 100 raw and 100 label TIFFs whose file numbers are "
               "not z order: files 0-49 and 50-99 are two separate stacks. The conversion "
               "chains each stack's sections on label overlap (bench.data.section_order), "
               "writes lsd_sample/lsd_sample.cremi.h5 (CREMI format, taken as 40 x 4 x 4 nm) "
               "and checks the arrays' SHA-256 against the pinned ones. The two stacks meet at "
               "z = 50 with no tissue continuity."),
    )


_SHARED = "sha256 of the copy in ../shared/data/cad_official and of the git blob at the commit"
_BLOB = (f"sha256 of the git blob ckpt/NAME.ckpt at liuxy1103/CAD@{CAD_COMMIT[:7]} (read with "
         "git; loads as a CAD student)")

#: fetch name -> :class:`Source` (an :class:`emseg_registry.Registry`; add one with
#: :func:`register_source`)
SOURCES: Registry[Source] = Registry("fetch name")


def register_source(source: Source) -> Source:
    """Add ``source`` under its name; a name already taken is refused."""
    return SOURCES.register(source.name, source)


for _source in (
    _cremi("A", "4c563d1b78acb2bcfb3ea958b6fe1533422f7f4a19f3e05b600bfa11430b510d"),
    _cremi("B", "887e85521e00deead18c94a21ad71f278d88a5214c7edeed943130a1f4bb48b8"),
    _cremi("C", "2874496f224d222ebc29d0e4753e8c458093e1d37bc53acd1b69b19ed1ae7052"),
    Source(
        name="wafer4", kind="dataset", dataset="wafer4",
        files=(RemoteFile("wafer4_inputs.h5", "wafer4/wafer4_inputs.h5"),
               RemoteFile("wafer4_labels.h5", "wafer4/wafer4_labels.h5")),
        homepage="https://github.com/liuxy1103/CAD#wafer4-dataset",
        gdrive_folder="1QsMc71wWDozitktVDXSvZtu5OEP2JT5y",
        licence="CC-BY-NC 4.0 (https://creativecommons.org/licenses/by-nc/4.0/legalcode): "
                "attribution, non-commercial use only",
        restrictive=True, citation=_CAD_CITATION,
        approx_size="about 0.2 GiB of raw voxels (125 x 1250 x 1250 uint8) plus labels",
        notes=("multi-beam SEM, mouse olfactory cortex layer VI, 125 x 1250 x 1250 at 35 x 8 x 8 "
               "nm, in the authors' public Google Drive folder. The file names are the ones the "
               "authors' code reads (HDF5 key 'main'); the folder listing could not be checked "
               "from here."),
    ),
    Source(
        name="ac3ac4", kind="dataset", dataset="ac3ac4",
        files=tuple(RemoteFile(f"{v}_{k}.h5", f"ac3_ac4/{v}_{k}.h5")
                    for v in ("AC3", "AC4") for k in ("inputs", "labels")),
        homepage="https://github.com/liuxy1103/GRDBIS#dataset",
        gdrive_folder="1IsPmaBjDXkSyzPXKjB4GIwHb_5pVVXBe",
        licence="Kasthuri et al. 2015 data (Lichtman lab); no licence file with the processed "
                "copy; cite the paper",
        citation=_KASTHURI_CITATION,
        approx_size="AC4 100 and AC3 at least 100 sections of 1024 x 1024 (raw + labels)",
        notes=("AC4 (train) and AC3 (test) at 30 x 6 x 6 nm, as HDF5 key 'main', from the "
               "processed-data Google Drive folder the CAD first author links for AC3/AC4 "
               "(GRDBIS README); the original release is "
               "https://lichtman.rc.fas.harvard.edu/vast/AC3AC4Package.zip (VAST package; not "
               "converted here). AC4 alone: 'bench data fetch snemi3d'."),
    ),
    Source(
        name="snemi3d", kind="dataset",
        files=tuple(RemoteFile(f"{n}.zip", f"snemi3d/{n}.zip",
                               f"http://brainiac2.mit.edu/SNEMI3D/sites/default/files/{n}.zip")
                    for n in ("train-input", "train-labels")),
        made=("ac3_ac4/train-input.tif", "ac3_ac4/train-labels.tif"),
        homepage="https://snemi3d.grand-challenge.org", convert="snemi3d",
        licence="terms of the SNEMI3D challenge (Kasthuri et al. 2015 data); cite the paper",
        citation=_KASTHURI_CITATION,
        approx_size="100 x 1024 x 1024 raw + labels (zipped TIFF stacks)",
        notes=("the SNEMI3D training stack = AC4 (100 x 1024 x 1024, 30 x 6 x 6 nm, dense 3D "
               "labels); unzipped to ac3_ac4/train-{input,labels}.tif, which the ac3ac4 loader "
               "accepts for AC4. AC3's labels are not part of SNEMI3D (fetch ac3ac4). Use alone "
               "as --dataset ac3_ac4/train-input.tif:train-labels.tif."),
    ),
    Source(
        name="isbi2012", kind="dataset",
        files=(RemoteFile("train-volume.tif", "isbi2012/train-volume.tif",
                          "http://brainiac2.mit.edu/isbi_challenge/sites/default/files/"
                          "train-volume.tif", "md5:465461edbe0254630c4ec5577f1e7764",
                          hash_note="md5 as published in a third-party ssTEM dataset loader; "
                                    "not downloaded here"),
               RemoteFile("train-labels.tif", "isbi2012/train-labels.tif",
                          "http://brainiac2.mit.edu/isbi_challenge/sites/default/files/"
                          "train-labels.tif", "md5:657fe6b728c6dd0152e295c6d800001d",
                          hash_note="md5 as published in a third-party ssTEM dataset loader; "
                                    "not downloaded here")),
        made=("isbi2012/isbi2012_train.h5",),
        homepage="http://brainiac2.mit.edu/isbi_challenge/", convert="isbi2012",
        licence="ISBI 2012 challenge data: for non-commercial research and testing of "
                "segmentation software; cite the two papers",
        citation=_ISBI_CITATION,
        approx_size="30 x 512 x 512 raw + membrane mask (about 15 MiB)",
        notes=("ssTEM, Drosophila larva VNC, 30 x 512 x 512 at 50 x 4 x 4 nm. Converted to "
               "isbi2012/isbi2012_train.h5 (CREMI format); the labels are a 2D membrane mask, "
               "so ids are per-section connected components, not linked across sections: fit "
               "for 2D checks, not 3D VOI. Use as --dataset isbi2012/isbi2012_train.h5."),
    ),
    _lsd_sample(),
    _cad_weights("wafer4", "3d22925e8776493c617359f1148e2713bdf7d9a655550b70b864c05a4fcde53f",
                 _SHARED),
    _cad_weights("CremiA", "d06468b6f84336e3eb66b099e89b345982d5547ae52882aa63dde26fc8ed166f",
                 _SHARED),
    _cad_weights("CremiB", "866e83adc4adb9cf1c923832f5e630f0bc4702af347156b19d5d09f4aa4987cb",
                 _BLOB.replace("NAME", "CremiB")),
    _cad_weights("CremiC", "50190441fa61a07d02a09797d715d9c1cc9ec3953b4506ef87faa23386ef301b",
                 _BLOB.replace("NAME", "CremiC")),
    _cad_weights("AC34", "b3ffbbcffe07433c9d173030ec60533ccf6a8ae6551b1732f2f3c79a5ef64d64",
                 _BLOB.replace("NAME", "AC34")),
):
    register_source(_source)
del _source


def get_source(name: str) -> Source:
    """The registry entry ``name`` (``cremiA``, ``official:wafer4``, ...);
    :class:`emseg_registry.UnknownName` (listing the valid names) when there is none."""
    if name not in SOURCES:
        lowered = {k.lower(): k for k in SOURCES}
        name = lowered.get(name.lower(), name)  # official:cremia, CREMIA: forgiving on case only
    return SOURCES.get(name)
