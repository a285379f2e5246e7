"""Running exported models over NumPy arrays in batches."""
import math

import numpy as np
import tensorflow as tf

from models.inplane import roll_longitude, rotate_images


def in_batches(fn, *arrays, batch_size=64):
    """fn(*(tf.constant(chunk) for each array)) over aligned chunks of the arrays (same
    length), concatenated; dict outputs per key."""
    parts = [fn(*(tf.constant(a[i : i + batch_size]) for a in arrays)) for i in range(0, len(arrays[0]), batch_size)]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}
    return np.concatenate([p.numpy() for p in parts])


def embed_images(serve, images, batch_size=64, turns=1):
    """Images (N, H, H, 1) -> embeddings (N, n, n, C) with an exported image model's serving
    function (models.export.load_serving).

    turns > 1 averages over in-plane turns (test-time augmentation by equivariance): the
    images are also embedded turned counter-clockwise by k W / turns longitude steps
    (k = 1 .. turns - 1, W = n), and each embedding is rolled back west by as many columns
    before the mean (models.inplane: an in-plane turn is a longitude shift)."""
    if turns < 1:
        raise ValueError(f"turns must be at least 1, got {turns}")
    embed = lambda x: in_batches(lambda b: serve(images=b)["embedding"], x, batch_size=batch_size)  # noqa: E731
    embedding = embed(images)
    width = embedding.shape[2]
    if turns > width:
        raise ValueError(f"turns must be at most the embedding's width {width}, got {turns}")
    if turns == 1:
        return embedding
    total, batch = embedding.astype(np.float64), tf.constant(images)
    for k in range(1, turns):
        steps = k * width // turns
        turned = embed(rotate_images(batch, tf.fill([len(images)], 2 * math.pi * steps / width)).numpy())
        total += roll_longitude(tf.constant(turned), tf.fill([len(images)], -steps)).numpy()
    return (total / turns).astype(embedding.dtype)
