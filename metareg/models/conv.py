"""Conv4, the few-shot image backbone, as a sequence of blocks; and a convolution that stays fast
under vmap on CPU.

Architecture (Vinyals et al. 2016; Finn et al. 2017): `depth` blocks of [3x3 conv, `width` filters
-> normalization -> ReLU -> down-sampling] (Omniglot: 28 -> 14 -> 7 -> 4 -> 2, odd sizes padded),
then a Dense head. Block i's parameters live under `params["blocks_{i}"]`, the head's under
`params["blocks_{depth}"]`; the last conv block ends with the readout ("flatten" or spatial "mean"),
so `BlockModel.features` is [B, F] as TRLearner and ANIL expect. The options follow the references,
which differ:

- `pool`: "stride" (default: stride-2 convs, with readout="mean" MAML's and learn2learn's
  Omniglot net), "max" (2x2 max-pool, with readout="flatten" Vinyals et al.'s and ProtoNet's) or
  "none" (what MetaMix's Omniglot code runs; use it with readout="mean"). One outer step at 20-way
  1-shot, 15 queries, T = 16, width 64 on 2 CPU cores (benchmarks/results/omniglot_conv_step.json):
  stride + mean 1.12 s (96 GFLOP), max + flatten 6.79 s (358 GFLOP: its convs run at full
  resolution before each pool, so it is FLOP-bound, not slow code), none + mean about a TFLOP
  (docs/parity.md).
- `norm`: "transductive" (default: batch statistics at train and test time, as every baseline's
  code does; the conv bias is then not added, since the normalization removes it), "layer" (per
  example) or "none". All are stateless: running averages would be mutable state to thread through
  the vmapped inner loop, and no reference uses them.
- `conv_impl`: "im2col" (strided slices and one 2-D matmul) or "lax" (`lax.conv_general_dilated`);
  "auto" (default) picks im2col on CPU, where per-task weights under vmap make lax convs slow
  grouped convs, and lax elsewhere.
- `transforms=True`: T-Net's square matrices after each block's linear op (Lee & Choi 2018).

`max_pool_2x2` is the maximum of the four stride-2 phases, not `lax.reduce_window` or reshape + max:
its derivatives are slices, pads and selects only, fast on CPU, and it avoids an XLA:CPU
miscompilation of the reduce's gradient under vmap (jaxlib 0.10.2).

Initialization: conv kernels Glorot-uniform, biases zero (MAML's and learn2learn's conv init); norm
scale 1, bias 0; head Flax's Dense default (LeCun normal).
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
    model: str, conv_impl: str, norm: str, width: int, pool: str = "stride", readout: str = "mean"
) -> None:
    """The conv nets' field rules, in one place: the modules check them when built and the CLI's
    config check calls this for `config.model` (the messages name its fields)."""
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
    """SAME 2-D convolution as im2col + matmul: x [B, H, W, C_in], kernel [kh, kw, C_in, C_out].

    The kernel is HWIO. Returns [B, ceil(H/stride), ceil(W/stride), C_out], equal to
    `lax.conv_general_dilated(x, kernel, (stride, stride), "SAME",
    dimension_numbers=("NHWC", "HWIO", "NHWC"))`.
    """
    kh, kw, cin, cout = kernel.shape
    b, h, w, c = x.shape
    if c != cin:
        raise ValueError(f"conv input has {c} channels, kernel expects {cin}")
    top, bottom, ho = same_padding(h, kh, stride)
    left, right, wo = same_padding(w, kw, stride)
    xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    # Tap (i, j) of output pixel (r, s) reads padded pixel (r*stride + i, s*stride + j): one strided
    # slice per tap.
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
    # One 2-D matmul [B*Ho*Wo, K] @ [K, C_out], not a rank-4 @ rank-2 one: the kernel gradient of
    # the latter contracts three axes (B, Ho, Wo), which XLA:CPU canonicalizes with a transposing
    # copy of the full-size output cotangent; flattened, it is one contracting axis and no copy.
    out = patches.reshape(b * ho * wo, kh * kw * cin) @ kernel.reshape(kh * kw * cin, cout)
    return out.reshape(b, ho, wo, cout)


def conv2d_lax(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """SAME 2-D convolution with `lax.conv_general_dilated` (NHWC input, HWIO kernel)."""
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1, conv_impl: str = "auto") -> jax.Array:
    """SAME convolution by `conv_impl` ("auto" | "im2col" | "lax"), x and kernel in one dtype."""
    dtype = jnp.result_type(x, kernel)
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    if resolve_conv_impl(conv_impl) == "im2col":
        return conv2d_im2col(x, kernel, stride)
    return conv2d_lax(x, kernel, stride)


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pool, stride 2, SAME padding. x [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), C].

    The maximum of the four phases x[:, i::2, j::2] (no reduce: see the module docstring). An odd H
    (or W) gets one row (column) of -inf at the end, so the last window holds the last real row
    alone: 28 -> 14 -> 7 -> 4 -> 2. Equals `nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")`.
    """
    _, h, w, _ = x.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), constant_values=-jnp.inf)
    top = jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2])
    bottom = jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2])
    return jnp.maximum(top, bottom)


CONV_INITS = ("glorot", "pytorch")


def pytorch_uniform(fan_in: int):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Conv2d and Linear weights
    (kaiming_uniform with a = sqrt(5)) and biases."""
    bound = 1.0 / fan_in**0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class ConvBlock(nn.Module):
    """conv -> [T-Net transform] -> norm -> ReLU -> [2x2 max-pool].

    Parameters: kernel [3, 3, C_in, features] and bias [features] (the conv; "kernel" is the name
    MR-MAML looks for), norm_scale and norm_bias [features] (absent with norm="none"). `init`:
    "glorot" (Glorot-uniform kernel, zero bias) or "pytorch" (both U(+-1/sqrt(9 C_in)), PyTorch's
    defaults: the MetaMix reference code's network). (Not `init`: that is nn.Module's method.)
    """

    features: int
    conv_impl: str = "auto"
    norm: str = "transductive"
    pool: str = "stride"
    eps: float = 1e-5
    weight_init: str = "glorot"

    @nn.compact
    def __call__(
        self, x: jax.Array, transform: jax.Array | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        """x [B, H, W, C_in] -> [B, H', W', features].

        `transform`: [features, features] or None; mask: [B] or None.
        """
        fan_in = 9 * x.shape[-1]
        torch_like = self.weight_init == "pytorch"
        kernel = self.param(
            "kernel",
            pytorch_uniform(fan_in) if torch_like else nn.initializers.glorot_uniform(),
            (3, 3, x.shape[-1], self.features),
        )
        bias = self.param(
            "bias",
            pytorch_uniform(fan_in) if torch_like else nn.initializers.zeros,
            (self.features,),
        )
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

    Block 0's input is the image batch x [B, H, W, C]; block depth - 1 ends with the readout
    ([B, F]); the head maps [B, F] to [B, num_outputs]. See the module docstring for the fields'
    choices.
    """

    num_outputs: int
    width: int = 64
    depth: int = 4
    conv_impl: str = "auto"
    norm: str = "transductive"
    pool: str = "stride"
    readout: str = "mean"
    transforms: bool = False
    eps: float = 1e-5
    weight_init: str = "glorot"

    def setup(self):
        check_fields("Conv4", self.conv_impl, self.norm, self.width, self.pool, self.readout)
        if self.weight_init not in CONV_INITS:
            raise ValueError(
                f"unknown conv4 init {self.weight_init!r}; choose from {list(CONV_INITS)} "
                "(model.conv_init)"
            )
        self.blocks = [
            ConvBlock(
                self.width,
                self.conv_impl,
                self.norm,
                self.pool,
                self.eps,
                self.weight_init,
                name=f"blocks_{i}",
            )
            for i in range(self.depth)
        ] + [self._head()]
        if self.transforms:
            widths = [self.width] * self.depth + [self.num_outputs]
            self.transform_mats = [
                self.param(f"transform_{i}", lambda _, n: jnp.eye(n), w)
                for i, w in enumerate(widths)
            ]

    def _head(self) -> nn.Dense:
        """The linear head: LeCun-normal kernel and zero bias (flax's), or PyTorch's Linear
        defaults, U(+-1/sqrt(F)) for both, F the readout's width."""
        name = f"blocks_{self.depth}"
        if self.weight_init != "pytorch":
            return nn.Dense(self.num_outputs, name=name)
        features = self.width * (4 if self.readout == "flatten" else 1)
        if self.readout == "flatten" and self.pool == "none":
            features = None  # the spatial size is unknown here; use the kernel's own fan-in
        init = (
            pytorch_uniform(features)
            if features
            else nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
        )
        return nn.Dense(
            self.num_outputs,
            kernel_init=init,
            bias_init=pytorch_uniform(features) if features else nn.initializers.zeros,
            name=name,
        )

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
    pool: str = "stride",
    transforms: bool = False,
    readout: str = "mean",
    depth: int = 4,
    init: str = "glorot",
) -> BlockModel:
    """A BlockModel Conv4 (depth conv blocks + head, num_blocks = depth + 1).

    The fields are described in the module docstring; `init` in ConvBlock's.
    """
    module = Conv4(
        weight_init=init,
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
