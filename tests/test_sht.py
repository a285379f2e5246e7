"""Spherical harmonic transforms: known answers, round trips, symmetry, and oracles."""
import numpy as np
import pytest
from scipy.special import sph_harm_y

import soft
from conftest import random_coefficients, synthesize_at


def test_grid_and_weights():
    theta, phi = soft.s2_grid(4)
    np.testing.assert_allclose(theta, np.pi * (2 * np.arange(8) + 1) / 16)
    np.testing.assert_allclose(phi, np.pi * np.arange(8) / 4)
    w = soft.s2_weights(8)
    assert w.sum() == pytest.approx(2.0, abs=1e-14)
    theta, _ = soft.s2_grid(8)
    # exact for band-limited polynomials in cos(theta): int cos^6 sin = 2/7
    assert np.sum(w * np.cos(theta) ** 6) == pytest.approx(2 / 7, abs=1e-14)
    beta, alpha, gamma = soft.so3_grid(4)
    np.testing.assert_allclose(beta, np.pi * (2 * np.arange(8) + 1) / 16)
    np.testing.assert_allclose(alpha, gamma)


@pytest.mark.parametrize("l, m", [(0, 0), (1, -1), (3, 2), (5, -3), (7, 7), (7, -7)])
def test_single_harmonic_is_single_coefficient(l, m):
    b = 8
    theta, phi = soft.s2_grid(b)
    Y = sph_harm_y(l, m, *np.meshgrid(theta, phi, indexing="ij"))
    expected = np.zeros((b, 2 * b - 1), dtype=complex)
    expected[l, m + b - 1] = 1
    np.testing.assert_allclose(soft.sht(Y), expected, atol=1e-13)
    np.testing.assert_allclose(soft.isht(expected), Y, atol=1e-13)


@pytest.mark.parametrize("b", [4, 5, 8, 16, 32, 64])
def test_round_trip_complex(rng, b):
    c = random_coefficients(rng, b, (2,))
    np.testing.assert_allclose(soft.sht(soft.isht(c)), c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("b", [4, 16, 64])
def test_round_trip_real(rng, b):
    c = random_coefficients(rng, b, (3,), real=True)
    f = soft.isht(c, real=True)
    assert f.dtype == np.float64
    np.testing.assert_allclose(f, soft.isht(c).real, atol=1e-12)
    np.testing.assert_allclose(soft.sht(f), c, atol=1e-12)


def test_real_input_symmetry(rng):
    b = 8
    f = rng.normal(size=(2, 2 * b, 2 * b))  # not band-limited: the symmetry holds anyway
    c = soft.sht(f)
    m = np.arange(-(b - 1), b)
    np.testing.assert_allclose(c[..., ::-1], (-1.0) ** m * np.conj(c), atol=1e-14)
    np.testing.assert_allclose(c, soft.sht(f.astype(complex)), atol=1e-14)


def test_synthesis_equals_direct_evaluation(rng):
    b = 6
    c = random_coefficients(rng, b)
    theta, phi = soft.s2_grid(b)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    np.testing.assert_allclose(soft.isht(c), synthesize_at(c, t, p), atol=1e-12)


def test_batched_equals_one_at_a_time(rng):
    f = rng.normal(size=(2, 3, 16, 16))
    batched = soft.sht(f)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(batched[i, j], soft.sht(f[i, j]), atol=1e-14)


def test_against_pyshtools(rng):
    """Third-party oracle: pyshtools' complex expansion with norm=4 (orthonormal) and
    csphase=-1 (Condon-Shortley) equals S2kit's convention, on pyshtools' own
    Driscoll-Healy grid (theta_j = pi j / n, north pole included). cilm[0, l, m] holds
    m >= 0 and cilm[1, l, |m|] holds m < 0."""
    pyshtools = pytest.importorskip("pyshtools")
    b = 8
    c = random_coefficients(rng, b)
    n = 2 * b
    theta = np.pi * np.arange(n) / n
    phi = 2 * np.pi * np.arange(2 * n) / (2 * n)
    grid = synthesize_at(c, *np.meshgrid(theta, phi, indexing="ij"))
    cilm = pyshtools.expand.SHExpandDHC(grid, norm=4, csphase=-1, sampling=2, lmax_calc=b - 1)
    theirs = np.zeros_like(c)
    for l in range(b):
        for m in range(-l, l + 1):
            theirs[l, m + b - 1] = cilm[0, l, m] if m >= 0 else cilm[1, l, -m]
    ours = soft.sht(soft.isht(c))
    np.testing.assert_allclose(ours, theirs, atol=1e-10)
    np.testing.assert_allclose(ours, c, atol=1e-12)


@pytest.mark.parametrize("shape, message", [
    ((7, 7), "even"), ((8, 6), "square"), ((8,), "at least 2"),
])
def test_bad_grids(shape, message):
    with pytest.raises(ValueError, match=message):
        soft.sht(np.zeros(shape))


def test_non_finite_input():
    f = np.zeros((8, 8))
    f[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        soft.sht(f)
    with pytest.raises(ValueError, match=r"\(\.\.\., b, 2b-1\)"):
        soft.isht(np.zeros((4, 4)))
