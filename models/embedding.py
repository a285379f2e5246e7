"""sph_embedding_residual: image -> spherical embedding (ICML 2019), on Model Garden blocks.

encode() and decode() are the two halves, shared with the synthesis model (sphere ->
image), which runs them the other way round. Encoder (H x H single-channel image,
nblocks = log2(H)): a 7x7 stride-2 stem, a
residual stage at stride 1, stages at stride 2 down to 2x2, BN-ReLU, and a 2x2 VALID
linear conv to the 1 x 1 x n_latent bottleneck. Decoder (to the teacher's n x n x C,
nblocks = log2(n) - 2): a 4x4 VALID transposed conv, then per level a residual stage
at stride 1 and a 3x3 stride-2 transposed conv + BN + ReLU, then a 7x7 stride-2
linear transposed conv to C channels and a sigmoid. Channels are min(64 * 2^i,
max_channels) as in the gist (the stride-1 stage: min(128, max_channels)).

Residual units are pre-activation (v2): Model Garden's nn_blocks.ResidualInner
(BN -> ReLU -> 3x3 conv -> BN -> ReLU -> 3x3 conv) plus an identity or 1x1 projection
shortcut, batch norm epsilon 1e-5 and decay `bn_momentum` (0.997 in the gist; short
runs need less, or the moving averages that inference uses lag behind the weights). Every convolution pads explicitly:
REFLECT in the encoder, spherical (longitude wrap + pole crossing) in the decoder.
"""
import math

import tf_keras as keras
from official.modeling import tf_utils
from official.vision.modeling.layers import nn_blocks

from .padding import PaddedConv, PaddedConvTranspose

EPSILON = 1e-5


class PaddedResidualInner(nn_blocks.ResidualInner):
    """Model Garden's pre-activation inner block with both 3x3 convolutions padded by `mode`."""

    def __init__(self, filters, strides, mode="reflect", norm_momentum=0.997, **kwargs):
        kwargs.pop("norm_epsilon", None)
        super().__init__(filters, strides, norm_momentum=norm_momentum, norm_epsilon=EPSILON, **kwargs)
        self.mode = mode

    def build(self, input_shape):
        super().build(input_shape)
        for name, strides in (("_conv2d_1", self.strides), ("_conv2d_2", 1)):
            self.__setattr__(name, PaddedConv(self.filters, 3, strides, self.mode,
                                              kernel_initializer=tf_utils.clone_initializer(self._kernel_initializer),
                                              kernel_regularizer=self._kernel_regularizer))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class ResidualUnit(keras.layers.Layer):
    """x + F(x) with F a PaddedResidualInner; a 1x1 projection when shape changes."""

    def __init__(self, filters, strides=1, mode="reflect", project=False, bn_momentum=0.997, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides, self.mode, self.project = filters, strides, mode, project
        self.bn_momentum = bn_momentum
        self.inner = PaddedResidualInner(filters, strides, mode=mode, norm_momentum=bn_momentum)
        self.shortcut = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False) if project else None

    def call(self, x, training=None):
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return self.inner(x, training=training) + shortcut

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides, "mode": self.mode,
                "project": self.project, "bn_momentum": self.bn_momentum}


def _stage(x, filters, strides, units, mode, bn_momentum, name):
    for i in range(units):
        first = i == 0
        x = ResidualUnit(filters, strides if first else 1, mode, bn_momentum=bn_momentum,
                         project=first and (strides != 1 or x.shape[-1] != filters), name=f"{name}_unit{i}")(x)
    return x


def _bn_relu(x, bn_momentum, name):
    x = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def power_of_two(n, what):
    k = int(round(math.log2(n))) if n > 0 else -1
    if k < 0 or 2**k != n:
        raise ValueError(f"{what} must be a power of 2, got {n}")
    return k


def encode(inputs, mode, *, layers_per_block, max_channels, n_latent, bn_momentum, prefix="encoder"):
    """H x H x C_in -> 1 x 1 x n_latent: 7x7 stride-2 stem, a stride-1 stage, stride-2
    stages down to 2x2, BN-ReLU and a 2x2 VALID linear conv; every conv padded by `mode`."""
    size = inputs.shape[1]
    levels = power_of_two(size, f"the {prefix} input size")
    if levels < 3 or inputs.shape[2] != size:
        raise ValueError(f"the {prefix} input must be square and at least 8 x 8, got {tuple(inputs.shape[1:3])}")
    width = lambda i: min(64 * 2**i, max_channels)  # noqa: E731
    x = PaddedConv(min(64, max_channels), 7, 2, mode, name=f"{prefix}_stem")(inputs)
    x = _stage(x, min(128, max_channels), 1, layers_per_block, mode, bn_momentum, f"{prefix}1")
    for i in range(2, levels):
        x = _stage(x, width(i), 2, layers_per_block, mode, bn_momentum, f"{prefix}{i}")
    x = _bn_relu(x, bn_momentum, f"{prefix}_out")
    return keras.layers.Conv2D(n_latent, 2, padding="valid", name=f"{prefix}_bottleneck")(x)


def decode(latent, size, channels, mode, *, layers_per_block, max_channels, bn_momentum,
           intermediate_supervision=False, prefix="decoder"):
    """1 x 1 x n_latent -> size x size x channels in (0, 1): a 4x4 VALID transposed conv,
    per level a stride-1 residual stage and a 3x3 stride-2 transposed conv + BN-ReLU,
    then a 7x7 stride-2 linear transposed conv and a sigmoid (in float32 under a mixed
    precision policy). Returns a list: coarse sigmoid heads per level (with
    intermediate_supervision), the full output last."""
    levels = power_of_two(size, f"the {prefix} output size") - 2
    if levels < 1:
        raise ValueError(f"the {prefix} output must be at least 8 x 8, got {size}")
    width = lambda i: min(64 * 2**i, max_channels)  # noqa: E731
    x = keras.layers.Conv2DTranspose(width(levels - 1), 4, padding="valid", name=f"{prefix}_in")(latent)
    outputs = []
    for i in range(1, levels):
        x = _stage(x, x.shape[-1], 1, layers_per_block, mode, bn_momentum, f"{prefix}{i}")
        if intermediate_supervision:
            outputs.append(keras.layers.Conv2D(channels, 1, activation="sigmoid", dtype="float32",
                                               name=f"coarse{i}")(x))
        x = PaddedConvTranspose(width(levels - i - 1), 3, 2, mode, name=f"{prefix}{i}_up")(x)
        x = _bn_relu(x, bn_momentum, f"{prefix}{i}_up")
    x = PaddedConvTranspose(channels, 7, 2, mode, use_bias=True, name=f"{prefix}_out")(x)
    return outputs + [keras.layers.Activation("sigmoid", dtype="float32", name=f"{prefix}_sigmoid")(x)]


def build_embedding_model(image_size, target_shape, *, layers_per_block=2, max_channels=256, n_latent=1024,
                          intermediate_supervision=False, bn_momentum=0.997):
    """Keras model: images (B, H, H, 1) in [0, 1] -> embeddings (B, n, n, C) in (0, 1).

    With intermediate_supervision the model returns a list: coarse predictions (one
    per decoder level, sigmoid of a 1x1 head) and the full-resolution one last.
    """
    power_of_two(image_size, "image_size")
    n, n2, channels = target_shape
    if n != n2 or n < 8:
        raise ValueError(f"the teacher's embedding must be n x n x C with n >= 8, got {target_shape}")
    power_of_two(n, "the embedding size")
    blocks = dict(layers_per_block=layers_per_block, max_channels=max_channels, bn_momentum=bn_momentum)
    images = keras.Input((image_size, image_size, 1), name="images")
    latent = encode(images, "reflect", n_latent=n_latent, **blocks)
    outputs = decode(latent, n, channels, "sphere", intermediate_supervision=intermediate_supervision, **blocks)
    return keras.Model(images, outputs if intermediate_supervision else outputs[0], name="sph_embedding_residual")


CUSTOM_OBJECTS = {c.__name__: c for c in (PaddedResidualInner, ResidualUnit, PaddedConv, PaddedConvTranspose)}
