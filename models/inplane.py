"""In-plane rotations: turning an image about its centre is turning the object about the camera axis.

The camera looks along -z at the origin (training.render), and z is also the sphere's
pole (training.raycast), so the object rotated by Rz(alpha) (counter-clockwise seen
from the camera) renders as the image turned counter-clockwise by alpha (exactly,
since the light sits at the camera and the unit ball's disc lies inside the image),
and its spherical maps shift in longitude by alpha (exactly, for multiples of the
grid step 2 pi / n). A teacher that is equivariant to longitude shifts maps the shift
of its input to the same shift of its embedding. So one pose gives a whole circle of
(image, target) pairs for free: `random_inplane_rotation` draws one per sample,
`random_inplane_pair_rotation` does the same for the rotation-regression peer's pairs, and
`random_inplane_pose_rotation` for (true pose, target) pairs (evaluation.pose_oracle).
Draws are stateless: the same seed (a pair of integers; training.reader.augmented keys
it on the run's seed and the batch index) gives the same turns, however tf.data
schedules its parallel calls.
"""
import math

import tensorflow as tf


def rotation_about_z(alpha):
    """(..., 3, 3) float64 Rz(alpha) for angles (...,) in radians."""
    c, s = tf.cos(tf.cast(alpha, tf.float64)), tf.sin(tf.cast(alpha, tf.float64))
    zero, one = tf.zeros_like(c), tf.ones_like(c)
    return tf.stack([tf.stack([c, -s, zero], -1), tf.stack([s, c, zero], -1), tf.stack([zero, zero, one], -1)], -2)


def roll_longitude(maps, steps):
    """Maps (B, H, W, C) on an equiangular grid shifted east by steps (B,) grid columns:
    out[b, :, w] = maps[b, :, w - steps[b]], i.e. f(theta, phi - alpha), alpha = 2 pi steps / W."""
    width = tf.shape(maps)[2]
    columns = tf.math.floormod(tf.range(width)[None, :] - tf.cast(steps, tf.int32)[:, None], width)
    return tf.gather(maps, columns, axis=2, batch_dims=1)


def rotate_images(images, alpha):
    """Images (B, H, W, C) turned counter-clockwise by alpha (B,) radians about their centre
    (rows run top to bottom), bilinear, zero outside."""
    size = tf.cast(tf.shape(images)[1:3], tf.float32)
    cy, cx = (size[0] - 1) / 2, (size[1] - 1) / 2
    c, s = tf.cos(tf.cast(alpha, tf.float32)), tf.sin(tf.cast(alpha, tf.float32))
    zero = tf.zeros_like(c)
    # output pixel (x = column, y = row) reads input pixel R(-alpha) about the centre, y pointing down
    transforms = tf.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, zero, zero], axis=-1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")


def _random_steps(targets, seed):
    """One random multiple of the longitude step per sample of targets (B, H, W, C): the
    steps (B,) int32 and their angles 2 pi steps / W (B,) float32."""
    width = tf.shape(targets)[2]
    steps = tf.random.stateless_uniform([tf.shape(targets)[0]], seed, 0, width, dtype=tf.int32)
    return steps, 2 * math.pi * tf.cast(steps, tf.float32) / tf.cast(width, tf.float32)


def random_inplane_rotation(images, targets, seed):
    """(images, targets) of one batch, each sample turned by its own random multiple of the
    targets' longitude step 2 pi / W: images rotated, target maps (B, H, W, C) rolled.
    seed: shape (2,) integers of the stateless draw."""
    steps, alpha = _random_steps(targets, seed)
    return rotate_images(images, alpha), roll_longitude(targets, steps)


def random_inplane_pose_rotation(rotations, targets, seed):
    """random_inplane_rotation for poses instead of images: (Rz(alpha) R (B, 3, 3), rolled
    targets), the object turned about the camera axis; seed as there."""
    steps, alpha = _random_steps(targets, seed)
    return tf.cast(rotation_about_z(alpha), rotations.dtype) @ rotations, roll_longitude(targets, steps)


def turn_pairs(images_a, images_b, relative, alpha_a, alpha_b):
    """Pairs of images (B, H, W, C) turned by alpha_a, alpha_b (B,) radians, with their relative
    rotations (B, 3, 3) R_b R_a^T becoming Rz(alpha_b) R_b R_a^T Rz(alpha_a)^T."""
    za, zb = (tf.cast(rotation_about_z(a), relative.dtype) for a in (alpha_a, alpha_b))
    return (rotate_images(images_a, alpha_a), rotate_images(images_b, alpha_b)), zb @ relative @ tf.linalg.matrix_transpose(za)


def random_inplane_pair_rotation(images, relative, seed):
    """turn_pairs with independent uniform angles for every image: ((a, b), relative) of one batch;
    seed as in random_inplane_rotation."""
    images_a, images_b = images
    angles = tf.random.stateless_uniform([2, tf.shape(relative)[0]], seed, 0, 2 * math.pi)
    alpha_a, alpha_b = tf.unstack(angles)
    return turn_pairs(images_a, images_b, relative, alpha_a, alpha_b)
