"""Sampling grids and quadrature of S2kit (sphere) and SOFT (rotation group).

Conventions (shared by the whole project):
- Sphere, bandwidth b: 2b x 2b samples, colatitude theta_j = pi (2j+1) / (4b),
  longitude phi_k = pi k / b; arrays are (..., theta, phi). No pole is sampled.
- SO(3), bandwidth b: beta_k = pi (2k+1) / (4b), alpha_j = gamma_j = pi j / b;
  arrays are (..., beta, alpha, gamma) and a grid point is the rotation
  Rz(alpha) Ry(beta) Rz(gamma).
"""
import functools

import numpy as np


def _colatitudes(b):
    return np.pi * (2 * np.arange(2 * b) + 1) / (4 * b)


def _longitudes(b):
    return np.pi * np.arange(2 * b) / b


def s2_grid(b):
    """Return (theta, phi), each of shape (2b,): the S2kit colatitudes and longitudes."""
    b = check_bandwidth(b)
    return _colatitudes(b), _longitudes(b)


def so3_grid(b):
    """Return (beta, alpha, gamma), each of shape (2b,), in SOFT's axis order."""
    b = check_bandwidth(b)
    return _colatitudes(b), _longitudes(b), _longitudes(b)


@functools.lru_cache(maxsize=None)
def _s2_weights(b):
    theta = _colatitudes(b)
    k = 2 * np.arange(b) + 1
    inner = np.sin(np.outer(2 * np.arange(2 * b) + 1, k) * np.pi / (4 * b)) / k
    w = (2.0 / b) * np.sin(theta) * inner.sum(axis=1)
    w.setflags(write=False)
    return w


def s2_weights(b):
    """Quadrature weights w_j, shape (2b,), over colatitude (S2kit's rule).

    sum_j w_j g(theta_j) = integral_0^pi g(theta) sin(theta) d theta exactly for
    band-limited g; the weights sum to 2. The same rule integrates over beta on
    SOFT's grid.
    """
    return _s2_weights(check_bandwidth(b))


def check_bandwidth(b):
    """Validate a bandwidth and return it as int."""
    if isinstance(b, (bool, np.bool_)) or int(b) != b or b < 1:
        raise ValueError(f"bandwidth must be a positive integer, got {b!r}")
    return int(b)
