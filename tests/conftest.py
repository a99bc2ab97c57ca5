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


def assert_config_refused(regularizer: str, changes: dict, message: str) -> None:
    """The default config with `regularizer` on is valid; with `changes` (dotted fields, or
    "regularizers") applied, metareg.validate_config refuses it with `message` in its error."""
    from metareg.assemble import validate_config
    from metareg.config import ConfigError, default_config

    c = default_config()
    c.regularizers = (regularizer,)
    validate_config(c)
    for key, value in changes.items():
        if key == "regularizers":
            c.regularizers = value
            continue
        section, field = key.split(".")
        with c[section].ignore_type():
            c[section][field] = value
    with pytest.raises(ConfigError) as e:
        validate_config(c)
    assert message in str(e.value)


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


# ----------------------------------------------------------------------------- the suite's split
# `make test` (the README's second command) runs what is not marked slow: every module's unit and
# numerical tests and one end-to-end kill-and-resume (test_train.py). `make test-all` (CI) runs
# everything. Besides the tests marked `@pytest.mark.slow` where they are written, these are slow:
# whole modules of end-to-end runs, and single tests that are the costliest instance of a property
# a cheaper test in `make test` also checks (timings: docs/design.md, "Tests").
SLOW_MODULES = {
    "test_experiments.py",  # every experiment's :quick variant through the CLI
    "test_faults.py",  # repeated SIGKILLs at every stage of a run
    "test_sharding.py",  # multi-device and multi-process runs
    "test_notebooks.py",  # the notebooks top to bottom
    "test_readme.py",  # the README's notebook example, 1,000 steps
    "test_mutants.py",  # the mutant runner's own checks
}
SLOW_TESTS = (
    # end-to-end CLI runs (test_train's resume stays in `make test`)
    "test_run_identity.py::test_train_resumes_from_the_workdirs_own_config",
    "test_run_identity.py::test_sigint_stops_with_one_line",
    "test_workdir.py::test_cli_works_from_any_directory",
    "test_workdir.py::test_console_script_lists_experiments",
    "test_adaptive_sampler.py::test_quick_omniglot_trlearner_steps",
    "test_adaptive_sampler.py::test_default_and_explicit_uniform_runs_are_identical",
    "test_metacrl.py::test_training_smoke_run_with_metacrl",
    "test_dropout_bins.py::test_training_smoke_run_with_dropout_bins",
    "test_tune.py::test_selection_uses_validation_tasks_only",
    "test_report.py::test_restore_run_and_relation_figure",
    "test_runtime.py::test_reexec_adds_the_tunable",
    # CLI error paths: test_config's unknown-learner one stays in `make test`
    "test_config.py::test_cli_rejects_override_typo",
    "test_config.py::test_cli_rejects_unknown_experiment",
    "test_config.py::test_cli_override_typo_names_the_field",
    "test_maml.py::test_jitted_model_init_gives_the_same_bits_as_eager_init",
    "test_evaluate.py::test_lazy_test_episodes_are_the_same_tasks",
    # conv / ProtoNet / padding instances of properties the MLP instances check in `make test`
    "test_metacrl.py::test_protonet_prototypes_live_in_factor_space",
    "test_metacrl.py::test_padding_changes_nothing",
    "test_metacrl.py::test_xi_and_f_gr_are_fixed_in_the_inner_loop_and_meta_learned[anil]",
    "test_dropout_bins.py::test_padding_changes_nothing",
    "test_dropout_bins.py::test_conv4_classification_and_protonet",
    "test_dropout_bins.py::test_every_backbone_gets_finite_gradients_also_beside_trlearner[dropout-",
    "test_classification.py::test_trlearner_shared_query_pass_equals_every_pair_in_value_and_gradient[protonet]",
    "test_trlearner_chunks.py::test_chunked_eq5_equals_the_unchunked_on_a_conv_classifier",
    "test_channel_shuffle.py::test_meta_loss_with_channel_shuffle_is_the_hand_composition",
    "test_conv.py::test_second_order_maml_meta_gradient_im2col_equals_lax_float64",
    "test_conv.py::test_vmap_over_tasks_equals_a_loop[lax-float64]",
    "test_conv.py::test_blockwise_apply_equals_full[max]",
    "test_conv.py::test_conv4_shapes_28_to_2x2x64[max]",
    "test_masks.py::test_padding_never_changes_the_meta_loss_or_its_gradient[True-",
    "test_maml.py::test_vmap_over_tasks_equals_python_loop[True]",
    "test_maml.py::test_task_execution_strategies_give_the_same_meta_gradient[",
    "test_masks.py::test_padding_never_changes_the_meta_loss_or_its_gradient[False-ANIL]",
    "test_masks.py::test_padding_never_changes_the_meta_loss_or_its_gradient[False-MetaSGD]",
    "test_dropout_bins.py::test_keeping_every_unit_in_one_version_is_the_plain_backbone[reg0]",
    "test_mr_maml_family.py::test_training_tasks_are_the_sixteen_coded_amplitudes",
    "test_adaptive_sampler.py::test_trlearner_meta_data_is_the_relation_of_the_kept_examples",
    "test_mr_maml.py::test_the_default_noise_leaves_its_floor",
    "test_bayes.py::test_doubling_the_grid_changes_little[harmonic]",
    "test_bayes.py::test_matches_importance_sampling_from_the_family_prior[harmonic]",
    # vmap-equals-loop and padding instances beyond the core ones (test_maml's MLP vmap test and
    # test_masks' MetaMix / metrics padding tests stay in `make test`)
    "test_metacrl.py::test_vmap_over_tasks_equals_a_python_loop_over_tasks",
    "test_dropout_bins.py::test_vmap_over_tasks_equals_a_python_loop_over_tasks",
    "test_conv.py::test_vmap_over_tasks_equals_a_loop[im2col-float32]",
    "test_conv.py::test_transductive_conv_block_equals_the_unfused_reference_float64",
    "test_classification.py::test_trlearner_classification_representation_and_consistency_loss_by_hand[maml]",
    "test_masks.py::test_padding_never_changes_the_meta_loss_or_its_gradient[False-MAML]",
    "test_channel_shuffle.py::test_shuffled_model_shuffles_the_input_of_the_drawn_block[1]",
    "test_train.py::test_same_seed_same_numbers_and_other_seed_differs",
    "test_adaptive_sampler.py::test_uniform_step_draws_the_same_meta_batch_as_before",
    "test_classification.py::test_trlearner_shared_query_pass_equals_every_pair_in_value_and_gradient[anil]",
    "test_classification.py::test_protonet_predicts_minus_distance_to_support_class_means",
    "test_meta_aug.py::test_meta_aug_composes_in_the_meta_loss",
    "test_dropout_bins.py::test_every_backbone_gets_finite_gradients_also_beside_trlearner[bins-fomaml]",
    "test_train.py::test_curve_evaluation_changes_nothing_and_logs_both_task_sets",
    "test_conv.py::test_conv4_shapes_28_to_2x2x64[stride]",
    # the real data (prepared in a temporary folder)
    "test_pose.py::test_real_data_prepares_and_samples",
    "test_chembl.py::test_real_data_counts_groups_and_episodes",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        node = item.nodeid.split("tests/", 1)[-1]
        if node.split("::")[0] in SLOW_MODULES or node.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
