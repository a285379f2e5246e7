"""Relative-pose evaluation as in the original MATLAB protocol, in NumPy.

Data are rotation-major: sample i + n * j is instance i in pose j. Pairs:
- "same": each instance's pose 0 with its poses 1..P-1;
- "diff": instance i in pose 0 with a random other instance of the same class
  (seed 0) in pose j, j = 1..P-1.
The truth for a pair (a, b) is R_b R_a^T; an estimate E maps a's embedding onto b's
(soft.align(signal=b, pattern=a)); its error is the geodesic angle in degrees,
optionally folded as min(err, 180 - err) for 2-fold symmetric objects (err_symm).
How far a summary could move with other test objects: bootstrap_intervals; how far the
difference between two methods on the same pairs could: difference_intervals.
"""
import numpy as np
from scipy.spatial.transform import Rotation

import soft

HALF_TURN_DEG = 150.0  # errors above this count as half turns (a box's confused poses)
BOOTSTRAP_DRAWS = 1000
STATISTICS = ("median", "mean", "acc15", "acc30")  # summary's statistics, bootstrapped


def pairs(class_ids, n_instances, n_poses, kind="same", seed=0):
    """(first, second) sample indices for rotation-major data; class_ids per sample."""
    i, j = np.meshgrid(np.arange(n_instances), np.arange(1, n_poses), indexing="ij")
    i, j = i.ravel(), j.ravel()
    if kind == "same":
        return i, i + n_instances * j
    if kind != "diff":
        raise ValueError(f"pair kind must be 'same' or 'diff', got {kind!r}")
    rng = np.random.default_rng(seed)
    classes = np.asarray(class_ids)[:n_instances]
    partner = np.empty_like(i)
    for t, inst in enumerate(i):
        others = np.flatnonzero((classes == classes[inst]) & (np.arange(n_instances) != inst))
        if not len(others):
            raise ValueError(f"class {classes[inst]} has a single instance: no different-instance pairs")
        partner[t] = rng.choice(others)
    return i, partner + n_instances * j


def normalize_channels(embeddings):
    """Per channel (NHWC): subtract the sphere mean and divide by the L2 norm on the sphere
    (S2kit quadrature). Pointwise-affine per map, so it keeps equivariance."""
    e = np.asarray(embeddings, dtype=np.float64)
    b = e.shape[1] // 2
    w = (soft.s2_weights(b) * np.pi / b)[None, :, None, None]
    mean = (w * e).sum(axis=(1, 2), keepdims=True) / (4 * np.pi)
    centred = e - mean
    norm = np.sqrt((w * centred**2).sum(axis=(1, 2), keepdims=True))
    return centred / np.maximum(norm, 1e-12)


def errors_deg(estimates, truth, symmetric=False):
    e = np.degrees(soft.geodesic_angle(estimates, truth))
    return np.minimum(e, 180 - e) if symmetric else e


def summary(errors):
    errors = np.asarray(errors)
    return {"median": float(np.median(errors)), "mean": float(np.mean(errors)),
            "acc15": float(np.mean(errors < 15)), "acc30": float(np.mean(errors < 30)), "pairs": int(len(errors))}


def _redrawn(groups, draws, seed):
    """Index arrays of `draws` bootstrap samples: the groups drawn again with replacement,
    each with all its members."""
    groups = np.asarray(groups)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    rng = np.random.default_rng(seed)
    for _ in range(draws):
        yield np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])


def _percentiles(drawn, level):
    tail = 50 * (1 - level)
    return {key: tuple(float(v) for v in np.percentile([d[key] for d in drawn], [tail, 100 - tail]))
            for key in STATISTICS}


def bootstrap_intervals(errors, groups, draws=BOOTSTRAP_DRAWS, level=0.95, seed=0):
    """Percentile intervals of each summary statistic when the groups (test instances) are
    drawn again with replacement: {"median": (low, high), "mean": ..., "acc15": ..., "acc30": ...}.
    Pairs of one group share an image, so their errors are not independent; they are
    resampled together."""
    errors = np.asarray(errors, dtype=float)
    return _percentiles([summary(errors[k]) for k in _redrawn(groups, draws, seed)], level)


def difference_intervals(errors_a, errors_b, groups, draws=BOOTSTRAP_DRAWS, level=0.95, seed=0):
    """Paired comparison of two methods on the same pairs: percentile intervals of each
    statistic of b minus that of a, both computed on the same redrawn groups. Tighter than
    comparing two bootstrap_intervals, because what the test objects share (hard objects
    are hard for both) cancels."""
    a, b = np.asarray(errors_a, dtype=float), np.asarray(errors_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired errors must have one shape, got {a.shape} and {b.shape}")
    drawn = []
    for k in _redrawn(groups, draws, seed):
        sa, sb = summary(a[k]), summary(b[k])
        drawn.append({key: sb[key] - sa[key] for key in STATISTICS})
    return _percentiles(drawn, level)


def chance_rotations(n, seed=0):
    """n uniformly random rotations: the chance reference."""
    return Rotation.random(n, random_state=seed).as_matrix().reshape(n, 3, 3)
