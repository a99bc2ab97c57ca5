"""Exact TRLearner in bounded memory: Eq. 5 computed a few tasks' query sets at a time (each chunk
rematerialized under the outer gradient) gives the unchunked loss and meta-gradient, and the chunk
size chosen from the shapes."""

import chex
import jax
import jax.numpy as jnp
import pytest

import metareg
from metareg.models import conv4
from metareg.types import Episode, task
from tests.conftest import random_episodes


def _value_and_grad(learner, reg, episodes, key=1):
    params = metareg.MetaObjective(learner, (reg,)).init(jax.random.key(key), task(episodes, 0))

    def f(p):
        phi = jax.vmap(learner.adapt, in_axes=(None, 0, 0))(
            p, episodes.support_x, episodes.support_y
        )
        return reg.penalty(p, learner, episodes, phi)[0]

    return jax.value_and_grad(f)(params)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_eq5_equals_the_unchunked_loss_and_meta_gradient_regression(chunk):
    learner = metareg.MAML(metareg.mlp((8, 8)), inner_lr=0.05)
    episodes = random_episodes(jax.random.key(2), num_tasks=6, d=1)
    whole = _value_and_grad(learner, metareg.TRLearner(query_chunk=0), episodes)
    chunked = _value_and_grad(learner, metareg.TRLearner(query_chunk=chunk), episodes)
    chex.assert_trees_all_close(whole, chunked, rtol=1e-5, atol=1e-6)


def test_chunked_eq5_equals_the_unchunked_on_a_conv_classifier_with_batchnorm():
    ways, t = 3, 4
    ks = jax.random.split(jax.random.key(3), 2)
    labels = jnp.broadcast_to(jnp.repeat(jnp.arange(ways), 2), (t, ways * 2)).astype(jnp.int32)
    episodes = Episode(
        support_x=jax.random.uniform(ks[0], (t, ways * 2, 12, 12, 1)),
        support_y=labels,
        query_x=jax.random.uniform(ks[1], (t, ways * 2, 12, 12, 1)),
        query_y=labels,
    )
    model = conv4(ways, width=4, pool="stride", readout="mean", conv_impl="im2col")
    learner = metareg.MAML(model, "cross_entropy", inner_lr=0.4)
    whole = _value_and_grad(learner, metareg.TRLearner(query_chunk=0), episodes)
    chunked = _value_and_grad(learner, metareg.TRLearner(query_chunk=1), episodes)
    chex.assert_trees_all_close(whole, chunked, rtol=1e-4, atol=1e-6)


def test_chunk_size_from_the_shapes():
    tr = metareg.TRLearner()
    # the sinusoid (T=25, K=5, Q=10, x of width 1): 6,250 query inputs, no chunking
    assert tr.chunk_size(25, (5, 1), (10, 1)) == 25
    # Omniglot 20-way 1-shot, T=16: 16*16*20*784 inputs > 2^20: chunks of b with b*20 <= 20+20,
    # b = 2 (a divisor of 16)
    assert tr.chunk_size(16, (20, 28, 28, 1), (20, 28, 28, 1)) == 2
    # 5-shot (K = 100, Q = 100), T = 6: b <= 2, divisor of 6
    assert tr.chunk_size(6, (100, 28, 28, 1), (100, 28, 28, 1)) == 2
    # an explicit size is rounded down to a divisor of T; 0 means no chunks
    assert metareg.TRLearner(query_chunk=5).chunk_size(16, (20, 1), (20, 1)) == 4
    assert metareg.TRLearner(query_chunk=0).chunk_size(16, (20, 28, 28, 1), (20, 28, 28, 1)) == 16
    with pytest.raises(ValueError, match="query_chunk must be None"):
        metareg.TRLearner(query_chunk=-1)
