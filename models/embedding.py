"""sph_embedding_residual: image -> spherical embedding (ICML 2019), on Model Garden blocks.

Encoder (H x H single-channel image, nblocks = log2(H)): a 7x7 stride-2 stem, a
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


def _log2(n, what):
    k = int(round(math.log2(n))) if n > 0 else -1
    if k < 0 or 2**k != n:
        raise ValueError(f"{what} must be a power of 2, got {n}")
    return k


def build_embedding_model(image_size, target_shape, *, layers_per_block=2, max_channels=256, n_latent=1024,
                          intermediate_supervision=False, bn_momentum=0.997):
    """Keras model: images (B, H, H, 1) in [0, 1] -> embeddings (B, n, n, C) in (0, 1).

    With intermediate_supervision the model returns a list: coarse predictions (one
    per decoder level, sigmoid of a 1x1 head) and the full-resolution one last.
    """
    n_enc = _log2(image_size, "image_size")
    n, n2, channels = target_shape
    if n != n2 or n < 8:
        raise ValueError(f"the teacher's embedding must be n x n x C with n >= 8, got {target_shape}")
    n_dec = _log2(n, "the embedding size") - 2
    if n_enc < 3:
        raise ValueError(f"image_size must be at least 8, got {image_size}")
    width = lambda i: min(64 * 2**i, max_channels)  # noqa: E731
    images = keras.Input((image_size, image_size, 1), name="images")
    x = PaddedConv(min(64, max_channels), 7, 2, "reflect", name="stem")(images)
    x = _stage(x, min(128, max_channels), 1, layers_per_block, "reflect", bn_momentum, "encoder1")
    for i in range(2, n_enc):
        x = _stage(x, width(i), 2, layers_per_block, "reflect", bn_momentum, f"encoder{i}")
    x = _bn_relu(x, bn_momentum, "encoder_out")
    latent = keras.layers.Conv2D(n_latent, 2, padding="valid", name="bottleneck")(x)  # 1 x 1 x n_latent
    x = keras.layers.Conv2DTranspose(width(n_dec - 1), 4, padding="valid", name="decoder_in")(latent)
    outputs = []
    for i in range(1, n_dec):
        x = _stage(x, x.shape[-1], 1, layers_per_block, "sphere", bn_momentum, f"decoder{i}")
        if intermediate_supervision:
            outputs.append(keras.layers.Conv2D(channels, 1, activation="sigmoid", name=f"coarse{i}")(x))
        x = PaddedConvTranspose(width(n_dec - i - 1), 3, 2, "sphere", name=f"decoder{i}_up")(x)
        x = _bn_relu(x, bn_momentum, f"decoder{i}_up")
    x = PaddedConvTranspose(channels, 7, 2, "sphere", use_bias=True, name="decoder_out")(x)
    outputs.append(keras.layers.Activation("sigmoid", name="embedding")(x))
    return keras.Model(images, outputs if intermediate_supervision else outputs[0], name="sph_embedding_residual")


CUSTOM_OBJECTS = {c.__name__: c for c in (PaddedResidualInner, ResidualUnit, PaddedConv, PaddedConvTranspose)}
