"""Alignment: recovered rotations (refined and on the grid), swaps, batches, |C|^2 vs Re C."""
import numpy as np
import pytest

import soft
from conftest import random_coefficients, random_rotations


def maps(rng, b, shape):
    return soft.isht(random_coefficients(rng, b, shape, real=True), real=True)


def grid_bound(b, oversample=1):
    """Geodesic distance to the nearest grid rotation is at most the sum of the
    half-steps in alpha, beta and gamma (triangle inequality on Rz Ry Rz)."""
    step = np.pi / (b * oversample)
    return step / 2 + step / 4 + step / 2


@pytest.mark.parametrize("b", [8, 16])
def test_recovers_off_grid_rotations(rng, b):
    h = maps(rng, b, (4,))  # 4 channels
    R = random_rotations(rng, 6)
    f = soft.rotate(h, R[:, None])  # (6, 4, 2b, 2b): six rotated copies
    refined = soft.align(f, h)
    assert refined.shape == (6, 3, 3)
    assert np.degrees(soft.geodesic_angle(refined, R)).max() < 0.01
    on_grid = soft.align(f, h, refine=False)
    assert soft.geodesic_angle(on_grid, R).max() <= grid_bound(b)
    oversampled = soft.align(f, h, refine=False, oversample=4)
    assert soft.geodesic_angle(oversampled, R).max() <= grid_bound(b, 4)


def test_swapping_signal_and_pattern_inverts(rng):
    b = 8
    h = maps(rng, b, (3,))
    R = random_rotations(rng, 1)[0]
    f = soft.rotate(h, R)
    assert np.degrees(soft.geodesic_angle(soft.align(h, f), R.T)) < 0.01


def test_batch_equals_one_at_a_time(rng):
    b = 8
    h = maps(rng, b, (5, 3))
    R = random_rotations(rng, 5)
    f = soft.rotate(h, R[:, None]) + 0.3 * maps(rng, b, (5, 3))  # noisy: an imperfect match
    batched = soft.align(f, h, batch_size=2)
    for i in range(5):
        single = soft.align(f[i], h[i])
        assert soft.geodesic_angle(batched[i], single) < 1e-8


def test_single_maps_and_channel_last(rng):
    b = 8
    h = maps(rng, b, (3,))
    R = random_rotations(rng, 1)[0]
    f = soft.rotate(h, R)
    nhwc = soft.align(np.moveaxis(f, 0, -1), np.moveaxis(h, 0, -1), channel_axis=-1)
    assert np.degrees(soft.geodesic_angle(nhwc, R)) < 0.01
    single = soft.align(f[0], h[0], channel_axis=None)
    assert np.degrees(soft.geodesic_angle(single, R)) < 0.01


def test_abs2_score_takes_anticorrelation(rng):
    """SOFT's |C|^2 argmax finds a negated copy; Re C (the default) does not."""
    b = 8
    h = maps(rng, b, (2,))
    R = random_rotations(rng, 1)[0]
    negated = -soft.rotate(h, R)
    assert np.degrees(soft.geodesic_angle(soft.align(negated, h, score="abs2"), R)) < 0.01
    assert np.degrees(soft.geodesic_angle(soft.align(negated, h), R)) > 1.0


def test_noisy_maps_still_align(rng):
    b = 16
    h = maps(rng, b, (8,))
    R = random_rotations(rng, 4)
    f = soft.rotate(h, R[:, None]) + 0.5 * maps(rng, b, (4, 8))
    assert np.degrees(soft.geodesic_angle(soft.align(f, h), R)).max() < 2.0
