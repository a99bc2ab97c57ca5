"""Non-meta-learning references for drug activity: per-assay ridge regression, and the support mean.

Both see one task's support set only (no other assay), honour the padding masks, and are closed
forms in JAX, so a whole meta-test set is one `vmap`.

Ridge (with an unpenalized intercept): centre x and y on the masked support means, then solve in the
dual, because an assay has K <= a few hundred support compounds and D = 1024 or 2048 features:

    alpha = (Xc Xc^T + lam I)^-1 yc,   w = Xc^T alpha,   pred = mean(y) + (x_query - mean(x)) w

Padded support rows are zeroed after centring, so they add a decoupled lam * I block whose alpha is
0: they change no prediction (up to float32 rounding of the larger matrix decomposition, tested).

lam: a float (fixed) or None (default): chosen per assay by leave-one-out on the support over the
grid RIDGE_LAMBDAS, with the closed-form LOO residual alpha_i / [(G + lam I)^-1]_ii of kernel ridge
regression (one eigendecomposition of the Gram matrix G serves every lam). The centring is not
refitted per fold, the usual approximation; ties go to the smallest lam. With fewer than 2 real
support points the prediction is the support mean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metareg.types import Array, Episode

# Half-decades around the scale of the data: a binary Morgan fingerprint of a drug-like compound
# sets about 50 of 2048 bits (the diagonal of G), so lam = 1 .. 100 is weak .. strong shrinkage.
RIDGE_LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def _column(a: Array) -> tuple[Array, bool]:
    """[K] or [K, 1] -> ([K], whether it had the trailing axis)."""
    a = jnp.asarray(a, jnp.float32)
    return (a[:, 0], True) if a.ndim == 2 else (a, False)


def _centred(support_x, support_y, support_mask):
    y, _ = _column(support_y)
    x = jnp.asarray(support_x, jnp.float32)
    m = jnp.ones_like(y) if support_mask is None else jnp.asarray(support_mask, jnp.float32)
    n = m.sum()
    x_mean = (m[:, None] * x).sum(0) / jnp.maximum(n, 1.0)
    y_mean = (m * y).sum() / jnp.maximum(n, 1.0)
    xc = (x - x_mean) * m[:, None]  # padding rows -> exactly 0
    yc = (y - y_mean) * m
    return xc, yc, x_mean, y_mean, m, n


def ridge_lambda_loo(
    gram: Array, yc: Array, mask: Array, lambdas=RIDGE_LAMBDAS
) -> tuple[Array, Array]:
    """(chosen lam, LOO mean squared error per lam [L]) for centred targets yc [K] and Gram matrix
    [K, K]."""
    evals, evecs = jnp.linalg.eigh(gram)
    evals = jnp.maximum(
        evals, 0.0
    )  # G is PSD; rounding can make its null eigenvalues slightly negative
    proj = evecs.T @ yc

    def loo(lam):
        inv = 1.0 / (evals + lam)
        alpha = evecs @ (inv * proj)
        diag = (evecs * evecs) @ inv  # diag of (G + lam I)^-1
        res = alpha / diag
        return (mask * res * res).sum() / jnp.maximum(mask.sum(), 1.0)

    lam_grid = jnp.asarray(lambdas, jnp.float32)
    errors = jax.vmap(loo)(lam_grid)
    return lam_grid[jnp.argmin(errors)], errors


def ridge_predict(
    support_x: Array,
    support_y: Array,
    query_x: Array,
    support_mask: Array | None = None,
    lam: float | None = None,
    lambdas=RIDGE_LAMBDAS,
) -> Array:
    """Ridge regression fitted on one task's real support points, predicted at its query points.

    support_x [K, D], support_y [K] or [K, 1], query_x [Q, D], support_mask [K] (None: all real).
    lam: fixed strength, or None for leave-one-out over `lambdas`. Returns predictions shaped like
    support_y's layout: [Q] or [Q, 1]. Padded query rows get finite predictions (score them with the
    mask).
    """
    xc, yc, x_mean, y_mean, m, n = _centred(support_x, support_y, support_mask)
    _, keep_axis = _column(support_y)
    gram = xc @ xc.T
    if lam is None:
        lam_value, _ = ridge_lambda_loo(gram, yc, m, lambdas)
    else:
        lam_value = jnp.asarray(lam, jnp.float32)
    k = gram.shape[0]
    chol = jax.scipy.linalg.cho_factor(gram + lam_value * jnp.eye(k, dtype=gram.dtype), lower=True)
    alpha = jax.scipy.linalg.cho_solve(chol, yc)
    w = xc.T @ alpha
    pred = y_mean + (jnp.asarray(query_x, jnp.float32) - x_mean) @ w
    pred = jnp.where(n >= 2, pred, y_mean)  # one support point: no slope to fit
    return pred[:, None] if keep_axis else pred


def support_mean_predict(
    support_y: Array, query_x: Array, support_mask: Array | None = None
) -> Array:
    """The floor: every query point gets the mean of the real support targets. [Q] or [Q, 1] like
    support_y.

    Its R^2 is 0 by definition (constant predictions); its MSE is the reference for ridge's MSE.
    """
    y, keep_axis = _column(support_y)
    m = jnp.ones_like(y) if support_mask is None else jnp.asarray(support_mask, jnp.float32)
    pred = jnp.full((query_x.shape[0],), (m * y).sum() / jnp.maximum(m.sum(), 1.0))
    return pred[:, None] if keep_axis else pred


@jax.jit
def ridge_episodes(episodes: Episode, lam: Array | None = None) -> Array:
    """Ridge predictions for a batched Episode: [T, Q] or [T, Q, 1] like query_y (LOO lam when lam
    is None)."""
    masks = (
        episodes.support_mask
        if episodes.support_mask is not None
        else jnp.ones(episodes.support_x.shape[:2])
    )
    fit = lambda sx, sy, qx, sm: ridge_predict(sx, sy, qx, sm, lam)
    return jax.vmap(fit)(episodes.support_x, episodes.support_y, episodes.query_x, masks)


@jax.jit
def support_mean_episodes(episodes: Episode) -> Array:
    """Support-mean predictions for a batched Episode, shaped like query_y."""
    masks = (
        episodes.support_mask
        if episodes.support_mask is not None
        else jnp.ones(episodes.support_x.shape[:2])
    )
    return jax.vmap(support_mean_predict)(episodes.support_y, episodes.query_x, masks)
