"""metareg.analysis.cross_task: entry [p, i] is task p's adapted model on task i's queries."""

from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np

import metareg
from metareg.analysis.cross_task import cross_task_metrics, summarize
from metareg.metrics import task_metrics
from metareg.types import Episode, task

WAYS, T = 3, 4


def _setup():
    k = jax.random.split(jax.random.key(0), 4)
    labels = jnp.broadcast_to(jnp.repeat(jnp.arange(WAYS), 2), (T, 2 * WAYS)).astype(jnp.int32)
    episodes = Episode(
        support_x=jax.random.normal(k[0], (T, 2 * WAYS, 5)),
        support_y=labels,
        query_x=jax.random.normal(k[1], (T, 2 * WAYS, 5)),
        query_y=jax.random.permutation(k[2], labels, axis=1, independent=True),
    )
    learner = metareg.MAML(metareg.mlp((16,), out=WAYS), "cross_entropy", inner_lr=0.5)
    params = metareg.MetaObjective(learner).init(k[3], task(episodes, 0))
    return learner, params, episodes


def test_every_entry_is_the_adapted_model_of_its_row_on_the_queries_of_its_column():
    learner, params, episodes = _setup()
    got = cross_task_metrics(params, learner, episodes)
    for p in range(T):
        ep_p = task(episodes, p)
        phi = learner.adapt(params, ep_p.support_x, ep_p.support_y)
        for i in range(T):
            ep_i = task(episodes, i)
            want = task_metrics("cross_entropy", learner.predict(phi, ep_i.query_x), ep_i)
            np.testing.assert_allclose(got["nll"][p, i], want["nll"], rtol=1e-5)
            np.testing.assert_allclose(got["accuracy"][p, i], want["accuracy"])
    # The adapted models differ, so the rows differ: the test would see a transposed matrix.
    assert not np.allclose(got["nll"], got["nll"].T)


def test_identical_tasks_give_equal_own_and_other_scores():
    learner, params, episodes = _setup()
    same = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a[:1], a.shape), episodes)
    got = cross_task_metrics(params, learner, same)
    chex.assert_trees_all_close(got["nll"], jnp.full((T, T), got["nll"][0, 0]), rtol=1e-5)
    s = summarize(got)
    np.testing.assert_allclose(s["own/nll"], s["other/nll"], rtol=1e-5)


def test_a_runs_item_without_label_names_the_form():
    import pytest

    from metareg.analysis.runs import labeled_workdirs

    assert labeled_workdirs("a=runs/x,b=r=y") == {"a": Path("runs/x"), "b": Path("r=y")}
    with pytest.raises(SystemExit, match="not LABEL=WORKDIR"):
        labeled_workdirs("runs/x")
