"""Running exported models over NumPy arrays in batches."""
import numpy as np
import tensorflow as tf


def in_batches(fn, array, batch_size=64):
    """fn(tf.constant(chunk)) over chunks of array, concatenated; dict outputs per key."""
    parts = [fn(tf.constant(array[i : i + batch_size])) for i in range(0, len(array), batch_size)]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}
    return np.concatenate([p.numpy() for p in parts])

