"""Losses and metrics on spherical embeddings (NHWC, H = colatitude on the S2kit grid).

area_weighted_huber: Huber(delta) between prediction and target after both are
multiplied by sin(theta_j) per grid row (the area each row stands for), averaged
over every element; given a list of predictions (intermediate supervision), each is
compared with the target pooled to its size and the losses are averaged.
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


class AreaWeightedHuber(keras.losses.Loss):
    def __init__(self, delta=1.0, name="area_weighted_huber", **kwargs):
        super().__init__(name=name, **kwargs)
        self.delta = delta

    def call(self, target, prediction):
        n = prediction.shape[1]
        w = area_weights(n)
        huber = keras.losses.Huber(self.delta, reduction=keras.losses.Reduction.NONE)
        per_element = huber(_pool_to(target, n)[..., None] * w[..., None], prediction[..., None] * w[..., None])
        return tf.reduce_mean(per_element, axis=[1, 2, 3])

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


def area_weighted_huber(target, predictions, delta=1.0):
    """Mean of AreaWeightedHuber over a prediction or a list of them."""
    predictions = predictions if isinstance(predictions, (list, tuple)) else [predictions]
    loss = AreaWeightedHuber(delta)
    return tf.add_n([loss(target, p) for p in predictions]) / len(predictions)


def relative_err(target, prediction):
    return tf.reduce_mean(tf.abs(prediction - target) / (tf.abs(prediction) + tf.abs(target) + 1e-8))
