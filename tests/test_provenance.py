"""Prepared datasets record the raw files they were built from, and every load checks
data_dir against that record.

Unit tests on tiny tmp files (record, compare, messages), then the dataset modules on tiny synthetic
raw files (Omniglot zips, ChEMBL jsonl.gz: each prepares in well under a second), and one end-to-end
test on the real Omniglot cache (~/.cache/metareg/tensorflow_datasets, prepared from
../shared/data/omniglot when it is not yet, skipped with a warning only without those archives;
nothing is downloaded).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metareg.data import chembl as ch
from metareg.data import omniglot as og
from metareg.data import provenance as pv


class ToyError(ValueError):
    """Stands for a dataset module's own error type."""


class ToyChanged(ToyError, pv.SourcesChangedError):
    pass


def _files(root: Path, contents: dict[str, bytes]) -> list[Path]:
    paths = []
    for name, data in contents.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        paths.append(p)
    return paths


TOY = {"a.bin": b"alpha" * 100, "sub/b.bin": b"beta" * 50, "c.bin": b""}


@pytest.fixture
def recorded(tmp_path):
    """(source folder, prepared folder holding sources.json, the stored record)."""
    src, prepared = tmp_path / "src", tmp_path / "prepared"
    prepared.mkdir()
    paths = _files(src, TOY)
    pv.write_record(prepared, pv.source_files_record(paths, src), dataset="toy/1.0.0")
    return src, prepared, pv.read_record(prepared)


def _check(prepared, stored, folder, data_dir=None):
    paths = [Path(folder) / n for n in TOY]
    pv.check_sources(
        prepared,
        stored,
        paths,
        folder,
        data_dir=data_dir,
        label="toy data",
        changed_error=ToyChanged,
    )


# ---------------------------------------------------------------- record and compare


def test_record_has_name_resolved_path_size_and_sha256(tmp_path):
    paths = _files(tmp_path / "src", TOY)
    record = pv.source_files_record(paths, tmp_path / "src")
    assert record["source_dir"] == os.fspath((tmp_path / "src").resolve())
    assert [f["name"] for f in record["files"]] == [
        "a.bin",
        "c.bin",
        "sub/b.bin",
    ]  # sorted, relative, "/"-separated
    for f in record["files"]:
        data = TOY[f["name"]]
        assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["path"] == os.fspath((tmp_path / "src" / f["name"]).resolve())


def test_record_is_written_atomically_and_read_back(recorded):
    src, prepared, stored = recorded
    assert sorted(p.name for p in prepared.iterdir()) == [
        "sources.json"
    ]  # no temporary file left behind
    assert (
        stored["dataset"] == "toy/1.0.0" and stored["legacy"] is False and len(stored["files"]) == 3
    )
    assert pv.read_record(prepared.parent / "nowhere") is None
    (prepared / "sources.json").write_text("{not json")
    assert pv.read_record(prepared) is None  # unreadable: treated as no record


def test_same_content_at_another_path_is_accepted(recorded, tmp_path):
    src, prepared, stored = recorded
    _check(prepared, stored, src)
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(src, copy)
    _check(
        prepared, stored, copy, data_dir=tmp_path / "elsewhere"
    )  # the absolute paths differ: fine


def test_a_changed_byte_is_an_error_naming_the_file(recorded, tmp_path):
    src, prepared, stored = recorded
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    data = bytearray((copy / "sub" / "b.bin").read_bytes())
    data[7] ^= 1
    (copy / "sub" / "b.bin").write_bytes(bytes(data))
    with pytest.raises(
        ToyChanged, match="holds different source files: changed sub/b.bin\\."
    ) as err:
        _check(prepared, stored, copy)
    message = str(err.value)
    assert isinstance(err.value, ToyError) and isinstance(err.value, pv.SourcesChangedError)
    assert f"prepared toy data {prepared} was built from {src.resolve()}" in message
    assert f"point data_dir (--config.data.dir) at the original files ({src.resolve()})" in message
    assert f"delete {prepared} (or set data.prepared_dir to a new folder)" in message


def test_missing_files_are_an_error_naming_data_dir_and_the_fix(recorded, tmp_path):
    src, prepared, stored = recorded
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        _check(prepared, stored, tmp_path / "empty" / "toy", data_dir=tmp_path / "empty")
    message = str(err.value)
    assert isinstance(err.value, pv.SourcesMissingError) and "\n" not in message
    assert (
        f"data_dir {tmp_path / 'empty'} (looked in {tmp_path / 'empty' / 'toy'}) "
        "holds none of its 3 source files" in message
    )
    assert f"was built from {src.resolve()}" in message and str(prepared) in message
    assert "Fix: point data_dir (--config.data.dir) at the original files" in message

    shutil.copytree(src, tmp_path / "partial")
    (tmp_path / "partial" / "a.bin").unlink()
    with pytest.raises(
        pv.SourcesMissingError, match="lacks some of its source files: missing a.bin\\."
    ):
        _check(prepared, stored, tmp_path / "partial")


def test_a_new_file_is_a_difference_and_names_are_capped(tmp_path):
    stored = {"source_dir": "/x", "files": [{"name": f"f{i}", "sha256": "0"} for i in range(6)]}
    current = {
        "source_dir": "/y",
        "files": [{"name": f"f{i}", "sha256": "1"} for i in range(6)]
        + [{"name": "g", "sha256": "2"}],
    }
    assert pv.compare_records(stored, current) == {
        "missing": [],
        "changed": [f"f{i}" for i in range(6)],
        "added": ["g"],
    }
    assert pv.compare_records(stored, {**stored, "source_dir": "/elsewhere"}) == {
        "missing": [],
        "changed": [],
        "added": [],
    }
    _files(tmp_path, {"f0": b"0", "f1": b"1", "f2": b"2", "f3": b"3", "f4": b"4", "extra": b"new"})
    record = pv.source_files_record(sorted(tmp_path.iterdir()), tmp_path)
    (tmp_path / "p").mkdir()
    pv.write_record(
        tmp_path / "p", {**record, "files": [f for f in record["files"] if f["name"] != "extra"]}
    )
    (tmp_path / "f0").write_bytes(b"changed")
    for i in (1, 2, 3, 4):
        (tmp_path / f"f{i}").write_bytes(b"changed too")
    with pytest.raises(ToyChanged, match="changed f0, f1, f2 and 2 more; new extra\\."):
        pv.check_sources(
            tmp_path / "p",
            pv.read_record(tmp_path / "p"),
            sorted(tmp_path.glob("*")),
            tmp_path,
            changed_error=ToyChanged,
        )


# ------------------------------------------------- the dataset modules, on tiny synthetic raw files


def _png(k: int) -> bytes:
    a = np.ones((105, 105), bool)
    a[10 + k : 40 + k, 20:26] = False
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _omniglot_zips(folder: Path) -> None:
    """One character of 20 drawings per archive, in the official layout."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, archive in enumerate(og.ARCHIVES):
        with zipfile.ZipFile(folder / og.ARCHIVE_FILES[archive], "w") as zf:
            for drawer in range(1, 21):
                zf.writestr(
                    f"images_{archive}/Alpha{i}/character01/{i + 1:04d}_{drawer:02d}.png",
                    _png(drawer),
                )


def test_omniglot_records_its_zips_then_checks_them_on_every_load(tmp_path, capfd, monkeypatch):
    data, prepared = tmp_path / "data", tmp_path / "prepared"
    _omniglot_zips(data / "omniglot")
    monkeypatch.setattr(pv, "PROGRESS_EVERY_S", 0.0)  # a progress line per image
    builder = og.prepare_omniglot(data, prepared)
    out, err = capfd.readouterr()
    assert (
        "Downloading and preparing" not in out + err and "downloaded and prepared" not in out + err
    )  # nothing is downloaded
    assert "has no dataset_info.json" not in err
    path = Path(os.fspath(builder.data_path))
    assert (
        f"preparing metareg_omniglot from local files in {data / 'omniglot'} into {path} "
        "(once; later runs reuse it)" in err.splitlines()
    )
    assert "  prepared 40/40 images" in err and "prepared metareg_omniglot in" in err
    stored = json.loads((path / "sources.json").read_text())
    assert [f["name"] for f in stored["files"]] == [
        "images_background.zip",
        "images_evaluation.zip",
    ]
    assert (
        stored["source_dir"] == os.fspath((data / "omniglot").resolve())
        and stored["dataset"] == "metareg_omniglot/1.0.0"
    )

    shutil.copytree(
        data / "omniglot", tmp_path / "copy"
    )  # data_dir may be the folder holding the zips, anywhere
    assert og.load_characters(tmp_path / "copy", prepared)["background"][0].shape == (1, 20, 28, 28)
    out, err = capfd.readouterr()
    assert "preparing" not in err and "warning" not in err  # reused, silently

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds none of its 2 source files") as e:
        og.load_characters(tmp_path / "empty", prepared)
    assert f"data_dir {tmp_path / 'empty'} (looked in {tmp_path / 'empty' / 'omniglot'})" in str(
        e.value
    )  # not nested twice

    zp = tmp_path / "copy" / "images_evaluation.zip"
    zp.write_bytes(zp.read_bytes() + b"\0")
    with pytest.raises(og.OmniglotSourcesChangedError, match="changed images_evaluation.zip") as e:
        og.load_split("lake", tmp_path / "copy", prepared)
    assert isinstance(e.value, og.OmniglotArchiveError)


def test_a_legacy_prepared_dataset_gets_its_record_with_a_warning(tmp_path, capfd):
    data, prepared = tmp_path / "data", tmp_path / "prepared"
    _omniglot_zips(data / "omniglot")
    path = Path(os.fspath(og.prepare_omniglot(data, prepared).data_path))
    (path / "sources.json").unlink()  # as prepared by an older metareg
    capfd.readouterr()
    with pytest.raises(
        FileNotFoundError,
        match="prepared by an older metareg, which did not record its source files",
    ):
        og.prepare_omniglot(
            tmp_path / "nowhere", prepared
        )  # nothing to record: an error, and still no record
    assert not (path / "sources.json").exists()
    og.prepare_omniglot(data, prepared)
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "was built before metareg recorded source files" in warnings[0]
    assert json.loads((path / "sources.json").read_text())["legacy"] is True
    og.prepare_omniglot(data, prepared)
    assert "warning" not in capfd.readouterr().err


def _chembl_folders(root: Path) -> None:
    for split, assays in {
        "train": ("CHEMBL1", "CHEMBL2"),
        "valid": ("CHEMBL3",),
        "test": ("CHEMBL4",),
    }.items():
        (root / split).mkdir(parents=True)
        for assay in assays:
            with gzip.open(root / split / f"{assay}.jsonl.gz", "wt") as fh:
                for line in range(4):
                    fp = [0] * ch.FINGERPRINT_WIDTH
                    fp[line] = 1
                    fh.write(
                        json.dumps(
                            {"smiles": "CCO", "pchembl_value": 5.0 + line, "fingerprints": fp}
                        )
                        + "\n"
                    )


def test_chembl_notices_an_added_assay_file(tmp_path):
    data, prepared = tmp_path / "data", tmp_path / "prepared"
    _chembl_folders(data / "chembl_fewshot")
    assert ch.load_assays(data, prepared).num_assays == 4
    shutil.copy(
        data / "chembl_fewshot" / "train" / "CHEMBL1.jsonl.gz",
        data / "chembl_fewshot" / "train" / "CHEMBL9.jsonl.gz",
    )
    with pytest.raises(ch.ChemblSourcesChangedError, match="new train/CHEMBL9.jsonl.gz") as e:
        ch.prepare_chembl(data, prepared)
    assert isinstance(e.value, ch.ChemblDataError)
    with pytest.raises(FileNotFoundError, match="holds none of its 4 source files"):
        ch.prepare_chembl(tmp_path / "nowhere", prepared)


# ---------------------------------------------------------------- the real Omniglot cache


def _real_prepared():
    return og.OmniglotBuilder(
        data_dir=os.fspath(og.resolve_prepared_dir(None)), file_format="array_record"
    )


def test_real_cache_with_an_empty_data_dir_fails_clearly(tmp_path):
    """The default cache (~/.cache/metareg/tensorflow_datasets), prepared from the real archives,
    read with a data_dir that holds none of them: an error naming both places and the fix.

    Whether it can run is decided here, when it runs, not when the module is imported: an
    unprepared cache is prepared from ../shared/data/omniglot first, as a first CLI run would
    (once, about a minute); only when those archives are absent is it skipped, with a warning
    that says so."""
    real = _real_prepared()
    if not real.is_prepared():
        folder = og.omniglot_dir(None)
        missing = [n for n in og.ARCHIVE_FILES.values() if not (folder / n).is_file()]
        if missing:
            reason = (
                f"the default Omniglot cache {real.data_path} is not prepared and the archives it "
                f"is prepared from are absent ({', '.join(missing)} in {folder}): the real-cache "
                "check did not run"
            )
            warnings.warn(reason, stacklevel=1)
            pytest.skip(reason)
        og.prepare_omniglot()  # the default data dir and cache
        real = _real_prepared()
        assert real.is_prepared()
    with pytest.raises(FileNotFoundError) as err:
        og.load_split("lake", tmp_path)  # before: silently the old cache
    message = str(err.value)
    assert f"prepared Omniglot data {real.data_path}" in message
    assert f"data_dir {tmp_path} (looked in {tmp_path / 'omniglot'})" in message
    assert "Fix: point data_dir (--config.data.dir) at" in message
