"""The non-mutually-exclusive sinusoid of MR-MAML's sinusoid notebook (Yin et al. 2020).

Source: google-research/google-research, meta_learning_without_memorization/sinusoid/MR_MAML.ipynb;
"cell ID, line N" is line N of that code cell's source (docs/sources/mr_maml_sinusoid_notebook.md
gives the whole protocol with its citations).

- Amplitudes `amps = np.linspace(0.1, 4, K_amp)`, K_amp = 20 (cell Df53q7-VwI2P, lines 4, 7).
- A *training* task is one of the first 16: `amp_ind = random.randint(0, K_amp - 5)`, inclusive of
  both ends, so 0..15 (cell fosHnP6GwFZ-, line 15), amplitude `amps[amp_ind]` (line 17), phase 0
  (the constructor's default, line 2; `y = A sin(x - phase) + noise`, line 34). The input is
  `[x, one-hot(amp_ind, K_amp)]` (lines 29-33): 1 + 20 = 21 wide. The code names the training task,
  so a network can solve all 16 without their support sets (non-mutually-exclusive).
- A training episode: K = n_context = 10 support points and n_obs - n_context = 10 query points,
  x ~ U(-5, 5) (x_width = 5), each target with N(0, 0.1^2) noise (cell Df53q7-VwI2P, lines 1-3, 5;
  cell dr1j1BSVL14X, lines 25-28). The 20,000 task objects of `train_ds` (cell Df53q7-VwI2P, lines
  10-12) each draw their index independently and `random.sample` takes 15,000 of them in random
  order: an index drawn uniformly from 0..15 at every step.
- A *test* task (cell KAIcBZspRPEu, lines 3-10): amplitude A ~ U(amps[0], amps[-1]) = U(0.1, 4),
  phase 0, and a code `random.randint(0, K_amp - 5)` drawn independently of A (so the code says
  nothing about the task); 5 support points x ~ U(-5, 5) whose targets get the noise twice
  (cell 4McD728ixTbm, lines 45-46: std 0.1 sqrt 2); 200 query points at
  `np.linspace(-4.5, 4.5, 200)` (`equally_spaced_samples(K=200, width=5)`, cell fosHnP6GwFZ-,
  line 43) with N(0, 0.1^2) noise on the targets (cell 4McD728ixTbm, lines 48-49). The notebook
  reports the noisy-target MSE: `mse_noisy` here; `mse_clean` is beside it.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from metareg.tasks.base import ScalarRegression
from metareg.types import Array, Episode

NAME = "sinusoid_mr_maml"
CODE_WIDTH = 20  # K_amp (cell Df53q7-VwI2P, line 4): the one-hot's width and the amplitude count
NUM_TRAIN_TASKS = CODE_WIDTH - 4  # random.randint(0, K_amp - 5) is inclusive: indices 0..15
AMPLITUDES = np.linspace(0.1, 4.0, CODE_WIDTH).astype(np.float32)  # cell Df53q7-VwI2P, line 7
NUM_SHOTS, NUM_QUERIES = 10, 10  # n_context, n_obs - n_context (cell Df53q7-VwI2P, lines 2-3)
TEST_SHOTS = 5  # n_context = 5 in the test cells (cell KAIcBZspRPEu, line 3)
TEST_POINTS = 200  # equally_spaced_samples(K=200, width=5) (cell 4McD728ixTbm, line 48)
NOISE_STD = 0.1  # noise_scale (cell Df53q7-VwI2P, line 1)
X_RANGE = (-5.0, 5.0)  # x_width = 5 (cell Df53q7-VwI2P, line 5; _sample_x, cell fosHnP6GwFZ-)


@flax.struct.dataclass
class MRMAMLSinusoidFamily(ScalarRegression):
    """The notebook's task family; a pytree (its amplitudes are the only array), so a jit argument.

    Tasks are {"amplitude": [T], "code": int32 [T]} (the one-hot's index); every task's phase is 0.
    Training episodes have num_shots + num_queries points at x ~ U(x_range); test episodes
    test_shots support points (noise added twice) and TEST_POINTS equally spaced query points.
    """

    amplitudes: Array  # [CODE_WIDTH]: amps; training task i is (amps[i], code i), i < 16
    num_shots: int = flax.struct.field(pytree_node=False)
    num_queries: int = flax.struct.field(pytree_node=False)
    test_shots: int = flax.struct.field(pytree_node=False)
    noise_std: float = flax.struct.field(pytree_node=False)
    x_range: tuple[float, float] = flax.struct.field(pytree_node=False)

    name = NAME
    input_width = 1 + CODE_WIDTH
    pool_size = NUM_TRAIN_TASKS  # the 16 training tasks, fixed by the protocol (no seed)

    def train_tasks(self) -> dict[str, Array]:
        """The 16 training tasks: amplitude amps[i] and code i."""
        return {
            "amplitude": self.amplitudes[:NUM_TRAIN_TASKS],
            "code": jnp.arange(NUM_TRAIN_TASKS, dtype=jnp.int32),
        }

    def example_episode(self) -> Episode:
        """A single training episode of the right shapes (zeros), for initializing models."""
        k, q, d = self.num_shots, self.num_queries, self.input_width
        return Episode(jnp.zeros((k, d)), jnp.zeros((k, 1)), jnp.zeros((q, d)), jnp.zeros((q, 1)))

    def inputs(self, code: Array, x: Array) -> Array:
        """[T, n, 21]: x [T, n] with the one-hot of each task's code [T] (cell fosHnP6GwFZ-,
        lines 29-33)."""
        onehot = jax.nn.one_hot(code, CODE_WIDTH)
        return jnp.concatenate(
            [x[..., None], jnp.broadcast_to(onehot[:, None, :], (*x.shape, CODE_WIDTH))], axis=-1
        )

    def functions(self, amplitude: Array, x: Array) -> Array:
        """A sin(x - 0) (cell fosHnP6GwFZ-, line 34, phase 0): amplitude [T], x [T, n] -> [T, n]."""
        return amplitude[:, None] * jnp.sin(x)

    def sample_train(self, key: Array, num_tasks: int) -> Episode:
        """T training episodes: each of the 16 tasks drawn uniformly (with replacement), fresh x
        and noise."""
        k_task, k_x, k_n = jax.random.split(key, 3)
        code = jax.random.randint(k_task, (num_tasks,), 0, NUM_TRAIN_TASKS)
        n = self.num_shots + self.num_queries
        lo, hi = self.x_range
        x = jax.random.uniform(k_x, (num_tasks, n), minval=lo, maxval=hi)
        clean = self.functions(self.amplitudes[code], x)
        y = clean + self.noise_std * jax.random.normal(k_n, (num_tasks, n))
        inputs, k = self.inputs(code, x), self.num_shots
        return Episode(
            support_x=inputs[:, :k],
            support_y=y[:, :k, None],
            query_x=inputs[:, k:],
            query_y=y[:, k:, None],
            query_y_clean=clean[:, k:, None],
        )

    def sample_test(self, key: Array, num_tasks: int) -> Episode:
        """T test episodes: A ~ U(0.1, 4), a code independent of A, test_shots support points with
        the noise twice, TEST_POINTS equally spaced query points with the noise once."""
        k_a, k_code, k_x, k_n1, k_n2, k_nq = jax.random.split(key, 6)
        amplitude = jax.random.uniform(
            k_a, (num_tasks,), minval=self.amplitudes[0], maxval=self.amplitudes[-1]
        )
        code = jax.random.randint(k_code, (num_tasks,), 0, NUM_TRAIN_TASKS)
        lo, hi = self.x_range
        shape = (num_tasks, self.test_shots)
        xs = jax.random.uniform(k_x, shape, minval=lo, maxval=hi)
        # batch(noise_scale) adds the noise once, eval_sinewave_for_test once more
        ys = self.functions(amplitude, xs) + self.noise_std * (
            jax.random.normal(k_n1, shape) + jax.random.normal(k_n2, shape)
        )
        xq = jnp.broadcast_to(self.test_points(), (num_tasks, TEST_POINTS))
        clean = self.functions(amplitude, xq)
        yq = clean + self.noise_std * jax.random.normal(k_nq, xq.shape)
        return Episode(
            support_x=self.inputs(code, xs),
            support_y=ys[..., None],
            query_x=self.inputs(code, xq),
            query_y=yq[..., None],
            query_y_clean=clean[..., None],
        )

    def test_points(self) -> Array:
        """The test query x: np.linspace(-width + 0.5, width - 0.5, 200) (cell fosHnP6GwFZ-,
        line 43)."""
        lo, hi = self.x_range
        return jnp.linspace(lo + 0.5, hi - 0.5, TEST_POINTS)


def sinusoid_mr_maml_family(
    num_shots: int = NUM_SHOTS,
    num_queries: int = NUM_QUERIES,
    test_shots: int | None = None,
    noise_std: float | None = None,
    x_range: tuple[float, float] | None = None,
) -> MRMAMLSinusoidFamily:
    """The notebook's family; None = its values (test_shots 5, noise 0.1, x in [-5, 5]). It has
    no random pool: the 16 training tasks are fixed by the protocol."""
    return MRMAMLSinusoidFamily(
        amplitudes=jnp.asarray(AMPLITUDES),
        num_shots=int(num_shots),
        num_queries=int(num_queries),
        test_shots=TEST_SHOTS if test_shots is None else int(test_shots),
        noise_std=NOISE_STD if noise_std is None else float(noise_std),
        x_range=X_RANGE if x_range is None else tuple(float(v) for v in x_range),
    )
