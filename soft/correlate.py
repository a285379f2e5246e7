"""Correlation of spherical maps over SO(3), and alignment by its argmax (SOFT's task).

C(g) = integral over the sphere of f(w) conj(h(g^{-1} w)) dw,  f = signal, h = pattern,
sampled on SOFT's grid (beta, alpha, gamma); the argmax R = Rz(alpha) Ry(beta) Rz(gamma)
is the rotation that maps the pattern onto the signal: Lambda(R) h ~ f.

In harmonics C(g) = sum_{l,m,n} f_lm conj(h_ln) conj(D^l_{mn}(g)); with the Delta
factorisation of d^l this is
    C(alpha, beta, gamma) = sum_{k,m,n} T[k,m,n] exp(-i k beta) exp(i m alpha) exp(i n gamma),
    T[k,m,n] = sum_{c,l} (i^m Delta^l_{km} f_{c,lm}) (i^-n Delta^l_{kn} conj h_{c,ln}),
one matrix product per k summed over channels and degrees (channels are summed
before any inverse transform). T[-k] = (-1)^(m+n) T[k], so only k >= 0 is formed
and beta goes through small cosine / sine matrices (by parity of m + n); for real maps C is
real and only n >= 0 is formed.
C is a trigonometric polynomial: oversampling zero-pads its FFTs, and refinement
maximises it exactly off the grid.
"""
import functools

import numpy as np
import scipy.fft

from ._checks import as_maps, check_memory
from .grids import check_bandwidth, so3_grid
from .rotation import euler_zyz_to_matrix
from .sht import real_times_complex, sht_orders
from .wigner import delta_table, trig_weights

WEIGHTINGS = ("soft2", "soft1")
SCORES = ("real", "abs2")


@functools.lru_cache(maxsize=16)
def _layout(b, real):
    """Orders m (all) and n (n >= 0 for real maps) and the flat (m, n) pairs split by parity."""
    m = np.arange(-(b - 1), b)
    n = m[b - 1 :] if real else m
    mm, nn = np.meshgrid(np.arange(len(m)), np.arange(len(n)), indexing="ij")
    even = (m[mm] + n[nn]) % 2 == 0
    return m, n, (mm[even], nn[even]), (mm[~even], nn[~even])


@functools.lru_cache(maxsize=16)
def _beta_weights(b, size):
    """Real (size, b) matrices c_k cos(k beta_j) and c_k sin(k beta_j) on SOFT's beta grid."""
    cos_w, sin_w = trig_weights(b, so3_grid(size // 2)[0])
    return cos_w, sin_w


class Spectrum:
    """C's coefficients for a batch of P pairs, k >= 0, split by the parity of m + n.

    even: (P, b, K_even) holds T[k, m, n] for m + n even; odd: (P, b, K_odd) holds
    -i T[k, m, n] for m + n odd, so that summing over k with the real weights
    c_k cos(k beta) (even) and c_k sin(k beta) (odd) gives sum_k T_k exp(-i k beta).
    """

    def __init__(self, even, odd, b, real):
        self.even, self.odd, self.b, self.real = even, odd, b, real
        self.m, self.n, self.even_pairs, self.odd_pairs = _layout(b, real)

    def _scatter(self, even, odd, size, columns):
        """Place (..., K) even/odd values into a (..., size, columns) FFT spectrum."""
        out = np.zeros(even.shape[:-1] + (size * columns,), dtype=np.result_type(even, odd))
        for values, (mi, ni) in ((even, self.even_pairs), (odd, self.odd_pairs)):
            out[..., (self.m[mi] % size) * columns + self.n[ni] % size] = values
        return out.reshape(even.shape[:-1] + (size, columns))

    def grid(self, oversample=1, dtype=np.float64):
        """Sample C on SOFT's grid of bandwidth b * oversample: (P, 2bo, 2bo, 2bo)."""
        size = 2 * self.b * oversample
        cos_w, sin_w = (w.astype(dtype) for w in _beta_weights(self.b, size))
        complex_dtype = np.result_type(dtype, np.complex64)
        even = real_times_complex(cos_w, self.even.astype(complex_dtype, copy=False))
        odd = real_times_complex(sin_w, self.odd.astype(complex_dtype, copy=False))
        if self.real:
            spectrum = self._scatter(even, odd, size, size // 2 + 1)
            return scipy.fft.irfft2(spectrum, s=(size, size), axes=(-2, -1), norm="forward", workers=-1)
        spectrum = self._scatter(even, odd, size, size)
        return scipy.fft.ifft2(spectrum, axes=(-2, -1), norm="forward", workers=-1)

    def evaluate(self, angles, index=slice(None)):
        """C and its derivatives at ZYZ angles (Q, 3) (any real values) for pairs `index`.

        Returns Z (Q, 3, 3, 3): Z[:, i, j, k] = d^i/dbeta d^j/dalpha d^k/dgamma C
        (float64 for real maps, else complex128).
        """
        alpha, beta, gamma = angles[:, 0], angles[:, 1], angles[:, 2]
        k = np.arange(self.b)
        cos_w, sin_w = trig_weights(self.b, beta)
        # d^i/dbeta of the weights of the even (cos) and odd (sin) parts, i = 0, 1, 2
        even_w = np.stack([cos_w, -k * sin_w, -k**2 * cos_w], axis=1)
        odd_w = np.stack([sin_w, k * cos_w, -k**2 * sin_w], axis=1)
        X = np.concatenate([real_times_complex(even_w, self.even[index]),
                            real_times_complex(odd_w, self.odd[index])], axis=-1)  # (Q, 3, K)
        mi = np.concatenate([self.even_pairs[0], self.odd_pairs[0]])
        ni = np.concatenate([self.even_pairs[1], self.odd_pairs[1]])
        m, n = self.m[mi], self.n[ni]
        phase = np.exp(1j * (alpha[:, None] * m + gamma[:, None] * n))  # (P, K)
        if self.real:  # C = Re sum over n >= 0 with the n > 0 terms doubled
            phase = phase * np.where(n == 0, 1.0, 2.0)
        powers_m = np.stack([np.ones_like(m), 1j * m, -(m**2)]).astype(np.complex128)
        powers_n = np.stack([np.ones_like(n), 1j * n, -(n**2)]).astype(np.complex128)
        factors = (powers_m[:, None, :] * powers_n[None, :, :]).reshape(9, -1)  # (j, k) -> 9
        Z = X @ np.swapaxes(phase[:, None, :] * factors, 1, 2)  # (P, 3, 9)
        Z = Z.reshape(-1, 3, 3, 3)
        return Z.real if self.real else Z


def _as_pairs(signal, pattern, channel_axis):
    """Validate; return (P, C, 2b, 2b) signal and pattern, leading shape, b."""
    signal, pattern = np.asarray(signal), np.asarray(pattern)
    if channel_axis is None:
        signal, pattern = signal[..., None, :, :], pattern[..., None, :, :]
    else:
        try:
            signal = np.moveaxis(signal, channel_axis, -3)
            pattern = np.moveaxis(pattern, channel_axis, -3)
        except np.exceptions.AxisError as err:
            raise ValueError(f"channel_axis {channel_axis} is out of range: {err}") from None
    signal, b = as_maps(signal, "signal")
    pattern, _ = as_maps(pattern, "pattern")
    if signal.shape[-3:] != pattern.shape[-3:]:
        raise ValueError(
            f"signal and pattern must have the same channels and grid, got {signal.shape[-3:]} "
            f"and {pattern.shape[-3:]} (channels, 2b, 2b)")
    try:
        lead = np.broadcast_shapes(signal.shape[:-3], pattern.shape[:-3])
    except ValueError:
        raise ValueError(
            f"signal and pattern batch shapes {signal.shape[:-3]} and {pattern.shape[:-3]} "
            "do not broadcast") from None
    shape = lead + signal.shape[-3:]
    flat = (-1,) + signal.shape[-3:]
    return (np.broadcast_to(signal, shape).reshape(flat), np.broadcast_to(pattern, shape).reshape(flat),
            lead, check_bandwidth(b))


def _degree_weights(b, weighting):
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    l = np.arange(b)
    if weighting == "soft2":
        return np.ones(b)
    # SOFT 1.0 feeds the same products to its normalised inverse transform,
    # i.e. divides degree l by wigNorm(l) = 2 pi sqrt(2 / (2l + 1)).
    return np.sqrt((2 * l + 1) / 2) / (2 * np.pi)


def _orders(maps, b, real):
    """(P, C, 2b, 2b) maps -> (P, l, M, C) coefficients, M = orders m >= 0 if real else all."""
    P, C = maps.shape[:2]
    orders = sht_orders(maps.reshape(P * C, 2 * b, 2 * b), b, real)  # (M, l, P*C)
    return np.transpose(orders.reshape(orders.shape[:2] + (P, C)), (2, 1, 0, 3))


def _with_negative_orders(coefficients, axis):
    """Extend m >= 0 along `axis` to m = -(b-1)..b-1 with f(l,-m) = (-1)^m conj f(l,m)."""
    b = coefficients.shape[axis]
    positive = np.moveaxis(coefficients, axis, -1)
    negative = np.conj(positive[..., :0:-1]) * (-1.0) ** np.arange(b - 1, 0, -1)
    return np.moveaxis(np.concatenate([negative, positive], axis=-1), -1, axis)


@functools.lru_cache(maxsize=4)
def _degree_tables(b, real):
    """Real (K, l, k) tables i^(m-n) Delta^l_{km} Delta^l_{kn} (even parity) and
    -i i^(m-n) Delta^l_{km} Delta^l_{kn} (odd parity) over each parity's (m, n) pairs."""
    m, n, even_pairs, odd_pairs = _layout(b, real)
    half = delta_table(b)[:, b - 1 :, :]  # (l, k >= 0, m)
    tables = []
    for (mi, ni), factor in ((even_pairs, 1), (odd_pairs, -1j)):
        mv, nv = m[mi], n[ni]
        sign = (factor * 1j ** ((mv - nv) % 4)).real
        table = half[:, :, mv + b - 1] * half[:, :, nv + b - 1] * sign  # (l, k, K)
        tables.append(np.ascontiguousarray(np.transpose(table, (2, 0, 1))))
    return tuple(tables)


DEGREE_TABLE_MAX_BANDWIDTH = 32  # (K, l, k) tables: 16 MB at b = 32, 270 MB at b = 64


def spectrum(signal, pattern, b, weighting="soft2"):
    """The Spectrum of C for (P, C, 2b, 2b) signal and pattern arrays.

    Two exact routes: with several channels and b <= 32, channels are summed first
    (G^l_{mn} = sum_c f_clm conj h_cln, one matrix product per degree) and cached
    (K, l, k) tables finish the job; otherwise one matrix product per k runs over
    channels and degrees together. Both cost O(P b^4) at most.
    """
    real = np.isrealobj(signal) and np.isrealobj(pattern)
    P, C = signal.shape[:2]
    m, n, (me, ne), (mo, no) = _layout(b, real)
    f = _orders(signal, b, real) * _degree_weights(b, weighting)[:, None, None]  # (P, l, M, C)
    h = np.conj(_orders(pattern, b, real))  # (P, l, N, C); N = n >= 0 for real maps
    if C > 2 and b <= DEGREE_TABLE_MAX_BANDWIDTH:
        h = np.swapaxes(h, 2, 3)
        G = f @ h  # (P, l, m, n): channels summed first
        if real:  # the m < 0 half from f(l,-m) = (-1)^m conj f(l,m)
            negative = (np.conj(f[:, :, :0:-1]) @ h) * ((-1.0) ** np.arange(b - 1, 0, -1))[:, None]
            G = np.concatenate([negative, G], axis=2)
        parts = []
        for (mi, ni), table in zip(((me, ne), (mo, no)), _degree_tables(b, real)):
            per_pair = np.ascontiguousarray(np.transpose(G[:, :, mi, ni], (2, 0, 1)))  # (K, P, l)
            parts.append(np.ascontiguousarray(np.transpose(real_times_complex(
                np.swapaxes(table, 1, 2), np.swapaxes(per_pair, 1, 2)), (2, 1, 0))))
        return Spectrum(parts[0], parts[1], b, real)
    if real:
        f = _with_negative_orders(f, axis=2)
    f, h = np.transpose(f, (0, 3, 1, 2)), np.transpose(h, (0, 3, 1, 2))  # (P, C, l, m or n)
    delta = delta_table(b)
    even = np.empty((P, b, len(me)), dtype=np.complex128)
    odd = np.empty((P, b, len(mo)), dtype=np.complex128)
    for k in range(b):  # only degrees l >= k have Delta^l_{k.} != 0
        dk = delta[k:, b - 1 + k, :]  # (l, m)
        a = (1j ** (m % 4)) * dk * f[:, :, k:, :]  # (P, C, l, m)
        g = (1j ** (-n % 4)) * dk[:, n + b - 1] * h[:, :, k:, :]  # (P, C, l, n)
        T = np.swapaxes(a.reshape(P, -1, len(m)), 1, 2) @ g.reshape(P, -1, len(n))  # (P, m, n)
        even[:, k] = T[:, me, ne]
        odd[:, k] = -1j * T[:, mo, no]
    return Spectrum(even, odd, b, real)


def _check_oversample(oversample):
    if isinstance(oversample, (bool, np.bool_)) or int(oversample) != oversample or oversample < 1:
        raise ValueError(f"oversample must be a positive integer, got {oversample!r}")
    return int(oversample)


def correlate(signal, pattern, *, channel_axis=-3, weighting="soft2", oversample=1):
    """Correlation grid of signal and pattern, summed over channels.

    signal, pattern: (..., C, 2b, 2b) by default (channel_axis=-3); any axis may hold
    the channels (e.g. -1 for NHWC maps), or None for single maps (..., 2b, 2b).
    Leading axes broadcast: many pairs at once. Real maps give a float64 grid,
    complex maps a complex128 one, of shape (..., 2bo, 2bo, 2bo), axes (beta, alpha,
    gamma) of SOFT's grid at bandwidth b * oversample. weighting="soft1"
    reproduces SOFT 1.0's degree weighting; "soft2" is the true correlation.
    """
    signal, pattern, lead, b = _as_pairs(signal, pattern, channel_axis)
    oversample = _check_oversample(oversample)
    size = 2 * b * oversample
    check_memory(signal.shape[0] * size**3 * 16 * 3, f"a {size}^3 correlation grid for {signal.shape[0]} pairs")
    grid = spectrum(signal, pattern, b, weighting).grid(oversample)
    return grid.reshape(lead + grid.shape[1:])


def _score(Z, score):
    """Score S and its gradient/Hessian over (alpha, beta, gamma) from derivative array Z."""
    index = [(0, 1, 0), (1, 0, 0), (0, 0, 1)]  # d/dalpha, d/dbeta, d/dgamma as (i_beta, j_alpha, k_gamma)
    value = Z[:, 0, 0, 0]
    grad = np.stack([Z[:, i, j, k] for i, j, k in index], axis=-1)
    hess = np.empty(Z.shape[:1] + (3, 3), dtype=Z.dtype)
    for p, (i1, j1, k1) in enumerate(index):
        for q, (i2, j2, k2) in enumerate(index):
            hess[:, p, q] = Z[:, i1 + i2, j1 + j2, k1 + k2]
    if score == "real":
        return value.real, grad.real, hess.real
    conj = np.conj
    s = np.abs(value) ** 2
    g = 2 * (conj(value)[:, None] * grad).real
    H = 2 * (conj(grad)[:, :, None] * grad[:, None, :] + conj(value)[:, None, None] * hess).real
    return s, g, H


def _newton_steps(grad, hess, max_step):
    """Ascent steps: Newton's on |eigenvalues| of the Hessian (saddle-free), norm <= max_step."""
    eigval, eigvec = np.linalg.eigh(hess)
    scale = np.abs(eigval)
    scale = np.maximum(scale, 1e-12 * scale.max(axis=-1, keepdims=True) + 1e-300)
    step = np.einsum("pij,pj->pi", eigvec, np.einsum("pji,pj->pi", eigvec, grad) / scale)
    norm = np.linalg.norm(step, axis=-1, keepdims=True)
    return step * np.minimum(1.0, max_step / np.maximum(norm, 1e-300))


def _refine(spec, angles, score, max_step, iterations=30, tolerance=1e-10):
    """Maximise the score from start angles (P, 3): Newton ascent with backtracking.

    A pair stops when its accepted step is below `tolerance` radians, or when no
    step along its Newton direction improves the score (it sits at the maximum to
    rounding).
    """
    angles = angles.copy()
    value, grad, hess = _score(spec.evaluate(angles), score)
    active = np.arange(len(angles))
    for _ in range(iterations):
        if not active.size:
            break
        step = _newton_steps(grad[active], hess[active], max_step)
        pending = np.arange(active.size)  # positions in `active` still looking for a better point
        accepted = np.zeros(active.size, dtype=bool)
        while pending.size:
            index = active[pending]
            trial = angles[index] + step[pending]
            t_value, t_grad, t_hess = _score(spec.evaluate(trial, index), score)
            better = t_value > value[index]
            good = index[better]
            angles[good], value[good], grad[good], hess[good] = (
                trial[better], t_value[better], t_grad[better], t_hess[better])
            accepted[pending[better]] = True
            pending = pending[~better]
            step[pending] *= 0.5
            pending = pending[np.linalg.norm(step[pending], axis=-1) > tolerance]
        moved = np.linalg.norm(step, axis=-1) > tolerance
        active = active[accepted & moved]
    return angles


def align(signal, pattern, *, channel_axis=-3, refine=True, oversample=1, score="real",
          weighting="soft2", batch_size=None):
    """Rotation R (..., 3, 3) such that Lambda(R) pattern best matches signal.

    Takes the argmax of the correlation on SOFT's grid (oversampled by `oversample`),
    then, with refine=True, maximises the correlation exactly off the grid (Newton
    ascent on the trigonometric polynomial). score="real" maximises Re C;
    score="abs2" maximises |C|^2 as SOFT does (an anti-correlation can then win).
    Arguments as in correlate(); pairs are processed in batches of batch_size
    (default: as many as fit in about 256 MB).
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    signal, pattern, lead, b = _as_pairs(signal, pattern, channel_axis)
    oversample = _check_oversample(oversample)
    size = 2 * b * oversample
    check_memory(size**3 * 16 * 3, f"a {size}^3 correlation grid")
    if batch_size is None:
        batch_size = max(1, (256 << 20) // (size**3 * 16 * 3))
    beta, alpha, gamma = so3_grid(b * oversample)
    rotations = np.empty((signal.shape[0], 3, 3))
    for start in range(0, signal.shape[0], batch_size):
        chunk = slice(start, start + batch_size)
        spec = spectrum(signal[chunk], pattern[chunk], b, weighting)
        grid = spec.grid(oversample, dtype=np.float32)  # a search grid: single precision suffices
        values = grid.real if score == "real" else np.abs(grid) ** 2
        j, a, c = np.unravel_index(np.argmax(values.reshape(len(grid), -1), axis=1), values.shape[1:])
        angles = np.stack([alpha[a], beta[j], gamma[c]], axis=-1)
        if refine:
            angles = _refine(spec, angles, score, max_step=np.pi / (2 * b))
        rotations[chunk] = euler_zyz_to_matrix(angles)
    return rotations.reshape(lead + (3, 3))
