"""Wigner small-d functions through Delta = d(pi/2) tables.

Convention (Varshalovich, as SOFT): D^l_{mn}(alpha, beta, gamma) =
exp(-i m alpha) d^l_{mn}(beta) exp(-i n gamma), with d^1_{10}(beta) = -sin(beta)/sqrt(2).
Arrays over degrees l < b and orders |m|, |n| <= l are dense, (b, 2b-1, 2b-1),
indexed [l, m + b - 1, n + b - 1], zero where |m| > l or |n| > l.

Delta^l is built by a recurrence in the first order at beta = pi/2 (the
Trapani-Navaza scheme), run downward from m = l, which is the stable direction
for m >= 0; negative m follow from Delta^l_{-m,n} = (-1)^(l+n) Delta^l_{m,n}.
Any d^l(beta) then follows from the identity
    d^l_{mn}(beta) = i^(m-n) sum_k Delta^l_{km} Delta^l_{kn} exp(-i k beta).
"""
import functools

import numpy as np
from scipy.special import gammaln

from .grids import check_bandwidth

MAX_BANDWIDTH = 1024


@functools.lru_cache(maxsize=8)
def _delta(b):
    delta = np.zeros((b, 2 * b - 1, 2 * b - 1))
    for l in range(b):
        n = np.arange(-l, l + 1)
        table = np.zeros((2 * l + 2, 2 * l + 1))  # rows m = 0..l (+1 zero row)
        log_top = 0.5 * (gammaln(2 * l + 1) - gammaln(l + n + 1) - gammaln(l - n + 1)) - l * np.log(2)
        table[l] = (-1.0) ** (l - n) * np.exp(log_top)
        for m in range(l, 0, -1):
            up = np.sqrt((l - m) * (l + m + 1)) * table[m + 1] if m < l else 0.0
            table[m - 1] = (2 * n * table[m] - up) / np.sqrt((l + m) * (l - m + 1))
        block = np.concatenate([((-1.0) ** (l + n)) * table[l:0:-1], table[: l + 1]])
        delta[l, b - 1 - l : b + l, b - 1 - l : b + l] = block
    delta.setflags(write=False)
    return delta


def delta_table(b):
    """Delta^l = d^l(pi/2) for l < b, shape (b, 2b-1, 2b-1), cached per bandwidth."""
    b = check_bandwidth(b)
    if b > MAX_BANDWIDTH:
        raise ValueError(f"bandwidth {b} exceeds the supported maximum {MAX_BANDWIDTH}")
    return _delta(b)


def _orders(b):
    return np.arange(-(b - 1), b)


@functools.lru_cache(maxsize=8)
def parity_signs(b):
    """Real signs turning the k >= 0 cos/sin sums into d: (even, odd), each (2b-1, 2b-1).

    Pairing k with -k (Delta_{-k,m} Delta_{-k,n} = (-1)^(m+n) Delta_{km} Delta_{kn}) gives
    sum_k Delta Delta exp(-i k beta) = sum_{k>=0} c_k Delta Delta (cos k beta if m+n even,
    -i sin k beta if odd), c_0 = 1, c_k = 2; times i^(m-n) both cases are real.
    """
    m = _orders(b)
    power = 1j ** ((m[:, None] - m[None, :]) % 4)
    even = (m[:, None] + m[None, :]) % 2 == 0
    return np.where(even, power.real, 0.0), np.where(even, 0.0, (-1j * power).real)


def trig_weights(b, beta):
    """(cos, sin) weights c_k cos(k beta), c_k sin(k beta) for k = 0..b-1: (*S, b) each."""
    k = np.arange(b)
    c = np.where(k == 0, 1.0, 2.0)
    angle = np.asarray(beta, dtype=np.float64)[..., None] * k
    return c * np.cos(angle), c * np.sin(angle)


def wigner_d(b, beta):
    """Wigner small-d matrices d^l(beta) for all l < b.

    beta: scalar or array of shape S (radians). Returns float64 (*S, b, 2b-1, 2b-1)
    indexed [..., l, m + b - 1, n + b - 1].
    """
    b = check_bandwidth(b)
    beta = np.asarray(beta, dtype=np.float64)
    if not np.all(np.isfinite(beta)):
        raise ValueError("beta contains NaN or inf")
    half = delta_table(b)[:, b - 1 :, :]  # (l, k >= 0, m)
    cos_w, sin_w = trig_weights(b, beta)
    half_t = np.swapaxes(half, -1, -2)  # (l, m, k)
    d_cos = (half_t * cos_w[..., None, None, :]) @ half
    d_sin = (half_t * sin_w[..., None, None, :]) @ half
    sign_even, sign_odd = parity_signs(b)
    return d_cos * sign_even + d_sin * sign_odd


def wigner_d_m0(b, beta):
    """The column d^l_{m0}(beta) for m >= 0: float64 (*S, b, b) indexed [..., l, m].

    Cheaper than wigner_d when only spherical harmonics are needed:
    Y_l^m(theta, phi) = sqrt((2l+1)/(4 pi)) d^l_{m0}(theta) exp(i m phi).
    """
    b = check_bandwidth(b)
    delta = delta_table(b)
    product = delta[:, b - 1 :, b - 1 :] * delta[:, b - 1 :, b - 1 : b]  # (l, k, m>=0)
    cos_w, sin_w = trig_weights(b, beta)
    sign_even, sign_odd = parity_signs(b)
    return (np.einsum("lkm,...k->...lm", product, cos_w) * sign_even[b - 1 :, b - 1]
            + np.einsum("lkm,...k->...lm", product, sin_w) * sign_odd[b - 1 :, b - 1])
