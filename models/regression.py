"""The learned peer for relative pose: direct rotation regression from two images.

A Siamese Model Garden ResNet (shared weights) embeds both images. Rotations are
regressed as 6 numbers, the first two columns of a rotation (Zhou et al., CVPR 2019),
completed by Gram-Schmidt. The output is the relative pose R_j R_i^T of the second
image with respect to the first; loss: the geodesic angle. Two heads:
- "composed": a shared hidden layer maps each image's features to its own rotation
  R_i Q in a frame Q the network is free to choose, and the output is their relative
  rotation (R_j Q)(R_i Q)^T = R_j R_i^T.
- "pair": the concatenated features of both images go through a hidden layer to the
  relative rotation directly.
On the quick config's budget both stay at chance, and the composed head still does at four
times the steps (README, "Evaluation").
"""
import tensorflow as tf
import tf_keras as keras
from official.vision.modeling.backbones import ResNet


def rotation_from_6d(x):
    """(B, 6) -> (B, 3, 3) rotations whose first two columns follow x[:, :3], x[:, 3:]."""
    a, b = x[:, :3], x[:, 3:]
    c1 = tf.math.l2_normalize(a, axis=-1)
    c2 = tf.math.l2_normalize(b - tf.reduce_sum(c1 * b, axis=-1, keepdims=True) * c1, axis=-1)
    c3 = tf.linalg.cross(c1, c2)
    return tf.stack([c1, c2, c3], axis=-1)


def geodesic_loss(true, predicted):
    """Mean geodesic angle (radians) between (B, 3, 3) rotations; the arccos argument is
    clamped slightly inside [-1, 1] so that the gradient stays finite."""
    cos = (tf.linalg.trace(tf.matmul(true, predicted, transpose_a=True)) - 1) / 2
    return tf.acos(tf.clip_by_value(cos, -1 + 1e-6, 1 - 1e-6))


HEADS = ("composed", "pair")


def _rotation_head(hidden, name):
    """features -> hidden ReLU layer -> 6D -> (B, 3, 3) rotation, starting near the identity."""
    return keras.Sequential([keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(6, bias_initializer=keras.initializers.Constant([1, 0, 0, 0, 1, 0])),
                             keras.layers.Lambda(rotation_from_6d)], name=name)


def build_regression_model(image_size, depth=18, hidden=256, head="composed"):
    """Keras model: [images_a, images_b] (B, H, H, 1) each -> relative rotations (B, 3, 3)."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    backbone = ResNet(model_id=depth, input_specs=keras.layers.InputSpec(shape=[None, image_size, image_size, 1]))
    inputs = keras.Input((image_size, image_size, 1))
    features = backbone(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features[max(features, key=int)])
    encoder = keras.Model(inputs, pooled, name="siamese_encoder")
    a = keras.Input((image_size, image_size, 1), name="images_a")
    b = keras.Input((image_size, image_size, 1), name="images_b")
    if head == "pair":
        rotation = _rotation_head(hidden, "relative_rotation")(keras.layers.Concatenate()([encoder(a), encoder(b)]))
    else:
        pose = _rotation_head(hidden, "rotation_in_learned_frame")
        rotation = keras.layers.Lambda(lambda r: tf.matmul(r[1], r[0], transpose_b=True), name="relative")(
            [pose(encoder(a)), pose(encoder(b))])
    return keras.Model([a, b], rotation, name="rotation_regression")
