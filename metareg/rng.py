"""Named PRNG keys: every random draw derives from the config's seed through a named key.

`named_key(key, "task_pool")` folds a stable hash of the name into the key, so adding a new
consumer of randomness never shifts the draws of existing ones, and per-step keys come from
`jax.random.fold_in(train_key, step)`, so the data of step s is a function of (seed, s) and a
resumed run repeats the same draws.
"""

from __future__ import annotations

import zlib

import jax


def name_to_int(name: str) -> int:
    """A stable 31-bit integer for a name (Python's hash() is salted per process)."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def named_key(key: jax.Array, name: str) -> jax.Array:
    """The sub-key of `key` reserved for the purpose `name`."""
    return jax.random.fold_in(key, name_to_int(name))


def root_key(seed: int) -> jax.Array:
    """The root key of a run (new-style typed key)."""
    return jax.random.key(seed)
