"""Shared test helpers: small linear models, tiny episodes, quick configs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The suite is compile-bound (tiny shapes, hundreds of programs): XLA's cheap pipeline compiles
# about twice as fast. Set before jax is imported so that subprocesses (CLI runs, fault injection,
# notebooks) inherit it too. Every property tested holds under either pipeline;
# `make test-optimized` (METAREG_TEST_OPTIMIZED=1) runs the suite with the full one.
if not os.environ.get("METAREG_TEST_OPTIMIZED"):
    os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# Many tests and CLI subprocesses compile the same programs (the quick sinusoid step above all): a
# compilation cache shared by this run's processes compiles each once. It starts empty (a cold run)
# and is removed when the run ends; the process that creates it (pytest's main process, before the
# xdist workers start) owns it.
if "METAREG_TEST_JAX_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["METAREG_TEST_JAX_CACHE"] = tempfile.mkdtemp(prefix="metareg-test-jax-cache-")
    atexit.register(shutil.rmtree, os.environ["METAREG_TEST_JAX_CACHE"], ignore_errors=True)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ["METAREG_TEST_JAX_CACHE"])
os.environ.setdefault(
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3"
)  # only programs worth a disk read

import flax.linen as nn
import jax
import pytest

# For a process whose time goes into running programs rather than compiling them (a notebook that
# trains, a benchmark-like probe): the full pipeline, set in that process's environment.
FULL_PIPELINE = {"JAX_DISABLE_MOST_OPTIMIZATIONS": "0"}

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # experiments/ imports as a package from the project root
    sys.path.insert(0, str(ROOT))

jax.config.update("jax_enable_x64", False)
jax.config.update(
    "jax_disable_most_optimizations",
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "1"
    if "JAX_DISABLE_MOST_OPTIMIZATIONS" in os.environ
    else False,
)


def needs_data(present, what: str):
    """Decorator: run the test only if `present()` holds *when the test runs*; otherwise skip it
    with a warning that says what is missing (`what`). A `skipif` evaluated when the module is
    imported decides before any fixture or earlier test could prepare the data, and its skip is
    silent in the default report; the warning shows in pytest's warnings summary."""
    import functools
    import warnings

    def decorate(test):
        @functools.wraps(test)  # pytest reads the fixtures from the wrapped signature
        def run(*args, **kwargs):
            if not present():
                warnings.warn(f"skipped {test.__name__}: {what}", stacklevel=2)
                pytest.skip(what)
            return test(*args, **kwargs)

        return run

    return decorate


class Linear(nn.Module):
    """f(x) = x @ w, one block without bias: the closed-form MAML model."""

    @nn.compact
    def __call__(self, x, start=0, end=None):
        end = 1 if end is None else end
        if start < 1 <= end:
            x = nn.Dense(1, use_bias=False, name="blocks_0")(x)
        return x


def linear_model():
    from metareg.models import BlockModel

    return BlockModel(module=Linear(), num_blocks=1)


def random_episodes(key, num_tasks=4, k=5, q=6, d=3):
    from metareg.types import Episode

    ks = jax.random.split(key, 4)
    return Episode(
        support_x=jax.random.normal(ks[0], (num_tasks, k, d)),
        support_y=jax.random.normal(ks[1], (num_tasks, k, 1)),
        query_x=jax.random.normal(ks[2], (num_tasks, q, d)),
        query_y=jax.random.normal(ks[3], (num_tasks, q, 1)),
    )


@pytest.fixture
def quick_config():
    """The quick sinusoid config, smaller still: a real run in a few seconds."""
    from experiments import sinusoid_maml

    c = sinusoid_maml.get_config("quick")
    c.num_steps = 60
    c.log_every = 20
    c.checkpoint_every = 20
    c.eval.num_tasks = 20
    c.eval.batch_size = 20
    c.meta_batch_size = 5
    c.progress_bar = False
    return c


def run_traced_steps(objective, num_steps: int, meta_batch_size: int = 8):
    """(state, metrics) after `num_steps` jitted outer steps on the sinusoid, failing if
    the step traces twice."""
    import chex
    import optax

    import metareg

    family = metareg.regression_family("sinusoid", jax.random.key(0), num_shots=5)
    optimizer = optax.adam(1e-3)
    state = metareg.init_train_state(
        jax.random.key(1), objective, optimizer, family.example_episode()
    )
    chex.clear_trace_counter()

    @chex.assert_max_traces(n=1)
    def step(state, family, key):
        return metareg.meta_train_step(state, family, key, objective, optimizer, meta_batch_size)

    jitted = jax.jit(step)
    for _ in range(num_steps):
        state, metrics = jitted(state, family, jax.random.key(2))
    return state, metrics
