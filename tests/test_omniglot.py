"""Omniglot: TFDS preparation from the zips (no TensorFlow), class-major loading,
and JAX episode sampling.

Most tests use tiny synthetic archives of the official layout (built in a tmp dir) or synthetic
arrays; the real-archive tests share one preparation, cached in the default prepared dir
(~/.cache/metareg/tensorflow_datasets; about 15 s the first time, about 2 s to load afterwards).
"""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from metareg.assemble import validate_config
from metareg.data import omniglot as og
from metareg.tasks.omniglot import (
    OmniglotFamily,
    make_omniglot_family,
    omniglot_family,
    slot_partition,
)
from tests.conftest import needs_data

# Synthetic archives: alphabets -> number of characters, per archive.
SYNTHETIC = {"background": {"Alpha": 3, "Beta": 2}, "evaluation": {"Gamma": 2}}


def _png(char_id: int, drawer: int) -> bytes:
    """A 105x105 1-bit PNG, white background, an asymmetric black 'L' placed
    by character and drawer."""
    a = np.ones((105, 105), bool)
    r, c = 8 + 9 * (char_id % 7), 6 + 4 * (drawer % 12)
    a[r : r + 30, c : c + 6] = False
    a[r + 24 : r + 30, c : c + 28] = False
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _write_archives(folder: Path) -> dict[tuple[str, str, int, int], bytes]:
    """The two synthetic zips in `folder`; returns {(archive, alphabet, character, drawer): png}."""
    folder.mkdir(parents=True, exist_ok=True)
    pngs, char_id = {}, 0
    for archive, alphabets in SYNTHETIC.items():
        with zipfile.ZipFile(folder / og.ARCHIVE_FILES[archive], "w") as zf:
            for alphabet, n in alphabets.items():
                for character in range(1, n + 1):
                    char_id += 1
                    for drawer in range(1, 21):
                        png = pngs[(archive, alphabet, character, drawer)] = _png(char_id, drawer)
                        zf.writestr(
                            f"images_{archive}/{alphabet}/character{character:02d}/"
                            f"{char_id:04d}_{drawer:02d}.png",
                            png,
                        )
    return pngs


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """(data_dir holding omniglot/, prepared_dir, pngs), prepared once."""
    root = tmp_path_factory.mktemp("omniglot_synthetic")
    pngs = _write_archives(root / "data" / "omniglot")
    og.prepare_omniglot(root / "data", root / "prepared")
    return root / "data", root / "prepared", pngs


def _reference_image(png: bytes) -> np.ndarray:
    """Independent reference of the preprocessing: grey, LANCZOS to 28x28, invert."""
    im = Image.open(io.BytesIO(png)).convert("L").resize((28, 28), Image.Resampling.LANCZOS)
    return 255 - np.array(im)


# ---------------------------------------------------------------- preparing and loading


def test_prepared_as_array_record_with_tensor_features(synthetic):
    data_dir, prepared, _ = synthetic
    builder = og.prepare_omniglot(data_dir, prepared)
    assert builder.is_prepared()
    files = sorted(p.name for p in Path(builder.data_path).iterdir())
    assert any("background.array_record" in f for f in files) and any(
        "evaluation.array_record" in f for f in files
    )
    assert not any("tfrecord" in f for f in files)
    source = builder.as_data_source("evaluation")
    assert len(source) == 2 * 20
    ex = source[0]
    assert ex["image"].dtype == np.uint8 and ex["image"].shape == (28, 28)
    assert ex["alphabet"] == b"Gamma" and ex["archive"] == 1 and 1 <= ex["drawer"] <= 20


def test_lake_split_is_class_major_and_matches_the_pngs(synthetic):
    data_dir, prepared, pngs = synthetic
    split = og.load_split("lake", data_dir, prepared)
    assert split.train.shape == (5, 20, 28, 28) and split.test.shape == (2, 20, 28, 28)
    assert split.train.dtype == np.uint8 and split.rotations_per_character == 1
    assert split.train_names == (
        "background/Alpha/character01",
        "background/Alpha/character02",
        "background/Alpha/character03",
        "background/Beta/character01",
        "background/Beta/character02",
    )
    assert split.test_names == ("evaluation/Gamma/character01", "evaluation/Gamma/character02")
    for c, name in enumerate(split.train_names):
        _, alphabet, character = name.split("/")
        for d in (0, 7, 19):
            ref = _reference_image(pngs[("background", alphabet, int(character[-2:]), d + 1)])
            np.testing.assert_array_equal(split.train[c, d], ref)


def test_strokes_are_bright(synthetic):
    data_dir, prepared, _ = synthetic
    images = og.load_split("lake", data_dir, prepared).train
    assert images.max() == 255
    assert images.mean() / 255 < 0.2  # mostly dark background
    assert (images[:, :, 0, 0] == 0).all() and (images[:, :, -1, -1] == 0).all()


def test_prepared_once_then_the_zips_are_not_needed(synthetic, tmp_path):
    data_dir, _, _ = synthetic
    raw = tmp_path / "raw"
    shutil.copytree(data_dir / "omniglot", raw)
    og.prepare_omniglot(
        raw, tmp_path / "prepared"
    )  # data_dir may also be the folder holding the zips
    shutil.rmtree(raw)
    chars = og.load_characters(raw, tmp_path / "prepared")
    assert chars["background"][0].shape == (5, 20, 28, 28)
    assert not chars["background"][0].flags.writeable  # the per-process cache cannot be modified


def test_missing_archive_names_the_path_and_the_file(synthetic, tmp_path):
    data_dir, _, _ = synthetic
    (tmp_path / "omniglot").mkdir()
    shutil.copy(data_dir / "omniglot" / "images_background.zip", tmp_path / "omniglot")
    expected = tmp_path / "omniglot" / "images_evaluation.zip"
    with pytest.raises(FileNotFoundError, match="Omniglot archive missing") as err:
        og.prepare_omniglot(tmp_path, tmp_path / "prepared")
    assert str(expected) in str(err.value) and "659 characters" in str(err.value)
    with pytest.raises(FileNotFoundError, match="images_background.zip"):
        og.prepare_omniglot(tmp_path / "nowhere", tmp_path / "prepared")
    assert not (tmp_path / "prepared" / "metareg_omniglot" / "1.0.0" / "dataset_info.json").exists()


def _corrupt(kind: str, good: bytes) -> bytes:
    if kind == "garbage":
        return b"this is not a zip archive" * 100
    if kind == "truncated":
        return good[: len(good) // 2]
    # a member whose stored bytes no longer match its CRC-32
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("images_background/Alpha/character01/0001_01.png", b"A" * 4000)
    data = buf.getvalue()
    i = data.index(b"A" * 100)
    return data[:i] + b"B" + data[i + 1 :]


@pytest.mark.parametrize("kind", ["garbage", "truncated", "bad_member"])
def test_corrupt_archive_names_the_path_and_the_fix(synthetic, tmp_path, kind):
    data_dir, _, _ = synthetic
    shutil.copytree(data_dir / "omniglot", tmp_path / "omniglot")
    path = tmp_path / "omniglot" / "images_background.zip"
    path.write_bytes(_corrupt(kind, path.read_bytes()))
    with pytest.raises(og.OmniglotArchiveError, match="Omniglot archive corrupt") as err:
        og.prepare_omniglot(tmp_path, tmp_path / "prepared")
    assert str(path) in str(err.value) and "fresh copy of images_background.zip" in str(err.value)


def test_archive_with_the_wrong_layout(tmp_path):
    with zipfile.ZipFile(tmp_path / "images_background.zip", "w") as zf:
        zf.writestr(
            "images_evaluation/Gamma/character01/0001_01.png", _png(1, 1)
        )  # the other archive's layout
    with pytest.raises(og.OmniglotArchiveError, match="wrong layout.*images_background/<Alphabet>"):
        og.check_archive(tmp_path / "images_background.zip", "background")


def test_rotations_are_exact_rot90(synthetic):
    data_dir, prepared, _ = synthetic
    base = og.load_split("lake", data_dir, prepared)
    rot = og.load_split("lake", data_dir, prepared, rotations=True)
    assert rot.train.shape == (20, 20, 28, 28) and rot.rotations_per_character == 4
    assert rot.train_names[:4] == tuple(
        f"background/Alpha/character01/rot{a:03d}" for a in (0, 90, 180, 270)
    )
    for b in range(base.train.shape[0]):
        for r in range(4):
            for d in (0, 19):
                np.testing.assert_array_equal(
                    rot.train[4 * b + r, d], np.rot90(base.train[b, d], r)
                )


def test_vinyals_partition_is_a_stable_seeded_shuffle():
    names = tuple(f"background/A{i // 40:02d}/character{i % 40 + 1:02d}" for i in range(1623))
    train, test = og.vinyals_partition(names)
    assert len(train) == 1200 and len(test) == 423
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(1623))
    assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()
    again, _ = og.vinyals_partition(tuple(names))
    np.testing.assert_array_equal(train, again)
    assert test.min() < 1200  # shuffled: the test characters are not just the last ones
    plain_train, plain_test = og.vinyals_partition(names, shuffled=False)
    np.testing.assert_array_equal(plain_train, np.arange(1200))
    np.testing.assert_array_equal(plain_test, np.arange(1200, 1623))


def test_split_requests_that_cannot_work(synthetic):
    data_dir, prepared, _ = synthetic
    with pytest.raises(ValueError, match="more than 1200 characters.*split='lake'"):
        og.load_split("vinyals", data_dir, prepared)
    with pytest.raises(ValueError, match="unknown Omniglot split 'mini'"):
        og.load_split("mini", data_dir, prepared)


# ---------------------------------------------------------------- episodes


def _coded_images(num_classes: int) -> np.ndarray:
    """uint8 [C, 20, 28, 28] whose pixels [0, 0:3] spell (class // 256, class % 256, drawer + 1)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (num_classes, 20, 28, 28), dtype=np.uint8)
    images[:, :, 0, 0] = (np.arange(num_classes) // 256)[:, None]
    images[:, :, 0, 1] = (np.arange(num_classes) % 256)[:, None]
    images[:, :, 0, 2] = np.arange(1, 21)[None, :]
    return images


def _decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class, drawer) of each image of float32 [..., 28, 28, 1] in [0, 1]."""
    px = np.rint(np.asarray(x)[..., 0, :3, 0] * 255).astype(int)
    return px[..., 0] * 256 + px[..., 1], px[..., 2] - 1


T = 16  # tasks per sample in most tests: one compilation per family shape, shared by the tests


@functools.cache
def _family(
    setting, ways=5, shots=2, queries=3, train_classes=40, test_classes=24, rotations=1, **kw
):
    return make_omniglot_family(
        _coded_images(train_classes),
        _coded_images(test_classes),
        ways=ways,
        shots=shots,
        queries=queries,
        setting=setting,
        rotations_per_character=rotations,
        key=jax.random.key(7),
        **kw,
    )


SETTINGS = ["mutually_exclusive", "non_mutually_exclusive"]


@pytest.mark.parametrize("setting", SETTINGS)
def test_episode_shapes_dtypes_and_labels(setting):
    fam = _family(setting)
    n, k, q = 5, 2, 3
    assert fam.loss_name == "cross_entropy" and fam.output_width == n
    for ep in (fam.sample_train(jax.random.key(0), T), fam.sample_test(jax.random.key(1), T)):
        assert ep.support_x.shape == (T, n * k, 28, 28, 1) and ep.query_x.shape == (
            T,
            n * q,
            28,
            28,
            1,
        )
        assert (
            ep.support_x.dtype == jnp.float32
            and ep.support_y.dtype == jnp.int32
            and ep.query_y.dtype == jnp.int32
        )
        assert float(ep.support_x.min()) >= 0.0 and float(ep.support_x.max()) <= 1.0
        np.testing.assert_array_equal(ep.support_y[0], np.repeat(np.arange(n), k))
        np.testing.assert_array_equal(ep.query_y[3], np.repeat(np.arange(n), q))
        assert ep.query_y_clean is None
    ex = fam.example_episode()
    one = jax.tree_util.tree_map(lambda a: a[0], fam.sample_train(jax.random.key(0), T))
    assert jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), ex) == jax.tree_util.tree_map(
        lambda a: (a.shape, a.dtype), one
    )


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("train", [True, False])
def test_each_class_shows_distinct_drawings(setting, train):
    fam = _family(setting)
    key = jax.random.key(3)
    classes, drawers = fam.sample_indices(key, T, train=train)
    ep = fam.sample_train(key, T) if train else fam.sample_test(key, T)
    s_cls, s_drw = _decode(ep.support_x)
    q_cls, q_drw = _decode(ep.query_x)
    # the images are exactly images[class, drawer] of the drawn indices, label-major
    np.testing.assert_array_equal(s_cls, np.repeat(classes, 2, axis=1))
    np.testing.assert_array_equal(q_cls, np.repeat(classes, 3, axis=1))
    np.testing.assert_array_equal(s_drw.reshape(16, 5, 2), drawers[:, :, :2])
    np.testing.assert_array_equal(q_drw.reshape(16, 5, 3), drawers[:, :, 2:])
    classes, drawers = np.asarray(classes), np.asarray(drawers)
    assert all(len(set(row)) == 5 for row in classes)  # N distinct classes per task
    assert all(
        len(set(d)) == 5 for d in drawers.reshape(-1, 5)
    )  # K + Q distinct drawings per class
    assert drawers.min() >= 0 and drawers.max() < 20
    assert classes.max() < (40 if train else 24)


def test_mutually_exclusive_labels_are_shuffled_per_task():
    fam = _family("mutually_exclusive")
    # [640, N]: label j <- classes[:, j]
    classes = np.concatenate(
        [np.asarray(fam.sample_indices(jax.random.key(i), T)[0]) for i in range(40)]
    )
    for c in range(40):
        labels = {j for row in classes for j in np.flatnonzero(row == c)}
        assert labels == set(range(5)), (c, labels)  # every class takes every label somewhere
    assert len(set(map(tuple, classes))) > 600  # many different tasks


@pytest.mark.parametrize("rotations", [1, 4])
def test_non_mutually_exclusive_slots_fix_the_labels(rotations):
    fam = _family("non_mutually_exclusive", train_classes=40, test_classes=24, rotations=rotations)
    for train, num_classes in ((True, 40), (False, 24)):
        slots = np.asarray(fam.train_slots if train else fam.test_slots)
        sizes = np.asarray(fam.train_slot_sizes if train else fam.test_slot_sizes)
        members = [set(slots[j, : sizes[j]]) for j in range(5)]
        assert (
            set().union(*members) == set(range(num_classes))
            and sum(map(len, members)) == num_classes
        )  # a partition
        assert sizes.max() - sizes.min() <= rotations  # balanced up to one character
        for m in members:  # a character's rotations share its slot
            assert {c // rotations for c in m}.isdisjoint(
                {c // rotations for c in set(range(num_classes)) - m}
            )
        classes = np.concatenate(
            [
                np.asarray(fam.sample_indices(jax.random.key(i), T, train=train)[0])
                for i in range(20)
            ]
        )
        for j in range(5):
            assert set(classes[:, j]) <= members[j]  # label j only ever shows slot j's classes
        seen = {
            c: {j for row in classes for j in np.flatnonzero(row == c)} for c in np.unique(classes)
        }
        assert all(
            len(labels) == 1 for labels in seen.values()
        )  # a class keeps its label across tasks
        assert len(seen) > 0.9 * num_classes
    # train and test partitions come from different named keys; the same key
    # gives the same partition
    again = _family.__wrapped__(
        "non_mutually_exclusive", train_classes=40, test_classes=24, rotations=rotations
    )
    np.testing.assert_array_equal(fam.train_slots, again.train_slots)


def test_slot_partition_with_uneven_slots():
    slots, sizes = slot_partition(jax.random.key(0), 23, 5, rotations_per_character=1)
    assert sorted(sizes.tolist()) == [4, 4, 5, 5, 5] and slots.shape == (5, 5)
    assert sorted(np.concatenate([slots[j, : sizes[j]] for j in range(5)]).tolist()) == list(
        range(23)
    )


@pytest.mark.parametrize("setting", SETTINGS)
def test_sampling_is_deterministic_from_the_key(setting):
    fam = _family(setting)
    a, b = fam.sample_train(jax.random.key(5), T), fam.sample_train(jax.random.key(5), T)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    c = fam.sample_train(jax.random.key(6), T)
    assert not np.array_equal(np.asarray(a.support_x), np.asarray(c.support_x))


@pytest.mark.parametrize("setting", SETTINGS)
def test_jit_and_vmap(setting):
    fam = _family(setting)
    key = jax.random.key(11)
    eager = fam.sample_train(key, T)
    jitted = jax.jit(lambda f, k: f.sample_train(k, T))(
        fam, key
    )  # the family is a jit argument (a pytree)
    jax.tree_util.tree_map(np.testing.assert_array_equal, eager, jitted)
    keys = jax.random.split(key, 3)
    batched = jax.vmap(lambda k: fam.sample_test(k, T))(keys)
    assert batched.support_x.shape == (3, T, 10, 28, 28, 1)
    for i in range(3):
        one = jax.tree_util.tree_map(lambda a, i=i: a[i], batched)
        jax.tree_util.tree_map(np.testing.assert_array_equal, one, fam.sample_test(keys[i], T))
    leaves = jax.tree_util.tree_leaves(fam)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    assert isinstance(fam, OmniglotFamily)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shots": 5, "queries": 16}, r"shots \+ queries = 5 \+ 16 = 21.*lower shots or queries"),
        (
            {"setting": "mutually_exclusive", "ways": 30, "train_classes": 20},
            r"30-way mutually-exclusive.*train set has 20.*lower ways",
        ),
        (
            {"setting": "mutually_exclusive", "ways": 30, "test_classes": 24},
            r"meta-test set has 24",
        ),
        (
            {"ways": 11, "train_classes": 40, "rotations": 4},
            r"11-way non-mutually-exclusive.*there are 10: lower ways to at most 10",
        ),
        ({"setting": "random"}, r"unknown Omniglot setting 'random'"),
        ({"test_setting": "random"}, r"unknown Omniglot test_setting 'random'"),
        ({"ways": 1}, r"ways=1: must be an integer >= 2"),
        ({"queries": 0}, r"queries=0"),
    ],
)
def test_impossible_requests_say_what_to_change(kwargs, message):
    kwargs = {"setting": "non_mutually_exclusive", **kwargs}
    with pytest.raises(ValueError, match=message):
        _family(**kwargs)


def test_non_mutually_exclusive_needs_a_key():
    with pytest.raises(ValueError, match="need key="):
        make_omniglot_family(
            _coded_images(10), _coded_images(10), ways=5, setting="non_mutually_exclusive"
        )


# ---------------------------------------------------------------- the real archives

REAL_DATA = og.omniglot_dir(None)
needs_real = needs_data(
    lambda: all((REAL_DATA / f).exists() for f in og.ARCHIVE_FILES.values()),
    f"Omniglot archives not in {REAL_DATA}",
)

# sha256 of the newline-joined Vinyals meta-test character names: the split
# must never change silently.
VINYALS_TEST_SHA256 = "b5e2529eb0b0f4188d86b70e4d397bf5c10c6de366c17b0f49f96d3e36f68fe1"


@pytest.fixture(scope="session")
@needs_real  # checked when the fixture is first set up, before it loads anything
def real_characters():
    return (
        og.load_characters()
    )  # default data and prepared dirs; prepared once, then cached on disk


@needs_real
def test_real_lake_split_counts_and_pixels(real_characters):
    split = og.load_split("lake")
    assert split.train.shape == (964, 20, 28, 28) and split.test.shape == (659, 20, 28, 28)
    assert (
        len({n.split("/")[1] for n in split.train_names}) == 30
        and len({n.split("/")[1] for n in split.test_names}) == 20
    )
    for images in (split.train, split.test):
        assert images.dtype == np.uint8 and images.max() == 255
        assert 0.03 < images.mean() / 255 < 0.15  # thin bright strokes on a dark background
        assert np.median(images) == 0


@needs_real
def test_real_vinyals_split_counts_rotations_and_pinned_order(real_characters):
    split = og.load_split("vinyals")
    assert split.train.shape == (4800, 20, 28, 28) and split.test.shape == (1692, 20, 28, 28)
    for c in (0, 1234, 4799):
        b, r = divmod(c, 4)
        np.testing.assert_array_equal(split.train[c], np.rot90(split.train[4 * b], r, axes=(1, 2)))
    base_test = [n[: -len("/rot000")] for n in split.test_names[::4]]
    assert len(base_test) == 423 and not set(base_test) & {
        n[: -len("/rot000")] for n in split.train_names
    }
    assert {n.split("/")[0] for n in base_test} == {
        "background",
        "evaluation",
    }  # a shuffle over all characters
    digest = hashlib.sha256("\n".join(base_test).encode()).hexdigest()
    assert digest == VINYALS_TEST_SHA256, digest
    plain = og.load_split("vinyals_sorted", rotations=False)
    assert (
        plain.test_names[0] == "evaluation/Gurmukhi/character42"
        and plain.test_names[-1] == "evaluation/ULOG/character26"
    )


@needs_real
def test_real_family_non_mutually_exclusive_20_way(real_characters):
    fam = omniglot_family(ways=20, num_shots=1, num_queries=1, key=jax.random.key(0))
    assert fam.num_train_classes == 4800 and fam.num_test_classes == 1692
    assert set(np.asarray(fam.train_slot_sizes).tolist()) == {
        240
    }  # 60 characters x 4 rotations per slot
    assert set(np.asarray(fam.test_slot_sizes).tolist()) <= {84, 88}  # 423 characters over 20 slots
    ep = jax.jit(lambda f, k: f.sample_train(k, 8))(fam, jax.random.key(1))
    assert ep.support_x.shape == (8, 20, 28, 28, 1) and ep.query_y.shape == (8, 20)
    assert 0.03 < float(ep.support_x.mean()) < 0.15
    with pytest.raises(ValueError, match="lower shots or queries"):
        omniglot_family(ways=5, num_shots=10, num_queries=15, setting="mutually_exclusive")


def test_reference_variant_is_the_metamix_code_protocol():
    """`:reference` = MetaMix's omniglot/ code point by point
    (docs/sources/metamix_reference_code.md)."""
    from experiments import omniglot_maml, omniglot_maml_metamix, omniglot_protonet

    c = omniglot_maml.get_config("reference")
    assert (c.task.ways, c.task.num_shots, c.task.num_queries) == (20, 1, 1)
    assert c.task.rotations is False and c.task.setting == "non_mutually_exclusive"
    assert (
        c.task.test_setting == "mutually_exclusive"
    )  # test tasks: random labels over test characters
    assert (c.model.width, c.model.pool, c.model.readout, c.model.norm) == (
        64,
        "none",
        "mean",
        "transductive",
    )
    assert (c.learner.name, c.learner.inner_lr, c.learner.inner_steps) == ("maml", 0.1, 5)
    assert c.eval.primary_inner_steps == 10 and c.meta_batch_size == 8 and c.num_steps == 50_000
    assert (c.optimizer.name, c.optimizer.learning_rate) == ("adam", 1e-3)
    assert c.eval.every > 0  # the memorization curve
    m = omniglot_maml_metamix.get_config("reference,5shot")
    assert (m.metamix.alpha, tuple(m.metamix.layers), m.meta_batch_size, m.task.num_queries) == (
        2.0,
        (0, 1, 2, 3),
        6,
        5,
    )
    p = omniglot_protonet.get_config("reference")
    assert p.eval.primary_inner_steps == 0 and p.task.rotations is False
    q = omniglot_maml.get_config("reference,quick")
    validate_config(q)
    assert q.num_steps <= 20 and q.eval.every and q.eval.every % q.log_every == 0


def test_slots_without_rotations_hold_60_characters_each():
    """The reference's construction: 1200 characters, no rotations, 20 slots of 60,
    one fixed label per slot."""
    fam = make_omniglot_family(
        _coded_images(1200),
        _coded_images(24),
        ways=20,
        shots=1,
        queries=1,
        setting="non_mutually_exclusive",
        test_setting="mutually_exclusive",
        key=jax.random.key(0),
    )
    slots, sizes = np.asarray(fam.train_slots), np.asarray(fam.train_slot_sizes)
    assert slots.shape == (20, 60) and set(sizes.tolist()) == {60}
    assert sorted(slots.ravel().tolist()) == list(
        range(1200)
    )  # every character in exactly one slot
    classes = np.asarray(fam.sample_indices(jax.random.key(1), 64, train=True)[0])
    for j in range(20):
        assert set(classes[:, j]) <= set(slots[j])  # label j only ever shows slot j's characters
    assert fam.test_slots is None  # test tasks mutually exclusive


@needs_real
def test_real_reference_family_has_1200_unrotated_characters_in_slots_of_60(real_characters):
    fam = omniglot_family(
        ways=20,
        num_shots=1,
        num_queries=1,
        rotations=False,
        test_setting="mutually_exclusive",
        key=jax.random.key(0),
    )
    assert fam.num_train_classes == 1200 and fam.num_test_classes == 423
    assert set(np.asarray(fam.train_slot_sizes).tolist()) == {60}


def test_omniglot_input_turns_a_file_bytes_or_array_into_what_episodes_hold(tmp_path):
    png = _png(3, 5)
    expected = (_reference_image(png).astype(np.float32) / 255.0)[
        ..., None
    ]  # as the prepared data, scaled
    (tmp_path / "char.png").write_bytes(png)
    for image in (png, tmp_path / "char.png", str(tmp_path / "char.png")):
        x = og.omniglot_input(image)
        assert x.shape == (28, 28, 1) and x.dtype == np.float32
        np.testing.assert_array_equal(x, expected)
    ink = np.asarray(Image.open(io.BytesIO(png)).convert("L"))  # 0-255 array, dark strokes
    np.testing.assert_array_equal(og.omniglot_input(ink), expected)
    np.testing.assert_allclose(
        og.omniglot_input(expected[..., 0], dark_strokes=False), expected, atol=1 / 255
    )
    with pytest.raises(ValueError, match=r"expected an image \[H, W\]"):
        og.omniglot_input(np.zeros((2, 3, 4, 5)))


def test_within_alphabet_tasks_draw_distinct_characters_of_one_alphabet():
    """Lake's one-shot protocol: every test task's N classes come from one alphabet; alphabets with
    fewer than N characters are never used; across tasks every usable alphabet and many class orders
    occur."""
    alphabet_of = (
        [0] * 9 + [1] * 6 + [2] * 3 + [3] * 6
    )  # 24 test classes; alphabet 2 (3 characters) is too small
    names = tuple(f"evaluation/A{a}/character{i:02d}" for i, a in enumerate(alphabet_of))
    train_names = tuple(f"background/B{i // 10}/character{i:02d}" for i in range(40))
    fam = make_omniglot_family(
        _coded_images(40),
        _coded_images(24),
        ways=5,
        shots=2,
        queries=3,
        setting="mutually_exclusive",
        test_setting="within_alphabet",
        test_names=names,
        train_names=train_names,
    )
    classes = np.concatenate(
        [np.asarray(fam.sample_indices(jax.random.key(i), T, train=False)[0]) for i in range(20)]
    )
    alphabets = np.array(alphabet_of)[classes]
    assert (alphabets == alphabets[:, :1]).all()  # one alphabet per task
    assert all(len(set(row)) == 5 for row in classes)  # distinct characters
    assert set(alphabets[:, 0]) == {0, 1, 3}
    assert len({tuple(r) for r in classes}) > 200
    support_classes = _decode(fam.sample_test(jax.random.key(0), T).support_x)[0].reshape(T, 5, 2)[
        :, :, 0
    ]
    np.testing.assert_array_equal(
        support_classes, classes[:T]
    )  # the episodes show those classes, label j = classes[j]
    with pytest.raises(ValueError, match="need test_names"):
        make_omniglot_family(
            _coded_images(40),
            _coded_images(24),
            ways=5,
            setting="mutually_exclusive",
            test_setting="within_alphabet",
        )
    with pytest.raises(ValueError, match="at least 10 characters; the largest has 9"):
        make_omniglot_family(
            _coded_images(40),
            _coded_images(24),
            ways=10,
            setting="mutually_exclusive",
            test_setting="within_alphabet",
            test_names=names,
        )
