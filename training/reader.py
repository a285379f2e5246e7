"""tf.data readers for datasets written by training.make_dataset.

read(data_dir, split, batch_size) yields dicts of batched tensors:
  image (B, H, W, 1) float32 in [0, 1]; sphere (B, 2b, 2b, C) float32 (NHWC, H = theta,
  W = phi); rotation (B, 3, 3) float64 (object pose, v -> R v); class_id, instance_id,
  pose_id, index (B,) int64; depth (B, H, W, 1) float32 when the dataset has it.
random_rotation=True applies a fresh uniform rotation Q to every sphere each time it
is read (for the teacher) and sets rotation to Q R; images are left as they are.
"""
import json
import math
import os

import numpy as np
import tensorflow as tf


def load_manifest(data_dir):
    path = os.path.join(data_dir, "manifest.json")
    if not os.path.exists(path):
        raise ValueError(f"{data_dir} has no manifest.json: build it with python -m training.make_dataset "
                         "(or finish an interrupted build by running it again)")
    with open(path) as f:
        return json.load(f)


def random_rotation_matrices(n, seed=None):
    """(n, 3, 3) float32 rotations uniform on SO(3) (normalised Gaussian quaternions)."""
    q = tf.random.normal([n, 4], seed=seed) if seed is None else tf.random.stateless_normal([n, 4], seed)
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


def _parser(manifest):
    feats = manifest["features"]
    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in ("image", "sphere", "rotation")}
    spec.update({k: tf.io.FixedLenFeature([], tf.int64) for k in ("class_id", "instance_id", "pose_id", "index")})
    if feats["depth"]:
        spec["depth"] = tf.io.FixedLenFeature([], tf.string)

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        out = {k: ex[k] for k in ("class_id", "instance_id", "pose_id", "index")}
        out["image"] = tf.reshape(tf.cast(tf.io.decode_raw(ex["image"], tf.uint8), tf.float32) / 255.0,
                                  [-1] + feats["image"])
        out["sphere"] = tf.reshape(tf.io.decode_raw(ex["sphere"], tf.float32), [-1] + feats["sphere"])
        out["rotation"] = tf.reshape(tf.io.decode_raw(ex["rotation"], tf.float64), [-1, 3, 3])
        if feats["depth"]:
            out["depth"] = tf.reshape(tf.io.decode_raw(ex["depth"], tf.float32), [-1] + feats["image"])
        return out
    return parse


def _randomly_rotated(batch):
    Q = random_rotation_matrices(tf.shape(batch["sphere"])[0])
    batch = dict(batch)
    batch["sphere"] = rotate_spheres(batch["sphere"], Q)
    batch["rotation"] = tf.matmul(tf.cast(Q, tf.float64), batch["rotation"])
    return batch


def read(data_dir, split, batch_size, *, shuffle=False, repeat=False, random_rotation=False,
         drop_remainder=False, seed=None, shuffle_buffer=2048):
    """A batched tf.data.Dataset of sample dicts (see module doc), prefetched."""
    manifest = load_manifest(data_dir)
    if split not in manifest["splits"]:
        raise ValueError(f"unknown split {split!r}; {data_dir} has {sorted(manifest['splits'])}")
    files = [os.path.join(data_dir, name) for name in manifest["splits"][split]["shards"]]
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise ValueError(f"{data_dir}: missing shard files {missing[:3]}")
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE if shuffle else None)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(_parser(manifest), num_parallel_calls=tf.data.AUTOTUNE)
    if random_rotation:
        ds = ds.map(_randomly_rotated, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def as_numpy(data_dir, split, batch_size=256):
    """The whole split as a dict of NumPy arrays, in file order."""
    parts = list(read(data_dir, split, batch_size).as_numpy_iterator())
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
