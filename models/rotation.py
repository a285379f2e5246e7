"""Rotating spherical maps in TensorFlow (tf.data- and graph-friendly), batched.

The exact, spectral rotation of band-limited maps is soft.rotate (NumPy); these are the
cheap TF counterparts: bilinear resampling on the S2kit grid, for data pipelines
(random rotation of the teacher's inputs) and for rotating embeddings of a batch.
Convention as in soft: Lambda(Q) f = f(Q^T x); rotations act on column vectors.
"""
import math

import tensorflow as tf


def random_rotation_matrices(n, seed):
    """(n, 3, 3) float32 rotations uniform on SO(3) (normalised Gaussian quaternions);
    seed: shape (2,) integers of the stateless draw."""
    q = tf.random.stateless_normal([n, 4], seed)
    q = q / tf.norm(q, axis=-1, keepdims=True)
    w, x, y, z = tf.unstack(q, axis=-1)
    rows = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)


def rotate_spheres(spheres, rotations):
    """Lambda(Q) f, i.e. f(Q^T x), for NHWC maps on the S2kit grid by bilinear resampling.

    spheres (B, 2b, 2b, C), rotations (B, 3, 3). Longitude wraps; colatitude is clamped
    to the first and last rows (no sample lies on a pole). Approximate (interpolation),
    unlike soft.rotate, but cheap enough for tf.data on the fly.
    """
    n = tf.shape(spheres)[1]
    nf = tf.cast(n, tf.float32)
    idx = tf.range(n, dtype=tf.float32)
    theta = math.pi * (2 * idx + 1) / (2 * nf)
    phi = 2 * math.pi * idx / nf
    t, p = tf.meshgrid(theta, phi, indexing="ij")
    x = tf.stack([tf.sin(t) * tf.cos(p), tf.sin(t) * tf.sin(p), tf.cos(t)], axis=-1)  # (n, n, 3)
    y = tf.einsum("hwi,bij->bhwj", x, tf.cast(rotations, tf.float32))  # rows Q^T x
    src_theta = tf.atan2(tf.norm(y[..., :2], axis=-1), y[..., 2])
    src_phi = tf.math.floormod(tf.atan2(y[..., 1], y[..., 0]), 2 * math.pi)
    row = tf.clip_by_value(src_theta * nf / math.pi - 0.5, 0.0, nf - 1.0)
    col = src_phi * nf / (2 * math.pi)
    r0, c0 = tf.floor(row), tf.floor(col)
    wr, wc = (row - r0)[..., None], (col - c0)[..., None]
    r0 = tf.cast(r0, tf.int32)
    r1 = tf.minimum(r0 + 1, n - 1)
    c0 = tf.math.floormod(tf.cast(c0, tf.int32), n)
    c1 = tf.math.floormod(c0 + 1, n)

    def at(r, c):
        return tf.gather_nd(spheres, tf.stack([r, c], axis=-1), batch_dims=1)

    top = at(r0, c0) * (1 - wc) + at(r0, c1) * wc
    bottom = at(r1, c0) * (1 - wc) + at(r1, c1) * wc
    return top * (1 - wr) + bottom * wr
