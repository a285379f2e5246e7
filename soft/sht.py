"""Spherical harmonic transforms on the S2kit grid (separation of variables).

Y_l^m(theta, phi) = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!) P_l^m(cos theta) exp(i m phi),
orthonormal, Condon-Shortley phase included (= scipy.special.sph_harm_y).
Maps are (..., 2b, 2b) = (theta, phi); coefficients are (..., b, 2b-1) indexed
[l, m + b - 1], zero where |m| > l. The forward transform is exact for
band-limited maps (degree < b): an FFT over phi, then one Legendre matrix per
order m with S2kit's quadrature weights. O(b^3) per map.

Internally the transforms work "order-major", (m, l, N) with N the flattened
batch, so that each order is one real matrix product over the whole batch.
"""
import functools

import numpy as np
import scipy.fft

from ._checks import as_maps, check_finite
from .grids import _colatitudes, check_bandwidth, s2_weights


@functools.lru_cache(maxsize=16)
def legendre_table(b):
    """lambda_lm(theta_j) = Y_l^m(theta_j, 0) for 0 <= m <= l < b: float64 (m, l, j).

    Standard stable recurrence upward in l for fixed m, seeded with
    lambda_mm = (-1)^m sqrt((2m+1)!! / (4 pi (2m)!!)) sin^m(theta).
    """
    b = check_bandwidth(b)
    theta = _colatitudes(b)
    x, s = np.cos(theta), np.sin(theta)
    table = np.zeros((b, b, 2 * b))
    diagonal = np.full(2 * b, np.sqrt(1 / (4 * np.pi)))
    for m in range(b):
        if m:
            diagonal = -np.sqrt((2 * m + 1) / (2 * m)) * s * diagonal
        table[m, m] = diagonal
        if m + 1 < b:
            table[m, m + 1] = np.sqrt(2 * m + 3) * x * diagonal
        for l in range(m + 2, b):
            a = np.sqrt((4 * l * l - 1) / (l * l - m * m))
            a_prev = np.sqrt((4 * (l - 1) ** 2 - 1) / ((l - 1) ** 2 - m * m))
            table[m, l] = a * (x * table[m, l - 1] - table[m, l - 2] / a_prev)
    table.setflags(write=False)
    return table


def _signed_orders(table):
    """Extend an (m >= 0, ...) table to m = -(b-1)..b-1 with lambda_{l,-m} = (-1)^m lambda_{l,m}."""
    b = table.shape[0]
    signs = (-1.0) ** np.arange(b - 1, 0, -1)
    return np.concatenate([table[:0:-1] * signs[:, None, None], table])


@functools.lru_cache(maxsize=16)
def _analysis_tables(b):
    """Forward tables (m, l, j): orders m >= 0, the same twice over (for the real and
    imaginary parts), and all orders m = -(b-1)..b-1."""
    half = legendre_table(b) * (np.pi / b) * s2_weights(b)
    tables = half, np.concatenate([half, half]), _signed_orders(half)
    for t in tables:
        t.setflags(write=False)
    return tables


@functools.lru_cache(maxsize=16)
def _synthesis_tables(b):
    """Inverse tables (m, j, l): orders m >= 0 and all orders."""
    half = np.ascontiguousarray(np.transpose(legendre_table(b), (0, 2, 1)))
    full = _signed_orders(half)
    for t in (half, full):
        t.setflags(write=False)
    return half, full


def real_times_complex(table, values):
    """Real (..., a, c) @ complex (..., c, N) without upcasting the real factor."""
    values = np.ascontiguousarray(values)
    if values.dtype not in (np.complex64, np.complex128):
        values = values.astype(np.complex128)
    stacked = values.view(values.real.dtype)  # (..., c, 2N): real and imaginary parts interleaved
    return np.ascontiguousarray(table @ stacked).view(values.dtype)


@functools.lru_cache(maxsize=16)
def _real_dft(b):
    """(2b, 2b) rows cos(m phi_k), then -sin(m phi_k), m = 0..b-1: Re and Im of the DFT."""
    angle = np.outer(np.arange(b), np.pi * np.arange(2 * b) / b)
    table = np.concatenate([np.cos(angle), -np.sin(angle)])
    table.setflags(write=False)
    return table


def sht_orders(maps, b, real):
    """Forward transform of (N, 2b, 2b) maps -> order-major (m, l, N) complex.

    real=True: orders m = 0..b-1 only (the others follow by symmetry);
    otherwise m = -(b-1)..b-1.
    """
    _, twice, full = _analysis_tables(b)
    if real:
        # Chunks of maps keep the transpose in cache; a real DFT matrix beats an FFT
        # on these short rows and lands directly in (Re/Im x m, j, N).
        out = np.empty((b, b, len(maps)), dtype=np.complex128)
        step = max(1, (1 << 22) // (32 * b * b))
        for start in range(0, len(maps), step):
            chunk = np.ascontiguousarray(np.transpose(maps[start : start + step], (2, 1, 0)), dtype=np.float64)
            parts = twice @ (_real_dft(b) @ chunk.reshape(2 * b, -1)).reshape(2 * b, 2 * b, -1)
            out[..., start : start + step] = parts[:b] + 1j * parts[b:]
        return out
    columns = np.ascontiguousarray(np.transpose(maps, (2, 1, 0)))  # (k, j, N)
    spectrum = scipy.fft.fft(columns.astype(np.complex128, copy=False), axis=0, workers=-1)
    spectrum = np.concatenate([spectrum[b + 1 :], spectrum[:b]])  # m = -(b-1)..b-1
    return real_times_complex(full, spectrum)


def isht_orders(coefficients, b, real):
    """Inverse of sht_orders: order-major (m, l, N) -> maps (N, 2b, 2b)."""
    half, full = _synthesis_tables(b)
    if real:
        per_theta = real_times_complex(half, coefficients)  # (m >= 0, j, N)
        columns = scipy.fft.irfft(per_theta, n=2 * b, axis=0, norm="forward", workers=-1)
    else:
        per_theta = real_times_complex(full, coefficients)
        padded = np.zeros((2 * b,) + per_theta.shape[1:], dtype=np.complex128)
        padded[:b] = per_theta[b - 1 :]
        padded[b + 1 :] = per_theta[: b - 1]
        columns = scipy.fft.ifft(padded, axis=0, norm="forward", workers=-1)
    return np.transpose(columns, (2, 1, 0))


def sht(f):
    """Forward transform: maps (..., 2b, 2b), real or complex -> complex128 (..., b, 2b-1)."""
    f, b = as_maps(f, "f")
    lead = f.shape[:-2]
    real = np.isrealobj(f)
    orders = sht_orders(f.reshape((-1, 2 * b, 2 * b)), b, real)
    if real:
        orders = np.concatenate([np.conj(_signed_orders(orders)[: b - 1]), orders])
    return np.transpose(orders, (2, 1, 0)).reshape(lead + (b, 2 * b - 1))


def as_coefficients(flm, name="flm"):
    """Validate a (..., b, 2b-1) coefficient array; return it (complex128) and b."""
    flm = np.asarray(flm)
    if flm.ndim < 2 or flm.shape[-1] != 2 * flm.shape[-2] - 1:
        raise ValueError(f"{name} must have shape (..., b, 2b-1), got {flm.shape}")
    check_finite(flm, name)
    return flm.astype(np.complex128, copy=False), flm.shape[-2]


def isht(flm, real=False):
    """Inverse transform: coefficients (..., b, 2b-1) -> maps (..., 2b, 2b).

    Complex128 output by default. real=True assumes the real-map symmetry
    f(l,-m) = (-1)^m conj f(l,m), reads only m >= 0, and returns float64.
    """
    flm, b = as_coefficients(flm)
    lead = flm.shape[:-2]
    orders = np.transpose(flm.reshape((-1, b, 2 * b - 1)), (2, 1, 0))
    if real:
        orders = orders[b - 1 :]
    return isht_orders(orders, b, real).reshape(lead + (2 * b, 2 * b))
