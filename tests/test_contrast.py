"""Confusing rotations and contrast directions (models.contrast) and the contrast loss:
a map symmetric under a half turn has that half turn as its confuser, the direction is
the asymmetric part's difference, and the loss takes its known values."""
import math

import numpy as np
import pytest
import tensorflow as tf

import soft
from models.contrast import confusing_rotations, contrast_directions, self_similarity, with_contrast_directions
from models.losses import area_weighted_huber, contrast, contrast_loss, relative_err, split_contrast

from conftest import random_coefficients

B = 8


def half_turn_on_grid():
    """A half turn that is a point of SOFT's grid at bandwidth B: (alpha, beta, gamma) = (0, beta_B, pi)."""
    H = soft.euler_zyz_to_matrix(np.array([0.0, soft.so3_grid(B)[0][B], np.pi]))
    np.testing.assert_allclose(H @ H, np.eye(3), atol=1e-12)
    return H


def band_limited(rng, channels):
    """Random real band-limited maps, NHWC (1, 2B, 2B, channels)."""
    maps = soft.isht(random_coefficients(rng, B, (channels,), real=True), real=True)
    return np.moveaxis(maps, 0, -1)[None]


def turned(maps, R):
    return soft.rotate(maps, R, channel_axis=-1)


def test_a_half_turn_symmetry_is_the_first_confuser(rng):
    H = half_turn_on_grid()
    g, h = band_limited(rng, 3), band_limited(rng, 3)
    symmetric = g + turned(g, H)  # Lambda(H) of it is itself
    nearly = symmetric + 0.1 * h
    rotations = confusing_rotations(np.concatenate([symmetric, nearly]), 3)
    for found in rotations:
        assert np.degrees(soft.geodesic_angle(found[0], H)) < 1e-6
        angles = [np.degrees(soft.geodesic_angle(found[k], found[j])) for k in range(3) for j in range(k)]
        assert min(np.degrees(soft.geodesic_angle(found, np.eye(3)))) >= 45 and min(angles) >= 45
    directions = contrast_directions(np.concatenate([symmetric, nearly]), 2)
    assert directions.shape == (2, 2 * B, 2 * B, 6) and directions.dtype == np.float32
    np.testing.assert_allclose(directions[0, ..., :3], 0, atol=1e-5)  # nothing tells the half turns apart
    np.testing.assert_allclose(directions[1, ..., :3], (0.1 * (h - turned(h, H)))[0], atol=1e-5)


def test_self_similarity_orders_symmetric_nearly_and_random_maps(rng):
    """A map with a half-turn symmetry scores 1 (its autocorrelation at the half turn is the
    true maximum, |f|^2); a slightly asymmetric one less; a random one much less."""
    H = half_turn_on_grid()
    g, h = band_limited(rng, 3), band_limited(rng, 3)
    symmetric = g + turned(g, H)
    scores = self_similarity(np.concatenate([symmetric, symmetric + 0.3 * h, h]))
    assert scores[0] == pytest.approx(1.0, abs=1e-9)
    assert 1 > scores[1] > scores[2] and scores[1] > 0.8 and scores[2] < 0.7, scores


def test_directions_in_tensorflow_follow_the_target(rng):
    targets = np.concatenate([band_limited(rng, 2), band_limited(rng, 2)]).astype(np.float32)
    carried = with_contrast_directions(tf.constant(targets), 2).numpy()
    assert carried.shape == (2, 2 * B, 2 * B, 6)
    np.testing.assert_array_equal(carried[..., :2], targets)
    np.testing.assert_allclose(carried[..., 2:], contrast_directions(targets, 2), atol=1e-6)
    target, directions = split_contrast(tf.constant(carried), 2)
    assert directions.shape == (2, 2 * B, 2 * B, 2, 2)
    np.testing.assert_array_equal(directions.numpy()[:, :, :, 1], carried[..., 4:])


def weighted(a, b):
    w = np.sin(math.pi * (2 * np.arange(a.shape[1]) + 1) / (2 * a.shape[1]))[None, :, None, None]
    return float((a * b * w).sum())


def test_contrast_loss_known_values(rng):
    T = rng.random((1, 8, 8, 3)).astype(np.float32)
    D = rng.normal(size=(1, 8, 8, 2, 3)).astype(np.float32)
    loss = lambda P: float(contrast_loss(tf.constant(T), tf.constant(D), tf.constant(P))[0])  # noqa: E731
    assert loss(T) == 0
    # P = T - D_0 (the confuser): s_0 = 2; s_1 = <D_0, D_1> / (|D_1|^2 / 2)
    s1 = weighted(D[..., 0, :], D[..., 1, :]) / (0.5 * weighted(D[..., 1, :], D[..., 1, :]))
    assert loss(T - D[..., 0, :]) == pytest.approx((4 + max(s1, 0) ** 2) / 2, rel=1e-4)
    assert loss(T - 0.5 * D[..., 0, :]) == pytest.approx((1 + max(s1 / 2, 0) ** 2) / 2, rel=1e-4)  # the midpoint
    assert loss(T + D[..., 0, :]) == pytest.approx(max(-s1, 0) ** 2 / 2, rel=1e-4)  # away from the confuser
    # a symmetric target (D = 0): the floor keeps the loss finite and zero
    assert float(contrast_loss(tf.constant(T), tf.zeros_like(D), tf.constant(T + 0.1))[0]) == 0


def test_huber_and_metrics_split_off_the_directions(rng):
    T = rng.random((2, 8, 8, 3)).astype(np.float32)
    D = rng.normal(size=(2, 8, 8, 2, 3)).astype(np.float32)
    P = T + 0.05 * rng.normal(size=T.shape).astype(np.float32)
    carried = tf.constant(np.concatenate([T, D.reshape(2, 8, 8, 6)], axis=-1))
    expected = contrast_loss(tf.constant(T), tf.constant(D), tf.constant(P)).numpy().mean()
    plain = float(area_weighted_huber(tf.constant(T), tf.constant(P), 0.1, pose_weight=2.0))
    assert float(area_weighted_huber(carried, tf.constant(P), 0.1, pose_weight=2.0)) == pytest.approx(plain, rel=1e-6)
    assert float(area_weighted_huber(carried, tf.constant(P), 0.1, pose_weight=2.0, contrast_weight=0.5)) == \
        pytest.approx(plain + 0.5 * expected, rel=1e-5)
    assert float(contrast(carried, tf.constant(P))) == pytest.approx(expected, rel=1e-5)
    assert float(relative_err(carried, tf.constant(P))) == pytest.approx(float(relative_err(tf.constant(T), tf.constant(P))))
