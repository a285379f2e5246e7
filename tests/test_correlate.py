"""Correlation over SO(3): its definition, equivariance, SOFT 1.0 weighting, oversampling, channels."""
import numpy as np
import pytest

import soft
from soft.correlate import _as_pairs, spectrum
from conftest import grid_points, random_coefficients, random_rotations, synthesize_at, to_angles


def band_limited(rng, b, shape=(), real=True):
    c = random_coefficients(rng, b, shape, real=real)
    return c, soft.isht(c, real=real)


def definition(f, h_coefficients, g):
    """C(g) = int f(w) conj(h(g^T w)) dw by S2kit quadrature, h evaluated directly."""
    b = f.shape[-1] // 2
    x = grid_points(b)
    h_moved = synthesize_at(h_coefficients, *to_angles(x @ g))  # h(g^T x)
    weights = soft.s2_weights(b)[:, None] * np.pi / b
    return np.sum(weights * f * np.conj(h_moved))


@pytest.mark.parametrize("real", [True, False])
def test_equals_definition_on_grid(rng, real):
    b = 6
    _, f = band_limited(rng, b, real=real)
    hc, h = band_limited(rng, b, real=real)
    C = soft.correlate(f, h, channel_axis=None)
    assert C.shape == (2 * b,) * 3 and (C.dtype == np.float64) == real
    beta, alpha, gamma = soft.so3_grid(b)
    for _ in range(3):
        j, a, c = rng.integers(0, 2 * b, size=3)
        g = soft.euler_zyz_to_matrix([alpha[a], beta[j], gamma[c]])
        assert C[j, a, c] == pytest.approx(definition(f, hc, g), abs=1e-10)


def test_exact_evaluation_off_grid_and_equivariance(rng):
    """C_{f, Lambda(R) h}(g) = C_{f, h}(g R), both evaluated exactly at off-grid g."""
    b = 6
    _, f = band_limited(rng, b)
    hc, h = band_limited(rng, b)
    R, g = random_rotations(rng, 2)
    def at(signal, pattern, rotation):
        s, p, _, _ = _as_pairs(signal, pattern, None)
        return spectrum(s, p, b).evaluate(soft.matrix_to_euler_zyz(rotation)[None])[0, 0, 0, 0]
    assert at(f, h, g) == pytest.approx(definition(f, hc, g), abs=1e-10)
    assert at(f, soft.rotate(h, R), g) == pytest.approx(at(f, h, g @ R), abs=1e-10)


def test_derivatives_match_finite_differences(rng):
    b = 5
    _, f = band_limited(rng, b)
    _, h = band_limited(rng, b)
    s, p, _, _ = _as_pairs(f, h, None)
    spec = spectrum(s, p, b)
    x = np.array([[0.4, 1.3, -0.8]])  # (alpha, beta, gamma)
    Z = spec.evaluate(x)[0]
    eps = 1e-6
    for axis, index in ((0, (0, 1, 0)), (1, (1, 0, 0)), (2, (0, 0, 1))):
        dx = np.zeros((1, 3))
        dx[0, axis] = eps
        numeric = (spec.evaluate(x + dx)[0, 0, 0, 0] - spec.evaluate(x - dx)[0, 0, 0, 0]) / (2 * eps)
        assert Z[index] == pytest.approx(numeric, abs=1e-6)
    numeric = (spec.evaluate(x + [[0, eps, 0]])[0, 0, 1, 0] - spec.evaluate(x - [[0, eps, 0]])[0, 0, 1, 0]) / (2 * eps)
    assert Z[1, 1, 0] == pytest.approx(numeric, abs=1e-5)


@pytest.mark.parametrize("weighting, degree_factor", [
    ("soft2", lambda l: np.ones_like(l, dtype=float)),
    ("soft1", lambda l: np.sqrt((2 * l + 1) / 2) / (2 * np.pi)),  # 1 / wigNorm(l)
])
def test_weightings_match_so3_inverse(rng, weighting, degree_factor):
    """C = so3_ifft of F^l_{mn} = (-1)^(m+n) f(l,-m) conj h(l,-n), times SOFT 1.0's 1/wigNorm(l)."""
    b = 6
    fc, f = band_limited(rng, b)
    hc, h = band_limited(rng, b)
    m = np.arange(-(b - 1), b)
    F = ((-1.0) ** (m[:, None] + m[None, :]) * fc[:, ::-1, None] * np.conj(hc[:, None, ::-1])
         * degree_factor(np.arange(b))[:, None, None])
    np.testing.assert_allclose(soft.correlate(f, h, channel_axis=None, weighting=weighting),
                               soft.so3_ifft(F).real, atol=1e-11)


def test_oversampling_samples_the_same_polynomial(rng):
    b, o = 5, 3
    fc, f = band_limited(rng, b)
    hc, h = band_limited(rng, b)
    m = np.arange(-(b - 1), b)
    F = (-1.0) ** (m[:, None] + m[None, :]) * fc[:, ::-1, None] * np.conj(hc[:, None, ::-1])
    padded = np.zeros((b * o, 2 * b * o - 1, 2 * b * o - 1), dtype=complex)
    lo = b * o - b
    padded[:b, lo : lo + 2 * b - 1, lo : lo + 2 * b - 1] = F
    np.testing.assert_allclose(soft.correlate(f, h, channel_axis=None, oversample=o),
                               soft.so3_ifft(padded).real, atol=1e-11)


@pytest.mark.parametrize("channels", [2, 5])  # both internal routes (per-k and channels-first)
def test_channels_are_summed(rng, channels):
    b = 6
    _, f = band_limited(rng, b, (channels,))
    _, h = band_limited(rng, b, (channels,))
    total = sum(soft.correlate(f[c], h[c], channel_axis=None) for c in range(channels))
    np.testing.assert_allclose(soft.correlate(f, h), total, atol=1e-10)
    nhwc = soft.correlate(np.moveaxis(f, 0, -1), np.moveaxis(h, 0, -1), channel_axis=-1)
    np.testing.assert_allclose(nhwc, total, atol=1e-10)


def test_complex_channels_both_routes(rng):
    b = 5
    _, f = band_limited(rng, b, (4,), real=False)
    _, h = band_limited(rng, b, (4,), real=False)
    total = sum(soft.correlate(f[c], h[c], channel_axis=None) for c in range(4))
    np.testing.assert_allclose(soft.correlate(f, h), total, atol=1e-10)


def test_batches_broadcast(rng):
    b = 4
    _, f = band_limited(rng, b, (3, 2))
    _, h = band_limited(rng, b, (2,))
    C = soft.correlate(f, h)  # one pattern against three signals
    assert C.shape == (3, 2 * b, 2 * b, 2 * b)
    np.testing.assert_allclose(C[1], soft.correlate(f[1], h), atol=1e-12)
