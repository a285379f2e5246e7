"""Spherical CNN layers in TensorFlow on the S2kit grid (NHWC, H = theta, W = phi).

The spherical harmonic transform is separable: a DFT over longitude, then one
Legendre matrix per order m (tables from soft, float32). Real maps need orders
m >= 0 only. Coefficients are carried as a pair (re, im) of (B, C, l, m) tensors.
No dense (2b)^2 x b^2 matrix is ever formed; everything is differentiable.

Layers (all serialisable with get_config):
- SphericalConv: zonal, spatially localised filters in the spectrum,
  out_lm,d = sum_c 2 pi sqrt(4 pi / (2l+1)) f_lm,c k_l,c,d (Driscoll-Healy), the
  filter spectrum k_l linearly interpolated from a few anchors; input channels are
  summed before the inverse transform. Exactly equivariant for band-limited input.
  bandwidth_out < b folds spectral pooling into the convolution.
- SpectralPooling: truncate to degrees < b/2 and synthesise on the half grid.
- AreaPooling: 2x2 area-weighted average pooling. Rows pair up (weights sin theta);
  longitude uses the centred circular stencil (1/4, 1/2, 1/4) with stride 2, so the
  coarse grid is the S2kit grid at b/2 exactly (a plain 2x2 window would shift
  longitude by half a fine cell, i.e. conjugate poses by a z-rotation).
- SphericalGlobalPooling: quadrature-weighted mean over the sphere (invariant).
"""
import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

import soft
from soft.sht import legendre_table


def _tables(b):
    """Forward (m, l, j) and inverse (m, j, l) Legendre tables for orders m >= 0, and the
    real DFT matrices over longitude: (k, [Re m | Im m]) forward, ([Re m | Im m], k) inverse."""
    lam = legendre_table(b)
    forward = lam * (math.pi / b) * soft.s2_weights(b)
    angle = np.outer(np.arange(2 * b), np.arange(b)) * math.pi / b  # (k, m)
    dft = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1)
    twice = np.where(np.arange(b) == 0, 1.0, 2.0)  # real maps: orders +-m combined
    idft = np.concatenate([twice * np.cos(angle), -twice * np.sin(angle)], axis=1).T
    return tuple(tf.constant(t, tf.float32) for t in (forward, np.transpose(lam, (0, 2, 1)), dft, idft))


def sht(x, b):
    """NHWC maps (B, 2b, 2b, C) -> (re, im), each (B, C, l, m >= 0) float32.

    Longitude: a (2b x 2b) real DFT matrix (faster than an FFT at these sizes);
    colatitude: one (b x 2b) Legendre matrix per order, as one batched matmul.
    """
    forward, _, dft, _ = _tables(b)
    shape = tf.shape(x)
    rows = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, 2 * b]) @ dft  # (B C j, [Re m | Im m])
    rows = tf.transpose(tf.reshape(rows, [-1, 2 * b, 2, b]), [3, 2, 0, 1])  # (m, Re/Im, B C, j)
    out = tf.matmul(tf.reshape(rows, [b, -1, 2 * b]), forward, transpose_b=True)  # (m, 2 B C, l)
    out = tf.transpose(tf.reshape(out, [b, 2, shape[0], shape[3], b]), [1, 2, 3, 4, 0])
    return out[0], out[1]


def isht(re, im, b):
    """(re, im) (B, C, l, m) with l, m < b -> NHWC maps (B, 2b, 2b, C) (real: m >= 0 suffices)."""
    _, inverse, _, idft = _tables(b)
    coefficients = tf.stack([re[:, :, :b, :b], im[:, :, :b, :b]])  # (2, B, C, l, m)
    shape = tf.shape(coefficients)
    per_order = tf.reshape(tf.transpose(coefficients, [4, 0, 1, 2, 3]), [b, -1, b])  # (m, 2 B C, l)
    per_theta = tf.matmul(per_order, inverse, transpose_b=True)  # (m, 2 B C, j)
    per_theta = tf.reshape(per_theta, [b, 2, shape[1] * shape[2], 2 * b])
    rows = tf.reshape(tf.transpose(per_theta, [2, 3, 1, 0]), [-1, 2 * b])  # (B C j, [Re m | Im m])
    maps = tf.reshape(rows @ idft, [shape[1], shape[2], 2 * b, 2 * b])
    return tf.transpose(maps, [0, 2, 3, 1])


def _bandwidth(shape, name):
    h, w = shape[1], shape[2]
    if h is None or h != w or h % 2:
        raise ValueError(f"{name} expects (batch, 2b, 2b, channels) maps on the S2kit grid, got {tuple(shape)}")
    return h // 2


class SphericalConv(keras.layers.Layer):
    def __init__(self, filters, n_anchors=8, bandwidth_out=None, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.n_anchors, self.bandwidth_out, self.use_bias = filters, n_anchors, bandwidth_out, use_bias

    def build(self, input_shape):
        self.b = _bandwidth(input_shape, self.name)
        self.b_out = self.bandwidth_out or self.b
        if self.b_out > self.b:
            raise ValueError(f"{self.name}: bandwidth_out {self.b_out} exceeds the input bandwidth {self.b}")
        c_in, degrees = int(input_shape[-1]), self.b_out
        anchors = min(self.n_anchors, degrees)
        std = 2.0 / (2 * math.pi * math.sqrt(degrees * c_in))
        self.anchors = self.add_weight(
            name="anchors", shape=(anchors, c_in, self.filters),
            initializer=keras.initializers.TruncatedNormal(stddev=std))
        positions = np.linspace(0, 1, anchors) if anchors > 1 else np.zeros(1)
        at = np.linspace(0, 1, degrees)
        interp = np.stack([np.interp(at, positions, np.eye(anchors)[a]) for a in range(anchors)], axis=1)
        l = np.arange(degrees)
        self.interp = tf.constant(interp * (2 * math.pi * np.sqrt(4 * math.pi / (2 * l + 1)))[:, None], tf.float32)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def spectrum(self):
        """The filter spectrum k_l (degrees, C_in, C_out), Driscoll-Healy factor included."""
        return tf.einsum("la,acd->lcd", self.interp, self.anchors)

    def call(self, x):
        re, im = sht(x, self.b)
        d = self.b_out
        k = self.spectrum()
        out = isht(tf.einsum("bclm,lcd->bdlm", re[:, :, :d, :d], k),
                   tf.einsum("bclm,lcd->bdlm", im[:, :, :d, :d], k), d)
        return out + self.bias if self.use_bias else out

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "n_anchors": self.n_anchors,
                "bandwidth_out": self.bandwidth_out, "use_bias": self.use_bias}


class SpectralPooling(keras.layers.Layer):
    def call(self, x):
        b = _bandwidth(x.shape, self.name)
        return isht(*sht(x, b), b // 2)


class AreaPooling(keras.layers.Layer):
    def build(self, input_shape):
        b = _bandwidth(input_shape, self.name)
        w = np.sin(soft.s2_grid(b)[0]).reshape(b, 2)
        self.row_weights = tf.constant((w / w.sum(axis=1, keepdims=True))[None, :, :, None, None], tf.float32)

    def call(self, x):
        shape = tf.shape(x)
        rows = tf.reshape(x, [shape[0], shape[1] // 2, 2, shape[2], shape[3]])
        x = tf.reduce_sum(rows * self.row_weights, axis=2)
        even, odd = x[:, :, 0::2], x[:, :, 1::2]
        return 0.5 * even + 0.25 * (odd + tf.roll(odd, shift=1, axis=2))


class SphericalGlobalPooling(keras.layers.Layer):
    def build(self, input_shape):
        b = _bandwidth(input_shape, self.name)
        w = soft.s2_weights(b) / (2 * 2 * b)  # quadrature weights sum to 2, longitudes to 2b
        self.weights_ = tf.constant(w[None, :, None, None], tf.float32)

    def call(self, x):
        return tf.reduce_sum(x * self.weights_, axis=[1, 2])


CUSTOM_OBJECTS = {c.__name__: c for c in (SphericalConv, SpectralPooling, AreaPooling, SphericalGlobalPooling)}
