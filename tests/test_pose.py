"""Pose regression: the Pascal3D+ object list and split, the seeded azimuths, TFDS preparation from
.mat files (no TensorFlow), and JAX episode sampling.

Preparation tests use tiny synthetic CAD files of the real layout (8 categories, the real model
counts, one small box-like mesh per model) rendered at 8 x 8 without supersampling: a few seconds.
The one slow test prepares the real files at 16 x 16 without supersampling in a temporary folder
(the 128 x 128 default takes about 1.5 minutes).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io

from metareg.data import pascal3d as p3d
from metareg.data import render
from metareg.tasks.pose import NUM_SHOTS, PoseFamily, make_pose_family, pose_family
from tests.conftest import needs_data

# ---------------------------------------------------------------- the object list and split

# MetaMix appendix C.2's meta-test objects (with car and motorbike, which this copy lacks).
METAMIX_TEST = (
    "tvmonitor-04 bus-03 bus-01 bicycle-04 bicycle-02 boat-05 diningtable-03 aeroplane-08 "
    "aeroplane-05 aeroplane-03 aeroplane-07 chair-09 sofa-03 sofa-01 car-09"
).split()


def test_split_is_pinned():
    assert p3d.TEST_OBJECTS == (
        "aeroplane-03", "aeroplane-05", "bicycle-04", "boat-05", "boat-06", "bus-01", "bus-03",
        "chair-01", "chair-09", "chair-10", "diningtable-03", "diningtable-05", "sofa-01",
        "sofa-03", "tvmonitor-04",
    )  # fmt: skip
    assert len(p3d.OBJECTS) == 50 and len(set(p3d.OBJECTS)) == 50
    assert len(p3d.TRAIN_OBJECTS) == 35 and len(p3d.TEST_OBJECTS) == 15
    assert set(p3d.TRAIN_OBJECTS).isdisjoint(p3d.TEST_OBJECTS)
    assert set(p3d.TRAIN_OBJECTS) | set(p3d.TEST_OBJECTS) == set(p3d.OBJECTS)
    assert p3d.TRAIN_OBJECTS == tuple(sorted(p3d.TRAIN_OBJECTS)) and p3d.TEST_OBJECTS == tuple(
        sorted(p3d.TEST_OBJECTS)
    )
    assert not set(p3d.SKIPPED_CATEGORIES) & set(p3d.CATEGORIES)


def test_split_is_stratified_and_follows_the_documented_rule():
    counts = p3d.MODELS_PER_CATEGORY
    test_counts = Counter(o.rsplit("-", 1)[0] for o in p3d.TEST_OBJECTS)
    # 30% of each category by largest remainder.
    assert dict(test_counts) == {
        "aeroplane": 2,
        "bicycle": 1,
        "boat": 2,
        "bus": 2,
        "chair": 3,
        "diningtable": 2,
        "sofa": 2,
        "tvmonitor": 1,
    }
    for c, n in counts.items():
        assert abs(test_counts[c] - 0.3 * n) < 1
    # Rule: MetaMix's meta-test models that exist here, in its order, then sha256 order.
    for c, n in counts.items():
        names = [f"{c}-{i:02d}" for i in range(1, n + 1)]
        pick = [o for o in METAMIX_TEST if o in names][: test_counts[c]]
        rest = sorted(
            set(names) - set(pick),
            key=lambda o: hashlib.sha256(f"{p3d.SPLIT_SEED}/{o}".encode()).hexdigest(),
        )
        pick += rest[: test_counts[c] - len(pick)]
        assert sorted(pick) == [o for o in p3d.TEST_OBJECTS if o.startswith(c + "-")], c


# ---------------------------------------------------------------- azimuths and labels


def test_view_labels_are_seeded_uniforms():
    labels = p3d.view_labels("chair-01")
    np.testing.assert_array_equal(
        labels, p3d.view_labels("chair-01")
    )  # a function of the name only
    assert labels.shape == (p3d.NUM_VIEWS,) and labels.dtype == np.float64
    # An independent recomputation of the documented formula.
    h = hashlib.sha256(f"{p3d.AZIMUTH_SEED}/chair-01/7".encode()).digest()
    assert labels[7] == (int.from_bytes(h[:8], "big") >> 11) / 2.0**53
    np.testing.assert_array_equal(
        p3d.view_azimuths("chair-01"), 2 * math.pi * labels
    )  # label = azimuth / (2 pi)
    every = np.stack([p3d.view_labels(o) for o in p3d.OBJECTS])
    assert every.min() >= 0 and every.max() < 1
    assert len(np.unique(every)) == every.size  # no view repeats, within or across objects
    deciles = np.histogram(every, bins=10, range=(0, 1))[0]
    assert (
        deciles.min() > 430 and deciles.max() < 570
    )  # 5000 draws, 500 expected per decile (sd ~21)


# -------------------------------------------------------------- synthetic CAD files and preparation


def _mesh(category_index: int, model: int) -> tuple[np.ndarray, np.ndarray]:
    """A distinct asymmetric mesh per model: a box with one corner pulled out. Faces
    1-based, as the .mat files."""
    a, b, c = 1.0 + 0.1 * category_index, 0.4 + 0.05 * model, 0.3
    v = np.array([[x, y, z] for x in (-a, a) for y in (-b, b) for z in (-c, c)])
    v[7] *= 1.6  # (a, b, c) corner out: no symmetry, so the azimuth shows
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = np.array([t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))]) + 1
    return v, f.astype(np.uint16)


def _write_mat(path: Path, category: str, meshes: list[tuple[np.ndarray, np.ndarray]]) -> None:
    arr = np.empty((len(meshes),), dtype=[("vertices", object), ("faces", object)])
    for i, (v, f) in enumerate(meshes):
        arr[i]["vertices"], arr[i]["faces"] = v, f
    scipy.io.savemat(path, {category: arr})


def _write_cad(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    meshes = {}
    for ci, (c, n) in enumerate(p3d.MODELS_PER_CATEGORY.items()):
        ms = [_mesh(ci, m) for m in range(n)]
        _write_mat(folder / f"{c}.mat", c, ms)
        meshes.update({f"{c}-{m + 1:02d}": ms[m] for m in range(n)})
    return meshes


SYN_SIZE = 8  # synthetic variant: 8 x 8, no supersampling (fast)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """(data_dir holding pascal3d_cad/, prepared_dir, {name: (vertices, 1-based faces)},
    PoseData), prepared once."""
    root = tmp_path_factory.mktemp("pascal3d_synthetic")
    meshes = _write_cad(root / "data" / "pascal3d_cad")
    data = p3d.load_pose_data(root / "data", root / "prepared", image_size=SYN_SIZE, supersample=1)
    return root / "data", root / "prepared", meshes, data


def test_prepared_as_array_record_with_tensor_features(synthetic):
    data_dir, prepared, _, _ = synthetic
    builder = p3d.prepare_pose(data_dir, prepared, SYN_SIZE, supersample=1)
    assert builder.is_prepared() and Path(builder.data_path).parent.name == "8px_ss1"
    files = sorted(q.name for q in Path(builder.data_path).iterdir())
    assert any("train.array_record" in f for f in files) and any(
        "test.array_record" in f for f in files
    )
    assert not any("tfrecord" in f for f in files)
    assert (
        len(builder.as_data_source("train")) == 35 * 100
        and len(builder.as_data_source("test")) == 15 * 100
    )


def test_loaded_arrays_are_object_major_renders_with_their_labels(synthetic):
    _, _, meshes, data = synthetic
    assert data.train_images.shape == (35, 100, SYN_SIZE, SYN_SIZE) and data.test_images.shape == (
        15,
        100,
        SYN_SIZE,
        SYN_SIZE,
    )
    assert (
        data.train_images.dtype == np.uint8
        and data.train_labels.dtype == np.float32
        and data.train_labels.shape == (35, 100)
    )
    assert data.train_names == p3d.TRAIN_OBJECTS and data.test_names == p3d.TEST_OBJECTS
    for names, images, labels in (
        (data.train_names, data.train_images, data.train_labels),
        (data.test_names, data.test_images, data.test_labels),
    ):
        for j in (0, len(names) - 1):
            np.testing.assert_array_equal(labels[j], p3d.view_labels(names[j]).astype(np.float32))
            v, f = meshes[names[j]]
            expected = render.render_views(
                v, f.astype(np.int64) - 1, p3d.view_azimuths(names[j])[:5], SYN_SIZE, supersample=1
            )
            np.testing.assert_array_equal(images[j, :5], expected)
    assert not data.train_images.flags.writeable  # shared by the per-process cache


def test_prepared_once_then_read_and_another_data_dir_is_refused(synthetic, tmp_path):
    data_dir, prepared, _, data = synthetic
    again = p3d.load_pose_data(data_dir, prepared, image_size=SYN_SIZE, supersample=1)
    np.testing.assert_array_equal(again.test_images, data.test_images)
    with pytest.raises(
        FileNotFoundError, match="was built from .* holds none of its"
    ):  # not a silent use of the cache
        p3d.load_pose_data(tmp_path / "nothing here", prepared, image_size=SYN_SIZE, supersample=1)


def test_variants_are_separate_configs(tmp_path):
    paths = {
        (s, ss): Path(
            p3d.Pascal3DPoseBuilder(config=p3d.pose_config(s, ss), data_dir=tmp_path).data_path
        ).parent.name
        for s, ss in ((48, None), (16, 1))
    }
    assert paths == {(48, None): "48px", (16, 1): "16px_ss1"}
    assert [c.name for c in p3d.Pascal3DPoseBuilder.BUILDER_CONFIGS] == ["128px", "64px", "32px"]
    assert (
        p3d.Pascal3DPoseBuilder(data_dir=tmp_path).builder_config.image_size == 128
    )  # the default variant
    with pytest.raises(ValueError, match=r"image_size=4: must be an integer in \[8, 512\]"):
        p3d.load_pose_data(image_size=4)
    with pytest.raises(ValueError, match="supersample=0"):
        p3d.pose_config(32, 0)


# ---------------------------------------------------------------- missing and corrupt files


def test_missing_file_names_the_path_and_the_file(tmp_path):
    folder = tmp_path / "data" / "pascal3d_cad"
    _write_cad(folder)
    (folder / "sofa.mat").unlink()
    with pytest.raises(FileNotFoundError, match="Pascal3D\\+ CAD file missing") as err:
        p3d.prepare_pose(tmp_path / "data", tmp_path / "prepared", SYN_SIZE, supersample=1)
    assert (
        str(folder / "sofa.mat") in str(err.value)
        and "pascal3d_cad/sofa.mat" in str(err.value)
        and "6 models" in str(err.value)
    )
    assert not (tmp_path / "prepared" / "metareg_pascal3d_pose").exists()  # nothing half-prepared
    with pytest.raises(
        FileNotFoundError, match="Pascal3D\\+ CAD file missing.*aeroplane.mat"
    ):  # not prepared: needs the files
        p3d.load_pose_data(tmp_path / "elsewhere", tmp_path / "prepared", SYN_SIZE, supersample=1)


def _corrupt(path: Path, kind: str) -> None:
    raw = path.read_bytes()
    if kind == "garbage":
        path.write_bytes(b"this is not a MATLAB file" * 10)
    elif kind == "truncated":
        path.write_bytes(raw[: len(raw) // 2])


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_corrupt_file_names_the_path_and_the_fix(tmp_path, kind):
    _write_cad(tmp_path)
    _corrupt(tmp_path / "chair.mat", kind)
    with pytest.raises(p3d.Pascal3DFileError, match="Pascal3D\\+ CAD file corrupt") as err:
        p3d.read_models(tmp_path)
    assert str(tmp_path / "chair.mat") in str(err.value) and "Replace" in str(err.value)


@pytest.mark.parametrize(
    "meshes, message",
    [
        ("wrong_variable", r"holds no variable 'bus' \(found \['autobus'\]\)"),
        ("too_few", "holds 5 bus models, expected 6"),
        (
            "faces_0_based",
            r"model 2 \(bus-02\) of .* has face indices 0..7 outside 1..8 \(1-based\)",
        ),
        ("faces_out_of_range", r"face indices 1..9 outside 1..8"),
        ("flat_vertices", r"vertices of shape \(8, 2\)"),
        ("nan_vertices", "need finite V x 3"),
        ("fractional_faces", "need integer F x 3"),
    ],
)
def test_wrong_contents_say_what_is_wrong(tmp_path, meshes, message):
    ms = [_mesh(3, m) for m in range(6)]
    v, f = ms[1]
    variable, n = "bus", 6
    if meshes == "wrong_variable":
        variable = "autobus"
    elif meshes == "too_few":
        n = 5
    elif meshes == "faces_0_based":
        ms[1] = (v, f - 1)
    elif meshes == "faces_out_of_range":
        ms[1] = (v, np.where(f == 8, 9, f))
    elif meshes == "flat_vertices":
        ms[1] = (v[:, :2], f)
    elif meshes == "nan_vertices":
        ms[1] = (np.where(v == v.max(), np.nan, v), f)
    elif meshes == "fractional_faces":
        ms[1] = (v, f + 0.5)
    _write_mat(tmp_path / "bus.mat", variable, ms[:n])
    with pytest.raises(
        p3d.Pascal3DFileError, match="Pascal3D\\+ CAD file has the wrong contents"
    ) as err:
        p3d.read_category(tmp_path / "bus.mat", "bus")
    assert str(tmp_path / "bus.mat") in str(err.value)
    assert err.match(message)


def test_data_dir_may_be_the_cad_folder_itself(tmp_path):
    _write_cad(tmp_path / "pascal3d_cad")
    assert p3d.pascal3d_dir(tmp_path) == tmp_path / "pascal3d_cad"
    assert p3d.pascal3d_dir(tmp_path / "pascal3d_cad") == tmp_path / "pascal3d_cad"
    models = p3d.read_models(tmp_path / "pascal3d_cad", ("bus-02", "chair-10"))
    assert (
        list(models) == ["bus-02", "chair-10"] and models["chair-10"].faces.min() == 0
    )  # 0-based after reading


# --------------------------------------------------------------- the task family (synthetic arrays)

K, Q, T, V, S = 4, 3, 5, 20, 6


def _coded(num_objects: int, offset: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """images uint8 [N, V, S, S] whose pixel (0, 0) codes offset + object and pixel (0, 1)
    the view; labels [N, V]."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(num_objects, V, S, S), dtype=np.uint8)
    images[:, :, 0, 0] = offset + np.arange(num_objects)[:, None]
    images[:, :, 0, 1] = np.arange(V)[None, :]
    return images, rng.random((num_objects, V)).astype(np.float32)


def _family(**kwargs) -> PoseFamily:
    (tri, trl), (tei, tel) = _coded(8, 0, 0), _coded(3, 100, 1)
    kwargs = {"num_shots": K, "num_queries": Q, **kwargs}
    return make_pose_family(tri, trl, tei, tel, **kwargs)


def _decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(object codes, views) [T, n] from episode images [T, n, S, S, 1]."""
    raw = np.rint(np.asarray(x)[..., 0] * 255).astype(int)
    return raw[:, :, 0, 0], raw[:, :, 0, 1]


def test_episode_shapes_dtypes_and_properties():
    fam = _family()
    ep = fam.sample_train(jax.random.key(0), T)
    assert ep.support_x.shape == (T, K, S, S, 1) and ep.query_x.shape == (T, Q, S, S, 1)
    assert ep.support_y.shape == (T, K, 1) and ep.query_y.shape == (T, Q, 1)
    for a in (ep.support_x, ep.query_x, ep.support_y, ep.query_y):
        assert a.dtype == jnp.float32
    assert 0 <= float(ep.support_x.min()) and float(ep.support_x.max()) <= 1
    one = fam.example_episode()
    single = jax.tree_util.tree_map(lambda a: a[0], ep)
    assert jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), one) == jax.tree_util.tree_map(
        lambda a: (a.shape, a.dtype), single
    )
    assert float(jnp.abs(one.support_x).sum()) == 0
    assert fam.loss_name == "mse" and fam.output_width == 1
    assert (fam.num_train_objects, fam.num_test_objects, fam.num_views, fam.image_size) == (
        8,
        3,
        V,
        S,
    )
    test_ep = fam.sample_test(jax.random.key(1), 7)
    assert test_ep.support_x.shape == (7, K, S, S, 1) and test_ep.query_y.shape == (7, Q, 1)


def test_defaults_follow_the_papers():
    images, labels = np.zeros((3, 100, S, S), np.uint8), np.zeros((3, 100), np.float32)
    fam = make_pose_family(images, labels, images, labels)
    assert fam.num_shots == NUM_SHOTS == 15 and fam.num_queries == 15 and fam.label_scale == 10.0


@pytest.mark.parametrize("train", [True, False])
def test_episodes_show_the_right_images_and_scaled_labels(train):
    fam = _family(label_scale=10.0)
    images, labels = (
        (fam.train_images, fam.train_labels) if train else (fam.test_images, fam.test_labels)
    )
    objects, views = fam.sample_indices(jax.random.key(3), T, train=train)
    ep = fam.episodes(objects, views, train=train)
    objects, views = np.asarray(objects), np.asarray(views)
    for part, x, y, vs in (
        ("support", ep.support_x, ep.support_y, views[:, :K]),
        ("query", ep.query_x, ep.query_y, views[:, K:]),
    ):
        codes, seen_views = _decode(x)
        np.testing.assert_array_equal(
            codes, (0 if train else 100) + objects[:, None].repeat(vs.shape[1], 1), err_msg=part
        )
        np.testing.assert_array_equal(seen_views, vs, err_msg=part)
        np.testing.assert_allclose(
            np.asarray(y)[..., 0], np.asarray(labels)[objects[:, None], vs] * 10.0, rtol=1e-6
        )
        np.testing.assert_allclose(
            np.asarray(x)[..., 0], np.asarray(images)[objects[:, None], vs] / 255.0, rtol=1e-6
        )  # XLA: * (1/255)
    # sample_train / sample_test are the same draw as sample_indices + episodes
    direct = (
        fam.sample_train(jax.random.key(3), T) if train else fam.sample_test(jax.random.key(3), T)
    )
    jax.tree_util.tree_map(np.testing.assert_array_equal, direct, ep)


@pytest.mark.parametrize("train", [True, False])
def test_views_are_distinct_within_each_task(train):
    fam = _family(num_shots=8, num_queries=12)  # K + Q = V: every view used exactly once
    for seed in range(5):
        _, views = fam.sample_indices(jax.random.key(seed), 6 if train else 50, train=train)
        for row in np.asarray(views):
            assert sorted(row) == list(range(V))


def test_training_objects_are_distinct_per_meta_batch_and_cover_the_set():
    fam = _family()
    seen = Counter()
    for seed in range(200):
        objects, _ = fam.sample_indices(jax.random.key(seed), T, train=True)
        objects = np.asarray(objects)
        assert len(set(objects)) == T and objects.min() >= 0 and objects.max() < 8
        seen.update(objects.tolist())
    assert set(seen) == set(range(8)) and min(seen.values()) > 0.5 * 200 * T / 8
    # a meta-batch of all 8 training objects is allowed (a permutation)
    objects, _ = fam.sample_indices(jax.random.key(0), 8, train=True)
    assert sorted(np.asarray(objects)) == list(range(8))


def test_test_objects_are_uniform_with_replacement_and_unseen():
    fam = _family()
    ep = fam.sample_test(jax.random.key(7), 1500)  # more tasks than test objects: fine
    codes, _ = _decode(ep.support_x)
    assert np.all(codes == codes[:, :1])  # one object per task
    counts = Counter(codes[:, 0].tolist())
    assert set(counts) == {100, 101, 102}  # only meta-test objects
    assert all(abs(n - 500) < 80 for n in counts.values())  # sd ~18


def test_sampling_is_deterministic_from_the_key():
    fam = _family()
    a, b = fam.sample_train(jax.random.key(5), T), fam.sample_train(jax.random.key(5), T)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    c = fam.sample_train(jax.random.key(6), T)
    assert not np.array_equal(np.asarray(a.support_y), np.asarray(c.support_y))
    d = fam.sample_test(jax.random.key(5), T)
    assert not np.array_equal(np.asarray(a.support_x), np.asarray(d.support_x))


def test_the_family_is_a_jit_argument():
    fam = _family()

    @jax.jit
    def step(family, key):
        ep = family.sample_train(key, T)
        return ep.support_y.sum() + ep.query_x.mean()

    eager = fam.sample_train(jax.random.key(2), T)
    np.testing.assert_allclose(
        step(fam, jax.random.key(2)), eager.support_y.sum() + eager.query_x.mean(), rtol=1e-6
    )
    leaves = jax.tree_util.tree_leaves(fam)
    assert len(leaves) == 4 and all(
        isinstance(x, jax.Array) for x in leaves
    )  # sizes and settings are static


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"num_shots": 12, "num_queries": 9},
            r"num_shots \+ num_queries = 12 \+ 9 = 21, but each object has only 20 views.*<= 20",
        ),
        ({"num_shots": 0}, "num_shots=0: must be an integer >= 1"),
        ({"num_queries": 2.5}, "num_queries=2.5"),
        ({"label_scale": -1.0}, "label_scale=-1.0"),
    ],
)
def test_impossible_families_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _family(**kwargs)


def test_impossible_meta_batches_say_what_to_change():
    fam = _family()
    with pytest.raises(
        ValueError,
        match=(
            "9 distinct meta-training objects, but there are 8: "
            "lower the meta-batch size to at most 8"
        ),
    ):
        fam.sample_train(jax.random.key(0), 9)
    with pytest.raises(ValueError, match="9 distinct meta-training objects"):
        fam.sample_indices(jax.random.key(0), 9, train=True)
    with pytest.raises(ValueError, match="num_tasks=0"):
        fam.sample_test(jax.random.key(0), 0)


def test_bad_arrays_are_rejected():
    (tri, trl), (tei, tel) = _coded(8, 0, 0), _coded(3, 100, 1)
    with pytest.raises(ValueError, match="expected images \\[N, V, S, S\\] and labels \\[N, V\\]"):
        make_pose_family(tri, trl[:, :5], tei, tel, num_shots=2)
    with pytest.raises(ValueError, match="dtype float32, expected uint8"):
        make_pose_family(tri.astype(np.float32), trl, tei, tel, num_shots=2)
    with pytest.raises(ValueError, match="differ in views or size"):
        make_pose_family(tri, trl, tei[:, :10], tel[:, :10], num_shots=2)


def test_pose_family_from_prepared_synthetic_data(synthetic):
    data_dir, prepared, _, data = synthetic
    fam = pose_family(data_dir, prepared, num_shots=10, image_size=SYN_SIZE, supersample=1)
    assert fam.train_images.shape == (35, 100, SYN_SIZE, SYN_SIZE) and fam.num_queries == 10
    np.testing.assert_array_equal(
        fam.train_labels, data.train_labels
    )  # the cached load of the fixture
    ep = fam.sample_train(jax.random.key(0), 35)
    assert (
        ep.support_y.shape == (35, 10, 1)
        and 0 <= float(ep.support_y.min())
        and float(ep.support_y.max()) < 10
    )


# ---------------------------------------------------------------- the real files

REAL = p3d.pascal3d_dir(None)
needs_real = needs_data(
    lambda: all((REAL / f"{c}.mat").exists() for c in p3d.CATEGORIES),
    f"Pascal3D+ CAD files not in {REAL}",
)


@needs_real
def test_real_tvmonitor_file_reads():
    models = p3d.read_category(REAL / "tvmonitor.mat", "tvmonitor")
    assert [m.name for m in models] == [
        "tvmonitor-01",
        "tvmonitor-02",
        "tvmonitor-03",
        "tvmonitor-04",
    ]
    for m in models:
        assert m.vertices.shape[1] == 3 and m.faces.min() >= 0 and m.faces.max() < len(m.vertices)


@needs_real
@pytest.mark.slow
def test_real_data_prepares_and_samples(tmp_path):
    # The whole pipeline on the real files, small: 16 x 16 without supersampling (5,000
    # renders, about half a minute).
    data = p3d.load_pose_data(None, tmp_path, image_size=16, supersample=1)
    assert data.train_images.shape == (35, 100, 16, 16) and data.test_images.shape == (
        15,
        100,
        16,
        16,
    )
    for names, images, labels in (
        (data.train_names, data.train_images, data.train_labels),
        (data.test_names, data.test_images, data.test_labels),
    ):
        for j, name in enumerate(names):
            np.testing.assert_array_equal(labels[j], p3d.view_labels(name).astype(np.float32))
            assert images[j].max(axis=(1, 2)).min() > 0  # the object is visible in every view
            assert (
                images[j][:, [0, 0, -1, -1], [0, -1, 0, -1]].max() == 0
            )  # the corners lie outside the bounding circle
    # Views differ: 16 x 16 without anti-aliasing makes a few coincide, and diningtable-06 (a round
    # pedestal table, turned about its axis of symmetry) changes little; 4,902 of the 5,000 are
    # distinct.
    distinct = sum(
        len({im.tobytes() for im in obj})
        for obj in np.concatenate([data.train_images, data.test_images])
    )
    assert distinct > 4800
    m = p3d.read_models(None, ("sofa-03",))["sofa-03"]
    j = data.test_names.index("sofa-03")
    np.testing.assert_array_equal(
        data.test_images[j, :3],
        render.render_views(
            m.vertices, m.faces, p3d.view_azimuths("sofa-03")[:3], 16, supersample=1
        ),
    )
    fam = make_pose_family(
        data.train_images, data.train_labels, data.test_images, data.test_labels, num_shots=10
    )
    ep = fam.sample_test(jax.random.key(0), 1000)
    assert ep.support_x.shape == (1000, 10, 16, 16, 1) and ep.query_y.shape == (1000, 10, 1)


def test_pose_input_turns_a_file_or_array_into_what_episodes_hold(tmp_path):
    """A view as the family holds it (uint8, bright object on black) comes out of pose_input exactly
    as the episodes feed it to the model (to 1 ulp: XLA scales by 1/255 on its own), from an array
    or from a PNG file; a dark object on white is inverted."""
    from PIL import Image

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 4, 16, 16), dtype=np.uint8)
    labels = rng.uniform(size=(2, 4)).astype(np.float32)
    fam = make_pose_family(images, labels, images, labels, num_shots=1, num_queries=1)
    ep = fam.episodes(jnp.array([1]), jnp.array([[2, 3]]), train=True)
    Image.fromarray(images[1, 2]).save(tmp_path / "view.png")
    for image in (images[1, 2], tmp_path / "view.png"):
        x = p3d.pose_input(image, image_size=16)
        assert x.shape == (16, 16, 1) and x.dtype == np.float32
        np.testing.assert_allclose(x, np.asarray(ep.support_x[0, 0]), rtol=0, atol=1e-7)
    np.testing.assert_allclose(
        p3d.pose_input(255 - images[1, 2], image_size=16, dark_background=False),
        np.asarray(ep.support_x[0, 0]),
        rtol=0,
        atol=1e-7,
    )
    with pytest.raises(ValueError, match=r"pose_input: expected an image \[H, W\]"):
        p3d.pose_input(np.zeros((2, 3, 4, 5)))
