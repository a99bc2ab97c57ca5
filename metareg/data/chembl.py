"""ChEMBL few-shot drug-activity assays (FS-Mol format), prepared once as a TFDS dataset.

Raw data: `<data_dir>/chembl_fewshot/{train,valid,test}/CHEMBL<id>.jsonl.gz` (or `data_dir` itself
when it holds those folders; default `../shared/data`): one file per assay (= one task), one JSON
object per line (= one compound) with `smiles`, `pchembl_value` (the regression target, -log10
molar) and `fingerprints` (FS-Mol's 2048-wide hashed Morgan count fingerprint, radius 2).

`prepare_chembl` checks every line (a bad file raises `ChemblDataError` naming the file, the line
and what belongs there) and writes the TFDS dataset `metareg_chembl_fewshot` (array_record, Tensor
features only, one example per compound, one split per folder). It records the sha256 of the files
it read and every later load checks that `data_dir` still holds them (metareg.data.provenance), so
changed data is an error rather than silently stale.

`load_assays` holds all assays in memory as one flat array with offsets, because the assays are
ragged and padding them would cost ~16x the memory; the fingerprint is the given one or a 1024-bit
Morgan fingerprint recomputed with RDKit, as the papers use (MetaMix App. C.1; Martin et al. 2019).
`assay_partition` gives MetaMix's four evaluation groups (Sec. 6.1): group 0 is the data's own
split, groups 1..3 seeded hash re-partitions (100 meta-test, 76 meta-validation assays, App. C.1).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import math
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from metareg.data import provenance
from metareg.data.paths import DEFAULT_DATA_DIR, data_root, resolve_prepared_dir

FOLDERS = ("train", "valid", "test")  # the data's own split, one folder each
FINGERPRINT_WIDTH = 2048  # FS-Mol's Morgan count fingerprint (radius 2)
FINGERPRINTS = ("given2048", "morgan1024")
MORGAN_RADIUS = 2  # ECFP4-like, as pQSAR / MetaMix (App. C.1)
MORGAN_BITS = 1024  # MetaMix App. C.1: "1,024 dimensional Morgan fingerprint implemented in RDkit"
REQUIRED_FIELDS = ("smiles", "pchembl_value", "fingerprints")

NUM_GROUPS = 4  # MetaMix Table 2: four evaluation groups
GROUP_NUM_TEST = 100  # MetaMix Sec. 6.1: 100 meta-test assays per group
GROUP_NUM_VALID = 76  # MetaMix App. C.1: 76 meta-validation assays
GROUP_SEED = (
    "metareg-chembl-group"  # group g orders assays by sha256(f"{GROUP_SEED}{g}/{assay_id}")
)

_FILE = re.compile(r"^(CHEMBL\d+)\.jsonl\.gz$")


class ChemblDataError(ValueError):
    """A ChEMBL assay file (or the prepared data) that exists but cannot be used.

    The message names the file and the fix.
    """


class ChemblSourcesChangedError(ChemblDataError, provenance.SourcesChangedError):
    """The assay files at data_dir are not those the prepared dataset was built from
    (metareg.data.provenance)."""


def chembl_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding train/ valid/ test/: `data_dir` itself if it holds train/ (or is a folder
    named chembl_fewshot without a chembl_fewshot/ inside), else `data_dir/chembl_fewshot`."""
    root = data_root(data_dir)
    if (root / "train").is_dir() or (
        root.name == "chembl_fewshot" and not (root / "chembl_fewshot").exists()
    ):
        return root
    return root / "chembl_fewshot"


def source_files(folder: Path) -> tuple[list[Path], list[str]]:
    """(the assay files in folder's train/ valid/ test/, the names of missing folders): what a
    prepared dataset is checked against."""
    files, missing = [], []
    for split in FOLDERS:
        d = folder / split
        if d.is_dir():
            files.extend(sorted(d / name for name in os.listdir(d) if _FILE.match(name)))
        else:
            missing.append(f"{split}/")
    return files, missing


def _fix(path: Path) -> str:
    return (
        f"Replace {path} with a fresh copy of that assay file (ersilia-os/few-shot-bioassays, "
        "dataset/min_size_04, FS-Mol format: one JSON object per line with "
        f"{', '.join(REQUIRED_FIELDS)}), or remove it."
    )


def list_assay_files(folder: str | os.PathLike) -> dict[str, list[tuple[str, Path]]]:
    """{"train": [(assay_id, path), ...], "valid": ..., "test": ...}, each sorted by assay id.

    Raises FileNotFoundError for a missing folder (naming what belongs there) and ChemblDataError
    for an empty folder or an assay id found in two folders.
    """
    folder = Path(folder)
    out: dict[str, list[tuple[str, Path]]] = {}
    seen: dict[str, str] = {}
    for split in FOLDERS:
        d = folder / split
        if not d.is_dir():
            raise FileNotFoundError(
                f"ChEMBL assay folder missing: expected {d}, a folder of CHEMBL<id>.jsonl.gz "
                f"files (one per assay; the '{split}' part of ersilia-os/few-shot-bioassays "
                "dataset/min_size_04). Put it there, or point data_dir at the folder that holds "
                f"chembl_fewshot/{{train,valid,test}} (default {DEFAULT_DATA_DIR})."
            )
        files = sorted((m.group(1), d / name) for name in os.listdir(d) if (m := _FILE.match(name)))
        if not files:
            raise ChemblDataError(
                f"ChEMBL assay folder {d} holds no CHEMBL<id>.jsonl.gz files (found "
                f"{sorted(os.listdir(d))[:3]})."
            )
        for assay, _ in files:
            if assay in seen:
                raise ChemblDataError(
                    f"ChEMBL assay {assay} is in both {seen[assay]}/ and {split}/ of {folder}: "
                    "keep one."
                )
            seen[assay] = split
        out[split] = files
    return out


def read_assay_file(path: str | os.PathLike) -> list[tuple[str, float, np.ndarray]]:
    """One assay file -> [(smiles, pchembl_value, fingerprint uint8 [2048]), ...], lines checked.

    Raises ChemblDataError naming the file (and line) for an unreadable gzip, a line that is not
    JSON or not an object, a missing field, a SMILES that is not a non-empty string, a target that
    is not a finite number, or a fingerprint that is not 2048 integers in 0..255.
    """
    path = Path(path)
    rows = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = fh.readlines()  # the whole file first, so a corrupt gzip is reported as such
    except (
        OSError,
        EOFError,
        zlib.error,
        UnicodeDecodeError,
    ) as e:  # gzip.BadGzipFile is an OSError
        raise ChemblDataError(
            f"ChEMBL assay file unreadable: {path} is not a readable gzip text file "
            f"({type(e).__name__}: {e}). {_fix(path)}"
        ) from e
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue  # a trailing blank line is harmless
        where = f"{path}, line {i}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise ChemblDataError(
                f"ChEMBL assay file malformed: {where} is not JSON ({e}: {line[:80]!r}). "
                f"{_fix(path)}"
            ) from e
        if not isinstance(d, dict):
            raise ChemblDataError(
                f"ChEMBL assay file malformed: {where} is a JSON {type(d).__name__}, not an "
                f"object. {_fix(path)}"
            )
        missing = [f for f in REQUIRED_FIELDS if f not in d]
        if missing:
            raise ChemblDataError(
                f"ChEMBL assay file malformed: {where} has no field {missing} (it has "
                f"{sorted(d)[:8]}...). {_fix(path)}"
            )
        smiles, value, fp = d["smiles"], d["pchembl_value"], d["fingerprints"]
        if not isinstance(smiles, str) or not smiles:
            raise ChemblDataError(
                f"ChEMBL assay file malformed: {where} has smiles={smiles!r}, not a non-empty "
                f"string. {_fix(path)}"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ChemblDataError(
                f"ChEMBL assay file malformed: {where} has pchembl_value={value!r}, not a finite "
                f"number. {_fix(path)}"
            )
        if not isinstance(fp, list) or len(fp) != FINGERPRINT_WIDTH:
            length = len(fp) if isinstance(fp, list) else type(fp).__name__
            raise ChemblDataError(
                f"ChEMBL assay file malformed: {where} has a fingerprint of length {length}; "
                f"expected a list of {FINGERPRINT_WIDTH} Morgan counts (FS-Mol format). "
                f"{_fix(path)}"
            )
        a = np.asarray(fp)
        if (
            a.dtype.kind not in "iu"
            or a.shape != (FINGERPRINT_WIDTH,)
            or a.min() < 0
            or a.max() > 255
        ):
            got = (
                f"values in [{a.min()}, {a.max()}]"
                if a.dtype.kind in "iu"
                else f"non-integer values (numpy dtype {a.dtype})"
            )
            raise ChemblDataError(
                f"ChEMBL assay file malformed: {where} has a fingerprint with {got}; expected "
                f"integer Morgan counts in 0..255. {_fix(path)}"
            )
        rows.append((smiles, float(value), a.astype(np.uint8)))
    if not rows:
        raise ChemblDataError(f"ChEMBL assay file empty: {path} holds no compounds. {_fix(path)}")
    return rows


class ChemblBuilder(
    provenance.LocalFilesBuilder, tfds.core.GeneratorBasedBuilder, skip_registration=True
):
    """TFDS builder over the local ChEMBL assay folders (manual_dir): array_record, Tensor features.

    Not registered in TFDS's global registry; build it with `prepare_chembl`, or directly:

        b = ChemblBuilder(data_dir=prepared_dir, file_format="array_record")
        b.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=folder_with_train_valid_test)
        )
        b.as_data_source("test")[i]  # {"assay": b"CHEMBL...", "fingerprint": uint8 [2048], ...}
    """

    name = "metareg_chembl_fewshot"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": (
            "One example per compound; Morgan counts uint8 [2048] as given; one split per folder."
        )
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place the train/ valid/ test/ folders of CHEMBL<id>.jsonl.gz files "
        "(ersilia-os/few-shot-bioassays, dataset/min_size_04) in the manual_dir; metareg reads "
        "them from ../shared/data/chembl_fewshot by default."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "ChEMBL whole-organism dose-response assays in FS-Mol format: one example per "
                "(assay, compound)."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "assay": tfds.features.Text(),
                    "folder": tfds.features.ClassLabel(names=list(FOLDERS)),
                    "line": tfds.features.Scalar(dtype=np.int32),
                    "smiles": tfds.features.Text(),
                    "pchembl_value": tfds.features.Scalar(dtype=np.float32),
                    "fingerprint": tfds.features.Tensor(shape=(FINGERPRINT_WIDTH,), dtype=np.uint8),
                }
            ),
            homepage="https://github.com/ersilia-os/few-shot-bioassays",
            citation=(
                "Gaulton et al. ChEMBL: a large-scale bioactivity database for drug discovery. "
                "Nucleic Acids Res. 2012."
            ),
        )

    def _split_generators(self, dl_manager):
        files = list_assay_files(Path(os.fspath(dl_manager.manual_dir)))
        progress = provenance.Progress("read", sum(len(f) for f in files.values()), "assay files")
        return {split: self._generate_examples(files[split], split, progress) for split in FOLDERS}

    def _generate_examples(
        self, files: list[tuple[str, Path]], split: str, progress: provenance.Progress
    ):
        for assay, path in files:
            progress.update()
            for line, (smiles, value, fp) in enumerate(read_assay_file(path)):
                yield (
                    f"{assay}/{line:05d}",
                    {
                        "assay": assay,
                        "folder": split,
                        "line": line,
                        "smiles": smiles,
                        "pchembl_value": value,
                        "fingerprint": fp,
                    },
                )


def prepare_chembl(
    data_dir: str | os.PathLike | None = None, prepared_dir: str | os.PathLike | None = None
) -> ChemblBuilder:
    """The prepared builder, prepared from the jsonl.gz files first if `prepared_dir` lacks it.

    The folder layout is checked before TFDS starts (missing folders give our error, not TFDS's
    manual-download assertion); each file's lines are checked as they are read. A failed preparation
    leaves nothing behind (TFDS writes to a temporary folder), so fixing the file and calling again
    starts over. Runs started together (a sweep) would race to prepare; the first one prepares, the
    others wait and reuse it. A prepared dataset is checked against the files at `data_dir` (same
    names and sha256, wherever they live): SourcesMissingError (a FileNotFoundError) when they are
    missing, ChemblSourcesChangedError when they differ (metareg.data.provenance).
    """
    prepared = resolve_prepared_dir(prepared_dir)
    folder = chembl_dir(data_dir)
    return provenance.prepare_from_local_files(
        lambda: ChemblBuilder(data_dir=os.fspath(prepared), file_format="array_record"),
        prepared_dir=prepared,
        label="ChEMBL data",
        data_dir=data_root(data_dir),
        folder=folder,
        sources=source_files,
        validate=lambda: list_assay_files(folder),
        changed_error=ChemblSourcesChangedError,
        lock_name=f".{ChemblBuilder.name}.lock",
    )


@dataclasses.dataclass(frozen=True)
class ChemblAssays:
    """Every compound of every assay in memory, assays concatenated (ragged sizes, so no padding).

    Assay a (0 <= a < A, ids sorted) holds rows offsets[a]:offsets[a+1] of x / y / smiles, in
    file-line order.

    assay_ids: A names "CHEMBL<id>"; folders: int8 [A], 0 / 1 / 2 = the data's train / valid / test
    folder; offsets: int64 [A+1]; x: uint8 [N, D] (bits 0/1, or counts); y: float32 [N]
    pchembl_value; smiles: N strings; fingerprint: "given2048" | "morgan1024"; counts: whether x
    holds counts. The arrays are read-only (shared by the per-process cache).
    """

    assay_ids: tuple[str, ...]
    folders: np.ndarray
    offsets: np.ndarray
    x: np.ndarray
    y: np.ndarray
    smiles: tuple[str, ...]
    fingerprint: str = "given2048"
    counts: bool = True

    @property
    def num_assays(self) -> int:
        return len(self.assay_ids)

    @property
    def sizes(self) -> np.ndarray:
        """int64 [A]: compounds per assay."""
        return np.diff(self.offsets)

    def assay(self, a: int | str) -> tuple[np.ndarray, np.ndarray]:
        """(x [n, D], y [n]) of assay a (an index or an id)."""
        i = self.assay_ids.index(a) if isinstance(a, str) else int(a)
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.x[lo:hi], self.y[lo:hi]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _read_prepared(builder: ChemblBuilder) -> ChemblAssays:
    """All three TFDS splits -> ChemblAssays with the given counts, re-sorted (TFDS shuffles)."""
    by_assay: dict[str, tuple[int, list]] = {}
    for split in FOLDERS:
        source = builder.as_data_source(split)
        for r in source.__getitems__(list(range(len(source)))):
            assay = r["assay"].decode() if isinstance(r["assay"], bytes) else str(r["assay"])
            by_assay.setdefault(assay, (FOLDERS.index(split), []))[1].append(r)
    ids = tuple(sorted(by_assay))
    offsets, xs, ys, smiles = [0], [], [], []
    for assay in ids:
        rows = sorted(by_assay[assay][1], key=lambda r: int(r["line"]))
        if [int(r["line"]) for r in rows] != list(range(len(rows))):
            raise ChemblDataError(
                f"prepared ChEMBL data {builder.data_path} is incomplete for assay {assay}: "
                "delete it to prepare again."
            )
        offsets.append(offsets[-1] + len(rows))
        xs.extend(r["fingerprint"] for r in rows)
        ys.extend(float(r["pchembl_value"]) for r in rows)
        smiles.extend(
            r["smiles"].decode() if isinstance(r["smiles"], bytes) else str(r["smiles"])
            for r in rows
        )
    return ChemblAssays(
        assay_ids=ids,
        folders=_frozen(np.array([by_assay[a][0] for a in ids], np.int8)),
        offsets=_frozen(np.array(offsets, np.int64)),
        x=_frozen(np.stack(xs).astype(np.uint8)),
        y=_frozen(np.array(ys, np.float32)),
        smiles=tuple(smiles),
        fingerprint="given2048",
        counts=True,
    )


@functools.lru_cache(maxsize=2)
def _load_given_cached(prepared_dir: str) -> ChemblAssays:
    return _read_prepared(ChemblBuilder(data_dir=prepared_dir, file_format="array_record"))


def morgan_fingerprints(
    smiles: Sequence[str],
    num_bits: int = MORGAN_BITS,
    radius: int = MORGAN_RADIUS,
    counts: bool = False,
) -> np.ndarray:
    """uint8 [N, num_bits]: the SMILES' RDKit Morgan fingerprints (bits, or counts clipped at 255).

    RDKit is an optional dependency, imported here: a clear ImportError says how to install it.
    """
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import rdFingerprintGenerator
    except ImportError as e:
        raise ImportError(
            "fingerprint='morgan1024' recomputes Morgan fingerprints from the SMILES with RDKit, "
            "which is not installed: pip install rdkit (or pip install 'metareg[chem]'), or use "
            "fingerprint='given2048'."
        ) from e
    RDLogger.DisableLog("rdApp.*")  # parse failures are reported below, with the SMILES
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=num_bits)
    out = np.zeros((len(smiles), num_bits), np.uint8)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise ChemblDataError(
                f"RDKit cannot parse the SMILES of compound {i}: {s!r}; use "
                "fingerprint='given2048'."
            )
        if counts:
            out[i] = np.minimum(gen.GetCountFingerprintAsNumPy(mol), 255)
        else:
            out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


@functools.lru_cache(maxsize=2)
def _morgan_cached(prepared_dir: str, counts: bool) -> np.ndarray:
    return _frozen(morgan_fingerprints(_load_given_cached(prepared_dir).smiles, counts=counts))


def load_assays(
    data_dir: str | os.PathLike | None = None,
    prepared_dir: str | os.PathLike | None = None,
    fingerprint: str = "given2048",
    counts: bool = False,
) -> ChemblAssays:
    """All 2,779 assays in memory (see ChemblAssays), preparing the TFDS data first if needed.

    fingerprint: "given2048" (the file's 2048-wide Morgan fingerprint) or "morgan1024" (recomputed
    with RDKit, radius 2, 1024 wide); counts: x holds Morgan counts instead of 0/1 bits (the papers
    use bits). The files at data_dir are checked against the prepared data's record on every call
    (see prepare_chembl); the arrays are read once per process.
    """
    if fingerprint not in FINGERPRINTS:
        raise ValueError(
            f"unknown ChEMBL fingerprint {fingerprint!r}; choose from {list(FINGERPRINTS)}"
        )
    prepared = os.fspath(resolve_prepared_dir(prepared_dir))
    prepare_chembl(data_dir, prepared)
    given = _load_given_cached(prepared)
    if fingerprint == "given2048":
        x = given.x if counts else _frozen((given.x > 0).astype(np.uint8))
    else:
        x = _morgan_cached(prepared, counts)
    return dataclasses.replace(given, x=x, fingerprint=fingerprint, counts=counts)


def hash_order(assay_ids: Sequence[str], salt: str) -> np.ndarray:
    """int64 [A]: the assays ordered by sha256(salt + "/" + id), a seeded shuffle that depends on no
    library version and no file-listing order (as Omniglot's Vinyals split)."""
    return np.array(
        sorted(
            range(len(assay_ids)),
            key=lambda i: hashlib.sha256(f"{salt}/{assay_ids[i]}".encode()).hexdigest(),
        ),
        np.int64,
    )


@dataclasses.dataclass(frozen=True)
class AssayPartition:
    """One evaluation group: int64 indices into ChemblAssays' assays.

    train: ascending. valid / test: in the group's hash order, so their first n are a random subset
    (what `sample_test(key, n)` evaluates on).
    """

    group: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def assay_partition(
    assay_ids: Sequence[str],
    folders: np.ndarray,
    group: int = 0,
    num_valid: int = GROUP_NUM_VALID,
    num_test: int = GROUP_NUM_TEST,
) -> AssayPartition:
    """Meta-train / meta-validation / meta-test assays of evaluation group `group` (0 .. 3).

    Group 0: the data's own folders (train 2,451 / valid 128 / test 200 on the real data). Groups
    1..3: all assays ordered by sha256(f"metareg-chembl-group{g}/{id}"); the first `num_test` are
    meta-test, the next `num_valid` meta-validation, the rest meta-train (MetaMix: 100 / 76 / rest,
    drawn four times). num_valid / num_test apply to groups 1..3 only.
    """
    if not isinstance(group, int | np.integer) or not 0 <= group < NUM_GROUPS:
        raise ValueError(
            f"unknown ChEMBL evaluation group {group!r}; choose from {list(range(NUM_GROUPS))}"
        )
    folders = np.asarray(folders)
    if len(folders) != len(assay_ids):
        raise ValueError(f"{len(assay_ids)} assay ids but {len(folders)} folders")
    order = hash_order(assay_ids, f"{GROUP_SEED}{group}")
    if group == 0:
        train = np.flatnonzero(folders == 0)
        valid, test = order[folders[order] == 1], order[folders[order] == 2]
    else:
        if num_test + num_valid >= len(assay_ids):
            raise ValueError(
                f"ChEMBL group {group} takes {num_test} meta-test + {num_valid} meta-validation "
                f"assays, but there are only {len(assay_ids)}: lower num_test / num_valid"
            )
        test, valid = order[:num_test], order[num_test : num_test + num_valid]
        train = np.sort(order[num_test + num_valid :])
    return AssayPartition(
        int(group), train.astype(np.int64), valid.astype(np.int64), test.astype(np.int64)
    )
