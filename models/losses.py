"""Losses and metrics on spherical embeddings (NHWC, H = colatitude on the S2kit grid).

area_weighted_huber: Huber(delta) between prediction and target after both are
multiplied by sin(theta_j) per grid row (the area each row stands for), averaged
over every element; given a list of predictions (intermediate supervision), each is
compared with the target pooled to its size and the losses are averaged.
pose_weight > 0 adds that weight times the same loss on the maps with each channel's
(area-weighted) sphere mean removed: the part of an embedding that changes under
rotation. The sphere means (degree 0) carry shape and class but no pose, and they
dominate the plain loss, so a model can lower it a lot without learning pose.
relative_err: mean |p - t| / (|p| + |t| + 1e-8).
"""
import math

import tensorflow as tf
import tf_keras as keras


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


class AreaWeightedHuber(keras.losses.Loss):
    def __init__(self, delta=1.0, pose_weight=0.0, name="area_weighted_huber", **kwargs):
        super().__init__(name=name, **kwargs)
        self.delta, self.pose_weight = delta, pose_weight

    def _huber(self, target, prediction, w):
        huber = keras.losses.Huber(self.delta, reduction=keras.losses.Reduction.NONE)
        return tf.reduce_mean(huber(target[..., None] * w[..., None], prediction[..., None] * w[..., None]),
                              axis=[1, 2, 3])

    def call(self, target, prediction):
        n = prediction.shape[1]
        w = area_weights(n)
        target = _pool_to(target, n)
        loss = self._huber(target, prediction, w)
        if self.pose_weight:
            loss += self.pose_weight * self._huber(target - sphere_mean(target), prediction - sphere_mean(prediction), w)
        return loss

    def get_config(self):
        return {**super().get_config(), "delta": self.delta, "pose_weight": self.pose_weight}


def area_weighted_huber(target, predictions, delta=1.0, pose_weight=0.0):
    """Mean of AreaWeightedHuber over a prediction or a list of them."""
    predictions = predictions if isinstance(predictions, (list, tuple)) else [predictions]
    loss = AreaWeightedHuber(delta, pose_weight)
    return tf.add_n([loss(target, p) for p in predictions]) / len(predictions)


def relative_err(target, prediction):
    return tf.reduce_mean(tf.abs(prediction - target) / (tf.abs(prediction) + tf.abs(target) + 1e-8))
