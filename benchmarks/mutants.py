"""A mutant run: plausible bugs applied one at a time to a scratch copy, each must fail a test.

Each mutant is an exact-text replacement (one or more, in one file) whose old text must occur
exactly once in that file: when a refactor moves or rewrites the code, the runner stops before
running anything and names the mutants that no longer apply, so none is silently dropped (update
its text to the new code). For each mutant, the scratch copy (metareg/, tests/, experiments/,
pyproject.toml; first on PYTHONPATH and the working directory, so the installed package is not
what is tested) gets the mutated file, and only the tests listed as the ones that should catch the
bug run (`python -m pytest -x -n 0 TESTS`); the first FAILED (or ERROR) line names the test that
killed it, and a mutant under which they all pass SURVIVED. Before the mutants, a baseline runs
every listed test once on the unmutated copy: it must pass, or a "kill" would mean nothing.

    python benchmarks/mutants.py                  # all mutants (make mutants)
    python benchmarks/mutants.py --only maml_always_first_order,metasgd_step_size_sign
    python benchmarks/mutants.py --check          # only: does every mutant still apply?
    python benchmarks/mutants.py --list

Writes benchmarks/results/mutants.json (per mutant: file, killed_by, seconds); exits 1 if any
mutant survived, 2 if a mutant no longer applies or the baseline fails. Needs only `make install`:
no data in ../shared/data (the scratch copy's default data dir does not exist), no network.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("metareg", "tests", "experiments", "pyproject.toml")
IND = "tests/test_independent.py::"


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    edits: tuple[tuple[str, str], ...]  # (old, new): old must occur exactly once in the file
    tests: tuple[str, ...]  # pytest node ids that should catch it
    bug: str  # what a user would see


MUTANTS = (
    # ---- the audit's survivors and kills (issue 38)
    Mutant(
        "maml_second_order_last_step_only",
        "metareg/learners/maml.py",
        (
            (
                "        def step(w, _):\n"
                "            grads = jax.grad(inner_loss)(w)\n"
                "            if self.first_order:\n"
                "                grads = lax.stop_gradient(grads)\n",
                "        def step(w, i):\n"
                "            grads = jax.grad(inner_loss)(w)\n"
                "            if self.first_order:\n"
                "                grads = lax.stop_gradient(grads)\n"
                "            grads = jax.tree_util.tree_map(\n"
                "                lambda g: jax.numpy.where(i == steps - 1, g, "
                "lax.stop_gradient(g)), grads\n"
                "            )\n",
            ),
            (
                "lax.scan(step, adapted, None, length=steps)",
                "lax.scan(step, adapted, jax.numpy.arange(steps))",
            ),
        ),
        (IND + "test_meta_gradient_equals_float64_finite_differences[maml_3_steps]",),
        "second order through the last inner step only (earlier steps first order)",
    ),
    Mutant(
        "maml_always_first_order",
        "metareg/learners/maml.py",
        (
            (
                "            if self.first_order:\n"
                "                grads = lax.stop_gradient(grads)",
                "            if True:\n                grads = lax.stop_gradient(grads)",
            ),
        ),
        ("tests/test_maml.py::test_one_step_meta_gradient_matches_closed_form",),
        "MAML always first order",
    ),
    Mutant(
        "trlearner_eq4_cosine_under_mean_head",
        "metareg/regularizers/trlearner.py",
        (
            (
                "    per_head = jax.vmap(lambda w: cosine_matrix(w * z, eps))(heads)  # [H, T, T]\n"
                "    m = jnp.mean(per_head, axis=0)\n",
                "    m = cosine_matrix(jnp.mean(heads, axis=0) * z, eps)\n",
            ),
        ),
        (IND + "test_eq4_is_the_mean_of_per_head_cosines_against_numpy",),
        "Eq. 4 as the cosine under the mean head, not the mean of per-head cosines",
    ),
    Mutant(
        "trlearner_keeps_p_equal_i",
        "metareg/regularizers/trlearner.py",
        (
            (
                "        r = jnp.maximum(m, 0.0) * off\n",
                "        r = jnp.maximum(m, 0.0) * off + jnp.eye(m.shape[0], dtype=m.dtype)\n",
            ),
        ),
        ("tests/test_trlearner.py::test_consistency_loss_matches_hand_computation_on_three_tasks",),
        "the task's own model in its consistency ensemble (p = i kept, relation 1)",
    ),
    Mutant(
        "metamix_layer_draw_off_by_one",
        "metareg/regularizers/metamix.py",
        (
            (
                "jax.random.randint(k_layer, (), 0, len(self.layers))",
                "jax.random.randint(k_layer, (), 0, len(self.layers) - 1)",
            ),
        ),
        (IND + "test_metamix_draws_each_candidate_layer_uniformly_and_no_other",),
        "the last candidate layer never drawn (layers (1, 2) always mix at layer 1)",
    ),
    Mutant(
        "metamix_scored_and_partner_sets_swapped",
        "metareg/regularizers/metamix.py",
        (
            (
                '"support_query": ("query", "support"),',
                '"support_query": ("support", "query"),',
            ),
        ),
        ("tests/test_metamix.py::test_lambda_zero_is_the_query_loss",),
        "MetaMix scores the support set with query partners",
    ),
    Mutant(
        "seed_ci_t_quantile_df_n",
        "metareg/confidence.py",
        (("t975(v.size - 1)", "t975(v.size)"),),
        (
            "tests/test_verdicts.py::test_t_quantiles_and_the_seed_ci_by_hand",
            "tests/test_verdicts.py::test_one_shared_seed_is_too_few_and_two_get_the_t_quantile"
            "_at_one_df",
        ),
        "the seed CI's t quantile at df = n instead of n - 1 (too narrow)",
    ),
    # ---- learners
    Mutant(
        "anil_adapts_the_last_hidden_block",
        "metareg/learners/anil.py",
        (("self.model.num_blocks - 1)", "self.model.num_blocks - 2)"),),
        ("tests/test_learners.py::test_anil_adapts_only_the_head_by_sgd",),
        "off by one: ANIL adapts the last hidden block too",
    ),
    Mutant(
        "metasgd_step_size_sign",
        "metareg/learners/metasgd.py",
        (("p - jnp.exp(lr) * g", "p - jnp.exp(-lr) * g"),),
        ("tests/test_learners.py::test_metasgd_with_uniform_step_sizes_equals_maml",),
        "sign error: step size exp(-log_lr)",
    ),
    Mutant(
        "tnet_adapts_its_transforms",
        "metareg/learners/tnet.py",
        (
            (
                "        return not is_transform(name) and super().is_adapted(name, first)",
                "        return super().is_adapted(name, first)",
            ),
        ),
        ("tests/test_learners.py::test_tnet_freezes_transforms_and_adapts_weights_like_maml",),
        "missing mask: T-Net's transforms adapted in the inner loop",
    ),
    # ---- regularizers
    Mutant(
        "trlearner_stop_gradient_dropped",
        "metareg/regularizers/trlearner.py",
        (
            (
                "        if self.stop_gradient:\n            z = jax.lax.stop_gradient(z)\n",
                "        if self.stop_gradient:\n            pass\n",
            ),
        ),
        (IND + "test_relation_weights_are_constants_of_the_meta_gradient_by_default",),
        "dropped stop_gradient: the meta-gradient flows through z into the relation weights",
    ),
    Mutant(
        "trlearner_representation_ignores_the_mask",
        "metareg/regularizers/trlearner.py",
        (
            (
                "[example_mean(g, support_mask), example_mean(yg, support_mask)]",
                "[example_mean(g, None), example_mean(yg, None)]",
            ),
        ),
        (
            "tests/test_masks.py::test_padding_never_changes_the_meta_loss_or_its_gradient[True-MAML]",
        ),
        "missing mask: padded examples in the task representation z",
    ),
    Mutant(
        "example_mean_wrong_axis",
        "metareg/losses.py",
        (("        return jnp.mean(values, axis=0)", "        return jnp.mean(values, axis=-1)"),),
        ("tests/test_trlearner.py::test_consistency_loss_matches_hand_computation_on_three_tasks",),
        "wrong axis: the task representation averages features instead of examples",
    ),
    Mutant(
        "ensemble_nll_averages_logits",
        "metareg/losses.py",
        (
            (
                "    probs = jnp.tensordot(weights, jax.nn.softmax(logits, axis=-1), axes=1)",
                "    probs = jax.nn.softmax(jnp.tensordot(weights, logits, axes=1), axis=-1)",
            ),
        ),
        (
            "tests/test_classification.py::test_trlearner_classification_representation_and"
            "_consistency_loss_by_hand",
        ),
        "TRLearner's classification ensemble averages logits, not probabilities",
    ),
    Mutant(
        "metamix_partners_include_padding",
        "metareg/regularizers/metamix.py",
        (
            (
                "            perm = order[jnp.arange(num_query) % num_real]",
                "            perm = order[jnp.arange(num_query) % num_support]",
            ),
        ),
        ("tests/test_masks.py::test_metamix_partners_are_real_support_points",),
        "missing mask: padded support points as mixing partners",
    ),
    Mutant(
        "metamix_target_mix_reversed",
        "metareg/regularizers/metamix.py",
        (
            (
                "loss(out, lam * y_partner + (1.0 - lam) * y, mask)",
                "loss(out, (1.0 - lam) * y_partner + lam * y, mask)",
            ),
        ),
        (IND + "test_metamix_regression_mixes_hidden_states_and_targets_as_numpy_does",),
        "the regression target mixed with the weights swapped",
    ),
    Mutant(
        "metamix_hidden_mix_reversed",
        "metareg/regularizers/metamix.py",
        (
            (
                "lam * h_b[perm] + (1.0 - lam) * h, h)",
                "(1.0 - lam) * h_b[perm] + lam * h, h)",
            ),
        ),
        (IND + "test_metamix_query_loss_at_a_drawn_key_against_numpy",),
        "the hidden states mixed with the weights swapped (outer loss only)",
    ),
    Mutant(
        "meta_aug_offset_one_sided",
        "metareg/regularizers/meta_aug.py",
        (("minval=-self.offset, maxval=self.offset", "minval=0.0, maxval=self.offset"),),
        (IND + "test_meta_aug_shifts_every_target_of_a_task_by_one_uniform_offset",),
        "Meta-Aug offsets from U(0, 1) instead of U(-1, 1)",
    ),
    Mutant(
        "meta_aug_clean_target_unshifted",
        "metareg/regularizers/meta_aug.py",
        (
            (
                "else episodes.query_y_clean + shift",
                "else episodes.query_y_clean",
            ),
        ),
        (IND + "test_meta_aug_shifts_every_target_of_a_task_by_one_uniform_offset",),
        "the noiseless query targets left unshifted (clean metrics against the wrong function)",
    ),
    Mutant(
        "channel_shuffle_group_boundary_off_by_one",
        "metareg/regularizers/channel_shuffle.py",
        (("(channel < bounds[d.group + 1])", "(channel <= bounds[d.group + 1])"),),
        ("tests/test_channel_shuffle.py::test_swap_by_hand",),
        "off by one: Channel Shuffle swaps the first channel of the next group too",
    ),
    Mutant(
        "mr_maml_scale_exp_not_softplus",
        "metareg/regularizers/mr_maml.py",
        (
            (
                "jax.nn.softplus(r) + self.min_scale",
                "jnp.exp(r) + self.min_scale",
            ),
        ),
        ("tests/test_mr_maml.py::test_kl_matches_the_gaussian_closed_form",),
        "sigma = exp(rho) instead of softplus(rho)",
    ),
    Mutant(
        "trlearner_default_weight",
        "metareg/regularizers/trlearner.py",
        (("    weight: float = 0.6\n", "    weight: float = 0.5\n"),),
        ("tests/test_config.py::test_default_config_is_valid_and_holds_the_documented_defaults",),
        "wrong default: the API's TRLearner lambda differs from the CLI's (0.6)",
    ),
    # ---- task sampling and the adaptive sampler
    Mutant(
        "regression_noise_reuses_the_x_key",
        "metareg/tasks/regression.py",
        (
            (
                "noise = self.noise_std * jax.random.normal(k_n, (num_tasks, n))",
                "noise = self.noise_std * jax.random.normal(k_x, (num_tasks, n))",
            ),
        ),
        (IND + "test_regression_noise_is_independent_of_the_inputs[None]",),
        "swapped key: the target noise drawn from the inputs' key (noise a function of x)",
    ),
    Mutant(
        "regression_pool_noise_named_key_is_pool_x",
        "metareg/tasks/regression.py",
        (('named_key(key, "pool_noise")', 'named_key(key, "pool_x")'),),
        (IND + "test_regression_noise_is_independent_of_the_inputs[20]",),
        "two named keys coincide: the pool's noise and inputs from one draw",
    ),
    Mutant(
        "sampler_gumbel_sign",
        "metareg/samplers/adaptive.py",
        (("top_k(log_probs + gumbel, k)", "top_k(log_probs - gumbel, k)"),),
        (
            "tests/test_adaptive_sampler.py::test_select_tasks_distinct_and_follows_the_probabilities",
        ),
        "sign error: Gumbel top-k with -G (not the Plackett-Luce draw)",
    ),
    Mutant(
        "sampler_temperature_inverted",
        "metareg/samplers/adaptive.py",
        (
            (
                "@ jnp.asarray(weights, dtype=standardized.dtype) / temperature",
                "@ jnp.asarray(weights, dtype=standardized.dtype) * temperature",
            ),
        ),
        (
            "tests/test_adaptive_sampler.py::test_probabilities_closed_form_and_monotone_in_the"
            "_weighted_score",
        ),
        "the sampling temperature multiplies instead of divides",
    ),
    # ---- evaluation and statistics
    Mutant(
        "evaluate_ci_uses_the_seed_t_rule",
        "metareg/evaluate.py",
        (
            (
                "from metareg.confidence import task_ci95\n",
                "from metareg.confidence import seed_ci95, task_ci95\n",
            ),
            (
                "            mean, ci = mean_ci95(values)\n",
                "            mean, ci = float(np.mean(values)), seed_ci95(values)\n",
            ),
        ),
        (
            "tests/test_evaluate.py::test_evaluate_reports_the_normal_ci_and_the_median_over_test"
            "_tasks",
        ),
        "evaluate()'s ci95 over test tasks with the t quantile of the seed CI",
    ),
    Mutant(
        "task_ci_population_sd",
        "metareg/confidence.py",
        (("Z95 * v.std(ddof=1)", "Z95 * v.std()"),),
        ("tests/test_evaluate.py::test_mean_ci95_by_hand",),
        "the CI over test tasks from the population sd (ddof 0)",
    ),
    Mutant(
        "judge_too_few_seeds_dropped",
        "metareg/analysis/stats.py",
        (("    if delta is None or not delta.has_ci:\n", "    if delta is None:\n"),),
        (
            "tests/test_verdicts.py::test_one_shared_seed_is_too_few_and_two_get_the_t_quantile"
            "_at_one_df",
        ),
        'one shared seed judged "inconclusive" instead of "too few seeds"',
    ),
    Mutant(
        "paper_effect_sign",
        "metareg/analysis/stats.py",
        (("self.delta.contains(self.paper_delta)", "self.delta.contains(-self.paper_delta)"),),
        (
            "tests/test_verdicts.py::test_the_papers_effect_inside_and_outside_our_ci_and_the"
            "_baseline_match",
        ),
        "sign error: the paper's effect compared as B - X",
    ),
    # ---- the workdir
    Mutant(
        "workdir_resume_at_the_checkpoint_step_refused",
        "metareg/workdir.py",
        (("and steps < checkpoint_step:", "and steps <= checkpoint_step:"),),
        ("tests/test_workdir.py::test_check_resume_allows_only_the_listed_fields",),
        "off by one: a finished run cannot be resumed with its own num_steps",
    ),
    Mutant(
        "workdir_digest_ignores_file_names",
        "metareg/workdir.py",
        (('            h.update(str(p.relative_to(step_dir)).encode() + b"\\0")\n', ""),),
        ("tests/test_workdir.py::test_checkpoint_digest_by_hand_covers_names_and_bytes",),
        "a checkpoint digest blind to renamed files",
    ),
)


def check_mutants(root: Path, mutants=MUTANTS) -> list[str]:
    """Why each mutant does not apply to the tree at `root` (empty: all apply)."""
    problems, names = [], set()
    for m in mutants:
        if m.name in names:
            problems.append(f"{m.name}: the name is used twice")
        names.add(m.name)
        path = root / m.file
        if not path.is_file():
            problems.append(f"{m.name}: {m.file} does not exist")
            continue
        text = path.read_text()
        for old, new in m.edits:
            n = text.count(old)
            if n != 1:
                where = "not found" if n == 0 else f"found {n} times"
                problems.append(f"{m.name}: in {m.file}, the text {old.strip()[:70]!r} is {where}")
            elif old == new:
                problems.append(f"{m.name}: an edit changes nothing")
        for t in m.tests:
            if not (root / t.split("::")[0]).is_file():
                problems.append(f"{m.name}: test file {t.split('::')[0]} does not exist")
    return problems


def mutate(text: str, m: Mutant) -> str:
    for old, new in m.edits:
        text = text.replace(old, new, 1)
    return text


def scratch_copy(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)


FIRST_FAILURE = re.compile(r"^(FAILED|ERROR) (\S+)")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_pytest(scratch: Path, tests, env: dict, timeout: float):
    """(return code or None on timeout, output, wall seconds, CPU seconds of the child)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-n", "0", "-p", "no:cacheprovider", "-rfE"]
    start, cpu = time.perf_counter(), _children_cpu()
    try:
        r = subprocess.run(
            [*cmd, *tests],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        rc, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        rc = None
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    return rc, out, time.perf_counter() - start, _children_cpu() - cpu


def first_failure(output: str) -> str | None:
    for line in output.splitlines():
        match = FIRST_FAILURE.match(line)
        if match:
            return match.group(2)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated mutant names")
    parser.add_argument("--check", action="store_true", help="only check that every mutant applies")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/mutants.json"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per pytest run")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)

    mutants = MUTANTS
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {m.name for m in MUTANTS})
        if unknown:
            parser.error(f"unknown mutants {unknown}; --list shows them")
        mutants = tuple(m for m in MUTANTS if m.name in wanted)
    if args.list:
        for m in mutants:
            print(f"{m.name}  ({m.file}): {m.bug}\n    " + "\n    ".join(m.tests))
        return 0
    problems = check_mutants(ROOT, mutants)
    if problems:
        print("mutants that no longer apply (update their text to the code):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    if args.check:
        print(f"all {len(mutants)} mutants apply")
        return 0

    t0, cpu0, baseline = time.perf_counter(), _children_cpu(), None
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    scratch = Path(tempfile.mkdtemp(prefix="metareg-mutants-"))
    cache = scratch / ".jax-cache"  # one compilation cache for every run: unmutated programs reuse
    cache.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    env.update(PYTHONPATH=str(scratch / "src"), METAREG_TEST_JAX_CACHE=str(cache))
    results, code = [], 0
    try:
        src = scratch / "src"
        src.mkdir()
        scratch_copy(src)
        probe = subprocess.run(
            [sys.executable, "-c", "import metareg; print(metareg.__file__)"],
            cwd=src,
            env=env,
            capture_output=True,
            text=True,
        )
        if not probe.stdout.strip().startswith(str(src)):
            print(
                f"the scratch copy is not what imports: {probe.stdout}{probe.stderr}",
                file=sys.stderr,
            )
            return 2
        union = list(dict.fromkeys(t for m in mutants for t in m.tests))
        print(f"baseline: {len(union)} test selections on the unmutated copy ...", flush=True)
        # every selection once: as long as all the mutants' runs together, at most
        limit = args.timeout * max(2, len(union))
        rc, out, secs, cpu = run_pytest(src, union, env, limit)
        if rc != 0:
            print(out[-6000:], file=sys.stderr)
            why = f"timed out after {limit:.0f} s" if rc is None else f"pytest exited {rc}"
            print(
                f"the baseline fails ({why}, first failure {first_failure(out)}): fix the tests "
                "before judging mutants",
                file=sys.stderr,
            )
            return 2
        print(f"baseline passed in {secs:.0f} s ({cpu:.0f} s CPU)", flush=True)
        baseline = {"seconds": round(secs, 1), "cpu_seconds": round(cpu, 1)}
        for m in mutants:
            path = src / m.file
            original = path.read_text()
            path.write_text(mutate(original, m))
            try:
                rc, out, secs, cpu = run_pytest(src, list(m.tests), env, args.timeout)
            finally:
                path.write_text(original)
            if rc is None:
                killed_by = f"timeout after {args.timeout:.0f} s"
            elif rc == 0:
                killed_by = "SURVIVED"
            elif rc in (1, 2) and first_failure(out):
                killed_by = first_failure(out)
            else:  # usage error, no tests collected, internal error: not a kill
                print(out[-4000:], file=sys.stderr)
                print(f"{m.name}: pytest exited {rc} without a failing test", file=sys.stderr)
                killed_by = f"RUNNER ERROR (pytest rc {rc})"
            results.append(
                {
                    "mutant": m.name,
                    "file": m.file,
                    "bug": m.bug,
                    "tests": list(m.tests),
                    "killed_by": killed_by,
                    "seconds": round(secs, 1),
                    "cpu_seconds": round(cpu, 1),
                }
            )
            print(f"{m.name:45s} {killed_by}  ({secs:.0f} s, {cpu:.0f} s CPU)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"scratch copy kept in {scratch}")
    total = time.perf_counter() - t0
    survivors = [r["mutant"] for r in results if r["killed_by"] == "SURVIVED"]
    errors = [r["mutant"] for r in results if r["killed_by"].startswith("RUNNER ERROR")]
    summary = {
        "mutants": results,
        "killed": len(results) - len(survivors) - len(errors),
        "survived": survivors,
        "runner_errors": errors,
        "baseline": baseline,
        "total_seconds": round(total, 1),
        "total_cpu_seconds": round(_children_cpu() - cpu0, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        # other processes on the machine inflate the wall times; the CPU seconds do not move much
        "load_average_1min": {
            "start": load0,
            "end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"{summary['killed']}/{len(results)} mutants killed, {len(survivors)} survived "
        f"{survivors if survivors else ''}; {total:.0f} s in all "
        f"({summary['total_cpu_seconds']:.0f} s CPU); {out}"
    )
    if survivors:
        code = 1
    if errors:
        code = 2
    return code


if __name__ == "__main__":
    sys.exit(main())
