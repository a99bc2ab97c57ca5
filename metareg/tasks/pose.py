"""Pose regression tasks (Pascal3D+ CAD renders), sampled in JAX from keys out of object-major
arrays in memory.

One object is one task (Yin et al. 2020): map an image of the object to its azimuth, a function
that differs between objects only through their reference pose. The family holds
`metareg.data.pascal3d`'s images uint8 [objects, 100, S, S] and labels (azimuth / (2*pi)) as pytree
leaves; an episode gathers K + Q distinct views of its object (the first K are the support) as
support_x [K, S, S, 1] float32 in [0, 1] and support_y [K, 1] = label * label_scale, the query
likewise. Q defaults to K and label_scale to 10, as in the papers' code
(google-research/meta_learning_without_memorization, pose_code/maml_vanilla.py), so targets lie in
[0, 10) and the MSE is on that scale.

`sample_train(key, T)` draws T distinct meta-training objects, as the reference does;
`sample_test(key, T)` draws from the 15 meta-test objects with replacement, so T may be large
(`NUM_EVAL_TASKS`).
"""

from __future__ import annotations

import functools
import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from metareg.tasks.base import IndexedTasks, ScalarRegression
from metareg.types import Array, Episode

LABEL_SCALE = 10.0  # the reference training code's `* 10` on azimuth / (2*pi)
NUM_SHOTS = 15  # K; the papers report 10 and 15 (MetaMix Table 4, TRLearner Table 4)
NUM_EVAL_TASKS = 1000  # meta-test tasks in an evaluation


def _task_views(key: Array, num_views: int, per_task: int) -> Array:
    """int32 [K+Q]: distinct views of one object, in random order."""
    return jax.random.permutation(key, num_views)[:per_task].astype(jnp.int32)


@flax.struct.dataclass
class PoseFamily(ScalarRegression, IndexedTasks):
    """Pose regression tasks; a pytree (arrays are leaves, sizes and settings static), so a jit
    argument.

    train_images / test_images: uint8 [N, V, S, S] (N objects, V views, object bright on black);
    train_labels / test_labels: float32 [N, V], azimuth / (2*pi) in [0, 1).
    """

    train_images: Array
    train_labels: Array
    test_images: Array
    test_labels: Array
    num_shots: int = flax.struct.field(pytree_node=False)
    num_queries: int = flax.struct.field(pytree_node=False)
    label_scale: float = flax.struct.field(pytree_node=False)

    @property
    def num_train_objects(self) -> int:
        return self.train_images.shape[0]

    @property
    def num_test_objects(self) -> int:
        return self.test_images.shape[0]

    @property
    def num_views(self) -> int:
        return self.train_images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train_images.shape[-1]

    def example_episode(self) -> Episode:
        """A single-task episode of the right shapes and dtypes (zeros), for initializing models."""
        k, q, s = self.num_shots, self.num_queries, self.image_size
        return Episode(
            support_x=jnp.zeros((k, s, s, 1), jnp.float32),
            support_y=jnp.zeros((k, 1), jnp.float32),
            query_x=jnp.zeros((q, s, s, 1), jnp.float32),
            query_y=jnp.zeros((q, 1), jnp.float32),
            query_y_clean=jnp.zeros((q, 1), jnp.float32),  # the same tree as sampled episodes
        )

    def _check_num_tasks(self, num_tasks: int, train: bool) -> None:
        if not isinstance(num_tasks, int | np.integer) or num_tasks < 1:
            raise ValueError(f"pose num_tasks={num_tasks!r}: must be an integer >= 1")
        if train and num_tasks > self.num_train_objects:
            raise ValueError(
                f"pose meta-batch of {num_tasks} tasks needs {num_tasks} distinct meta-training "
                f"objects, but there are {self.num_train_objects}: lower the meta-batch size to "
                f"at most {self.num_train_objects}"
            )

    def sample_indices(self, key: Array, num_tasks: int, train: bool = True) -> tuple[Array, Array]:
        """(objects int32 [T], views int32 [T, K+Q]): task t shows object objects[t] through views
        views[t, :K] in the support and views[t, K:] in the query."""
        self._check_num_tasks(num_tasks, train)
        return _sample_indices(self, key, num_tasks, train)

    def _indices(self, key: Array, num_tasks: int, train: bool) -> tuple[Array, Array]:
        k_obj, k_view = jax.random.split(key)
        n = self.num_train_objects if train else self.num_test_objects
        if train:
            objects = jax.random.choice(
                k_obj, n, (num_tasks,), replace=False
            )  # distinct objects per meta-batch
        else:
            objects = jax.random.randint(k_obj, (num_tasks,), 0, n)  # uniform, with replacement
        per_task = self.num_shots + self.num_queries
        views = jax.vmap(lambda k: _task_views(k, self.num_views, per_task))(
            jax.random.split(k_view, num_tasks)
        )
        return objects.astype(jnp.int32), views

    def episodes(self, objects: Array, views: Array, train: bool = True) -> Episode:
        """The batched Episode of the tasks given by `sample_indices`' output."""
        images, labels = (
            (self.train_images, self.train_labels)
            if train
            else (self.test_images, self.test_labels)
        )
        k = self.num_shots
        x = (images[objects[:, None], views].astype(jnp.float32) / 255.0)[
            ..., None
        ]  # [T, K+Q, S, S, 1]
        y = (labels[objects[:, None], views] * self.label_scale)[..., None]  # [T, K+Q, 1]
        # The labels are exact (rendered azimuths, no noise): the clean targets are the targets.
        return Episode(
            support_x=x[:, :k],
            support_y=y[:, :k],
            query_x=x[:, k:],
            query_y=y[:, k:],
            query_y_clean=y[:, k:],
        )

    def sample_train(self, key: Array, num_tasks: int) -> Episode:
        """T meta-training episodes, on T distinct meta-training objects."""
        self._check_num_tasks(num_tasks, True)
        return _sample_episodes(self, key, num_tasks, True)

    def sample_test(self, key: Array, num_tasks: int) -> Episode:
        """T meta-test episodes, objects drawn uniformly with replacement from the unseen ones."""
        self._check_num_tasks(num_tasks, False)
        return _sample_episodes(self, key, num_tasks, False)


# Jitted so that eager callers (evaluation, tests) do not dispatch the sampler op by op; inside an
# outer jit they are inlined. The family's static fields are part of its treedef, hence of the
# compilation cache key.
@functools.partial(jax.jit, static_argnums=(2, 3))
def _sample_indices(
    family: PoseFamily, key: Array, num_tasks: int, train: bool
) -> tuple[Array, Array]:
    return family._indices(key, num_tasks, train)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _sample_episodes(family: PoseFamily, key: Array, num_tasks: int, train: bool) -> Episode:
    return family.episodes(*family._indices(key, num_tasks, train), train=train)


def make_pose_family(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    num_shots: int = NUM_SHOTS,
    num_queries: int | None = None,
    label_scale: float = LABEL_SCALE,
) -> PoseFamily:
    """A PoseFamily over object-major arrays: images uint8 [N, V, S, S], labels [N, V] in [0, 1).

    num_queries: None = num_shots (the papers' choice). Impossible requests raise ValueError saying
    what to change.
    """
    num_queries = num_shots if num_queries is None else num_queries
    for name, value in (("num_shots", num_shots), ("num_queries", num_queries)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"pose {name}={value!r}: must be an integer >= 1")
    if not np.isfinite(label_scale) or label_scale <= 0:
        raise ValueError(f"pose label_scale={label_scale!r}: must be a positive number")
    for which, images, labels in (
        ("train", train_images, train_labels),
        ("test", test_images, test_labels),
    ):
        if (
            images.ndim != 4
            or images.shape[2] != images.shape[3]
            or labels.shape != images.shape[:2]
            or images.shape[0] < 1
        ):
            raise ValueError(
                f"pose {which} arrays have shapes {images.shape} and {labels.shape}: expected "
                "images [N, V, S, S] and labels [N, V]"
            )
        if images.dtype != np.uint8:
            raise ValueError(
                f"pose {which} images have dtype {images.dtype}, expected uint8 (0..255)"
            )
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(
            f"pose train and test images differ in views or size: {train_images.shape[1:]} vs "
            f"{test_images.shape[1:]}"
        )
    views = train_images.shape[1]
    if num_shots + num_queries > views:
        raise ValueError(
            f"pose num_shots + num_queries = {num_shots} + {num_queries} = "
            f"{num_shots + num_queries}, but each object has only {views} views (support and "
            "query views are distinct): lower num_shots or num_queries so that their sum is <= "
            f"{views}"
        )
    return PoseFamily(
        train_images=jnp.asarray(train_images, jnp.uint8),
        train_labels=jnp.asarray(train_labels, jnp.float32),
        test_images=jnp.asarray(test_images, jnp.uint8),
        test_labels=jnp.asarray(test_labels, jnp.float32),
        num_shots=int(num_shots),
        num_queries=int(num_queries),
        label_scale=float(label_scale),
    )


def pose_family(
    data_dir: str | os.PathLike | None = None,
    prepared_dir: str | os.PathLike | None = None,
    num_shots: int = NUM_SHOTS,
    num_queries: int | None = None,
    label_scale: float = LABEL_SCALE,
    image_size: int = 128,
    *,
    supersample: int | None = None,
) -> PoseFamily:
    """Pose tasks from the local Pascal3D+ CAD files, rendered and prepared once with TFDS.

    See metareg.data.pascal3d.

    data_dir: folder holding `pascal3d_cad/<category>.mat` (default ../shared/data); prepared_dir:
    where the prepared TFDS data lives (default ~/.cache/metareg/tensorflow_datasets); image_size:
    128 as the papers, or 64 / 32 for CPU-sized runs (a separate prepared variant, rendered once);
    supersample: the renderer's anti-aliasing factor (None: metareg.data.render's default, at least
    256 pixels across internally).
    """
    from metareg.data.pascal3d import load_pose_data

    data = load_pose_data(data_dir, prepared_dir, image_size=image_size, supersample=supersample)
    return make_pose_family(
        data.train_images,
        data.train_labels,
        data.test_images,
        data.test_labels,
        num_shots=num_shots,
        num_queries=num_queries,
        label_scale=label_scale,
    )
