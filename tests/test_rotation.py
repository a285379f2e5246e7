"""Rotations: Euler conventions, geodesic angle, and Lambda(R) on band-limited maps."""
import numpy as np
import pytest

import soft
from conftest import grid_points, random_coefficients, random_rotations, synthesize_at, to_angles


def rz(a):
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def ry(b):
    return np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])


def test_euler_zyz_convention(rng):
    angles = np.array([0.3, 1.1, -2.0])
    np.testing.assert_allclose(soft.euler_zyz_to_matrix(angles), rz(0.3) @ ry(1.1) @ rz(-2.0), atol=1e-15)
    R = random_rotations(rng, 20)
    np.testing.assert_allclose(soft.euler_zyz_to_matrix(soft.matrix_to_euler_zyz(R)), R, atol=1e-12)
    assert soft.euler_zyz_to_matrix(np.zeros((4, 5, 3))).shape == (4, 5, 3, 3)


def test_geodesic_angle():
    for theta in (0.0, 1e-9, 0.7, np.pi - 1e-9, np.pi):
        assert soft.geodesic_angle(np.eye(3), ry(theta)) == pytest.approx(theta, abs=1e-12)
    R = rz(0.4) @ ry(1.0)
    assert soft.geodesic_angle(R, R) == 0.0  # no NaN from a clamped arccos at trace 3
    assert soft.geodesic_angle(R, R @ rz(0.25)) == pytest.approx(0.25, abs=1e-14)


def test_identity_changes_nothing(rng):
    f = soft.isht(random_coefficients(rng, 8, (2,), real=True), real=True)
    np.testing.assert_allclose(soft.rotate(f, np.eye(3)), f, atol=1e-13)


def test_rotate_matches_direct_evaluation(rng):
    b = 6
    c = random_coefficients(rng, b)
    R = random_rotations(rng, 1)[0]
    f = soft.isht(c)
    x = grid_points(b)
    expected = synthesize_at(c, *to_angles(x @ R))  # f(R^T x): row vectors times R
    np.testing.assert_allclose(soft.rotate(f, R), expected, atol=1e-11)


def test_composition(rng):
    b = 10
    f = soft.isht(random_coefficients(rng, b, real=True), real=True)
    R1, R2 = random_rotations(rng, 2)
    np.testing.assert_allclose(soft.rotate(soft.rotate(f, R2), R1), soft.rotate(f, R1 @ R2), atol=1e-11)


def test_z_rotation_by_grid_step_is_a_roll(rng):
    b = 8
    f = soft.isht(random_coefficients(rng, b, real=True), real=True)
    np.testing.assert_allclose(soft.rotate(f, rz(3 * np.pi / b)), np.roll(f, 3, axis=-1), atol=1e-12)


def test_batches_and_channels(rng):
    b = 6
    f = soft.isht(random_coefficients(rng, b, (3, 4), real=True), real=True)  # (N, C, 2b, 2b)
    R = random_rotations(rng, 3)
    per_sample = soft.rotate(f, R[:, None])
    by_channel_axis = soft.rotate(f, R, channel_axis=1)
    nhwc = soft.rotate(np.moveaxis(f, 1, -1), R, channel_axis=-1)
    for i in range(3):
        np.testing.assert_allclose(per_sample[i], soft.rotate(f[i], R[i]), atol=1e-12)
    np.testing.assert_allclose(by_channel_axis, per_sample, atol=1e-12)
    np.testing.assert_allclose(np.moveaxis(nhwc, -1, 1), per_sample, atol=1e-12)


def test_bad_rotations():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        soft.rotate(np.zeros((8, 8)), np.eye(2))
    with pytest.raises(ValueError, match="NaN"):
        soft.geodesic_angle(np.full((3, 3), np.nan), np.eye(3))
