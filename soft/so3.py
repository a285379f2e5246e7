"""Fourier transforms on SO(3) on SOFT's grid, axes (beta, alpha, gamma).

Inverse:  f(alpha, beta, gamma) = sum_l sum_{m,n} F^l_{mn} D^l_{mn}(alpha, beta, gamma),
Forward:  F^l_{mn} = (2l+1) / (8 pi^2) * integral f(g) conj(D^l_{mn}(g)) dg,
with D^l_{mn} = exp(-i m alpha) d^l_{mn}(beta) exp(-i n gamma) (unnormalised, see
wigner.py; SOFT's normalised Dtilde = D sqrt((2l+1)/2) / (2 pi)). Coefficients are
(..., b, 2b-1, 2b-1) indexed [l, m + b - 1, n + b - 1]; samples are (..., 2b, 2b, 2b).
Both directions go through the Delta factorisation
    d^l_{mn}(beta) = i^(m-n) sum_k Delta^l_{km} Delta^l_{kn} exp(-i k beta),
so no table of d on the beta grid is ever built, and FFTs handle alpha and gamma.
"""
import numpy as np
import scipy.fft

from ._checks import check_finite
from .grids import _colatitudes, check_bandwidth, s2_weights
from .wigner import delta_table, trig_weights


def _phase(b):
    """i^(m-n) over m, n = -(b-1)..b-1."""
    m = np.arange(-(b - 1), b)
    return 1j ** ((m[:, None] - m[None, :]) % 4)


def parity_masks(b):
    m = np.arange(-(b - 1), b)
    even = ((m[:, None] + m[None, :]) % 2 == 0).astype(np.float64)
    return even, 1.0 - even


def so3_ifft(coefficients):
    """Inverse SO(3) transform: (..., b, 2b-1, 2b-1) -> complex (..., 2b, 2b, 2b) (beta, alpha, gamma)."""
    F = np.asarray(coefficients)
    if F.ndim < 3 or F.shape[-2:] != (2 * F.shape[-3] - 1,) * 2:
        raise ValueError(f"coefficients must have shape (..., b, 2b-1, 2b-1), got {F.shape}")
    check_finite(F, "coefficients")
    b = F.shape[-3]
    half = delta_table(b)[:, b - 1 :, :]  # (l, k >= 0, m)
    T = _phase(b) * np.einsum("lkm,lkn,...lmn->...kmn", half, half, F, optimize=True)
    cos_w, sin_w = trig_weights(b, _colatitudes(b))
    even, odd = parity_masks(b)
    U = (np.einsum("jk,...kmn->...jmn", cos_w, T * even)
         - 1j * np.einsum("jk,...kmn->...jmn", sin_w, T * odd))
    grid = np.zeros(U.shape[:-2] + (2 * b, 2 * b), dtype=np.complex128)
    orders = np.r_[b + 1 : 2 * b, 0:b]  # FFT slots of m = -(b-1)..b-1
    grid[..., orders[:, None], orders[None, :]] = U
    return scipy.fft.fft2(grid, axes=(-2, -1), workers=-1)


def so3_fft(samples):
    """Forward SO(3) transform: (..., 2b, 2b, 2b) (beta, alpha, gamma) -> complex (..., b, 2b-1, 2b-1).

    Exact for functions band-limited to degree < b.
    """
    f = np.asarray(samples)
    if f.ndim < 3 or not (f.shape[-1] == f.shape[-2] == f.shape[-3]) or f.shape[-1] % 2:
        raise ValueError(f"samples must have shape (..., 2b, 2b, 2b), got {f.shape}")
    check_finite(f, "samples")
    b = check_bandwidth(f.shape[-1] // 2)
    G = scipy.fft.ifft2(f, axes=(-2, -1), norm="forward", workers=-1)  # sum f exp(+i m a + i n c)
    orders = np.r_[b + 1 : 2 * b, 0:b]
    G = G[..., orders[:, None], orders[None, :]]  # (..., j, m, n)
    cos_w, sin_w = trig_weights(b, _colatitudes(b))
    w = s2_weights(b)[:, None]
    even, odd = parity_masks(b)
    H = (np.einsum("jk,...jmn->...kmn", w * cos_w, G) * even
         - 1j * np.einsum("jk,...jmn->...kmn", w * sin_w, G) * odd)
    half = delta_table(b)[:, b - 1 :, :]
    F = np.einsum("lkm,lkn,...kmn->...lmn", half, half, H, optimize=True)
    l = np.arange(b)[:, None, None]
    return F * _phase(b) * (2 * l + 1) / (8 * np.pi**2) * (np.pi / b) ** 2
