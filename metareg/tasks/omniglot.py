"""Omniglot N-way K-shot classification tasks, sampled in JAX from keys out of class-major arrays in
memory.

The family holds `metareg.data.omniglot`'s uint8 classes [C, 20, 28, 28] as pytree leaves (on
device) and an episode gathers its images, scaled to float32 in [0, 1]: support_x [N*K, 28, 28, 1]
and support_y [N*K] int32, query_x [N*Q, 28, 28, 1] and query_y [N*Q]. Examples are label-major
(support_y = [0]*K + [1]*K + ...), and a class's K + Q drawings are distinct: the first K are the
support.

Settings (`setting`; meta-test tasks follow `test_setting`, by default the same):

- "mutually_exclusive" (Vinyals et al. 2016; Finn et al. 2017): N distinct classes per task in a
  random label order, so a class has no fixed label across tasks.
- "non_mutually_exclusive" (Yin et al. 2020, MR-MAML; Yao et al. 2021, MetaMix): the classes are
  split into N fixed slots by a seeded partition of the characters and a task draws one class per
  slot, slot j always being label j, so one model can solve every training task without adapting
  (memorization). A character's rotations share its slot, as the MAML code those papers build on
  rotates each task's characters. The meta-test classes get their own slots (a second key), so a
  memorizing model cannot reuse its training mapping.
- "within_alphabet" (random within-alphabet tasks, not Lake et al. 2015's 20 fixed one-shot
  runs): a task's N characters come from one alphabet, harder to tell apart than characters from
  across alphabets; it needs the class names that `omniglot_family` passes.
"""

from __future__ import annotations

import functools
import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from metareg.rng import named_key
from metareg.tasks.base import IndexedTasks
from metareg.types import Array, Episode

SETTINGS = ("mutually_exclusive", "non_mutually_exclusive", "within_alphabet")


def check_request(
    ways, shots, queries, setting: str, test_setting: str | None, drawings: int = 20
) -> None:
    """The data-free rules of an Omniglot task request, in one place.

    The family builder and the CLI's config check both call this (the messages name the config
    field too). Raises ValueError saying what to change.
    """
    for field, value in (("setting", setting), ("test_setting", test_setting)):
        if value is not None and value not in SETTINGS:
            raise ValueError(
                f"unknown Omniglot {field} {value!r} (task.{field}); choose from {sorted(SETTINGS)}"
            )
    for name, field, value, low in (
        ("ways", "ways", ways, 2),
        ("shots", "num_shots", shots, 1),
        ("queries", "num_queries", queries, 1),
    ):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(
                f"Omniglot {name}={value!r}: must be an integer >= {low} (task.{field})"
            )
    if shots + queries > drawings:
        raise ValueError(
            f"Omniglot shots + queries = {shots} + {queries} = {shots + queries} per class, but "
            f"an Omniglot character has only {drawings} drawings and support and query drawings "
            "are distinct: lower shots or queries (task.num_shots, task.num_queries) so that "
            f"they sum to at most {drawings}"
        )


_permutation = jax.jit(
    jax.random.permutation, static_argnums=1
)  # one compiled call, not op-by-op dispatch


def slot_partition(
    key: Array, num_characters: int, ways: int, rotations_per_character: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(slots int32 [N, S], sizes int32 [N]): slot j holds classes slots[j, :sizes[j]].

    Padding repeats a slot's classes.

    A permutation of the base characters (from `key`) is dealt round-robin into N slots; with R
    rotations per character, base character b brings classes R*b .. R*b + R - 1.
    """
    perm = np.asarray(_permutation(key, num_characters))
    members = [np.sort(perm[j::ways]) for j in range(ways)]
    members = [
        (rotations_per_character * m[:, None] + np.arange(rotations_per_character)).ravel()
        for m in members
    ]
    sizes = np.array([len(m) for m in members], np.int32)
    slots = np.stack([np.resize(m, sizes.max()) for m in members]).astype(np.int32)
    return slots, sizes


def alphabet_groups(names: tuple[str, ...], ways: int) -> tuple[np.ndarray, np.ndarray]:
    """(groups int32 [A, M], sizes int32 [A]): the classes of each alphabet with at least `ways`
    classes (padding repeats them); an alphabet is a name's "archive/alphabet" prefix."""
    members: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        members.setdefault("/".join(name.split("/")[:2]), []).append(i)
    kept = [np.array(m) for m in members.values() if len(m) >= ways]
    if not kept:
        raise ValueError(
            f"Omniglot within-alphabet {ways}-way tasks need an alphabet with at least {ways} "
            f"characters; the largest has {max(map(len, members.values()))}: lower ways"
        )
    sizes = np.array([len(m) for m in kept], np.int32)
    return np.stack([np.resize(m, sizes.max()) for m in kept]).astype(np.int32), sizes


def _task_indices(
    key: Array,
    images_shape: tuple[int, ...],
    slots: Array | None,
    sizes: Array | None,
    ways: int,
    per_class: int,
    within_group: bool = False,
):
    """One task: (classes int32 [N], drawers int32 [N, K+Q]); label j is classes[j].

    `within_group`: `slots` are groups (alphabets) and the task's N classes are distinct members of
    one group drawn uniformly.
    """
    k_cls, k_draw = jax.random.split(key)
    if within_group:
        k_group, k_members = jax.random.split(k_cls)
        g = jax.random.randint(k_group, (), 0, sizes.shape[0])
        scores = jnp.where(
            jnp.arange(slots.shape[1]) < sizes[g],
            jax.random.uniform(k_members, (slots.shape[1],)),
            -1.0,
        )
        classes = slots[g, jnp.argsort(-scores)[:ways]]  # N distinct members, in random order
    elif slots is None:
        # Without replacement, in random order: label j = the j-th class drawn.
        classes = jax.random.choice(k_cls, images_shape[0], (ways,), replace=False)
    else:
        pick = jax.random.randint(k_cls, (ways,), 0, sizes)  # one class uniformly from each slot
        classes = slots[jnp.arange(ways), pick]
    drawers = jax.vmap(lambda k: jax.random.permutation(k, images_shape[1])[:per_class])(
        jax.random.split(k_draw, ways)
    )
    return classes.astype(jnp.int32), drawers.astype(jnp.int32)


@flax.struct.dataclass
class OmniglotFamily(IndexedTasks):
    """Omniglot N-way K-shot tasks; a pytree (arrays leaves, sizes and settings static): jittable.

    train_images / test_images: uint8 [C, 20, 28, 28], strokes bright. train_slots / test_slots and
    their sizes: the non-mutually-exclusive slot partitions (see `slot_partition`), None otherwise.
    """

    train_images: Array
    test_images: Array
    train_slots: Array | None
    train_slot_sizes: Array | None
    test_slots: Array | None
    test_slot_sizes: Array | None
    ways: int = flax.struct.field(pytree_node=False)
    shots: int = flax.struct.field(pytree_node=False)
    queries: int = flax.struct.field(pytree_node=False)
    setting: str = flax.struct.field(pytree_node=False)
    test_setting: str = flax.struct.field(pytree_node=False)

    @property
    def loss_name(self) -> str:
        return "cross_entropy"

    @property
    def output_width(self) -> int:
        return self.ways

    @property
    def num_train_classes(self) -> int:
        return self.train_images.shape[0]

    @property
    def num_test_classes(self) -> int:
        return self.test_images.shape[0]

    def example_episode(self) -> Episode:
        """A single-task episode of the right shapes and dtypes (zeros), for initializing models."""
        n, k, q, s = self.ways, self.shots, self.queries, self.train_images.shape[-1]
        return Episode(
            support_x=jnp.zeros((n * k, s, s, 1), jnp.float32),
            support_y=jnp.zeros((n * k,), jnp.int32),
            query_x=jnp.zeros((n * q, s, s, 1), jnp.float32),
            query_y=jnp.zeros((n * q,), jnp.int32),
        )

    def sample_indices(self, key: Array, num_tasks: int, train: bool = True) -> tuple[Array, Array]:
        """(classes int32 [T, N], drawers int32 [T, N, K+Q]) of T tasks.

        Task t's label j is class classes[t, j], shown by drawings drawers[t, j, :K] in the support
        and drawers[t, j, K:] in the query.
        """
        return _sample_indices(self, key, num_tasks, train)

    def _indices(self, key: Array, num_tasks: int, train: bool) -> tuple[Array, Array]:
        if train:
            images, slots, sizes, setting = (
                self.train_images,
                self.train_slots,
                self.train_slot_sizes,
                self.setting,
            )
        else:
            images, slots, sizes, setting = (
                self.test_images,
                self.test_slots,
                self.test_slot_sizes,
                self.test_setting,
            )
        per_class = self.shots + self.queries
        within = setting == "within_alphabet"
        draw = lambda k: _task_indices(k, images.shape, slots, sizes, self.ways, per_class, within)
        return jax.vmap(draw)(jax.random.split(key, num_tasks))

    def episodes(self, classes: Array, drawers: Array, train: bool = True) -> Episode:
        """The batched Episode of the tasks given by `sample_indices`' output."""
        images = self.train_images if train else self.test_images
        t, n, k, q = classes.shape[0], self.ways, self.shots, self.queries
        x = images[classes[:, :, None], drawers].astype(jnp.float32) / 255.0  # [T, N, K+Q, H, W]
        x = x[..., None]
        labels = jnp.arange(n, dtype=jnp.int32)
        return Episode(
            support_x=x[:, :, :k].reshape(t, n * k, *x.shape[3:]),
            support_y=jnp.broadcast_to(jnp.repeat(labels, k), (t, n * k)),
            query_x=x[:, :, k:].reshape(t, n * q, *x.shape[3:]),
            query_y=jnp.broadcast_to(jnp.repeat(labels, q), (t, n * q)),
        )

    def sample_train(self, key: Array, num_tasks: int) -> Episode:
        """T meta-training episodes from the meta-train classes."""
        return _sample_episodes(self, key, num_tasks, True)

    def sample_test(self, key: Array, num_tasks: int) -> Episode:
        """T meta-test episodes from the (unseen) meta-test classes."""
        return _sample_episodes(self, key, num_tasks, False)


# Jitted so that eager callers (evaluation, tests) do not dispatch the sampler op by op; inside an
# outer jit they are inlined. The family's static fields are part of its treedef, hence of the
# compilation cache key.
@functools.partial(jax.jit, static_argnums=(2, 3))
def _sample_indices(
    family: OmniglotFamily, key: Array, num_tasks: int, train: bool
) -> tuple[Array, Array]:
    return family._indices(key, num_tasks, train)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _sample_episodes(family: OmniglotFamily, key: Array, num_tasks: int, train: bool) -> Episode:
    return family.episodes(*family._indices(key, num_tasks, train), train=train)


def make_omniglot_family(
    train_images: np.ndarray,
    test_images: np.ndarray,
    *,
    ways: int = 20,
    shots: int = 1,
    queries: int = 15,
    setting: str = "non_mutually_exclusive",
    test_setting: str | None = None,
    rotations_per_character: int = 1,
    key: Array | None = None,
    train_names: tuple[str, ...] | None = None,
    test_names: tuple[str, ...] | None = None,
) -> OmniglotFamily:
    """An OmniglotFamily over given class-major arrays [C, 20, H, W] (uint8, strokes bright).

    train_names / test_names: one "archive/alphabet/character..." name per class, needed by
    "within_alphabet".

    rotations_per_character: R when classes `R*b .. R*b+R-1` are rotations of one character (they
    share a slot). key: draws the slot partitions; required when either setting is
    non-mutually-exclusive. Impossible requests raise ValueError saying what to change.
    """
    test_setting = setting if test_setting is None else test_setting
    check_request(ways, shots, queries, setting, test_setting, drawings=train_images.shape[1])
    for which, images in (("train", train_images), ("test", test_images)):
        if images.ndim != 4 or images.shape[0] % rotations_per_character:
            raise ValueError(
                f"Omniglot {which} images have shape {images.shape}: expected [C, drawings, H, W] "
                f"with C a multiple of {rotations_per_character}"
            )
    drawings = train_images.shape[1]
    if drawings != 20 or test_images.shape[1] != 20:
        raise ValueError(
            f"Omniglot arrays hold {drawings} / {test_images.shape[1]} drawings per class, "
            "expected 20"
        )
    slots: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
    for which, images, s, names in (
        ("train", train_images, setting, train_names),
        ("test", test_images, test_setting, test_names),
    ):
        classes = images.shape[0]
        characters = classes // rotations_per_character
        if s == "within_alphabet":
            if names is None or len(names) != classes:
                raise ValueError(
                    f"Omniglot within-alphabet meta-{which} tasks need {which}_names, one per "
                    "class (omniglot_family passes them)"
                )
            slots[which] = alphabet_groups(tuple(names), ways)
        elif s == "mutually_exclusive":
            if ways > classes:
                raise ValueError(
                    f"Omniglot {ways}-way mutually-exclusive tasks need {ways} distinct classes, "
                    f"but the meta-{which} set has {classes}: lower ways to at most {classes}, or "
                    "use a split with more classes"
                )
            slots[which] = (None, None)
        else:
            if ways > characters:
                raise ValueError(
                    f"Omniglot {ways}-way non-mutually-exclusive tasks split the meta-{which} "
                    f"characters into {ways} slots of at least one character each, but there are "
                    f"{characters}: lower ways to at most {characters}"
                )
            if key is None:
                raise ValueError(
                    "Omniglot non-mutually-exclusive tasks need key= to draw their slot partition"
                )
            slots[which] = slot_partition(
                named_key(key, f"omniglot_{which}_slots"), characters, ways, rotations_per_character
            )
    as_jnp = lambda a: None if a is None else jnp.asarray(a)
    return OmniglotFamily(
        train_images=jnp.asarray(train_images, jnp.uint8),
        test_images=jnp.asarray(test_images, jnp.uint8),
        train_slots=as_jnp(slots["train"][0]),
        train_slot_sizes=as_jnp(slots["train"][1]),
        test_slots=as_jnp(slots["test"][0]),
        test_slot_sizes=as_jnp(slots["test"][1]),
        ways=int(ways),
        shots=int(shots),
        queries=int(queries),
        setting=setting,
        test_setting=test_setting,
    )


def omniglot_family(
    data_dir: str | os.PathLike | None = None,
    prepared_dir: str | os.PathLike | None = None,
    split: str = "vinyals",
    ways: int = 20,
    num_shots: int = 1,
    num_queries: int = 15,
    setting: str = "non_mutually_exclusive",
    key: Array | None = None,
    *,
    rotations: bool | None = None,
    test_setting: str | None = None,
) -> OmniglotFamily:
    """Omniglot tasks from the local archives (prepared once with TFDS, see metareg.data.omniglot).

    data_dir: folder holding omniglot/images_{background,evaluation}.zip (default ../shared/data);
    prepared_dir: where the prepared TFDS data lives (default ~/.cache/metareg/tensorflow_datasets);
    split: "vinyals" (1200 / 423 characters), "vinyals_sorted", or "lake" (background 964 /
    evaluation 659); rotations: 90/180/270-degree rotations as new classes (None: the split's
    standard, on for Vinyals); key: the family key (slot partitions derive from it by name). The
    arguments are named like the config's `task` fields (metareg.tasks.make_task_family).
    """
    from metareg.data.omniglot import load_split

    check_request(ways, num_shots, num_queries, setting, test_setting)  # before loading the data
    data = load_split(split, data_dir, prepared_dir, rotations=rotations)
    return make_omniglot_family(
        data.train,
        data.test,
        ways=ways,
        shots=num_shots,
        queries=num_queries,
        setting=setting,
        test_setting=test_setting,
        rotations_per_character=data.rotations_per_character,
        key=key,
        train_names=data.train_names,
        test_names=data.test_names,
    )
