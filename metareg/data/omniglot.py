"""Omniglot (Lake et al. 2015), prepared once as a TFDS dataset from the two local zip archives.

Raw data: `images_background.zip` and `images_evaluation.zip`
(`images_<archive>/<Alphabet>/characterNN/<id>_<drawer>.png`, 105x105 1-bit), read from
`<data_dir>/omniglot/` (or `data_dir` itself; default `../shared/data`); nothing is downloaded.
Preparing writes the TFDS dataset `metareg_omniglot` (array_record, Tensor features only, so no
TensorFlow; one split per archive) of 28x28 uint8 images, converted to grey before the LANCZOS
resize so that it antialiases, and inverted (strokes bright). The zips' sha256 is recorded and
checked on every later load (metareg.data.provenance), so a changed archive is an error rather than
silently stale data.

`load_characters` reads an archive class-major ([C, 20, 28, 28], characters sorted by alphabet and
character, drawings by drawer); `load_split` builds the meta-train / meta-test classes: "lake"
(background / evaluation), "vinyals" (1200 / 423 characters by a seeded sha256 shuffle, since the
MAML code used by MetaMix and MR-MAML also splits a shuffle of all characters; plus their
90/180/270-degree rotations as new classes) or "vinyals_sorted" (the same in sorted order: nearly
alphabet-disjoint, hence harder). With rotations, class 4*b + r is character b rotated by r*90
degrees counter-clockwise.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from metareg.data import provenance
from metareg.data.images import model_input
from metareg.data.paths import DEFAULT_DATA_DIR, data_root, resolve_prepared_dir

ARCHIVES = ("background", "evaluation")
ARCHIVE_FILES = {a: f"images_{a}.zip" for a in ARCHIVES}
ARCHIVE_CONTENTS = {
    "background": "30 alphabets, 964 characters, 19,280 PNGs",
    "evaluation": "20 alphabets, 659 characters, 13,180 PNGs",
}
# sha256 of the official archives (../shared/data/README.md); reported in errors, not enforced,
# so that small synthetic archives of the same layout work in tests.
ARCHIVE_SHA256 = {
    "background": "5ba973e59ede8d401a236e82afb527271f31f690000dc8c5366369ffce827adf",
    "evaluation": "303b64cf6717b968db86308ab0bdd9885f1ba26a5d2bccca4fdbbb89f44e82e8",
}
NUM_DRAWERS = 20  # drawings per character (Lake et al. 2015)
IMAGE_SIZE = 28  # standard few-shot resolution (Vinyals et al. 2016; Finn et al. 2017)
VINYALS_NUM_TRAIN = 1200  # meta-training characters of the Vinyals et al. (2016) split
VINYALS_SEED = "metareg-omniglot-vinyals"
OMNIGLOT_SPLITS = ("vinyals", "vinyals_sorted", "lake")
NUM_ROTATIONS = 4  # 0, 90, 180, 270 degrees


_MEMBER = re.compile(r"^images_(background|evaluation)/([^/]+)/character(\d+)/(\d+)_(\d+)\.png$")


class OmniglotArchiveError(ValueError):
    """An Omniglot archive that exists but cannot be used; the message names the file and fix."""


class OmniglotSourcesChangedError(OmniglotArchiveError, provenance.SourcesChangedError):
    """The zips at data_dir are not those the prepared dataset was built from
    (metareg.data.provenance)."""


class _Entry(NamedTuple):
    name: str  # member path inside the zip
    alphabet: str
    character: int
    character_id: int
    drawer: int


def omniglot_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the two zips: `data_dir` itself if it holds one of them (or is a folder
    named omniglot without an omniglot/ inside), else `data_dir/omniglot`."""
    root = data_root(data_dir)
    if any((root / f).exists() for f in ARCHIVE_FILES.values()) or (
        root.name == "omniglot" and not (root / "omniglot").exists()
    ):
        return root
    return root / "omniglot"


def source_files(folder: Path) -> tuple[list[Path], list[str]]:
    """(the zips found in `folder`, the names of those missing): what a prepared dataset is
    checked against."""
    paths = [folder / ARCHIVE_FILES[a] for a in ARCHIVES]
    return [p for p in paths if p.is_file()], [p.name for p in paths if not p.is_file()]


def _describe(archive: str) -> str:
    f = ARCHIVE_FILES[archive]
    return (
        f"{f}, the Omniglot {archive} set ({ARCHIVE_CONTENTS[archive]}; python/{f} of "
        f"github.com/brendenlake/omniglot, sha256 {ARCHIVE_SHA256[archive]})"
    )


def check_archive(path: str | os.PathLike, archive: str) -> list[_Entry]:
    """Open and CRC-check one archive; its image entries sorted by (alphabet, character, drawer).

    Raises FileNotFoundError (missing) or OmniglotArchiveError (not a zip, corrupt member, wrong
    layout), each naming the path and the file that belongs there.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Omniglot archive missing: expected {path}, the file {_describe(archive)}. Put it "
            f"there, or point data_dir at the folder that holds omniglot/{ARCHIVE_FILES[archive]} "
            f"(default {DEFAULT_DATA_DIR})."
        )
    fix = f"Replace {path} with a fresh copy of {_describe(archive)}."
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()  # reads every member and checks its CRC-32
            names = zf.namelist()
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
    ) as e:
        raise OmniglotArchiveError(
            f"Omniglot archive corrupt: {path} is not a readable zip ({type(e).__name__}: {e}). "
            f"{fix}"
        ) from e
    if bad is not None:
        raise OmniglotArchiveError(
            f"Omniglot archive corrupt: member {bad!r} of {path} fails its CRC check. {fix}"
        )
    entries = []
    for name in names:
        m = _MEMBER.match(name)
        if m and m.group(1) == archive:
            entries.append(
                _Entry(name, m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5)))
            )
    if not entries:
        raise OmniglotArchiveError(
            f"Omniglot archive has the wrong layout: {path} holds no "
            f"images_{archive}/<Alphabet>/characterNN/<id>_<drawer>.png entries (first entries: "
            f"{names[:3]}). {fix}"
        )
    return sorted(entries, key=lambda e: (e.alphabet, e.character, e.drawer))


def _to_array(png: bytes) -> np.ndarray:
    """105x105 1-bit PNG (white background) -> uint8 [28, 28], strokes bright."""
    with Image.open(io.BytesIO(png)) as im:
        # Grey first: PIL resizes mode "1" images with nearest neighbour, whatever the filter.
        small = im.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return 255 - np.asarray(small, dtype=np.uint8)


def omniglot_input(image, dark_strokes: bool = True) -> np.ndarray:
    """One image as the Omniglot model's input: float32 [28, 28, 1] in [0, 1], strokes bright.

    This is what episodes hold. `image`: a path to an image file (any format PIL reads), PNG bytes,
    or an array [H, W] (or [H, W, C]) of pixels in 0-255 or [0, 1]. It is converted to grey and
    resized with LANCZOS to 28x28, as the prepared data was; `dark_strokes`: True for dark strokes
    on a light background (Omniglot's files, ink on paper), which are inverted; False when the
    strokes are already bright. Scoring a restored model on images of your own:
    `np.stack([omniglot_input(p) for p in paths])` as an episode's support_x / query_x.
    """
    return model_input(image, IMAGE_SIZE, invert=dark_strokes, caller="omniglot_input")


class OmniglotBuilder(
    provenance.LocalFilesBuilder, tfds.core.GeneratorBasedBuilder, skip_registration=True
):
    """TFDS builder over the two local Omniglot zips (manual_dir): array_record, Tensor features.

    Not registered in TFDS's global registry (the catalogue has its own `omniglot`, which downloads
    and uses `tfds.features.Image`); build it with `prepare_omniglot`, or directly:

        b = OmniglotBuilder(data_dir=prepared_dir, file_format="array_record")
        b.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=folder_with_zips)
        )
        b.as_data_source("background")[i]  # {"image": uint8 [28, 28], "alphabet": b"...", ...}
    """

    name = "metareg_omniglot"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": (
            "28x28 uint8, grey + LANCZOS resize, inverted (strokes bright); one split per archive."
        )
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place images_background.zip and images_evaluation.zip (python/ folder of "
        "github.com/brendenlake/omniglot) in the manual_dir; metareg reads them from "
        "../shared/data/omniglot by default."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        # DatasetInfo directly: dataset_info_from_configs would look for metadata files beside
        # this module.
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Omniglot characters (Lake et al. 2015), 28x28, strokes bright, from the local "
                "zip archives."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8),
                    "archive": tfds.features.ClassLabel(names=list(ARCHIVES)),
                    "alphabet": tfds.features.Text(),
                    "character": tfds.features.Scalar(dtype=np.int32),
                    "character_id": tfds.features.Scalar(dtype=np.int32),
                    "drawer": tfds.features.Scalar(dtype=np.int32),
                }
            ),
            homepage="https://github.com/brendenlake/omniglot",
            citation=(
                "Lake, Salakhutdinov, Tenenbaum. Human-level concept learning through "
                "probabilistic program induction. Science 2015."
            ),
        )

    def _split_generators(self, dl_manager):
        folder = Path(os.fspath(dl_manager.manual_dir))
        entries = {a: check_archive(folder / ARCHIVE_FILES[a], a) for a in ARCHIVES}
        progress = provenance.Progress("prepared", sum(len(e) for e in entries.values()), "images")
        return {
            a: self._generate_examples(folder / ARCHIVE_FILES[a], a, entries[a], progress)
            for a in ARCHIVES
        }

    def _generate_examples(
        self, path: Path, archive: str, entries: list[_Entry], progress: provenance.Progress
    ):
        with zipfile.ZipFile(path) as zf:
            for e in entries:
                progress.update()
                yield (
                    e.name,
                    {
                        "image": _to_array(zf.read(e.name)),
                        "archive": archive,
                        "alphabet": e.alphabet,
                        "character": e.character,
                        "character_id": e.character_id,
                        "drawer": e.drawer,
                    },
                )


def prepare_omniglot(
    data_dir: str | os.PathLike | None = None, prepared_dir: str | os.PathLike | None = None
) -> OmniglotBuilder:
    """The prepared builder; prepares it from the zips first if `prepared_dir` does not hold it yet.

    Both archives are checked before TFDS starts, so a missing or corrupt one gives our error (path
    and what belongs there) rather than TFDS's manual-download assertion. Runs started together (a
    sweep) would race to prepare; the first one prepares, the others wait and reuse it. A prepared
    dataset is checked against the zips at `data_dir` (same names and sha256, wherever they live):
    SourcesMissingError (a FileNotFoundError) when they are missing, OmniglotSourcesChangedError
    when they differ (metareg.data.provenance).
    """
    prepared = resolve_prepared_dir(prepared_dir)
    folder = omniglot_dir(data_dir)

    def validate():
        for a in ARCHIVES:
            check_archive(folder / ARCHIVE_FILES[a], a)

    return provenance.prepare_from_local_files(
        lambda: OmniglotBuilder(data_dir=os.fspath(prepared), file_format="array_record"),
        prepared_dir=prepared,
        label="Omniglot data",
        data_dir=data_root(data_dir),
        folder=folder,
        sources=source_files,
        validate=validate,
        changed_error=OmniglotSourcesChangedError,
        lock_name=f".{OmniglotBuilder.name}.lock",
    )


def _read_archive(builder: OmniglotBuilder, archive: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """One TFDS split -> (uint8 [C, 20, 28, 28], read-only; C names
    "<archive>/<alphabet>/characterNN")."""
    source = builder.as_data_source(archive)
    records = source.__getitems__(
        list(range(len(source)))
    )  # the prepared order is TFDS-shuffled: sort below
    by_char: dict[tuple[str, int], dict[int, np.ndarray]] = {}
    for r in records:
        alphabet = (
            r["alphabet"].decode() if isinstance(r["alphabet"], bytes) else str(r["alphabet"])
        )
        by_char.setdefault((alphabet, int(r["character"])), {})[int(r["drawer"])] = r["image"]
    names, images = [], []
    for (alphabet, character), drawings in sorted(by_char.items()):
        name = f"{archive}/{alphabet}/character{character:02d}"
        if sorted(drawings) != list(range(1, NUM_DRAWERS + 1)):
            raise OmniglotArchiveError(
                f"Omniglot character {name} has drawers {sorted(drawings)}, not 1..{NUM_DRAWERS}: "
                f"every character needs {NUM_DRAWERS} drawings. Replace the archive with a fresh "
                f"copy of {_describe(archive)} and delete {builder.data_path} to prepare again."
            )
        names.append(name)
        images.append(np.stack([drawings[d] for d in range(1, NUM_DRAWERS + 1)]))
    array = np.stack(images).astype(np.uint8)
    array.setflags(write=False)  # shared by the per-process cache
    return array, tuple(names)


@functools.lru_cache(maxsize=4)
def _read_characters_cached(prepared_dir: str) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    builder = OmniglotBuilder(data_dir=prepared_dir, file_format="array_record")
    return {a: _read_archive(builder, a) for a in ARCHIVES}


def load_characters(
    data_dir: str | os.PathLike | None = None, prepared_dir: str | os.PathLike | None = None
) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """{"background": (images, names), "evaluation": (images, names)}, preparing first if needed.

    images: uint8 [C, 20, 28, 28] (read-only; cached per process), class-major, characters sorted by
    (alphabet, character number), drawings by drawer; names: "<archive>/<alphabet>/characterNN". The
    zips at data_dir are checked against the prepared data's record on every call (see
    prepare_omniglot).
    """
    prepared = os.fspath(resolve_prepared_dir(prepared_dir))
    prepare_omniglot(data_dir, prepared)
    return _read_characters_cached(prepared)


def with_rotations(images: np.ndarray) -> np.ndarray:
    """[C, D, H, W] -> [4C, D, H, W]: class 4*b + r is class b rotated r*90 degrees (np.rot90).

    np.rot90 turns counter-clockwise.
    """
    rotated = np.stack([np.rot90(images, r, axes=(2, 3)) for r in range(NUM_ROTATIONS)], axis=1)
    return rotated.reshape(-1, *images.shape[1:])


def _rotation_names(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{n}/rot{90 * r:03d}" for n in names for r in range(NUM_ROTATIONS))


def vinyals_partition(
    names: tuple[str, ...], num_train: int = VINYALS_NUM_TRAIN, shuffled: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices into `names`, each ascending: the first `num_train` characters of the
    seeded-hash order (shuffled) or of the given order (not shuffled)."""
    if len(names) <= num_train:
        raise ValueError(
            f"the Vinyals split needs more than {num_train} characters (it trains on "
            f"{num_train}), but the archives hold {len(names)}: use split='lake', or the complete "
            "Omniglot archives"
        )
    order = np.arange(len(names))
    if shuffled:
        order = np.array(
            sorted(
                order,
                key=lambda i: hashlib.sha256(f"{VINYALS_SEED}/{names[i]}".encode()).hexdigest(),
            )
        )
    return np.sort(order[:num_train]), np.sort(order[num_train:])


@dataclasses.dataclass(frozen=True)
class OmniglotSplit:
    """Meta-train and meta-test classes, class-major uint8 [C, 20, 28, 28], with one name per class.

    rotations_per_character: 4 when each character's rotations are classes 4*b .. 4*b+3, else 1.
    """

    train: np.ndarray
    test: np.ndarray
    train_names: tuple[str, ...]
    test_names: tuple[str, ...]
    rotations_per_character: int


def load_split(
    split: str = "vinyals",
    data_dir: str | os.PathLike | None = None,
    prepared_dir: str | os.PathLike | None = None,
    rotations: bool | None = None,
) -> OmniglotSplit:
    """The meta-train / meta-test classes of `split` (see the module docstring for the orderings).

    rotations: add 90/180/270-degree rotations as new classes; None = the split's standard
    (True for "vinyals"/"vinyals_sorted", False for "lake").
    """
    if split not in OMNIGLOT_SPLITS:
        raise ValueError(f"unknown Omniglot split {split!r}; choose from {list(OMNIGLOT_SPLITS)}")
    chars = load_characters(data_dir, prepared_dir)
    if split == "lake":
        (train, train_names), (test, test_names) = chars["background"], chars["evaluation"]
    else:
        images = np.concatenate([chars[a][0] for a in ARCHIVES])
        names = chars["background"][1] + chars["evaluation"][1]
        tr, te = vinyals_partition(names, shuffled=split == "vinyals")
        train, test = images[tr], images[te]
        train_names, test_names = tuple(names[i] for i in tr), tuple(names[i] for i in te)
    if rotations is None:
        rotations = split != "lake"
    if rotations:
        train, test = with_rotations(train), with_rotations(test)
        train_names, test_names = _rotation_names(train_names), _rotation_names(test_names)
    return OmniglotSplit(train, test, train_names, test_names, NUM_ROTATIONS if rotations else 1)
