"""Cross-task accuracy: each training task's adapted model on the *other* training tasks' queries.

TRLearner's consistency term (methods.md, Eq. 5) scores the models adapted on tasks p != i on task
i's queries against task i's labels. In a non-mutually-exclusive protocol (fixed label slots) those
models never saw task i's support set, so they can be right only by recalling each training
class's slot from the input: the memorization the protocol punishes at test time. The curve's
"training tasks before adaptation" measures that recall in theta itself; this measures it where
Eq. 5 trains it, in the adapted models.

    python -m metareg.analysis.cross_task --runs maml=runs/.../maml/seed_0,trl=runs/.../seed_0 \\
        [--tasks 96] [--seed 0] [--out cross_task.json]
"""

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp

from metareg.analysis.runs import labeled_workdirs
from metareg.metrics import task_metrics


def cross_task_metrics(meta_params, learner, episodes, num_steps: int | None = None) -> dict:
    """{metric: [T, T]} for T episodes: entry [p, i] is the model adapted on task p's support
    (`num_steps` inner steps; None: the training count) scored on task i's queries. The diagonal
    is the usual after-adaptation metric."""
    adapt = lambda sx, sy, sm: learner.adapt(meta_params, sx, sy, num_steps, sm)
    task_params = jax.vmap(adapt)(episodes.support_x, episodes.support_y, episodes.support_mask)

    def score(params_p, episode_i):
        pred = learner.predict(params_p, episode_i.query_x, episode_i.query_mask)
        return task_metrics(learner.loss_name, pred, episode_i)

    on_every_task = jax.vmap(score, in_axes=(None, 0))  # one model, every task's queries
    return jax.vmap(on_every_task, in_axes=(0, None))(task_params, episodes)


def summarize(matrices: dict) -> dict:
    """Means of the diagonal (own task) and of the off-diagonal (other tasks) entries."""
    out = {}
    for name, m in matrices.items():
        t = m.shape[-1]
        eye = jnp.eye(t, dtype=bool)
        out[f"own/{name}"] = float(jnp.mean(m[..., eye]))
        out[f"other/{name}"] = float(jnp.mean(m[..., ~eye]))
    return out


def measure_run(workdir: str | Path, num_tasks: int, seed: int) -> dict:
    """Cross-task summary of a trained run's latest checkpoint on `num_tasks` training tasks,
    drawn in meta-batches from jax.random.key(seed) (the same tasks for every run of one
    config)."""
    from metareg.workdir import restore_run

    config, family, objective, meta_params = restore_run(workdir)
    learner, b = objective.learner, config.meta_batch_size
    key = jax.random.key(seed)
    fn = jax.jit(lambda p, e: cross_task_metrics(p, learner, e))
    batches = [
        summarize(fn(meta_params, family.sample_train(jax.random.fold_in(key, i), b)))
        for i in range(-(-num_tasks // b))
    ]
    return {k: sum(s[k] for s in batches) / len(batches) for k in batches[0]} | {
        "num_tasks": len(batches) * b,
        "meta_batch": b,
        "seed": seed,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", required=True, help="comma-separated LABEL=WORKDIR")
    p.add_argument("--tasks", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    results = {}
    for label, workdir in labeled_workdirs(args.runs).items():
        results[label] = {"workdir": str(workdir)} | measure_run(workdir, args.tasks, args.seed)
        print(label, json.dumps(results[label]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
