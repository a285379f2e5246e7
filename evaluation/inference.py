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

