"""SO(3) Fourier transforms on SOFT's grid: round trips and the direct sum of F times Wigner D."""
import numpy as np
import pytest

import soft


def random_so3_coefficients(rng, b, shape=()):
    F = rng.normal(size=shape + (b, 2 * b - 1, 2 * b - 1)) + 1j * rng.normal(size=shape + (b, 2 * b - 1, 2 * b - 1))
    l = np.arange(b)[:, None, None]
    m = np.abs(np.arange(-(b - 1), b))
    return F * ((m[None, :, None] <= l) & (m[None, None, :] <= l))


@pytest.mark.parametrize("b", [1, 2, 5, 8, 16])
def test_round_trip(rng, b):
    F = random_so3_coefficients(rng, b, (2,))
    samples = soft.so3_ifft(F)
    assert samples.shape == (2, 2 * b, 2 * b, 2 * b)
    np.testing.assert_allclose(soft.so3_fft(samples), F, atol=1e-12)


def test_inverse_equals_direct_sum(rng):
    b = 6
    F = random_so3_coefficients(rng, b)
    samples = soft.so3_ifft(F)
    beta, alpha, gamma = soft.so3_grid(b)
    for _ in range(5):
        j, a, c = rng.integers(0, 2 * b, size=3)
        R = soft.euler_zyz_to_matrix([alpha[a], beta[j], gamma[c]])
        direct = np.sum(F * soft.wigner_D(b, R))
        assert samples[j, a, c] == pytest.approx(direct, abs=1e-12)


def test_bad_shapes():
    with pytest.raises(ValueError, match="2b-1"):
        soft.so3_ifft(np.zeros((4, 7, 6)))
    with pytest.raises(ValueError, match="2b, 2b, 2b"):
        soft.so3_fft(np.zeros((8, 8, 6)))
