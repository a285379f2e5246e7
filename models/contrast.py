"""Confusing rotations of a target embedding, and the directions that tell them apart.

A teacher embedding T of a nearly symmetric object (a box-like sofa, a bookshelf)
correlates almost as well with itself turned by some rotation Q (one of the box's half
turns) as unturned; its relative pose then rests on the small difference
D = T - Lambda(Q) T. A model trained only to regress T spends little on D and picks
the wrong peak. `contrast_directions` finds, for each map, the `count` highest peaks of
its autocorrelation over SO(3) (soft.correlate on SOFT's grid) at least `min_angle`
from the identity and from each other, and returns D_k for them, computed on the
band-limited part of T (the part the correlation sees; soft.rotate is exact there).
models.losses adds the loss that keeps a prediction on T's side of each D_k.
Only the target is used, no pose label: the model stays supervised by the teacher alone.
"""
import functools

import numpy as np
import tensorflow as tf

import soft

MIN_ANGLE_DEG = 45.0


@functools.lru_cache(maxsize=4)
def _grid_rotations(b):
    """(N, 3, 3) rotations of SOFT's grid at bandwidth b, in correlate's (beta, alpha, gamma) order."""
    beta, alpha, gamma = soft.so3_grid(b)
    B, A, G = np.meshgrid(beta, alpha, gamma, indexing="ij")
    return soft.euler_zyz_to_matrix(np.stack([A, B, G], axis=-1).reshape(-1, 3))


def _cosines(Q, grid):
    """cos of the angle between Q and each grid rotation: the trace form of soft.geodesic_angle,
    without its 32768 matrix products (5.3 against 0.3 ms per call at b = 16)."""
    return (np.einsum("ij,nij->n", Q, grid) - 1) / 2


def confusing_rotations(maps, count, min_angle_deg=MIN_ANGLE_DEG, chunk=32):
    """(B, count, 3, 3): for NHWC maps (B, 2b, 2b, C), the grid rotations Q with the highest
    autocorrelation sum_c <Lambda(Q) T_c, T_c>, greedily, each at least min_angle_deg from the
    identity and from the ones already picked."""
    maps = np.asarray(maps, np.float64)
    b = maps.shape[1] // 2
    grid = _grid_rotations(b)
    cos_min = np.cos(np.radians(min_angle_deg))
    away_from_identity = _cosines(np.eye(3), grid) < cos_min
    out = np.empty((len(maps), count, 3, 3))
    for i, score in _autocorrelations(maps, chunk):
        allowed = away_from_identity.copy()
        for k in range(count):
            if not allowed.any():
                raise ValueError(f"no {count} grid rotations lie {min_angle_deg} deg apart at bandwidth {b}")
            out[i, k] = grid[np.argmax(np.where(allowed, score, -np.inf))]
            allowed &= _cosines(out[i, k], grid) < cos_min
    return out


def self_similarity(maps, min_angle_deg=MIN_ANGLE_DEG, chunk=32):
    """(B,): for NHWC maps (B, 2b, 2b, C), the highest autocorrelation at a grid rotation at least
    min_angle_deg from the identity, over the autocorrelation at the identity (sum_c |T_c|^2 of
    the band-limited part, by Parseval; the identity is not a grid point). 1 for a map with
    such a symmetry on the grid; the lower, the better its pose is defined."""
    maps = np.asarray(maps, np.float64)
    grid = _grid_rotations(maps.shape[1] // 2)
    far = _cosines(np.eye(3), grid) < np.cos(np.radians(min_angle_deg))
    at_identity = (np.abs(soft.sht(np.moveaxis(maps, -1, -3))) ** 2).sum(axis=(1, 2, 3))
    out = np.empty(len(maps))
    for i, score in _autocorrelations(maps, chunk):
        out[i] = score[far].max() / at_identity[i]
    return out


def _autocorrelations(maps, chunk):
    """(index, autocorrelation on SOFT's grid, flattened as _grid_rotations) of each NHWC map."""
    for start in range(0, len(maps), chunk):
        scores = soft.correlate(maps[start:start + chunk], maps[start:start + chunk], channel_axis=-1)
        yield from enumerate(scores.reshape(len(scores), -1), start)


def contrast_directions(maps, count, min_angle_deg=MIN_ANGLE_DEG):
    """(B, 2b, 2b, count * C) float32: D_k = L - Lambda(Q_k) L for the confusing_rotations Q_k
    of NHWC maps (B, 2b, 2b, C), L their band-limited part; channels k-major."""
    maps = np.asarray(maps, np.float64)
    rotations = confusing_rotations(maps, count, min_angle_deg)
    limited = soft.isht(soft.sht(np.moveaxis(maps, -1, -3)), real=True)  # (B, C, 2b, 2b)
    turned = soft.rotate(limited[:, None], rotations[:, :, None])  # (B, K, C, 2b, 2b)
    directions = np.moveaxis(limited[:, None] - turned, (1, 2), (3, 4))  # (B, 2b, 2b, K, C)
    return directions.reshape(directions.shape[:3] + (-1,)).astype(np.float32)


def with_contrast_directions(targets, count):
    """TF: targets (B, 2b, 2b, C) -> (B, 2b, 2b, (1 + count) C), the contrast_directions
    appended after the target's own channels (models.losses splits them off again)."""
    directions = tf.numpy_function(lambda t: contrast_directions(t, count), [targets], tf.float32)
    directions = tf.ensure_shape(directions, targets.shape[:3] + (count * targets.shape[3],))
    return tf.concat([targets, directions], axis=-1)
