"""The learned peer for relative pose: direct rotation regression from two images.

A Siamese Model Garden ResNet (shared weights) embeds both images; the concatenated
features go through a hidden layer to 6 numbers, the first two columns of a rotation
(Zhou et al., CVPR 2019), completed by Gram-Schmidt into R, the predicted relative pose
R_j R_i^T of the second image with respect to the first. Loss: the geodesic angle.
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


def build_regression_model(image_size, depth=18, hidden=256):
    """Keras model: [images_a, images_b] (B, H, H, 1) each -> relative rotations (B, 3, 3)."""
    backbone = ResNet(model_id=depth, input_specs=keras.layers.InputSpec(shape=[None, image_size, image_size, 1]))
    inputs = keras.Input((image_size, image_size, 1))
    features = backbone(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features[max(features, key=int)])
    encoder = keras.Model(inputs, pooled, name="siamese_encoder")
    a = keras.Input((image_size, image_size, 1), name="images_a")
    b = keras.Input((image_size, image_size, 1), name="images_b")
    x = keras.layers.Concatenate()([encoder(a), encoder(b)])
    x = keras.layers.Dense(hidden, activation="relu")(x)
    six = keras.layers.Dense(6, bias_initializer=keras.initializers.Constant([1, 0, 0, 0, 1, 0]))(x)
    rotation = keras.layers.Lambda(rotation_from_6d, name="rotation")(six)
    return keras.Model([a, b], rotation, name="rotation_regression")
