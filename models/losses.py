"""Losses and metrics on spherical embeddings (NHWC, H = colatitude on the S2kit grid).

area_weighted_huber: Huber(delta) between prediction and target after both are
multiplied by sin(theta_j) per grid row (the area each row stands for), averaged
over every element; given a list of predictions (intermediate supervision), each is
compared with the target pooled to its size and the losses are averaged.
pose_weight > 0 adds that weight times the same loss on the maps with each channel's
(area-weighted) sphere mean removed: the part of an embedding that changes under
rotation. The sphere means (degree 0) carry shape and class but no pose, and they
dominate the plain loss, so a model can lower it a lot without learning pose.
contrast_weight > 0 adds that weight times contrast_loss, for targets that carry
contrast directions after their own channels (models.contrast; the prediction's
channel count says where the target ends).
degree_weight > 0 adds that weight times degree_loss: the error in each spherical
harmonic degree 1..degree_max relative to the target's energy in that degree, so that
degrees with little energy (the odd ones, which tell a box's half turns apart) count as
much as the dominant degree 2.
relative_err: mean |p - t| / (|p| + |t| + 1e-8), on the target's own channels.
"""
import math

import tensorflow as tf
import tf_keras as keras

from .spherical import sht


def area_weights(n):
    """sin(theta_j) for the n rows of an n x n S2kit grid, shape (1, n, 1, 1)."""
    theta = math.pi * (2 * tf.range(n, dtype=tf.float32) + 1) / (2 * n)
    return tf.reshape(tf.sin(theta), [1, n, 1, 1])


def _pool_to(target, n):
    factor = target.shape[1] // n
    return target if factor == 1 else tf.nn.avg_pool2d(target, factor, factor, "VALID")


def sphere_mean(x):
    """Area-weighted mean of each channel of NHWC maps over the sphere, shape (B, 1, 1, C)."""
    w = area_weights(x.shape[1])
    return tf.reduce_sum(x * w, axis=[1, 2], keepdims=True) / (tf.reduce_sum(w) * x.shape[2])


def _inner(a, b, w):
    """Area-weighted inner product over the sphere (axes 1, 2) and channels (the last axis) of
    (B, H, W, [K,] C) maps: (B,) or (B, K)."""
    return tf.reduce_sum(a * b * w, axis=[1, 2, -1])


def split_contrast(target, channels):
    """(target, directions) of a target carrying contrast directions after its first `channels`
    channels: (B, H, W, channels) and (B, H, W, K, channels), K >= 0."""
    directions = target[..., channels:]
    shape = tf.concat([tf.shape(directions)[:3], [-1, channels]], axis=0)
    return target[..., :channels], tf.reshape(directions, shape)


def contrast_loss(target, directions, prediction, floor=0.01):
    """Per sample (B,): mean over k of relu(s_k)^2, s_k = -<P - T, D_k> / (|D_k|^2 / 2).

    P is nearer T than T - D_k (the target under a confusing rotation, models.contrast)
    exactly when s_k < 1, and s_k = 1 at the midpoint: the loss is 0 while the error
    points away from the confuser and 1 halfway to it. Inner products are area-weighted;
    |D_k|^2 / 2 is kept above `floor` times the energy of T's rotating part, so that an
    object that is truly symmetric under Q_k adds no huge, meaningless gradient."""
    w = area_weights(prediction.shape[1])
    centred = target - sphere_mean(target)
    error = (prediction - target)[..., None, :]
    half_energy = 0.5 * _inner(directions, directions, w[..., None])
    scale = tf.maximum(half_energy, floor * _inner(centred, centred, w)[:, None])
    s = -_inner(error, directions, w[..., None]) / scale
    return tf.reduce_mean(tf.nn.relu(s) ** 2, axis=-1)


def degree_energies(maps, max_degree):
    """(B, max_degree + 1): energy of NHWC maps (B, 2b, 2b, C) in each degree l = 0..max_degree,
    summed over channels and orders (m > 0 counted twice for the negative orders of real maps)."""
    b = maps.shape[1] // 2
    if not 0 <= max_degree < b:
        raise ValueError(f"degree_max must be in [0, {b}) for {2 * b} x {2 * b} embeddings, got {max_degree}")
    re, im = sht(maps, b)
    power = (re**2 + im**2)[:, :, :max_degree + 1, :max_degree + 1]  # (B, C, l, m >= 0)
    orders = tf.concat([[1.0], tf.fill([max_degree], 2.0)], axis=0)
    return tf.reduce_sum(power * orders, axis=[1, 3])


def degree_loss(target, prediction, max_degree=8, floor=0.01):
    """Per sample (B,): mean over l = 1..max_degree of |P_l - T_l|^2 / |T_l|^2, with |T_l|^2 kept
    above `floor` times T's energy in those degrees. 0 for an exact prediction, 1 per degree
    for one that misses that degree entirely."""
    error = degree_energies(prediction - target, max_degree)[:, 1:]
    energy = degree_energies(target, max_degree)[:, 1:]
    scale = tf.maximum(energy, floor * tf.reduce_sum(energy, axis=1, keepdims=True))
    return tf.reduce_mean(error / scale, axis=1)


class AreaWeightedHuber(keras.losses.Loss):
    def __init__(self, delta=1.0, pose_weight=0.0, contrast_weight=0.0, degree_weight=0.0, degree_max=8,
                 name="area_weighted_huber", **kwargs):
        super().__init__(name=name, **kwargs)
        self.delta, self.pose_weight, self.contrast_weight = delta, pose_weight, contrast_weight
        self.degree_weight, self.degree_max = degree_weight, degree_max

    def _huber(self, target, prediction, w):
        huber = keras.losses.Huber(self.delta, reduction=keras.losses.Reduction.NONE)
        return tf.reduce_mean(huber(target[..., None] * w[..., None], prediction[..., None] * w[..., None]),
                              axis=[1, 2, 3])

    def call(self, target, prediction):
        n = prediction.shape[1]
        w = area_weights(n)
        target, directions = split_contrast(_pool_to(target, n), prediction.shape[-1])
        loss = self._huber(target, prediction, w)
        if self.contrast_weight:
            loss += self.contrast_weight * contrast_loss(target, directions, prediction)
        if self.pose_weight:
            loss += self.pose_weight * self._huber(target - sphere_mean(target), prediction - sphere_mean(prediction), w)
        if self.degree_weight:
            loss += self.degree_weight * degree_loss(target, prediction, self.degree_max)
        return loss

    def get_config(self):
        return {**super().get_config(), "delta": self.delta, "pose_weight": self.pose_weight,
                "contrast_weight": self.contrast_weight, "degree_weight": self.degree_weight,
                "degree_max": self.degree_max}


def area_weighted_huber(target, predictions, delta=1.0, pose_weight=0.0, contrast_weight=0.0, degree_weight=0.0,
                        degree_max=8):
    """Mean of AreaWeightedHuber over a prediction or a list of them."""
    predictions = predictions if isinstance(predictions, (list, tuple)) else [predictions]
    loss = AreaWeightedHuber(delta, pose_weight, contrast_weight, degree_weight, degree_max)
    return tf.add_n([loss(target, p) for p in predictions]) / len(predictions)


def contrast(target, prediction):
    """Metric: the mean contrast_loss of a prediction against a target carrying contrast directions."""
    return tf.reduce_mean(contrast_loss(*split_contrast(target, prediction.shape[-1]), prediction))


def relative_err(target, prediction):
    target = target[..., :prediction.shape[-1]]
    return tf.reduce_mean(tf.abs(prediction - target) / (tf.abs(prediction) + tf.abs(target) + 1e-8))
