"""The MetaMix reference's Omniglot input files, built from OUR prepared Omniglot data.

huaxiuyao/MetaMix omniglot/data_generator.py reads, under `--datadir`:

- `Omniglot/omniglot_train.pkl`: the meta-training characters, class-major [C, 20, 28, 28];
- `Omniglot/omniglot_test.pkl`: the meta-test characters, the same layout;
- `Omniglot/omniglot_train_label_assign.pkl`: `fixed_class_id`, 20 rows of 60 indices into the
  training classes; task label j is always a character of row j (the non-mutually-exclusive slots).

Its code copies the pickled values into float tensors as they are, so the images are written as
our episodes hold them, bit for bit: float32 uint8 / 255 in [0, 1], strokes bright
(metareg/tasks/omniglot.py, `episodes`). The classes are our `:reference` / `:norot` split
(Vinyals 1200 / 423 characters, no rotations; metareg.data.omniglot.load_split) and the slots
are the partition our training draws for the same config seed (metareg.tasks.omniglot's
slot_partition under the named key "tasks" -> "task_family" -> "omniglot_train_slots" of the
seed's root key), so both implementations see the same characters, splits and slot assignment
for each seed. The slot partition depends on the seed, so each seed gets its own folder; the two
image pickles are written once and linked into each.

    python benchmarks/parity/make_reference_data.py --out ../parity/data --seeds 0,1,2 \
        --data-dir ../shared/data

writes ../parity/data/seed_S/Omniglot/*.pkl (pass `--datadir ../parity/data/seed_S` to the
reference) and ../parity/data/manifest.json (shapes, sha256 of every file, the slots).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `experiments` and `metareg` from this checkout
    sys.path.insert(0, str(REPO))

SLOTS, PER_SLOT = 20, 60  # the reference's fixed_class_id: 20 rows x np.random.randint(60)


def reference_config(seed: int, data_dir: str | None):
    """Our `omniglot_maml:reference` config at `seed` (the task fields both parity runs use)."""
    from experiments.omniglot_maml import get_config

    c = get_config("reference")
    c.seed = seed
    if data_dir is not None:
        c.data.dir = data_dir
    return c


def reference_family(seed: int, data_dir: str | None):
    """The task family our training builds for `seed` (the same call as metareg.assemble.build)."""
    from metareg.rng import named_key, root_key
    from metareg.tasks import make_task_family

    c = reference_config(seed, data_dir)
    return make_task_family(c, named_key(root_key(c.seed), "tasks"))


def slot_table(family) -> np.ndarray:
    """int64 [20, 60]: row j = the training classes of label j, as `fixed_class_id` wants."""
    slots = np.asarray(family.train_slots)
    sizes = np.asarray(family.train_slot_sizes)
    if slots.shape != (SLOTS, PER_SLOT) or not np.all(sizes == PER_SLOT):
        raise SystemExit(
            f"expected {SLOTS} slots of {PER_SLOT} training characters (the reference draws "
            f"np.random.randint({PER_SLOT}) per slot), got slots {slots.shape}, sizes "
            f"{sizes.tolist()}: is the config 20-way without rotations?"
        )
    flat = np.sort(slots.ravel())
    if not np.array_equal(flat, np.arange(SLOTS * PER_SLOT)):
        raise SystemExit("the slots are not a partition of the 1200 training characters")
    return slots.astype(np.int64)


def as_float(images: np.ndarray) -> np.ndarray:
    """uint8 [C, 20, 28, 28] -> float32 in [0, 1], bit for bit what our episodes hold: the same
    jitted expression (XLA turns the division by 255 into a multiplication by its reciprocal,
    which differs from numpy's division in the last bit for about half the values)."""
    import jax
    import jax.numpy as jnp

    return np.asarray(jax.jit(lambda u: u.astype(jnp.float32) / 255.0)(jnp.asarray(images)))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_pickle(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    os.replace(tmp, path)


def build(out: Path, seeds: list[int], data_dir: str | None) -> dict:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    shared = out / "images"
    shared.mkdir(exist_ok=True)
    manifest: dict = {"seeds": {}, "data_dir": data_dir}
    for i, seed in enumerate(seeds):
        family = reference_family(seed, data_dir)
        if i == 0:  # the images do not depend on the seed; check that below
            train = as_float(np.asarray(family.train_images))
            test = as_float(np.asarray(family.test_images))
            write_pickle(train, shared / "omniglot_train.pkl")
            write_pickle(test, shared / "omniglot_test.pkl")
            manifest["train_shape"], manifest["test_shape"] = list(train.shape), list(test.shape)
            manifest["train_sha256"] = sha256(shared / "omniglot_train.pkl")
            manifest["test_sha256"] = sha256(shared / "omniglot_test.pkl")
            images_digest = hashlib.sha256(np.asarray(family.train_images).tobytes()).hexdigest()
        elif hashlib.sha256(np.asarray(family.train_images).tobytes()).hexdigest() != (
            images_digest
        ):
            raise SystemExit(f"seed {seed}: other training images than seed {seeds[0]}")
        slots = slot_table(family)
        folder = out / f"seed_{seed}" / "Omniglot"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("omniglot_train.pkl", "omniglot_test.pkl"):
            link = folder / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(Path("..") / ".." / "images" / name)
        write_pickle(slots, folder / "omniglot_train_label_assign.pkl")
        manifest["seeds"][str(seed)] = {
            "datadir": str(out / f"seed_{seed}"),
            "label_assign_sha256": sha256(folder / "omniglot_train_label_assign.pkl"),
            "slots": slots.tolist(),
        }
        print(f"seed {seed}: {folder} (slots {slots.shape}, first slot {slots[0, :5].tolist()}...)")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="folder to write (outside the repo)")
    p.add_argument("--seeds", default="0", help="comma-separated config seeds (default 0)")
    p.add_argument("--data-dir", default=None, help="the project's data.dir (../shared/data)")
    a = p.parse_args(argv)
    build(a.out, [int(s) for s in a.seeds.split(",") if s != ""], a.data_dir)


if __name__ == "__main__":
    main()
