"""ChEMBL drug-activity regression tasks: one assay = one task, sampled in JAX from keys and padded
to fixed shapes.

The family keeps `metareg.data.chembl`'s flat compound array on device and an episode gathers its
compounds by index, so no [assays, max_size, D] padding of the ragged assays is ever stored. An
episode holds support_x [K, D], support_y [K, 1], query_x [Q, D], query_y [Q, 1] (fingerprint and
pchembl_value, float32) and masks [K], [Q]: 1 = real compound, 0 = padding (an all-zero row).

An assay of n compounds is split (`split_sizes`) into s = floor(0.75 n) support and q = n - s query
compounds, pQSAR's "realistic" split that the papers take (MetaMix App. C.1; Martin et al. 2019),
drawn at random since these files carry no dates or clusters; but q >= `min_query` = 3, because the
squared Pearson correlation of 2 points is 1 whatever the model does. Even 3 gives a high chance
level: report `metareg.drug_metrics.chance_r_squared` beside every result. Training episodes cap
the support and query at `max_support` / `max_query` compounds to keep shapes small; evaluation
episodes are not capped, so every test compound is scored, as in the papers.

A training episode draws T distinct meta-training assays and a fresh split of each from its key.
Evaluation splits are fixed per assay (`fold_in(key, a)`), so they depend neither on which other
assays are evaluated nor on the group; the caps and padding never change which compounds are
support and which are query.
"""

from __future__ import annotations

import functools
import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from metareg.rng import named_key
from metareg.tasks.base import ScalarRegression
from metareg.types import Array, Episode

SUPPORT_FRACTION = (
    0.75  # pQSAR's ~75/25 realistic split, followed by MetaMix (App. C.1) and TRLearner (App. E.3)
)
MIN_QUERY = 3  # the smallest query set whose squared Pearson correlation is not identically 1
MAX_SUPPORT = 64  # training caps; see the module docstring for what they cost on the real data
MAX_QUERY = 32


def split_sizes(
    sizes, support_fraction: float = SUPPORT_FRACTION, min_query: int = MIN_QUERY
) -> tuple[np.ndarray, np.ndarray]:
    """(support int32 [A], query int32 [A]) compounds per assay, before caps.

    s = floor(f n), q = n - s, with q raised to min_query (s = n - min_query then). Assays with
    n <= min_query get s <= 0 (unusable).
    """
    n = np.asarray(sizes, np.int64)
    s = np.floor(support_fraction * n + 1e-9).astype(
        np.int64
    )  # 1e-9: 0.75 * 8 must floor to 6, not 5
    q = np.maximum(n - s, min_query)
    return (n - q).astype(np.int32), q.astype(np.int32)


@flax.struct.dataclass
class ChemblFamily(ScalarRegression):
    """ChEMBL assays as regression tasks; a pytree (arrays leaves, sizes static): jittable.

    x: uint8 [N, D], every compound of every kept assay, assay by assay; y: float32 [N].
    offsets / support_counts / query_counts: int32 [A], each assay's first row and uncapped s, q.
    train_assays / valid_assays / test_assays: int32 indices into the A assays (valid / test in the
    group's hash order, so a prefix is a random subset). assay_ids: the A names, for reporting.
    """

    x: Array
    y: Array
    offsets: Array
    support_counts: Array
    query_counts: Array
    train_assays: Array
    valid_assays: Array
    test_assays: Array
    max_support: int = flax.struct.field(pytree_node=False)
    max_query: int = flax.struct.field(pytree_node=False)
    eval_max_support: int = flax.struct.field(pytree_node=False)
    eval_max_query: int = flax.struct.field(pytree_node=False)
    max_assay_size: int = flax.struct.field(pytree_node=False)
    assay_ids: tuple[str, ...] = flax.struct.field(pytree_node=False)
    group: int = flax.struct.field(pytree_node=False)

    @property
    def feature_width(self) -> int:
        return self.x.shape[1]

    @property
    def num_train_tasks(self) -> int:
        return self.train_assays.shape[0]

    @property
    def num_valid_tasks(self) -> int:
        return self.valid_assays.shape[0]

    @property
    def num_test_tasks(self) -> int:
        return self.test_assays.shape[0]

    def example_episode(self) -> Episode:
        """A single-task episode of the training shapes.

        Zeros, with masks all ones so that masked means are defined.
        """
        k, q, d = self.max_support, self.max_query, self.feature_width
        return Episode(
            support_x=jnp.zeros((k, d), jnp.float32),
            support_y=jnp.zeros((k, 1), jnp.float32),
            query_x=jnp.zeros((q, d), jnp.float32),
            query_y=jnp.zeros((q, 1), jnp.float32),
            support_mask=jnp.ones((k,), jnp.float32),
            query_mask=jnp.ones((q,), jnp.float32),
        )

    def episode(self, assay: Array, key: Array, max_support: int, max_query: int) -> Episode:
        """One task: assay `assay` (int32 scalar) split at random by `key`, padded to the caps.

        The support is padded to [max_support], the query to [max_query].
        """
        n_rows, length = self.x.shape[0], self.max_assay_size
        s, q = self.support_counts[assay], self.query_counts[assay]
        # A uniformly random order of the assay's n = s + q compounds: positions >= n sort last.
        u = jax.random.uniform(key, (length,))
        order = jnp.argsort(jnp.where(jnp.arange(length) < s + q, u, 2.0))

        def rows(start, count, cap):
            pos = jnp.arange(cap)
            real = pos < count
            idx = jnp.where(real, order[jnp.clip(start + pos, 0, length - 1)], 0)
            r = jnp.clip(self.offsets[assay] + idx, 0, n_rows - 1)
            x = jnp.where(
                real[:, None], self.x[r].astype(jnp.float32), 0.0
            )  # padding: finite zeros
            y = jnp.where(real, self.y[r], 0.0)[:, None]
            return x, y, real.astype(jnp.float32)

        sx, sy, sm = rows(
            0, s, max_support
        )  # the first s of the order are the support (cap: keep max_support)
        qx, qy, qm = rows(s, q, max_query)  # the next q the query, wherever the support cap is
        return Episode(
            support_x=sx, support_y=sy, query_x=qx, query_y=qy, support_mask=sm, query_mask=qm
        )

    def _train(self, key: Array, num_tasks: int) -> Episode:
        assays = jax.random.choice(
            named_key(key, "assays"), self.train_assays, (num_tasks,), replace=False
        )
        keys = jax.random.split(named_key(key, "split"), num_tasks)
        return jax.vmap(lambda a, k: self.episode(a, k, self.max_support, self.max_query))(
            assays, keys
        )

    def _eval(self, key: Array, assays: Array) -> Episode:
        keys = jax.vmap(lambda a: jax.random.fold_in(key, a))(
            assays
        )  # fixed per assay, whatever else is evaluated
        return jax.vmap(
            lambda a, k: self.episode(a, k, self.eval_max_support, self.eval_max_query)
        )(assays, keys)

    def sample_train(self, key: Array, num_tasks: int) -> Episode:
        """T episodes of T distinct meta-training assays, each freshly split.

        x [T, K, D], masks [T, K] / [T, Q].
        """
        if num_tasks > self.num_train_tasks:
            raise ValueError(
                f"ChEMBL meta-batch of {num_tasks} distinct assays, but the group has "
                f"{self.num_train_tasks} meta-training assays"
            )
        return _sample_train(self, key, num_tasks)

    def _eval_count(self, which: str, num_tasks: int | None) -> int:
        available = self.num_valid_tasks if which == "valid" else self.num_test_tasks
        n = available if not num_tasks else int(num_tasks)
        if not 0 < n <= available:
            raise ValueError(
                f"ChEMBL group {self.group} has {available} meta-{which} assays; asked for "
                f"{num_tasks}"
            )
        return n

    def sample_test(self, key: Array, num_tasks: int | None = None) -> Episode:
        """The first `num_tasks` meta-test assays (None or 0: all), split as fixed by `key`:
        x [T, K_eval, D], masks [T, K_eval] / [T, Q_eval]."""
        return _sample_eval(self, key, "test", self._eval_count("test", num_tasks))

    def sample_valid(self, key: Array, num_tasks: int | None = None) -> Episode:
        """The first `num_tasks` meta-validation assays (None or 0: all), split as `key` fixes."""
        return _sample_eval(self, key, "valid", self._eval_count("valid", num_tasks))

    def eval_assay_ids(self, which: str = "test", num_tasks: int | None = None) -> tuple[str, ...]:
        """The assay ids of `sample_test` / `sample_valid`'s tasks, in order."""
        assays = np.asarray(self.test_assays if which == "test" else self.valid_assays)[
            : self._eval_count(which, num_tasks)
        ]
        return tuple(self.assay_ids[a] for a in assays)


# Jitted so that eager callers (evaluation, tests) do not dispatch the sampler op by op; inside an
# outer jit they are inlined. The family's static fields are part of its treedef, hence of the
# compilation cache key.
@functools.partial(jax.jit, static_argnums=2)
def _sample_train(family: ChemblFamily, key: Array, num_tasks: int) -> Episode:
    return family._train(key, num_tasks)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _sample_eval(family: ChemblFamily, key: Array, which: str, num_tasks: int) -> Episode:
    assays = (family.test_assays if which == "test" else family.valid_assays)[:num_tasks]
    return family._eval(key, assays)


def make_chembl_family(
    assays,
    partition,
    *,
    max_support: int = MAX_SUPPORT,
    max_query: int = MAX_QUERY,
    eval_max_support: int | None = None,
    eval_max_query: int | None = None,
    support_fraction: float = SUPPORT_FRACTION,
    min_query: int = MIN_QUERY,
) -> ChemblFamily:
    """A ChemblFamily over a `metareg.data.chembl.ChemblAssays` and an `AssayPartition` of it.

    max_support / max_query: training caps K / Q. eval_max_support / eval_max_query: evaluation caps
    (None: the largest s / q among the meta-validation and meta-test assays, so nothing is cut).
    Assays with fewer than min_query + 1 compounds are dropped. Impossible requests raise ValueError
    saying what to change.
    """
    if not 0.0 < support_fraction < 1.0:
        raise ValueError(f"ChEMBL support_fraction={support_fraction!r}: must be in (0, 1)")
    for name, value, low in (
        ("max_support", max_support, 1),
        ("max_query", max_query, 1),
        ("min_query", min_query, 2),
    ):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"ChEMBL {name}={value!r}: must be an integer >= {low}")
    sizes = np.asarray(assays.sizes)
    s, q = split_sizes(sizes, support_fraction, min_query)
    keep = s >= 1
    old_to_new = np.cumsum(keep) - 1  # drop too-small assays and renumber
    parts = {}
    for which in ("train", "valid", "test"):
        idx = np.asarray(getattr(partition, which))
        parts[which] = old_to_new[idx[keep[idx]]].astype(np.int32)
    if len(parts["train"]) == 0 or len(parts["test"]) == 0:
        raise ValueError(
            f"ChEMBL group {partition.group}: no usable meta-train or meta-test assay (each needs "
            f"> {min_query} compounds)"
        )
    rows = np.concatenate(
        [np.arange(assays.offsets[a], assays.offsets[a + 1]) for a in np.flatnonzero(keep)]
    )
    kept_sizes = sizes[keep]
    offsets = np.concatenate([[0], np.cumsum(kept_sizes)[:-1]]).astype(np.int32)
    s, q = s[keep], q[keep]
    evaluated = np.concatenate([parts["valid"], parts["test"]])
    return ChemblFamily(
        x=jnp.asarray(assays.x[rows], jnp.uint8),
        y=jnp.asarray(assays.y[rows], jnp.float32),
        offsets=jnp.asarray(offsets),
        support_counts=jnp.asarray(s),
        query_counts=jnp.asarray(q),
        train_assays=jnp.asarray(parts["train"]),
        valid_assays=jnp.asarray(parts["valid"]),
        test_assays=jnp.asarray(parts["test"]),
        max_support=int(max_support),
        max_query=int(max_query),
        eval_max_support=int(
            eval_max_support if eval_max_support is not None else s[evaluated].max()
        ),
        eval_max_query=int(eval_max_query if eval_max_query is not None else q[evaluated].max()),
        max_assay_size=int(kept_sizes.max()),
        assay_ids=tuple(assays.assay_ids[a] for a in np.flatnonzero(keep)),
        group=int(partition.group),
    )


def chembl_family(
    data_dir: str | os.PathLike | None = None,
    prepared_dir: str | os.PathLike | None = None,
    group: int = 0,
    fingerprint: str = "given2048",
    *,
    fingerprint_counts: bool = False,
    num_shots: int = MAX_SUPPORT,
    num_queries: int = MAX_QUERY,
    eval_max_support: int | None = None,
    eval_max_query: int | None = None,
    support_fraction: float = SUPPORT_FRACTION,
    min_query: int = MIN_QUERY,
) -> ChemblFamily:
    """ChEMBL tasks from the local assay files (prepared once with TFDS, see metareg.data.chembl).

    data_dir: folder holding chembl_fewshot/{train,valid,test} (default ../shared/data);
    prepared_dir: where the prepared TFDS data lives (default ~/.cache/metareg/tensorflow_datasets);
    group: evaluation group 0 (the data's own split) or 1..3 (seeded 100-test / 76-validation
    re-partitions); fingerprint: "given2048" or "morgan1024" (RDKit); fingerprint_counts: Morgan
    counts instead of bits; num_shots / num_queries: the training caps on support / query compounds
    (make_chembl_family's max_support / max_query). The rest: make_chembl_family. The arguments
    are named like the config's `task` fields (metareg.tasks.make_task_family).
    """
    from metareg.data.chembl import assay_partition, load_assays

    data = load_assays(data_dir, prepared_dir, fingerprint=fingerprint, counts=fingerprint_counts)
    return make_chembl_family(
        data,
        assay_partition(data.assay_ids, data.folders, group),
        max_support=num_shots,
        max_query=num_queries,
        eval_max_support=eval_max_support,
        eval_max_query=eval_max_query,
        support_fraction=support_fraction,
        min_query=min_query,
    )
