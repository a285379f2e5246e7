"""Running exported models over NumPy arrays in batches."""
import numpy as np
import tensorflow as tf


def in_batches(fn, *arrays, batch_size=64):
    """fn(*(tf.constant(chunk) for each array)) over aligned chunks of the arrays (same
    length), concatenated; dict outputs per key."""
    parts = [fn(*(tf.constant(a[i : i + batch_size]) for a in arrays)) for i in range(0, len(arrays[0]), batch_size)]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}
    return np.concatenate([p.numpy() for p in parts])


def embed_images(serve, images, batch_size=64):
    """Images (N, H, H, 1) -> embeddings (N, n, n, C) with an exported image model's serving
    function (models.export.load_serving)."""
    return in_batches(lambda x: serve(images=x)["embedding"], images, batch_size=batch_size)
