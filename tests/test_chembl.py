"""ChEMBL drug activity: TFDS preparation from jsonl.gz files, evaluation groups, padded
JAX episodes, R^2, ridge.

Fast tests use tiny synthetic assay folders (written to a tmp dir) or synthetic in-memory assays
whose features encode each compound's row, so an episode can be decoded and checked compound by
compound. Tests that only list or read a few real files are skipped when
../shared/data/chembl_fewshot is absent; the one slow test prepares the real data (about 25 s the
first time, cached in ~/.cache/metareg/tensorflow_datasets; about 6 s to load afterwards).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metareg import drug_metrics
from metareg.analysis import baselines
from metareg.data import chembl as ch
from metareg.tasks.chembl import ChemblFamily, make_chembl_family, split_sizes
from metareg.types import task
from tests.conftest import needs_data

SMILES = (
    "CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "CC(C)O", "c1ccncc1", "CCOC",
    "OCCO", "CC#N", "C1CCCCC1", "CN(C)C", "Clc1ccccc1", "CC(=O)N", "c1ccc(O)cc1", "CCCCCCO",
)  # fmt: skip
# Synthetic folders: folder -> {assay id: number of compounds}.
SYNTHETIC = {
    "train": {"CHEMBL101": 6, "CHEMBL102": 9, "CHEMBL103": 4},
    "valid": {"CHEMBL201": 7},
    "test": {"CHEMBL301": 8, "CHEMBL302": 5},
}


def _fingerprint(assay: str, line: int) -> list[int]:
    """Sparse Morgan-like counts (0..6), deterministic per compound."""
    rng = np.random.default_rng(int(assay[6:]) * 1000 + line)
    fp = np.zeros(ch.FINGERPRINT_WIDTH, np.int64)
    fp[rng.choice(ch.FINGERPRINT_WIDTH, 30, replace=False)] = rng.integers(1, 7, 30)
    return fp.tolist()


def _record(assay: str, line: int) -> dict:
    return {
        "chembl_id": assay,
        "smiles": SMILES[(int(assay[6:]) + line) % len(SMILES)],
        "pchembl_value": round(4.0 + 0.37 * line + 0.01 * int(assay[6:]), 2),
        "fingerprints": _fingerprint(assay, line),
        "descriptors": [0.5] * 3,  # extra fields, as in the real files, are ignored
    }


def _write_assay(path: Path, records: list[dict] | list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def _write_folders(root: Path) -> dict[str, list[dict]]:
    """The synthetic train/valid/test folders under root; returns {assay: records in line order}."""
    out = {}
    for folder, assays in SYNTHETIC.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for assay, n in assays.items():
            out[assay] = [_record(assay, i) for i in range(n)]
            _write_assay(root / folder / f"{assay}.jsonl.gz", out[assay])
    return out


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """(data_dir holding chembl_fewshot/, prepared_dir, records), prepared once."""
    root = tmp_path_factory.mktemp("chembl_synthetic")
    records = _write_folders(root / "data" / "chembl_fewshot")
    ch.prepare_chembl(root / "data", root / "prepared")
    return root / "data", root / "prepared", records


# ---------------------------------------------------------------- preparing and loading


def test_prepared_as_array_record_with_tensor_features(synthetic):
    data_dir, prepared, records = synthetic
    builder = ch.prepare_chembl(data_dir, prepared)
    files = sorted(p.name for p in Path(builder.data_path).iterdir())
    for split in ch.FOLDERS:
        assert any(f"{split}.array_record" in f for f in files)
    assert not any("tfrecord" in f for f in files)
    assert builder.info.splits["train"].num_examples == 6 + 9 + 4
    r = builder.as_data_source("test")[0]
    assert r["fingerprint"].dtype == np.uint8 and r["fingerprint"].shape == (2048,)
    assert builder.info.features["pchembl_value"].np_dtype == np.float32 and r["folder"] == 2
    assert (
        "tensorflow" not in sys.modules
    )  # Tensor/Text features only: no TensorFlow to prepare or read


def test_load_assays_matches_the_files(synthetic):
    data_dir, prepared, records = synthetic
    a = ch.load_assays(data_dir, prepared, counts=True)
    assert a.assay_ids == (
        "CHEMBL101",
        "CHEMBL102",
        "CHEMBL103",
        "CHEMBL201",
        "CHEMBL301",
        "CHEMBL302",
    )
    assert a.folders.tolist() == [0, 0, 0, 1, 2, 2]
    assert a.offsets.tolist() == [0, 6, 15, 19, 26, 34, 39] and a.sizes.tolist() == [
        6,
        9,
        4,
        7,
        8,
        5,
    ]
    assert a.x.dtype == np.uint8 and a.x.shape == (39, 2048) and a.y.dtype == np.float32
    for i, assay in enumerate(a.assay_ids):
        x, y = a.assay(assay)
        np.testing.assert_array_equal(
            x, np.array([r["fingerprints"] for r in records[assay]], np.uint8)
        )  # counts, line order
        np.testing.assert_array_equal(
            y, np.array([r["pchembl_value"] for r in records[assay]], np.float32)
        )
        assert a.smiles[a.offsets[i] : a.offsets[i + 1]] == tuple(
            r["smiles"] for r in records[assay]
        )
    assert a.x.max() == 6 and not a.x.flags.writeable and not a.y.flags.writeable
    bits = ch.load_assays(data_dir, prepared)  # default: the papers' 0/1 bit vectors
    np.testing.assert_array_equal(bits.x, (a.x > 0).astype(np.uint8))
    assert bits.counts is False and set(np.unique(bits.x).tolist()) == {0, 1}
    with pytest.raises(ValueError, match="unknown ChEMBL fingerprint 'ecfp'.*given2048"):
        ch.load_assays(data_dir, prepared, fingerprint="ecfp")


def test_prepared_once_then_the_files_are_not_needed(synthetic, tmp_path):
    data_dir, _, _ = synthetic
    raw = tmp_path / "raw"
    shutil.copytree(data_dir / "chembl_fewshot", raw)
    ch.prepare_chembl(
        raw, tmp_path / "prepared"
    )  # data_dir may also be the folder holding train/ valid/ test/
    shutil.rmtree(raw)
    assert ch.load_assays(raw, tmp_path / "prepared").num_assays == 6


def test_missing_folder_names_the_path(synthetic, tmp_path):
    data_dir, _, _ = synthetic
    shutil.copytree(data_dir / "chembl_fewshot", tmp_path / "chembl_fewshot")
    shutil.rmtree(tmp_path / "chembl_fewshot" / "valid")
    with pytest.raises(FileNotFoundError, match="ChEMBL assay folder missing") as err:
        ch.prepare_chembl(tmp_path, tmp_path / "prepared")
    assert str(tmp_path / "chembl_fewshot" / "valid") in str(
        err.value
    ) and "CHEMBL<id>.jsonl.gz" in str(err.value)
    assert not (
        tmp_path / "prepared" / ch.ChemblBuilder.name / "1.0.0" / "dataset_info.json"
    ).exists()


def test_same_assay_in_two_folders(synthetic, tmp_path):
    data_dir, _, _ = synthetic
    shutil.copytree(data_dir / "chembl_fewshot", tmp_path / "c")
    shutil.copy(tmp_path / "c" / "train" / "CHEMBL101.jsonl.gz", tmp_path / "c" / "test")
    with pytest.raises(ch.ChemblDataError, match="CHEMBL101 is in both train/ and test/"):
        ch.list_assay_files(tmp_path / "c")


def test_a_bad_line_stops_preparing_with_our_error_then_a_fix_prepares(synthetic, tmp_path):
    data_dir, _, records = synthetic
    shutil.copytree(data_dir / "chembl_fewshot", tmp_path / "c")
    path = tmp_path / "c" / "test" / "CHEMBL302.jsonl.gz"
    bad = [json.dumps(r) for r in records["CHEMBL302"]]
    bad[3] = bad[3][:50]  # a truncated line
    _write_assay(path, bad)
    with pytest.raises(
        ch.ChemblDataError, match="line 4 is not JSON"
    ) as err:  # raised inside TFDS, unwrapped
        ch.prepare_chembl(tmp_path / "c", tmp_path / "prepared")
    assert str(path) in str(err.value) and "fresh copy" in str(err.value)
    assert not ch.ChemblBuilder(
        data_dir=str(tmp_path / "prepared"), file_format="array_record"
    ).is_prepared()
    _write_assay(path, records["CHEMBL302"])
    assert ch.prepare_chembl(tmp_path / "c", tmp_path / "prepared").is_prepared()


def _bad_file(kind: str, path: Path) -> str:
    """Write a malformed assay file of the given kind; returns the expected error fragment."""
    good = [_record("CHEMBL9", i) for i in range(3)]
    if kind == "not_gzip":
        path.write_text(json.dumps(good[0]))
        return "not a readable gzip"
    if kind == "truncated_gzip":
        _write_assay(path, good)
        path.write_bytes(path.read_bytes()[:-30])
        return "not a readable gzip"
    if kind == "missing_field":
        del good[1]["pchembl_value"]
        _write_assay(path, good)
        return r"line 2 has no field \['pchembl_value'\]"
    if kind == "short_fingerprint":
        good[2]["fingerprints"] = good[2]["fingerprints"][:1024]
        _write_assay(path, good)
        return "line 3 has a fingerprint of length 1024; expected a list of 2048"
    if kind == "float_fingerprint":
        good[0]["fingerprints"][7] = 0.5
        _write_assay(path, good)
        return "line 1 has a fingerprint with non-integer values"
    if kind == "count_too_big":
        good[0]["fingerprints"][7] = 300
        _write_assay(path, good)
        return r"values in \[0, 300\]"
    if kind == "nan_target":
        good[1]["pchembl_value"] = float("nan")
        _write_assay(path, good)
        return "line 2 has pchembl_value=nan, not a finite number"
    if kind == "not_an_object":
        _write_assay(path, [good[0], "[1, 2]"])
        return "line 2 is a JSON list, not an object"
    if kind == "empty":
        _write_assay(path, [])
        return "holds no compounds"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    ["not_gzip", "truncated_gzip", "missing_field", "short_fingerprint", "float_fingerprint",
     "count_too_big", "nan_target", "not_an_object", "empty"],
)  # fmt: skip
def test_malformed_file_names_the_file_the_line_and_the_fix(tmp_path, kind):
    path = tmp_path / "CHEMBL9.jsonl.gz"
    expected = _bad_file(kind, path)
    with pytest.raises(ch.ChemblDataError, match=expected) as err:
        ch.read_assay_file(path)
    assert str(path) in str(err.value) and "Replace" in str(err.value)


# ---------------------------------------------------------------- evaluation groups


def test_group_zero_is_the_data_split_in_hash_order():
    ids = [f"CHEMBL{i}" for i in range(1, 41)]
    folders = np.array([0] * 30 + [1] * 4 + [2] * 6)
    p = ch.assay_partition(ids, folders, 0)
    assert p.train.tolist() == list(range(30))
    assert sorted(p.valid.tolist()) == list(range(30, 34)) and sorted(p.test.tolist()) == list(
        range(34, 40)
    )
    salt = "metareg-chembl-group0"
    digests = [hashlib.sha256(f"{salt}/{ids[i]}".encode()).hexdigest() for i in p.test]
    assert digests == sorted(digests)  # a prefix of the test list is a random subset


def test_groups_one_to_three_are_pinned_seeded_repartitions():
    ids = [f"CHEMBL{i}" for i in range(1, 501)]
    folders = np.zeros(500, np.int8)
    tests = []
    for g in (1, 2, 3):
        p = ch.assay_partition(ids, folders, g)
        assert (len(p.train), len(p.valid), len(p.test)) == (324, 76, 100)
        assert sorted(np.concatenate([p.train, p.valid, p.test]).tolist()) == list(range(500))
        np.testing.assert_array_equal(p.test, ch.assay_partition(ids, folders, g).test)
        tests.append(set(p.test.tolist()))
    assert (
        len(tests[0] & tests[1]) < 50 and len(tests[0] & tests[2]) < 50
    )  # independent draws (~20 shared)
    # sha256(f"metareg-chembl-group{g}/{id}") order: never changes silently
    first = {g: [ids[i] for i in ch.assay_partition(ids, folders, g).test[:3]] for g in (1, 2, 3)}
    assert first[1] == ["CHEMBL193", "CHEMBL452", "CHEMBL156"] and first[2] == [
        "CHEMBL78",
        "CHEMBL231",
        "CHEMBL18",
    ]
    assert first[3] == ["CHEMBL407", "CHEMBL234", "CHEMBL62"]
    assert [ids[i] for i in ch.assay_partition(ids, folders, 1).valid[:2]] == [
        "CHEMBL124",
        "CHEMBL390",
    ]
    with pytest.raises(ValueError, match="choose from"):
        ch.assay_partition(ids, folders, 4)
    with pytest.raises(ValueError, match="lower num_test"):
        ch.assay_partition(ids[:150], folders[:150], 1)


needs_real = needs_data(
    lambda: (ch.chembl_dir() / "test").is_dir(),
    "real ChEMBL data not in ../shared/data/chembl_fewshot",
)


def _real_ids() -> tuple[list[str], np.ndarray]:
    files = ch.list_assay_files(ch.chembl_dir())
    pairs = sorted((a, i) for i, f in enumerate(ch.FOLDERS) for a, _ in files[f])
    return [a for a, _ in pairs], np.array([i for _, i in pairs], np.int8)


@needs_real
def test_real_groups_are_pinned():
    ids, folders = _real_ids()
    assert len(ids) == 2779 and np.bincount(folders).tolist() == [2451, 128, 200]
    first = {}
    for g in range(4):
        p = ch.assay_partition(ids, folders, g)
        first[g] = [ids[i] for i in p.test[:3]]
        digest = hashlib.sha256("\n".join(ids[i] for i in p.test).encode()).hexdigest()[:16]
        assert (
            digest
            == {
                0: "0547b2d809c8bb5b",
                1: "e06f75f61dd3523b",
                2: "c09df503aa3a7ad8",
                3: "a86270b06c3bdc4a",
            }[g]
        ), (g, digest)
    assert first[1] == ["CHEMBL2388705", "CHEMBL4705399", "CHEMBL885179"]
    assert first[0] == ["CHEMBL5126487", "CHEMBL5055349", "CHEMBL4390734"]


# ---------------------------------------------------------------- episodes


def test_split_sizes_follow_the_75_25_rule_with_three_queries():
    n = [4, 5, 6, 8, 12, 13, 20, 68, 262]
    s, q = split_sizes(n)
    assert list(zip(s.tolist(), q.tolist(), strict=True)) == [
        (1, 3),
        (2, 3),
        (3, 3),
        (5, 3),
        (9, 3),
        (9, 4),
        (15, 5),
        (51, 17),
        (196, 66),
    ]
    assert split_sizes([3])[0].tolist() == [0]  # unusable: dropped by the family
    s, q = split_sizes([10, 20], support_fraction=0.5, min_query=4)
    assert s.tolist() == [5, 10] and q.tolist() == [5, 10]


def _coded_assays(sizes, folders=None) -> ch.ChemblAssays:
    """In-memory assays whose features encode each compound:
    x[r] = (r % 256, r // 256, assay, 1), y[r] = r."""
    sizes = np.asarray(sizes)
    n = int(sizes.sum())
    rows = np.arange(n)
    assay_of = np.repeat(np.arange(len(sizes)), sizes)
    x = np.stack([rows % 256, rows // 256, assay_of % 256, np.ones(n, int)], 1).astype(np.uint8)
    return ch.ChemblAssays(
        assay_ids=tuple(f"CHEMBL{1000 + i}" for i in range(len(sizes))),
        folders=np.zeros(len(sizes), np.int8) if folders is None else np.asarray(folders, np.int8),
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        x=x,
        y=rows.astype(np.float32),
        smiles=tuple("C" for _ in range(n)),
    )


SIZES = [6, 9, 4, 30, 12, 7, 3, 25, 8, 5, 40, 6, 10, 11, 14, 6, 9, 13, 7, 22]


def _family(**kw) -> tuple[ch.ChemblAssays, ChemblFamily]:
    assays = _coded_assays(SIZES)
    partition = ch.assay_partition(assays.assay_ids, assays.folders, 1, num_valid=3, num_test=4)
    return assays, make_chembl_family(assays, partition, **kw)


def _decode(ep) -> tuple[list[int], list[int]]:
    """(support rows, query rows) of one task, real points only, checking x, y
    and the padding agree."""
    out = []
    for x, y, m in (
        (ep.support_x, ep.support_y, ep.support_mask),
        (ep.query_x, ep.query_y, ep.query_mask),
    ):
        x, y, m = np.asarray(x), np.asarray(y)[:, 0], np.asarray(m)
        real = m == 1
        assert (
            set(np.unique(m).tolist()) <= {0.0, 1.0} and (real[: real.sum()]).all()
        )  # real rows first
        assert not x[~real].any() and not y[~real].any()  # padding is exact zeros
        rows = (x[real, 0] + 256 * x[real, 1]).astype(int)
        np.testing.assert_array_equal(rows, y[real])
        out.append(rows.tolist())
    return out[0], out[1]


def test_family_drops_too_small_assays_and_resolves_eval_shapes():
    assays, fam = _family(max_support=8, max_query=4)
    assert (
        len(fam.assay_ids) == len(SIZES) - 1 and "CHEMBL1006" not in fam.assay_ids
    )  # 3 compounds < min_query + 1
    assert fam.num_train_tasks + fam.num_valid_tasks + fam.num_test_tasks == len(SIZES) - 1
    evaluated = [
        SIZES[int(a[6:]) - 1000] for a in fam.eval_assay_ids("test") + fam.eval_assay_ids("valid")
    ]
    s, q = split_sizes(evaluated)
    assert (fam.eval_max_support, fam.eval_max_query) == (s.max(), q.max())
    assert fam.x.dtype == jnp.uint8 and fam.loss_name == "mse" and fam.output_width == 1
    ex = fam.example_episode()
    assert (
        ex.support_x.shape == (8, 4)
        and ex.query_y.shape == (4, 1)
        and float(ex.support_mask.sum()) == 8
    )


def test_training_episodes_are_distinct_assays_split_by_the_rule():
    assays, fam = _family(max_support=8, max_query=4)
    ep = fam.sample_train(jax.random.key(0), 6)
    assert (
        ep.support_x.shape == (6, 8, 4)
        and ep.support_y.shape == (6, 8, 1)
        and ep.query_x.shape == (6, 4, 4)
    )
    assert (
        ep.support_mask.shape == (6, 8)
        and ep.query_mask.shape == (6, 4)
        and ep.support_x.dtype == jnp.float32
    )
    train_ids = {fam.assay_ids[a] for a in np.asarray(fam.train_assays)}
    seen = []
    for t in range(6):
        sup, qry = _decode(task(ep, t))
        assay = int(np.asarray(ep.support_x)[t, 0, 2])  # column 2 codes the (original) assay
        assert f"CHEMBL{1000 + assay}" in train_ids
        lo, hi = assays.offsets[assay], assays.offsets[assay + 1]
        assert all(lo <= r < hi for r in sup + qry) and len(set(sup + qry)) == len(sup) + len(
            qry
        )  # own compounds, disjoint
        s, q = split_sizes([hi - lo])
        assert (len(sup), len(qry)) == (min(s[0], 8), min(q[0], 4))
        seen.append(assay)
    assert len(set(seen)) == 6  # distinct assays


def test_training_resamples_the_split_evaluation_fixes_it():
    _, fam = _family()
    a = fam.sample_train(jax.random.key(1), 4)
    b = fam.sample_train(jax.random.key(1), 4)
    c = fam.sample_train(jax.random.key(2), 4)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(a.support_y, c.support_y)
    full = fam.sample_test(jax.random.key(3))
    assert full.support_x.shape[0] == fam.num_test_tasks == 4
    jax.tree_util.tree_map(
        np.testing.assert_array_equal, full, fam.sample_test(jax.random.key(3), 0)
    )
    head = fam.sample_test(
        jax.random.key(3), 2
    )  # the first n tasks, split exactly as in the full set
    jax.tree_util.tree_map(lambda h, f: np.testing.assert_array_equal(h, f[:2]), head, full)
    other = fam.sample_test(jax.random.key(4))
    assert not np.array_equal(full.query_y, other.query_y)
    for t, assay in enumerate(fam.eval_assay_ids("test")):
        sup, qry = _decode(task(full, t))
        n = SIZES[int(assay[6:]) - 1000]
        assert len(sup) + len(qry) == n and (len(sup), len(qry)) == tuple(
            int(v[0]) for v in split_sizes([n])
        )  # nothing cut
    valid = fam.sample_valid(jax.random.key(3))
    assert valid.support_x.shape[:2] == (3, fam.eval_max_support)
    with pytest.raises(ValueError, match="has 4 meta-test assays; asked for 5"):
        fam.sample_test(jax.random.key(0), 5)


def test_caps_and_padding_never_change_which_compounds_are_support_or_query():
    _, wide = _family(eval_max_support=40, eval_max_query=20)
    _, exact = _family()
    _, capped = _family(eval_max_support=3, eval_max_query=2)
    k = jax.random.key(5)
    for t in range(4):
        e_sup, e_qry = _decode(task(exact.sample_test(k), t))
        w_sup, w_qry = _decode(task(wide.sample_test(k), t))
        c_sup, c_qry = _decode(task(capped.sample_test(k), t))
        assert (w_sup, w_qry) == (e_sup, e_qry)
        assert c_sup == e_sup[:3] and c_qry == e_qry[:2]


def test_every_compound_is_support_about_three_quarters_of_the_time():
    assays, fam = _family(max_support=64, max_query=32)
    t_all = fam.num_train_tasks
    counts = np.zeros(len(assays.y))
    in_support = np.zeros(len(assays.y))
    for i in range(40):  # all training assays, 40 times
        ep = fam.sample_train(jax.random.key(100 + i), t_all)
        for t in range(t_all):
            sup, qry = _decode(task(ep, t))
            counts[sup + qry] += 1
            in_support[sup] += 1
    used = counts > 0
    assert counts[used].min() == 40  # uncapped: every compound every time
    assay_of = np.repeat(np.arange(len(SIZES)), SIZES)
    expected = split_sizes(SIZES)[0][assay_of] / np.asarray(SIZES)[assay_of]
    frac = in_support[used] / 40
    assert (
        abs(frac.mean() - expected[used].mean()) < 0.03
        and np.abs(frac - expected[used]).max() < 0.4
    )


def test_jit_matches_eager_and_traces_once():
    _, fam = _family(max_support=8, max_query=4)
    traces = []

    def sample(f, k):
        traces.append(1)
        return f.sample_train(k, 5)

    jitted = jax.jit(sample)
    eager = fam.sample_train(jax.random.key(9), 5)
    for _ in range(3):
        got = jitted(fam, jax.random.key(9))
    jax.tree_util.tree_map(np.testing.assert_array_equal, got, eager)
    assert len(traces) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_support": 0}, "max_support=0"),
        ({"min_query": 1}, "min_query=1"),
        ({"support_fraction": 1.0}, "support_fraction"),
    ],
)
def test_impossible_requests_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _family(**kwargs)
    _, fam = _family()
    with pytest.raises(ValueError, match="meta-batch of 50 distinct assays"):
        fam.sample_train(jax.random.key(0), 50)


# ---------------------------------------------------------------- metrics


def test_r_squared_is_the_squared_pearson_correlation_of_the_real_points():
    rng = np.random.default_rng(0)
    p, y = rng.normal(size=9), rng.normal(size=9) + 0.5 * rng.normal(size=9)
    expected = np.corrcoef(p[:6], y[:6])[0, 1] ** 2
    mask = np.array([1.0] * 6 + [0.0] * 3)
    p_pad, y_pad = p.copy(), y.copy()
    p_pad[6:], y_pad[6:] = 1e4, -3e3  # padding holds anything finite
    assert float(drug_metrics.r_squared(p_pad, y_pad, mask)) == pytest.approx(expected, rel=1e-5)
    assert float(drug_metrics.r_squared(p[:6, None], y[:6, None])) == pytest.approx(
        expected, rel=1e-5
    )
    assert float(drug_metrics.r_squared(-3.0 * p[:6] + 7.0, y[:6])) == pytest.approx(
        expected, rel=1e-4
    )  # affine-invariant
    batch = drug_metrics.r_squared_batch(
        np.stack([p_pad, p_pad]), np.stack([y_pad, y_pad]), np.stack([mask, np.ones(9)])
    )
    assert batch.shape == (2,) and float(batch[0]) == pytest.approx(expected, rel=1e-5)
    assert float(batch[1]) == pytest.approx(np.corrcoef(p_pad, y_pad)[0, 1] ** 2, rel=1e-4)


def test_r_squared_degenerate_cases():
    y = jnp.array([5.1, 6.3, 4.2, 7.0])
    r2 = drug_metrics.r_squared
    assert float(r2(jnp.full(4, 5.86), y)) == 0.0  # constant predictions
    assert float(r2(y, jnp.full(4, 6.0))) == 0.0  # constant targets
    mean = jnp.mean(
        jnp.array([5.83, 6.17, 5.91, 6.02, 5.77, 6.11, 5.99])
    )  # float32 rounding of a "constant"
    assert float(r2(jnp.full(4, mean) + jnp.array([0.0, 1e-7, 0.0, 0.0]) * mean, y)) == 0.0
    assert float(r2(jnp.array([1.0, 2.0]), jnp.array([3.0, 1.0]))) == pytest.approx(
        1.0
    )  # 2 points: always 1
    assert float(r2(y, y, jnp.array([1.0, 0, 0, 0]))) == 0.0  # fewer than 2 real points
    assert float(r2(y, y, jnp.zeros(4))) == 0.0


def test_chance_level_matches_closed_forms_and_simulation():
    mean, tail = drug_metrics.chance_r_squared(np.array([2, 3, 4, 5, 17]))
    np.testing.assert_allclose(mean, [1.0, 0.5, 1 / 3, 0.25, 1 / 16])
    # q = 3: R^2 ~ Beta(1/2, 1/2), P(R^2 > t) = 1 - (2/pi) asin(sqrt t); q = 4:
    # Beta(1/2, 1), P = 1 - sqrt t.
    np.testing.assert_allclose(
        tail[:3], [1.0, 1 - 2 / math.pi * math.asin(math.sqrt(0.3)), 1 - math.sqrt(0.3)], rtol=1e-5
    )
    rng = np.random.default_rng(1)
    sims = 20000
    r2 = drug_metrics.r_squared_batch(
        rng.normal(size=(sims, 5)).astype(np.float32), rng.normal(size=(sims, 5)).astype(np.float32)
    )
    r2 = np.asarray(r2)
    assert abs(r2.mean() - mean[3]) < 4 * r2.std() / math.sqrt(sims)
    assert abs((r2 > 0.3).mean() - tail[3]) < 0.012


def test_summary_columns():
    s = drug_metrics.summarize_r_squared([0.1, 0.2, 0.4, 0.5], num_query=[3, 3, 4, 5])
    assert s["num_tasks"] == 4 and s["count_above"] == 2 and s["fraction_above"] == 0.5
    assert s["mean"] == pytest.approx(0.3) and s["median"] == pytest.approx(0.3)
    assert s["ci95"] == pytest.approx(1.959964 * np.std([0.1, 0.2, 0.4, 0.5], ddof=1) / 2, rel=1e-5)
    assert s["chance_mean"] == pytest.approx((0.5 + 0.5 + 1 / 3 + 0.25) / 4)
    tail5 = float(drug_metrics.chance_r_squared(5)[1])
    assert s["chance_count_above"] == pytest.approx(
        2 * 0.630969 + (1 - math.sqrt(0.3)) + tail5, rel=1e-4
    )
    assert "chance_mean" not in drug_metrics.summarize_r_squared([0.5])


# ---------------------------------------------------------------- ridge and the support mean


def _ridge_numpy(x, y, xq, lam):
    """Independent float64 primal ridge with an unpenalized intercept."""
    xm, ym = x.mean(0), y.mean()
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ (y - ym))
    return ym + (xq - xm) @ w


def test_ridge_matches_the_primal_closed_form():
    rng = np.random.default_rng(2)
    x = (rng.random((12, 40)) < 0.2).astype(np.float32)
    y = (x @ rng.normal(size=40) + 6.0 + 0.1 * rng.normal(size=12)).astype(np.float32)
    xq = (rng.random((5, 40)) < 0.2).astype(np.float32)
    for lam in (0.3, 3.0, 100.0):
        got = baselines.ridge_predict(x, y[:, None], xq, lam=lam)
        assert got.shape == (5, 1)
        np.testing.assert_allclose(
            got[:, 0], _ridge_numpy(x.astype(np.float64), y, xq, lam), atol=2e-4
        )


def test_loo_errors_are_exact_refits_and_pick_the_best_lambda():
    rng = np.random.default_rng(3)
    x = (rng.random((10, 30)) < 0.3).astype(np.float32)
    y = (x @ rng.normal(size=30) + rng.normal(size=10)).astype(np.float32)
    xc = x - x.mean(0)
    yc = y - y.mean()
    lam, errors = baselines.ridge_lambda_loo(jnp.asarray(xc @ xc.T), jnp.asarray(yc), jnp.ones(10))
    brute = []
    for (
        lam_
    ) in baselines.RIDGE_LAMBDAS:  # refit the centred kernel ridge without point i, predict point i
        res = []
        for i in range(10):
            keep = np.arange(10) != i
            g = xc[keep].astype(np.float64) @ xc[keep].T
            alpha = np.linalg.solve(g + lam_ * np.eye(9), yc[keep])
            res.append(yc[i] - xc[i] @ xc[keep].T @ alpha)
        brute.append(np.mean(np.square(res)))
    np.testing.assert_allclose(errors, brute, rtol=2e-3)
    assert float(lam) == pytest.approx(baselines.RIDGE_LAMBDAS[int(np.argmin(brute))])


def test_ridge_recovers_a_clean_linear_assay_and_the_mean_floor_scores_zero():
    rng = np.random.default_rng(4)
    x = (rng.random((60, 20)) < 0.3).astype(np.float32)
    y = (x @ rng.normal(size=20) + 5.0).astype(np.float32)
    pred = baselines.ridge_predict(x[:45], y[:45], x[45:])  # LOO lambda
    assert float(drug_metrics.r_squared(pred, y[45:])) > 0.97
    floor = baselines.support_mean_predict(y[:45, None], x[45:])
    np.testing.assert_allclose(floor[:, 0], np.full(15, y[:45].mean()), rtol=1e-6)
    assert float(drug_metrics.r_squared(floor, y[45:, None])) == 0.0


def _pad(a, rows, value=0.0):
    return np.concatenate([a, np.full((rows, *a.shape[1:]), value, a.dtype)])


def test_padding_never_changes_a_number():
    """The same assay padded to two different K / Q (zeros, or garbage in the padded
    rows) scores the same."""
    rng = np.random.default_rng(5)
    s, q, d = 9, 4, 64
    x = (rng.random((s + q, d)) < 0.25).astype(np.float32)
    y = (x @ rng.normal(size=d) * 0.3 + 6.0 + 0.3 * rng.normal(size=s + q)).astype(np.float32)[
        :, None
    ]
    results = []
    for extra_k, extra_q, fill in ((0, 0, 0.0), (7, 3, 0.0), (23, 11, 0.0), (7, 3, 9.0)):
        sx, sy = _pad(x[:s], extra_k, fill), _pad(y[:s], extra_k, fill)
        qx, qy = _pad(x[s:], extra_q, fill), _pad(y[s:], extra_q, fill)
        sm = _pad(np.ones(s, np.float32), extra_k)
        qm = _pad(np.ones(q, np.float32), extra_q)
        out = {}
        for name, lam in (("loo", None), ("fixed", 3.0)):
            pred = baselines.ridge_predict(sx, sy, qx, sm, lam=lam)
            out[name] = np.asarray(pred)[:q, 0]
            out[name + "_r2"] = float(drug_metrics.r_squared(pred, qy, qm))
            out[name + "_mse"] = float(drug_metrics.masked_mse(pred, qy, qm))
        out["mean"] = np.asarray(baselines.support_mean_predict(sy, qx, sm))[:q, 0]
        xc, yc, *_ = baselines._centred(sx, sy, sm)
        out["lam"] = float(baselines.ridge_lambda_loo(xc @ xc.T, yc, jnp.asarray(sm))[0])
        results.append(out)
    for other in results[1:]:
        for key, value in results[0].items():
            np.testing.assert_allclose(other[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
    assert results[0]["loo_r2"] > 0.0


def test_ridge_on_family_episodes_is_the_same_for_two_eval_shapes():
    assays = _coded_assays(SIZES)
    rng = np.random.default_rng(6)
    n = len(assays.y)
    assays = dataclasses.replace(
        assays,
        x=(rng.random((n, 48)) < 0.3).astype(np.uint8),
        y=(5 + rng.normal(size=n)).astype(np.float32),
    )
    partition = ch.assay_partition(assays.assay_ids, assays.folders, 1, num_valid=3, num_test=4)
    exact = make_chembl_family(assays, partition)
    wide = make_chembl_family(
        assays,
        partition,
        eval_max_support=exact.eval_max_support + 13,
        eval_max_query=exact.eval_max_query + 6,
    )
    k = jax.random.key(11)
    e, w = exact.sample_test(k), wide.sample_test(k)
    pe, pw = baselines.ridge_episodes(e), baselines.ridge_episodes(w)
    q = e.query_x.shape[1]
    real = np.asarray(e.query_mask)[..., None]
    np.testing.assert_allclose(
        np.asarray(pw)[:, :q] * real, np.asarray(pe) * real, rtol=1e-5, atol=1e-5
    )
    r2_wide = drug_metrics.r_squared_batch(pw, w.query_y, w.query_mask)
    np.testing.assert_allclose(
        r2_wide, drug_metrics.r_squared_batch(pe, e.query_y, e.query_mask), atol=1e-5
    )
    np.testing.assert_allclose(
        baselines.support_mean_episodes(w)[:, :q], baselines.support_mean_episodes(e), rtol=1e-6
    )


# ---------------------------------------------------------------- RDKit (optional)


def test_missing_rdkit_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdkit", None)  # makes `import rdkit` raise ImportError
    with pytest.raises(ImportError, match="pip install rdkit"):
        ch.morgan_fingerprints(["CCO"])


def test_morgan1024_from_the_prepared_smiles(synthetic):
    pytest.importorskip("rdkit")
    data_dir, prepared, _ = synthetic
    a = ch.load_assays(data_dir, prepared, fingerprint="morgan1024")
    assert (
        a.x.shape == (39, 1024) and a.x.dtype == np.uint8 and set(np.unique(a.x).tolist()) == {0, 1}
    )
    np.testing.assert_array_equal(a.x, ch.morgan_fingerprints(a.smiles))
    counts = ch.load_assays(data_dir, prepared, fingerprint="morgan1024", counts=True).x
    np.testing.assert_array_equal(a.x, (counts > 0).astype(np.uint8))
    assert counts.max() > 1
    # benzene: 1 ring-carbon environment per radius, all six atoms alike -> 3
    # bits, each counted 6 times
    benzene = ch.morgan_fingerprints(["c1ccccc1"], counts=True)[0]
    assert sorted(benzene[benzene > 0].tolist()) == [6, 6, 6]
    with pytest.raises(ch.ChemblDataError, match="cannot parse the SMILES of compound 1: 'C1CC'"):
        ch.morgan_fingerprints(["CCO", "C1CC"])


@needs_real
def test_given_fingerprints_are_rdkit_morgan_counts_radius_2():
    pytest.importorskip("rdkit")
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    path = ch.list_assay_files(ch.chembl_dir())["test"][0][1]
    for smiles, _, fp in ch.read_assay_file(path)[:5]:
        np.testing.assert_array_equal(
            fp, gen.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(smiles))
        )


# ---------------------------------------------------------------- the real data (slow)


@needs_real
@pytest.mark.slow
def test_real_data_counts_groups_and_episodes():
    a = ch.load_assays()  # default dirs; prepared once (about 25 s), then cached on disk
    assert (
        a.num_assays == 2779
        and a.x.shape == (46593, 2048)
        and np.bincount(a.folders).tolist() == [2451, 128, 200]
    )
    assert a.sizes.min() == 6 and a.sizes.max() == 262 and np.median(a.sizes) == 12
    assert 2.8 < a.y.min() and a.y.max() == 11.0 and abs(a.y.mean() - 5.86) < 0.01
    path = dict(ch.list_assay_files(ch.chembl_dir())["valid"])[
        a.assay_ids[int(np.flatnonzero(a.folders == 1)[0])]
    ]
    rows = ch.read_assay_file(path)
    x, y = a.assay(path.name.split(".")[0])
    np.testing.assert_array_equal(x, np.stack([(fp > 0) for _, _, fp in rows]).astype(np.uint8))
    np.testing.assert_array_equal(y, np.array([v for _, v, _ in rows], np.float32))
    from metareg.tasks.chembl import chembl_family

    fam = chembl_family(group=1)
    assert (fam.num_train_tasks, fam.num_valid_tasks, fam.num_test_tasks) == (2603, 76, 100)
    assert fam.eval_assay_ids()[:3] == ("CHEMBL2388705", "CHEMBL4705399", "CHEMBL885179")
    ep = fam.sample_train(jax.random.key(0), 8)
    assert ep.support_x.shape == (8, 64, 2048) and ep.query_x.shape == (8, 32, 2048)
    assert float(ep.support_mask.sum(1).min()) >= 1 and float(ep.query_mask.sum(1).min()) >= 3
    test = fam.sample_test(jax.random.key(0))
    r2 = drug_metrics.r_squared_batch(baselines.ridge_episodes(test), test.query_y, test.query_mask)
    assert 0.0 <= float(r2.min()) and float(r2.max()) <= 1.0 and 0.3 < float(r2.mean()) < 0.6
