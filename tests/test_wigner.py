"""Wigner small-d: closed forms, symmetries, orthogonality, unitarity, and an independent construction."""
import numpy as np
import pytest
from scipy.linalg import expm

import soft


def block(d, b, l):
    return d[..., l, b - 1 - l : b + l, b - 1 - l : b + l]


def d_by_exponential(l, beta):
    """d^l(beta) = exp(-i beta J_y) built from the angular momentum ladder (independent route)."""
    m = np.arange(-l, l + 1)
    raising = np.diag(np.sqrt((l - m[:-1]) * (l + m[:-1] + 1)), -1)  # <m+1|J+|m>
    return expm(-beta * (raising - raising.T) / 2)  # i J_y = (J+ - J-) / 2


def test_closed_forms():
    b, beta = 3, 0.83
    d = soft.wigner_d(b, beta)
    c, s = np.cos(beta), np.sin(beta)
    assert d[0, b - 1, b - 1] == pytest.approx(1.0)
    d1 = block(d, b, 1)  # rows/cols m = -1, 0, 1
    expected1 = np.array([
        [(1 + c) / 2, s / np.sqrt(2), (1 - c) / 2],
        [-s / np.sqrt(2), c, s / np.sqrt(2)],
        [(1 - c) / 2, -s / np.sqrt(2), (1 + c) / 2]])
    np.testing.assert_allclose(d1, expected1, atol=1e-15)
    d2 = block(d, b, 2)  # index m + 2
    assert d2[4, 4] == pytest.approx(((1 + c) / 2) ** 2)  # d^2_{22}
    assert d2[4, 3] == pytest.approx(-(1 + c) * s / 2)  # d^2_{21}
    assert d2[4, 2] == pytest.approx(np.sqrt(3 / 8) * s**2)  # d^2_{20}
    assert d2[3, 3] == pytest.approx((1 + c) * (2 * c - 1) / 2)  # d^2_{11}
    assert d2[3, 2] == pytest.approx(-np.sqrt(3 / 2) * s * c)  # d^2_{10}
    assert d2[2, 2] == pytest.approx((3 * c**2 - 1) / 2)  # d^2_{00}


def test_matches_exponential_construction():
    b = 12
    for beta in (0.0, 0.4, np.pi / 2, 2.9):
        d = soft.wigner_d(b, beta)
        for l in range(b):
            np.testing.assert_allclose(block(d, b, l), d_by_exponential(l, beta), atol=1e-13)


def test_symmetries():
    b, beta = 10, 1.234
    d = soft.wigner_d(b, beta)
    m = np.arange(-(b - 1), b)
    sign = (-1.0) ** (m[:, None] - m[None, :])
    np.testing.assert_allclose(d, sign * np.swapaxes(d, -1, -2), atol=1e-14)  # (-1)^(m-n) d_nm
    np.testing.assert_allclose(d, d[..., ::-1, ::-1].swapaxes(-1, -2), atol=1e-14)  # d_{-n,-m}
    np.testing.assert_allclose(soft.wigner_d(b, -beta), np.swapaxes(d, -1, -2), atol=1e-14)


def test_orthogonality():
    """int_0^pi d^l_{mn} d^l'_{mn} sin(beta) dbeta = 2/(2l+1) delta_ll' (Gauss-Legendre in cos beta)."""
    b = 8
    x, w = np.polynomial.legendre.leggauss(2 * b)
    d = soft.wigner_d(b, np.arccos(x))  # (q, l, m, n)
    gram = np.einsum("q,qlmn,qkmn->mnlk", w, d, d)
    l = np.arange(b)
    for m in range(-(b - 1), b):
        for n in range(-(b - 1), b):
            valid = l >= max(abs(m), abs(n))
            expected = np.diag(np.where(valid, 2 / (2 * l + 1), 0.0))
            np.testing.assert_allclose(gram[m + b - 1, n + b - 1], expected, atol=1e-13)


@pytest.mark.parametrize("b", [16, 64, 128])
def test_unitarity(b):
    d = soft.wigner_d(b, np.array([0.3, 2.0]))
    eye = np.einsum("...lmn,...lkn->...lmk", d, d)
    l = np.arange(b)[:, None]
    m = np.arange(-(b - 1), b)[None, :]
    expected = (np.abs(m) <= l)[..., None] * np.eye(2 * b - 1)
    assert np.abs(eye - expected).max() < 1e-10


def test_delta_is_cached_and_read_only():
    assert soft.delta_table(16) is soft.delta_table(16)
    with pytest.raises(ValueError):
        soft.delta_table(16)[0, 0, 0] = 1.0
