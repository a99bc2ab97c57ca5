"""Conv4, the few-shot image backbone, as a sequence of blocks; and a convolution that stays fast under vmap on CPU.

Architecture (Vinyals et al. 2016; Finn et al. 2017): `depth` conv blocks of
[3x3 conv (SAME), `width` filters -> normalization -> ReLU -> 2x2 max-pool], then a head block
Dense(num_outputs). Block i's parameters live under `params["blocks_{i}"]` ({kernel, bias, norm_scale,
norm_bias}), the head's under `params["blocks_{depth}"]` ({kernel, bias}). The last conv block ends with the
readout, so `BlockModel.features` is a 2-D [B, F] array as TRLearner and ANIL expect:
"flatten" (F = 2*2*width at 28x28) or "mean" (spatial mean, F = width).

Shapes (Omniglot, max-pool): x [B, 28, 28, 1] -> [B, 14, 14, w] -> [B, 7, 7, w] -> [B, 4, 4, w]
-> [B, 2, 2, w] -> flatten [B, 4w] -> head [B, num_outputs]. Odd sizes are pooled with SAME padding
(7 -> 4), see `max_pool_2x2`.

Down-sampling (`pool`), since the references differ:
  * "max": stride-1 conv + 2x2 max-pool (Vinyals et al.; MAML's miniImageNet net; ProtoNet's Conv4).
  * "stride": stride-2 conv, no pool (MAML's Omniglot net, learn2learn's OmniglotCNN; both read out with
    the spatial mean). Same feature sizes, 28 -> 14 -> 7 -> 4 -> 2.
  * "none": stride-1 conv, no pool (what MetaMix's Omniglot code runs: its functional forward omits the
    pool of its nn.Sequential; it reads out with the spatial mean). Use with readout="mean".

Normalization (`norm`); all options are stateless, the parameters being a per-channel scale and bias:
  * "transductive" (default): BatchNorm with the statistics of the batch being passed, at train and at
    test time, and no running averages. Under MAML's vmap over tasks "the batch" is one task's support
    set (inner loop) or query set (outer loss, evaluation), so query predictions depend on the other
    query examples of the task. This is what the reference code of every baseline does (methods.md).
  * "layer": per-example normalization over (H, W, C) (layer norm), then the per-channel scale/bias.
    Not transductive: an example's output does not depend on the rest of the batch.
  * "none": no normalization (the conv bias is then the only shift).
  eps = 1e-5 (PyTorch's default, as in MetaMix's code; learn2learn and MAML's TF code use 1e-3).
  With "transductive" the conv bias is not added: the normalization subtracts every per-channel
  constant out, so the output is the same and the bias's gradient is exactly zero (it was rounding
  noise around zero), and one full-size elementwise pass is saved. The parameter stays, so parameter
  trees and checkpoints do not change. The normalization and its scale/shift are one multiply-add
  (`metareg.models.norm.normalize` with scale and shift), which saves more full-size temporaries.
  Why no running-average BatchNorm: its averages are mutable state that every forward pass updates.
  The inner loop is a pure function of (theta, support set) vmapped over tasks; per-task running
  statistics would have to be threaded through the scan, merged across the T tasks and the outer
  update, and chosen between at test time; none of the references does this (they all use batch
  statistics), so we offer the two stateless alternatives above instead.

Convolution (`conv_impl`):
  * "lax": `lax.conv_general_dilated`. Under vmap over tasks with per-task weights (MAML's adapted
    parameters) every conv becomes a grouped conv (feature_group_count / batch_group_count = T). cuDNN
    supports grouped convs natively (not measured here); XLA:CPU rewrites the batch-grouped
    weight-gradient convs into convs that do T times the useful work on a slow generic path (measured
    on the project's 2-core CPU: ~20 s per 20-way 1-shot second-order MAML step at meta-batch 16, vs
    ~0.8 s with im2col). On CPU in float32 its vmapped meta-gradient also carries ~1e-3 relative errors
    that XLA's YNNPACK reduce fusions introduce (exact in float64, and without those fusions).
  * "im2col": SAME padding, one strided slice per kernel tap (9 for 3x3), concatenated along channels,
    then one matmul with the kernel reshaped to [9*C_in, C_out]. Every derivative of this, to any order,
    is slices, pads and (under vmap, batched) matmuls, which XLA:CPU runs fast. Equal to "lax" up to
    float rounding (tests: 1e-10 in float64). It materializes the patches (9x the input activations).
    The matmul is 2-D ([B*Ho*Wo, 9*C_in] @ [9*C_in, C_out]): with the patches kept 4-D, the kernel
    gradient contracts three axes and XLA:CPU (jaxlib 0.10.2) lays its full-size cotangent out
    transposed, a strided copy that took ~0.45 s of the 2.2 s 20-way stride step for the first layer
    alone (the [16*300*196, 64] activations); flattened, the step takes ~1.65 s.
  * "auto" (default): "im2col" when `jax.default_backend() == "cpu"` at trace time, else "lax".

Max-pool: `max_pool_2x2` is the elementwise maximum of the four stride-2 phases x[:, i::2, j::2]
(odd sizes padded with -inf at the end, as `nn.max_pool(x, (2, 2), (2, 2), padding="SAME")` does), not
`lax.reduce_window` (nn.max_pool), whose gradient is select_and_scatter and second derivative
select_and_gather_add, generic windowed loops on CPU (benchmarks/bench_conv.py times the two under
vmap); the phases differentiate to slices, pads, compares and selects only.
Nor is it reshape + `jnp.max` over the two window axes: XLA:CPU in jaxlib 0.10.2 miscompiles the
gradient of that reduce under jit(vmap(...)) with per-task weights after transductive normalization
and an odd size (its YNNPACK reduce fusion; wrong gradients of order 1, found by
test_vmap_over_tasks_equals_a_loop; XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= avoids it);
the phase form has no reduce. Forward values are identical to nn.max_pool; gradients are too unless a
window holds tied maxima (jnp.maximum splits the gradient between ties, select_and_scatter gives it
to one). After a ReLU the only likely tie is 0 == 0, whose gradient the ReLU zeroes anyway.

T-Net (`transforms=True`): a square matrix `transform_{i}` after block i's linear op (a 1x1 channel
mixing after the conv, before the normalization; after the head's Dense), identity at init, kept at its
meta-learned value in the inner loop by the T-Net learner (Lee & Choi 2018).

Initialization: conv kernels Glorot-uniform, biases zero (MAML's and learn2learn's conv init); norm
scale 1, bias 0; head Flax's Dense default (LeCun normal; MAML's TF code draws it from N(0, 1)).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from metareg.models.base import BlockModel
from metareg.models.norm import NORMS, normalize

CONV_IMPLS = ("auto", "im2col", "lax")
POOLS = ("max", "stride", "none")
READOUTS = ("flatten", "mean")


def check_fields(
    model: str, conv_impl: str, norm: str, width: int, pool: str = "max", readout: str = "flatten"
) -> None:
    """The conv nets' field rules, in one place: the modules check them when built and the CLI's config check
    calls this for `config.model` (the messages name its fields)."""
    for name, value, choices in (
        ("conv_impl", conv_impl, CONV_IMPLS),
        ("norm", norm, NORMS),
        ("pool", pool, POOLS),
        ("readout", readout, READOUTS),
    ):
        if value not in choices:
            raise ValueError(
                f"unknown {model} {name} {value!r} (model.{name}); choose from {sorted(choices)}"
            )
    if width < 1:
        raise ValueError(
            f"model.width (filters per conv block) must be >= 1, got {width}; the references use 64"
        )


def resolve_conv_impl(conv_impl: str) -> str:
    """ "im2col" or "lax"; "auto" is decided by the default backend when called (at trace time)."""
    if conv_impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv_impl {conv_impl!r}; choose from {list(CONV_IMPLS)}")
    if conv_impl == "auto":
        return "im2col" if jax.default_backend() == "cpu" else "lax"
    return conv_impl


def same_padding(size: int, window: int, stride: int) -> tuple[int, int, int]:
    """(pad_low, pad_high, out_size) of XLA/TensorFlow SAME padding along one axis.

    out = ceil(size / stride); the total padding (out - 1) * stride + window - size goes low // 2,
    the rest (the extra one when odd) high, as `lax.padtype_to_pads` does.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2, out


def conv2d_im2col(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """SAME 2-D convolution as im2col + matmul. x [B, H, W, C_in], kernel [kh, kw, C_in, C_out] (HWIO).

    Returns [B, ceil(H/stride), ceil(W/stride), C_out], equal to
    `lax.conv_general_dilated(x, kernel, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))`.
    """
    kh, kw, cin, cout = kernel.shape
    b, h, w, c = x.shape
    if c != cin:
        raise ValueError(f"conv input has {c} channels, kernel expects {cin}")
    top, bottom, ho = same_padding(h, kh, stride)
    left, right, wo = same_padding(w, kw, stride)
    xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    # Tap (i, j) of output pixel (r, s) reads padded pixel (r*stride + i, s*stride + j): one strided slice per tap.
    taps = [
        lax.slice(
            xp,
            (0, i, j, 0),
            (b, i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1, c),
            (1, stride, stride, 1),
        )
        for i in range(kh)
        for j in range(kw)
    ]
    patches = jnp.concatenate(
        taps, axis=-1
    )  # [B, Ho, Wo, kh*kw*C_in], tap-major like the kernel's HWI
    # One 2-D matmul [B*Ho*Wo, K] @ [K, C_out], not a rank-4 @ rank-2 one: the kernel gradient of the latter
    # contracts three axes (B, Ho, Wo), which XLA:CPU canonicalizes with a transposing copy of the full-size
    # output cotangent (see the module docstring); flattened, it is one contracting axis and no copy.
    out = patches.reshape(b * ho * wo, kh * kw * cin) @ kernel.reshape(kh * kw * cin, cout)
    return out.reshape(b, ho, wo, cout)


def conv2d_lax(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """SAME 2-D convolution with `lax.conv_general_dilated` (NHWC input, HWIO kernel)."""
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1, conv_impl: str = "auto") -> jax.Array:
    """SAME convolution by `conv_impl` ("auto" | "im2col" | "lax"); x and kernel are promoted to one dtype."""
    dtype = jnp.result_type(x, kernel)
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    if resolve_conv_impl(conv_impl) == "im2col":
        return conv2d_im2col(x, kernel, stride)
    return conv2d_lax(x, kernel, stride)


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pool, stride 2, SAME padding. x [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), C].

    The maximum of the four phases x[:, i::2, j::2] (no reduce: see the module docstring). An odd H (or
    W) gets one row (column) of -inf at the end, so the last window holds the last real row alone:
    28 -> 14 -> 7 -> 4 -> 2. Equals `nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")`.
    """
    _, h, w, _ = x.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), constant_values=-jnp.inf)
    top = jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2])
    bottom = jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2])
    return jnp.maximum(top, bottom)


class ConvBlock(nn.Module):
    """conv -> [T-Net transform] -> norm -> ReLU -> [2x2 max-pool].

    Parameters: kernel [3, 3, C_in, features] and bias [features] (the conv; "kernel" is the name MR-MAML
    looks for), norm_scale and norm_bias [features] (absent with norm="none").
    """

    features: int
    conv_impl: str = "auto"
    norm: str = "transductive"
    pool: str = "max"
    eps: float = 1e-5

    @nn.compact
    def __call__(
        self, x: jax.Array, transform: jax.Array | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        """x [B, H, W, C_in] -> [B, H', W', features]; `transform` [features, features] or None; mask [B] or None."""
        kernel = self.param(
            "kernel", nn.initializers.glorot_uniform(), (3, 3, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        x = conv2d(x, kernel, 2 if self.pool == "stride" else 1, self.conv_impl)
        if (
            self.norm != "transductive"
        ):  # transductive normalization subtracts any per-channel constant out
            x = x + bias
        if transform is not None:
            x = x @ transform  # 1x1 channel mixing
        if self.norm != "none":
            scale = self.param("norm_scale", nn.initializers.ones, (self.features,))
            shift = self.param("norm_bias", nn.initializers.zeros, (self.features,))
            x = normalize(x, self.norm, self.eps, mask, scale, shift)
        x = nn.relu(x)
        if self.pool == "max":
            x = max_pool_2x2(x)
        return x


class Conv4(nn.Module):
    """`depth` ConvBlocks then a Dense head; `__call__(x, start, end)` runs blocks [start, end).

    Block 0's input is the image batch x [B, H, W, C]; block depth - 1 ends with the readout ([B, F]);
    the head maps [B, F] to [B, num_outputs]. See the module docstring for the fields' choices.
    """

    num_outputs: int
    width: int = 64
    depth: int = 4
    conv_impl: str = "auto"
    norm: str = "transductive"
    pool: str = "max"
    readout: str = "flatten"
    transforms: bool = False
    eps: float = 1e-5

    def setup(self):
        check_fields("Conv4", self.conv_impl, self.norm, self.width, self.pool, self.readout)
        self.blocks = [
            ConvBlock(
                self.width, self.conv_impl, self.norm, self.pool, self.eps, name=f"blocks_{i}"
            )
            for i in range(self.depth)
        ] + [nn.Dense(self.num_outputs, name=f"blocks_{self.depth}")]
        if self.transforms:
            widths = [self.width] * self.depth + [self.num_outputs]
            self.transform_mats = [
                self.param(f"transform_{i}", lambda _, n: jnp.eye(n), w)
                for i, w in enumerate(widths)
            ]

    def __call__(
        self, x: jax.Array, start: int = 0, end: int | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        end = self.depth + 1 if end is None else end
        for i in range(start, end):
            transform = self.transform_mats[i] if self.transforms else None
            if i < self.depth:
                x = self.blocks[i](x, transform, mask)
                if i == self.depth - 1:  # readout: [B, H, W, C] -> [B, F]
                    x = (
                        x.reshape(x.shape[0], -1)
                        if self.readout == "flatten"
                        else jnp.mean(x, axis=(1, 2))
                    )
            else:
                x = self.blocks[i](x)
                if transform is not None:
                    x = x @ transform
        return x


def conv4(
    num_outputs: int,
    width: int = 64,
    conv_impl: str = "auto",
    norm: str = "transductive",
    pool: str = "max",
    transforms: bool = False,
    readout: str = "flatten",
    depth: int = 4,
) -> BlockModel:
    """A BlockModel Conv4 (depth conv blocks + head, num_blocks = depth + 1); fields as in the module docstring."""
    module = Conv4(
        num_outputs=num_outputs,
        width=width,
        depth=depth,
        conv_impl=conv_impl,
        norm=norm,
        pool=pool,
        readout=readout,
        transforms=transforms,
    )
    return BlockModel(module=module, num_blocks=depth + 1)
