"""Which raw files a prepared dataset was built from: recorded once, checked on every load.

Without a record of its sources a prepared TFDS dataset (metareg_omniglot, metareg_chembl_fewshot,
metareg_pascal3d_pose/<size>) would be used whatever `data_dir` says, so a wrong `data.dir` or a
changed archive would go unnoticed. After a successful preparation `prepare_from_local_files`
writes the name, size and sha256 of every raw file (`source_files_record`) as `sources.json` beside
TFDS's dataset_info.json, so the record lives and dies with the data it describes. Every load
hashes the files at the configured data dir again (cheap for this data) and compares by content:
missing files raise `SourcesMissingError`, changed or extra ones the module's `SourcesChangedError`
subtype, each naming what differs and the fix. If every file is gone from the folder the data was
built from, the prepared copy is used with a warning; a dataset prepared before records existed
gets one written from the current files.

Preparing reports progress as plain lines on stderr; TFDS's download messages and tqdm bars are
switched off (nothing is downloaded, and the bars are noise in a log file).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds
from etils import epath
from tensorflow_datasets.core.utils import tqdm_utils

RECORD_FILE = "sources.json"
RECORD_FORMAT = 1
PROGRESS_EVERY_S = 10.0  # seconds between progress lines while preparing
MAX_NAMES = 3  # file names listed per kind of difference in an error message


class SourcesError(Exception):
    """The configured data dir does not hold the files a prepared dataset was built from."""


class SourcesMissingError(FileNotFoundError, SourcesError):
    """Source files of a prepared dataset are missing at the configured data dir; none changed."""


class SourcesChangedError(ValueError, SourcesError):
    """The files at the configured data dir differ in content from a prepared dataset's sources.

    Each dataset module mixes this into its own error type (e.g. OmniglotArchiveError), so callers
    that catch that keep working."""


# ---------------------------------------------------------------- the record


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def source_files_record(
    paths: Sequence[str | os.PathLike], root: str | os.PathLike | None = None
) -> dict[str, Any]:
    """{"source_dir": root, "files": [{"name", "path", "size", "sha256"}, ...]} of existing files.

    Files are sorted by name.

    name: the path relative to `root` (default: the folder common to all paths), with "/"
    separators; the content comparison uses it and sha256 only. path: the resolved absolute path
    (informative: where it was found).
    """
    paths = [Path(p) for p in paths]
    if root is None:
        root = (
            Path(os.path.commonpath([os.fspath(p.parent) for p in paths])) if paths else Path(".")
        )
    root = Path(root)
    files = []
    for p in paths:
        try:
            name = p.relative_to(root).as_posix()
        except ValueError:
            name = p.name
        files.append(
            {
                "name": name,
                "path": os.fspath(p.resolve()),
                "size": p.stat().st_size,
                "sha256": _sha256(p),
            }
        )
    return {
        "source_dir": os.fspath(root.expanduser().resolve()),
        "files": sorted(files, key=lambda f: f["name"]),
    }


def record_path(prepared: str | os.PathLike) -> Path:
    """The record of the prepared dataset in folder `prepared` (a builder's data_path)."""
    return Path(prepared) / RECORD_FILE


def write_record(
    prepared: str | os.PathLike, record: dict[str, Any], dataset: str = "", legacy: bool = False
) -> Path:
    """Write `record` (from source_files_record) as <prepared>/sources.json, atomically.

    Returns its path.
    """
    record = {
        "format": RECORD_FORMAT,
        "dataset": dataset,
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        # True: recorded from the files found later, not from those the preparation read
        "legacy": legacy,
        **record,
    }
    path = record_path(prepared)
    fd, tmp = tempfile.mkstemp(prefix=f".{RECORD_FILE}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read_record(prepared: str | os.PathLike) -> dict[str, Any] | None:
    """The stored record of the prepared dataset in `prepared`; None if missing or unreadable."""
    try:
        record = json.loads(record_path(prepared).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("files"), list):
        return None
    return record


def compare_records(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, list[str]]:
    """{"missing": [...], "changed": [...], "added": [...]}: relative names; all empty if equal.

    By content only: relative name and sha256; absolute paths (and so the source folder) may differ.
    """
    old = {f["name"]: f["sha256"] for f in stored["files"]}
    new = {f["name"]: f["sha256"] for f in current["files"]}
    return {
        "missing": sorted(set(old) - set(new)),
        "changed": sorted(n for n in set(old) & set(new) if old[n] != new[n]),
        "added": sorted(set(new) - set(old)),
    }


def _names(names: list[str]) -> str:
    more = f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
    return ", ".join(names[:MAX_NAMES]) + more


def check_sources(
    prepared: str | os.PathLike,
    stored: dict[str, Any],
    paths: Sequence[str | os.PathLike],
    folder: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    label: str = "dataset",
    changed_error: type[Exception] = SourcesChangedError,
) -> None:
    """Raise unless the existing files among `paths` (under `folder`, where the configured
    `data_dir` leads) hold the same contents as the `stored` record of the prepared dataset in
    folder `prepared`.

    paths: the source files expected at the configured data dir (those that do not exist count as
    missing). Raises SourcesMissingError (a FileNotFoundError) when recorded files are missing and
    none differs, else `changed_error` (a subclass of the module's error type and
    SourcesChangedError).
    """
    folder = Path(folder)
    data_dir = Path(folder if data_dir is None else data_dir)
    current = source_files_record([p for p in paths if Path(p).is_file()], folder)
    diff = compare_records(stored, current)
    if not any(diff.values()):
        return
    built_from = stored.get("source_dir", "an unrecorded folder")
    if not current["files"] and built_from in {
        os.fspath(d.expanduser().resolve()) for d in (folder, data_dir)
    }:
        # The files it was built from are gone from where they were, and nothing else is there: the
        # prepared copy is theirs, so it is used (prepared once, the raw files are not needed
        # again); another folder would be refused.
        _warn(
            f"the source files of prepared {label} {prepared} are gone from {folder}; using the "
            "prepared copy built from them"
        )
        return
    head = (
        f"prepared {label} {prepared} was built from {built_from}, but {_where(data_dir, folder)}"
    )
    if not current["files"]:
        names = _names([f["name"] for f in stored["files"]])
        fix = _fix(
            prepared,
            folder,
            f"the original files ({built_from})",
            f"other files, put them in {folder} and",
        )
        raise SourcesMissingError(
            f"{head} holds none of its {len(stored['files'])} source files ({names}). {fix}"
        )
    parts = "; ".join(
        f"{kind} {_names(diff[key])}"
        for key, kind in (("missing", "missing"), ("changed", "changed"), ("added", "new"))
        if diff[key]
    )
    if not diff["changed"] and not diff["added"]:
        fix = _fix(
            prepared,
            folder,
            f"the original files ({built_from})",
            f"other files, put all of them in {folder} and",
        )
        raise SourcesMissingError(f"{head} lacks some of its source files: {parts}. {fix}")
    fix = _fix(prepared, folder, f"the original files ({built_from})", f"the files in {folder},")
    raise changed_error(f"{head} holds different source files: {parts}. {fix}")


def _where(data_dir: Path, folder: Path) -> str:
    return f"data_dir {data_dir}" + (f" (looked in {folder})" if folder != data_dir else "")


def _fix(prepared: str | os.PathLike, folder: Path, original: str, other: str) -> str:
    return (
        f"Fix: point data_dir (--config.data.dir) at {original}; or, to use {other} delete "
        f"{prepared} (or set data.prepared_dir to a new folder) so that it is prepared again from "
        "them."
    )


# ------------------------------------------------- preparing once, checking on every load


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive flock on `path` (created if needed): runs started together prepare in turn."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class _DropAbslNoise(logging.Filter):
    """TFDS warns "Variant folder <dir> has no dataset_info.json" whenever it looks for a dataset
    not prepared yet, and "Using custom data configuration ..." for every builder of a variant
    outside BUILDER_CONFIGS (pose sizes)."""

    NOISE = ("Variant folder %s has no", "Using custom data configuration")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


@contextlib.contextmanager
def quiet_tfds(progress_bars: bool = True) -> Iterator[None]:
    """Drop TFDS's noise warnings (_DropAbslNoise); with progress_bars=False also its tqdm bars."""
    absl_logger, noise = logging.getLogger("absl"), _DropAbslNoise()
    absl_logger.addFilter(noise)
    bars = getattr(tqdm_utils, "_active", True)  # TFDS keeps the setting there; no public getter
    if not progress_bars:
        tfds.display_progress_bar(False)
    try:
        yield
    finally:
        absl_logger.removeFilter(noise)
        tfds.display_progress_bar(bars)


class LocalFilesBuilder:
    """Mix into a TFDS builder (before GeneratorBasedBuilder) that prepares from local files:
    replaces TFDS's "Downloading and preparing dataset ..." / "... downloaded and prepared" prints
    (stdout) by nothing; `prepare_from_local_files` announces the preparation itself."""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # The builder's own module. TFDS 4.9.10 finds a packaged builder's file through
        # `importlib_resources`, which it only declares as a dependency for Python < 3.9
        # (ModuleNotFoundError here); it looks beside that file for an optional checksums.tsv,
        # which we do not need: nothing is downloaded.
        return epath.Path(sys.modules[cls.__module__].__file__)

    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass


class Progress:
    """Progress of a preparation on stderr, at most one line every PROGRESS_EVERY_S seconds.

    Each line reads "  <verb> N/M <unit> (T s)".
    """

    def __init__(self, verb: str, total: int | None = None, unit: str = "examples"):
        self.verb, self.total, self.unit = verb, total, unit
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            total = f"/{self.total}" if self.total is not None else ""
            print(
                f"  {self.verb} {self.done}{total} {self.unit} ({now - self.start:.0f} s)",
                file=sys.stderr,
                flush=True,
            )


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def verify_prepared(
    prepared: Path,
    *,
    label: str,
    dataset: str,
    data_dir: Path,
    folder: Path,
    sources: Callable[[Path], tuple[list[Path], list[str]]],
    validate: Callable[[], object],
    changed_error: type[Exception],
    lock_path: Path,
    locked: bool = False,
) -> None:
    """Check a prepared dataset (folder `prepared`) against the files at the configured data dir.

    See the module docstring.

    sources(folder) -> (files found, names of expected files not found); validate(): the module's
    checks of the files (run before recording the sources of a legacy dataset).
    """
    stored = read_record(prepared)
    if stored is None and not locked:
        with contextlib.ExitStack() as stack:
            with contextlib.suppress(OSError):  # a read-only prepared dir: go on without the lock
                stack.enter_context(
                    file_lock(lock_path)
                )  # a preparation in progress writes its record before it lets go
            return verify_prepared(
                prepared, label=label, dataset=dataset, data_dir=data_dir, folder=folder,
                sources=sources, validate=validate, changed_error=changed_error,
                lock_path=lock_path, locked=True,
            )  # fmt: skip
    files, missing = sources(folder)
    if stored is not None:
        check_sources(
            prepared,
            stored,
            files,
            folder,
            data_dir=data_dir,
            label=label,
            changed_error=changed_error,
        )
        return
    # Prepared by an older metareg: nothing says what it was built from. Record the files found now.
    if missing or not files:
        lacks = f"lacks {_names(missing)}" if files else "holds none of its source files"
        fix = _fix(
            prepared,
            folder,
            "the files it was prepared from",
            f"other files, put all of them in {folder} and",
        )
        raise SourcesMissingError(
            f"prepared {label} {prepared} was prepared by an older metareg, which did not record "
            f"its source files, and {_where(data_dir, folder)} {lacks}. {fix}"
        )
    validate()
    try:
        path = write_record(
            prepared, source_files_record(files, folder), dataset=dataset, legacy=True
        )
    except OSError as e:
        _warn(
            f"prepared {label} {prepared} has no record of its source files and none can be "
            f"written ({e}); not checked."
        )
        return
    _warn(
        f"prepared {label} {prepared} was built before metareg recorded source files; recorded "
        f"those in {folder} as its sources ({path})."
    )


def prepare_from_local_files(
    make: Callable[[], Any],
    *,
    prepared_dir: Path,
    label: str,
    data_dir: Path,
    folder: Path,
    sources: Callable[[Path], tuple[list[Path], list[str]]],
    validate: Callable[[], object],
    changed_error: type[Exception],
    lock_name: str,
) -> Any:
    """The prepared builder `make()` returns, checked against or first prepared from `folder`.

    make: builds the TFDS builder on `prepared_dir`; data_dir: the configured data dir (for
    messages); folder: where it leads (the folder holding the raw files); sources(folder) -> (files
    found, names of expected files not found); validate(): the module's checks of the raw files (our
    errors, before TFDS starts); changed_error: the module's error type with SourcesChangedError
    mixed in; lock_name: the lock file's name in the prepared dir.
    """
    # TFDS warns about the missing dataset_info.json while it looks for a dataset not prepared yet
    with quiet_tfds():
        builder = make()
        lock_path = prepared_dir / lock_name
        check = dict(label=label, dataset=builder.info.full_name, data_dir=data_dir, folder=folder,
                     sources=sources, validate=validate, changed_error=changed_error,
                     lock_path=lock_path)  # fmt: skip
        if builder.is_prepared():
            verify_prepared(Path(os.fspath(builder.data_path)), **check)
            return builder
        validate()
        prepared_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(lock_path):
            builder = make()
            data_path = Path(os.fspath(builder.data_path))
            if builder.is_prepared():  # another run prepared it while this one waited
                verify_prepared(data_path, **check, locked=True)
                return builder
            files, _ = sources(folder)
            record = source_files_record(
                files, folder
            )  # the files as they are now, before they are read
            name = builder.info.full_name.rsplit("/", 1)[0]
            print(
                f"preparing {name} from local files in {folder} into {data_path} (once; later "
                "runs reuse it)",
                file=sys.stderr,
                flush=True,
            )
            start = time.monotonic()
            with quiet_tfds(progress_bars=False):
                builder.download_and_prepare(
                    download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(folder))
                )
            write_record(data_path, record, dataset=builder.info.full_name)
            print(
                f"prepared {name} in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True
            )
    return builder
