"""Conv4 and its convolutions: im2col against lax.conv (values and derivatives, to second-order MAML
meta-gradients), max-pool against nn.max_pool, block-wise runs, normalization, T-Net transforms."""

from __future__ import annotations

import contextlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metareg.assemble import validate_config
from metareg.config import ConfigError, default_config
from metareg.learners import MAML, TNet
from metareg.losses import cross_entropy
from metareg.meta_step import MetaObjective, meta_loss
from metareg.models import MODELS, conv4, make_model
from metareg.models.conv import (
    ConvBlock,
    conv2d_im2col,
    conv2d_lax,
    max_pool_2x2,
    resolve_conv_impl,
    same_padding,
)
from metareg.models.norm import normalize
from metareg.regularizers import MRMAML
from metareg.types import Episode

WAYS, SHOTS, QUERIES, TASKS, WIDTH = 5, 1, 2, 2, 8


@contextlib.contextmanager
def float64():
    """Double precision inside the block only (conftest keeps it off for every other test)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def cast(tree, dtype):
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree
    )


def image_episodes(key, num_tasks=TASKS, size=28, dtype=jnp.float32) -> Episode:
    """Random 5-way 1-shot episodes of size x size grey images, labels
    label-major like Omniglot's."""
    ks, kq = jax.random.split(key)
    labels = jnp.arange(WAYS, dtype=jnp.int32)
    return Episode(
        support_x=jax.random.uniform(ks, (num_tasks, WAYS * SHOTS, size, size, 1), dtype),
        support_y=jnp.broadcast_to(jnp.repeat(labels, SHOTS), (num_tasks, WAYS * SHOTS)),
        query_x=jax.random.uniform(kq, (num_tasks, WAYS * QUERIES, size, size, 1), dtype),
        query_y=jnp.broadcast_to(jnp.repeat(labels, QUERIES), (num_tasks, WAYS * QUERIES)),
    )


def assert_close(a, b, rtol, atol):
    jax.tree_util.tree_map(
        lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol),
        a,
        b,
    )


# -------------------------------------------------------------------------------------- convolution


@pytest.mark.parametrize("size", [8, 7, 28, 1])
@pytest.mark.parametrize("stride", [1, 2])
def test_same_padding_matches_lax(size, stride):
    lo, hi, out = same_padding(size, 3, stride)
    assert [(lo, hi)] == jax.lax.padtype_to_pads((size,), (3,), (stride,), "SAME")
    assert out == -(-size // stride)


def _conv_value_and_vjp(conv, x, kernel, stride, cotangent):
    """(y, dL/dx, dL/dkernel) for L = <cotangent, conv(x, kernel)>, jitted (one
    compile, not op by op)."""

    @jax.jit
    def run(x, kernel, cotangent):
        y, vjp = jax.vjp(lambda x, k: conv(x, k, stride), x, kernel)
        return (y, *vjp(cotangent))

    return run(x, kernel, cotangent)


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("cin", [1, 3])
def test_im2col_equals_lax_conv_float64(size, stride, cin):
    """Forward and gradients w.r.t. input and kernel agree to rounding in double precision."""
    with float64():
        kx, kk, kc = jax.random.split(jax.random.key(0), 3)
        x = jax.random.normal(kx, (2, size, size + 1, cin), jnp.float64)
        kernel = jax.random.normal(kk, (3, 3, cin, 4), jnp.float64)
        out = (2, -(-size // stride), -(-(size + 1) // stride), 4)
        cot = jax.random.normal(kc, out, jnp.float64)
        ours = _conv_value_and_vjp(conv2d_im2col, x, kernel, stride, cot)
        ref = _conv_value_and_vjp(conv2d_lax, x, kernel, stride, cot)
        assert ours[0].shape == out and ours[0].dtype == jnp.float64
        assert_close(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride", [1, 2])
def test_im2col_equals_lax_conv_float32(stride):
    kx, kk, kc = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(kx, (3, 14, 14, WIDTH))
    kernel = jax.random.normal(kk, (3, 3, WIDTH, WIDTH)) / 8.0
    cot = jax.random.normal(kc, (3, 14 // stride, 14 // stride, WIDTH))
    ours = _conv_value_and_vjp(conv2d_im2col, x, kernel, stride, cot)
    ref = _conv_value_and_vjp(conv2d_lax, x, kernel, stride, cot)
    for a, b in zip(
        ours, ref, strict=True
    ):  # float32 rounding, relative to each array's scale (sums of ~100 terms)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(b))))


def test_auto_conv_impl_is_im2col_on_cpu():
    """ "auto" follows the default backend; on CPU the traced model holds no convolution at all."""
    expected = "im2col" if jax.default_backend() == "cpu" else "lax"
    assert resolve_conv_impl("auto") == expected
    model = conv4(WAYS, width=WIDTH)
    x = jnp.zeros((4, 28, 28, 1))
    params = model.init(jax.random.key(0), x)
    jaxpr = str(jax.make_jaxpr(model.apply)(params, x))
    assert ("conv_general_dilated" in jaxpr) == (expected == "lax")
    with pytest.raises(ValueError, match="conv_impl"):
        resolve_conv_impl("fft")


# ----------------------------------------------------------------------------------------- max-pool


@pytest.mark.parametrize("shape", [(2, 28, 28, 3), (2, 7, 7, 3), (1, 5, 6, 2), (1, 1, 3, 1)])
def test_max_pool_equals_nn_max_pool(shape):
    """Values and gradients equal nn.max_pool with SAME padding, odd sizes included
    (random data: no ties)."""
    x = jax.random.normal(jax.random.key(2), shape)
    ref_fn = lambda x: nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    ours, ref = max_pool_2x2(x), ref_fn(x)
    assert ours.shape == ref.shape == (shape[0], -(-shape[1] // 2), -(-shape[2] // 2), shape[3])
    np.testing.assert_array_equal(ours, ref)
    cot = jax.random.normal(jax.random.key(3), ref.shape)
    g_ours = jax.vjp(max_pool_2x2, x)[1](cot)[0]
    g_ref = jax.vjp(ref_fn, x)[1](cot)[0]
    np.testing.assert_array_equal(g_ours, g_ref)


# ---------------------------------------------------------------------------------------- the model


@pytest.mark.parametrize("norm", ["transductive", "layer"])
@pytest.mark.parametrize("masked", [False, True])
def test_normalize_with_scale_and_shift_is_the_affine_of_normalize(norm, masked):
    """normalize(x, ..., scale, shift) (computed as x * a + b) equals
    normalize(x) * scale + shift."""
    with float64():
        kx, ks, kb = jax.random.split(jax.random.key(30), 3)
        x = 3.0 + jax.random.normal(kx, (5, 4, 3, 6), jnp.float64)
        scale, shift = (
            jax.random.normal(ks, (6,), jnp.float64),
            jax.random.normal(kb, (6,), jnp.float64),
        )
        mask = jnp.array([1, 1, 0, 1, 0]) if masked else None
        ours = normalize(x, norm, 1e-5, mask, scale, shift)
        np.testing.assert_allclose(
            ours, normalize(x, norm, 1e-5, mask) * scale + shift, rtol=1e-12, atol=1e-12
        )


def test_transductive_conv_block_equals_the_unfused_reference_float64():
    """ConvBlock with transductive norm (bias not added, normalization as one multiply-add, 2-D
    im2col matmul) against lax.conv + bias + (x - mean) * rsqrt(var + eps) * scale + shift + ReLU,
    in double precision: values, first derivatives and second derivatives (what second-order MAML
    differentiates)."""
    with float64():
        kx, kp, kc = jax.random.split(jax.random.key(31), 3)
        x = jax.random.normal(kx, (6, 9, 9, 3), jnp.float64)
        block = ConvBlock(5, conv_impl="im2col", norm="transductive", pool="stride")
        params = cast(block.init(kp, x), jnp.float64)
        keys = iter(jax.random.split(kc, 8))
        params = jax.tree_util.tree_map(
            lambda a: a + 0.3 * jax.random.normal(next(keys), a.shape, a.dtype), params
        )  # bias != 0
        cot = jax.random.normal(next(keys), (6, 5, 5, 5), jnp.float64)

        def reference(p, x):
            p = p["params"]
            y = conv2d_lax(x, p["kernel"], 2) + p["bias"]
            mean = jnp.mean(y, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(y - mean), axis=(0, 1, 2))
            return nn.relu((y - mean) / jnp.sqrt(var + 1e-5) * p["norm_scale"] + p["norm_bias"])

        for fn in (block.apply, reference):
            assert fn(params, x).shape == cot.shape
        first = lambda fn: lambda p, x: jnp.sum(fn(p, x) * cot)
        # a second-order term like MAML's: the gradient of a function of the gradient
        second = lambda fn: (
            lambda p, x: sum(
                jnp.sum(jnp.sin(g)) for g in jax.tree_util.tree_leaves(jax.grad(first(fn))(p, x))
            )
        )
        for make in (
            lambda fn: fn,
            lambda fn: jax.grad(first(fn), argnums=(0, 1)),
            lambda fn: jax.grad(second(fn), argnums=(0, 1)),
        ):
            assert_close(
                jax.jit(make(block.apply))(params, x),
                jax.jit(make(reference))(params, x),
                rtol=1e-9,
                atol=1e-9,
            )
        g = jax.grad(first(block.apply))(params, x)["params"]
        assert (
            float(jnp.max(jnp.abs(g["bias"]))) == 0.0
        )  # not added: exactly zero, not rounding noise


@pytest.mark.parametrize("pool", ["max", "stride"])
def test_conv4_shapes_28_to_2x2x64(pool):
    model = conv4(20, pool=pool, readout="flatten")
    x = jnp.zeros((3, 28, 28, 1))
    params = model.init(jax.random.key(0), x)
    assert model.num_blocks == 5 and model.head_name == "blocks_4"
    assert [model.apply(params, x, 0, k).shape for k in range(1, 4)] == [
        (3, 14, 14, 64),
        (3, 7, 7, 64),
        (3, 4, 4, 64),
    ]
    assert model.features(params, x).shape == (3, 2 * 2 * 64)  # 2x2x64 maps, flattened
    assert model.apply(params, x).shape == (3, 20)
    assert params["blocks_0"]["kernel"].shape == (3, 3, 1, 64) and params["blocks_4"][
        "kernel"
    ].shape == (256, 20)


def test_conv4_defaults_to_the_fast_maml_omniglot_net():
    """conv4() builds MAML's Omniglot net (stride-2 convs, spatial mean: 64 features), not the
    max-pool net whose step costs 6x more on a CPU (metareg/models/conv.py)."""
    model = conv4(20)
    x = jnp.zeros((3, 28, 28, 1))
    params = model.init(jax.random.key(0), x)
    assert model.features(params, x).shape == (3, 64)
    assert params["blocks_4"]["kernel"].shape == (64, 20)


def test_conv4_mean_readout_and_no_pool():
    """MetaMix's Omniglot net: stride-1 convs without pooling, spatial-mean readout."""
    model = conv4(WAYS, width=WIDTH, pool="none", readout="mean")
    x = jnp.zeros((2, 28, 28, 1))
    params = model.init(jax.random.key(0), x)
    assert model.apply(params, x, 0, 3).shape == (2, 28, 28, WIDTH)
    assert model.features(params, x).shape == (2, WIDTH)
    assert model.apply(params, x).shape == (2, WAYS)


@pytest.mark.parametrize("pool", ["max", "stride"])
def test_blockwise_apply_equals_full(pool):
    """Blocks 0..k then k..end give the full output, for every boundary k (MetaMix mixes there)."""
    model = conv4(WAYS, width=WIDTH, pool=pool)
    x = jax.random.uniform(jax.random.key(4), (6, 28, 28, 1))
    params = model.init(jax.random.key(5), x)
    full = model.apply(params, x)
    for k in range(model.num_blocks + 1):
        np.testing.assert_allclose(
            model.apply(params, model.apply(params, x, 0, k), k, None), full, rtol=1e-6, atol=1e-6
        )


@pytest.mark.parametrize("norm", ["transductive", "layer", "none"])
def test_only_transductive_norm_depends_on_the_batch(norm):
    model = conv4(WAYS, width=WIDTH, norm=norm)
    x = jax.random.uniform(jax.random.key(6), (6, 28, 28, 1))
    params = model.init(jax.random.key(7), x)
    assert ("norm_scale" in params["blocks_0"]) == (norm != "none")
    whole, part = model.apply(params, x)[:3], model.apply(params, x[:3])
    if norm == "transductive":
        assert not np.allclose(whole, part, atol=1e-3)
    else:
        np.testing.assert_allclose(whole, part, rtol=1e-5, atol=1e-5)


def test_tnet_identity_transforms_change_nothing():
    plain, tnet = conv4(WAYS, width=WIDTH), conv4(WAYS, width=WIDTH, transforms=True)
    x = jax.random.uniform(jax.random.key(8), (4, 28, 28, 1))
    p_tnet = tnet.init(jax.random.key(9), x)
    assert sorted(k for k in p_tnet if k.startswith("transform_")) == [
        f"transform_{i}" for i in range(5)
    ]
    assert p_tnet["transform_0"].shape == (WIDTH, WIDTH) and p_tnet["transform_4"].shape == (
        WAYS,
        WAYS,
    )
    p_plain = {k: v for k, v in p_tnet.items() if k.startswith("blocks_")}
    np.testing.assert_allclose(tnet.apply(p_tnet, x), plain.apply(p_plain, x), rtol=1e-6, atol=1e-6)
    # The T-Net learner adapts the weights and keeps the transforms.
    ep = jax.tree_util.tree_map(lambda a: a[0], image_episodes(jax.random.key(10), num_tasks=1))
    phi = TNet(tnet, "cross_entropy", inner_lr=0.4).adapt(
        {"model": p_tnet, "learner": {}}, ep.support_x, ep.support_y
    )
    np.testing.assert_array_equal(phi["transform_2"], p_tnet["transform_2"])
    assert not np.allclose(phi["blocks_2"]["kernel"], p_tnet["blocks_2"]["kernel"])


def test_mr_maml_finds_the_conv_kernels():
    model = conv4(WAYS, width=WIDTH)
    params = model.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
    paths = MRMAML().stochastic_paths(MAML(model, "cross_entropy"), params)
    assert paths == [(f"blocks_{i}", "kernel") for i in range(4)]


# ---------------------------------------------------------------------------------- MAML through it


def _objective(conv_impl, **kw):
    return MetaObjective(
        MAML(
            conv4(WAYS, width=WIDTH, conv_impl=conv_impl, **kw),
            "cross_entropy",
            inner_lr=0.4,
            num_steps=1,
        )
    )


def test_second_order_maml_meta_gradient_im2col_equals_lax_float64():
    """The whole outer gradient (vmap over tasks, one differentiated inner step)
    agrees in double precision."""
    with float64():
        episodes = cast(image_episodes(jax.random.key(11), size=14), jnp.float64)
        im2col, lax_obj = _objective("im2col"), _objective("lax")
        theta = cast(
            im2col.init(jax.random.key(12), jax.tree_util.tree_map(lambda a: a[0], episodes)),
            jnp.float64,
        )
        key = jax.random.key(13)
        grad = lambda obj: jax.jit(jax.grad(meta_loss, has_aux=True), static_argnums=3)(
            theta, episodes, key, obj
        )[0]
        g_ours, g_ref = grad(im2col), grad(lax_obj)
        assert jax.tree_util.tree_leaves(g_ours)[0].dtype == jnp.float64
        assert_close(g_ours, g_ref, rtol=1e-9, atol=1e-10)
        # not trivially zero (the conv biases are: transductive normalization subtracts them out)
        assert all(float(jnp.max(jnp.abs(g["kernel"]))) > 1e-3 for g in g_ours["model"].values())


@pytest.mark.parametrize("conv_impl,dtype", [("im2col", jnp.float32), ("lax", jnp.float64)])
def test_vmap_over_tasks_equals_a_loop(conv_impl, dtype):
    """meta_loss's vmap over tasks (per-task weights: batched matmuls or grouped convs) equals
    adapting and differentiating task by task without vmap, all jitted. Odd 7x7 maps (the max-pool
    pads them) behind transductive normalization, in float32 for the CPU path: this caught an
    XLA:CPU miscompile of a reshape + max pool under jit(vmap) (see metareg.models.conv). "lax" is
    checked in float64: in float32 XLA:CPU's YNNPACK reduce fusions put ~1e-3 relative errors into
    its grouped-conv meta-gradient."""
    ctx = float64() if dtype == jnp.float64 else contextlib.nullcontext()
    with ctx:
        obj = _objective(conv_impl, pool="max")
        learner = obj.learner
        episodes = cast(image_episodes(jax.random.key(14), num_tasks=TASKS, size=14), dtype)
        theta = cast(
            obj.init(jax.random.key(15), jax.tree_util.tree_map(lambda a: a[0], episodes)), dtype
        )

        def task_loss(theta, sx, sy, qx, qy):
            return cross_entropy(learner.predict(learner.adapt(theta, sx, sy), qx), qy)

        single_grad = jax.jit(jax.grad(task_loss))
        ex = episodes
        g_loop = [
            single_grad(theta, ex.support_x[t], ex.support_y[t], ex.query_x[t], ex.query_y[t])
            for t in range(TASKS)
        ]
        g_mean = jax.tree_util.tree_map(lambda *g: sum(g) / TASKS, *g_loop)
        g_vmap = jax.jit(jax.grad(meta_loss, has_aux=True), static_argnums=3)(
            theta, episodes, jax.random.key(16), obj
        )[0]
        # relative to each array's scale; the conv biases' gradients are rounding noise around 0
        # (the normalization subtracts the bias out), so they are held to the absolute scale of the
        # kernels'
        for name, g in g_vmap["model"].items():
            for leaf, value in g.items():
                ref = g_mean["model"][name][leaf]
                scale = float(jnp.max(jnp.abs(g_mean["model"][name]["kernel"])))
                np.testing.assert_allclose(
                    value, ref, rtol=0, atol=2e-5 * scale, err_msg=f"{name}/{leaf}"
                )


def test_im2col_meta_gradient_has_no_conv_and_no_windowed_ops():
    """The structural reason for im2col + reshape max-pool: the vmapped second-order meta-gradient
    is slices, pads, dots and elementwise ops only (no grouped convs, no select_and_scatter)."""
    obj = _objective("im2col")
    episodes = image_episodes(jax.random.key(17), size=14)
    theta = obj.init(jax.random.key(18), jax.tree_util.tree_map(lambda a: a[0], episodes))
    jaxpr = str(
        jax.make_jaxpr(
            lambda t: jax.grad(meta_loss, has_aux=True)(t, episodes, jax.random.key(0), obj)
        )(theta)
    )
    for op in ("conv_general_dilated", "reduce_window", "select_and_scatter", "select_and_gather"):
        assert op not in jaxpr, op


# ------------------------------------------------------------------------------ registry and config


def test_make_model_builds_conv4_from_the_config():
    c = default_config()
    c.model.name = "conv4"
    c.model.width = WIDTH
    c.model.pool = "stride"
    c.model.readout = "mean"
    model = make_model(c, WAYS)
    assert "conv4" in MODELS and model.num_blocks == 5
    m = model.module
    assert (m.width, m.pool, m.readout, m.norm, m.conv_impl, m.transforms) == (
        WIDTH,
        "stride",
        "mean",
        "transductive",
        "auto",
        False,
    )
    c.learner.name = "tnet"
    assert make_model(c, WAYS).module.transforms


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("conv_impl", "fft", "model.conv_impl"),
        ("norm", "batch", "model.norm"),
        ("pool", "avg", "model.pool"),
        ("readout", "max", "model.readout"),
        ("width", 0, "model.width"),
    ],
)
def test_config_rejects_bad_conv4_fields(field, value, match):
    c = default_config()
    c.task.name, c.eval.metric = "omniglot", "accuracy"
    c.model.name = "conv4"
    c.model[field] = value
    with pytest.raises(ConfigError, match=match):
        validate_config(c)


def test_config_rejects_conv4_on_regression_tasks():
    c = default_config()
    c.model.name = "conv4"
    with pytest.raises(ConfigError, match=r"task.name = .sinusoid. needs model.name in \[.mlp.\]"):
        validate_config(c)


def test_pytorch_init_draws_every_conv_and_head_parameter_from_its_fan_in():
    """model.conv_init="pytorch": U(+-1/sqrt(fan_in)) for conv kernels and biases (fan_in = 9 C_in)
    and for the head's kernel and bias (fan_in = the readout's width), as PyTorch's Conv2d and
    Linear defaults (the MetaMix reference's network); the default stays Glorot / zero."""

    model = conv4(20, width=32, pool="none", readout="mean", conv_impl="im2col", init="pytorch")
    params = model.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
    for i, c_in in enumerate((1, 32, 32, 32)):
        bound = 1 / np.sqrt(9 * c_in)
        for name in ("kernel", "bias"):
            w = np.asarray(params[f"blocks_{i}"][name])
            assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
            assert abs(w.std() - bound / np.sqrt(3)) < 0.2 * bound  # uniform's std
    head = params["blocks_4"]
    for name, near in (("kernel", 0.95), ("bias", 0.5)):  # 640 and 20 draws
        w = np.asarray(head[name])
        assert np.abs(w).max() <= 1 / np.sqrt(32) and np.abs(w).max() > near / np.sqrt(32)
    glorot = conv4(20, width=32, pool="none", readout="mean", conv_impl="im2col")
    default = glorot.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
    assert not np.asarray(default["blocks_0"]["bias"]).any()
    assert not np.asarray(default["blocks_4"]["bias"]).any()
