"""Padding that knows what the grid is: reflect for images, spherical for S2kit maps.

- "reflect": mirror at the image border (the encoder; images have no wrap-around).
- "sphere": longitude wraps around (circular), and rows beyond a pole continue on the
  other side of it: the same colatitudes, flipped, half a turn away in longitude.
  This is circular padding along longitude plus the pole crossing of an S2kit grid.
PaddedConv and PaddedConvTranspose pad explicitly and run VALID convolutions, so the
padding really applies to every convolution (the gist's patch did not).
"""
import math

import tensorflow as tf
import tf_keras as keras

MODES = ("reflect", "sphere", "zero")


def pad(x, p, mode):
    """Pad NHWC x by p rows and columns on each side."""
    if p == 0:
        return x
    if mode == "reflect":  # by slices, not MirrorPad, which fails on the empty batches replicas may get
        x = tf.concat([tf.reverse(x[:, 1 : p + 1], [1]), x, tf.reverse(x[:, -p - 1 : -1], [1])], axis=1)
        return tf.concat([tf.reverse(x[:, :, 1 : p + 1], [2]), x, tf.reverse(x[:, :, -p - 1 : -1], [2])], axis=2)
    if mode == "zero":
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
    if mode != "sphere":
        raise ValueError(f"padding mode must be one of {MODES}, got {mode!r}")
    half = tf.shape(x)[2] // 2
    north = tf.roll(tf.reverse(x[:, :p], axis=[1]), shift=half, axis=2)
    south = tf.roll(tf.reverse(x[:, -p:], axis=[1]), shift=half, axis=2)
    x = tf.concat([north, x, south], axis=1)
    return tf.concat([x[:, :, -p:], x, x[:, :, :p]], axis=2)


class PaddedConv(keras.layers.Layer):
    """Conv2D (kernel k, stride s) on explicitly padded input (k // 2 each side)."""

    def __init__(self, filters, kernel_size, strides=1, mode="reflect", use_bias=False,
                 kernel_initializer="glorot_uniform", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"padding mode must be one of {MODES}, got {mode!r}")
        self.filters, self.kernel_size, self.strides, self.mode, self.use_bias = (
            filters, kernel_size, strides, mode, use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.conv = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="valid", use_bias=use_bias,
                                        kernel_initializer=self.kernel_initializer,
                                        kernel_regularizer=self.kernel_regularizer)

    def call(self, x):
        return self.conv(pad(x, self.kernel_size // 2, self.mode))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "mode": self.mode, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)}


class PaddedConvTranspose(keras.layers.Layer):
    """Conv2DTranspose (kernel k, stride s) computed on a padded input and cropped, so
    that output size is s times the input and the padding mode holds exactly (for
    "sphere": a longitude roll of the input by 1 rolls the output by s)."""

    def __init__(self, filters, kernel_size, strides=2, mode="sphere", use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides, self.mode, self.use_bias = (
            filters, kernel_size, strides, mode, use_bias)
        self.p = math.ceil((kernel_size - 1) / strides)
        self.conv = keras.layers.Conv2DTranspose(filters, kernel_size, strides=strides, padding="valid",
                                                 use_bias=use_bias)

    def call(self, x):
        y = self.conv(pad(x, self.p, self.mode))
        start, size = self.strides * self.p, self.strides * tf.shape(x)[1]
        return y[:, start : start + size, start : start + self.strides * tf.shape(x)[2]]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "mode": self.mode, "use_bias": self.use_bias}
