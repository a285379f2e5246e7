"""Rotation matrices, ZYZ Euler angles, geodesic distance, and rotating maps.

Rotations are active 3x3 float64 matrices (..., 3, 3). Euler angles follow
SOFT: R = Rz(alpha) Ry(beta) Rz(gamma), stored as (..., 3) = (alpha, beta, gamma).
A rotation acts on a function on the sphere by (Lambda(R) f)(x) = f(R^T x).
"""
import warnings

import numpy as np
from scipy.spatial.transform import Rotation

from ._checks import as_maps, check_finite
from .sht import isht, sht
from .wigner import wigner_d


def as_rotations(R, name="R"):
    R = np.asarray(R, dtype=np.float64)
    if R.ndim < 2 or R.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape (..., 3, 3), got {R.shape}")
    check_finite(R, name)
    return R


def euler_zyz_to_matrix(angles):
    """(..., 3) ZYZ angles (alpha, beta, gamma) -> (..., 3, 3) Rz(alpha) Ry(beta) Rz(gamma)."""
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[-1:] != (3,):
        raise ValueError(f"angles must have shape (..., 3), got {angles.shape}")
    check_finite(angles, "angles")
    flat = Rotation.from_euler("ZYZ", angles.reshape(-1, 3)).as_matrix()
    return flat.reshape(angles.shape[:-1] + (3, 3))


def matrix_to_euler_zyz(R):
    """(..., 3, 3) rotations -> (..., 3) ZYZ angles, beta in [0, pi].

    At beta = 0 or pi only alpha + gamma (or alpha - gamma) is defined; one valid
    choice is returned.
    """
    R = as_rotations(R)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: any valid split is fine
        flat = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_euler("ZYZ")
    return flat.reshape(R.shape[:-2] + (3,))


def geodesic_angle(R1, R2):
    """Angle of R1^T R2 in radians, in [0, pi].

    Equals arccos((trace(R1^T R2) - 1) / 2) with the argument clamped to
    [-1, 1]; computed with arctan2 so it stays accurate near 0 and pi.
    """
    M = np.swapaxes(as_rotations(R1, "R1"), -1, -2) @ as_rotations(R2, "R2")
    cos = np.clip((np.trace(M, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    axis = np.stack([M[..., 2, 1] - M[..., 1, 2], M[..., 0, 2] - M[..., 2, 0],
                     M[..., 1, 0] - M[..., 0, 1]], axis=-1)
    sin = np.linalg.norm(axis, axis=-1) / 2
    return np.arctan2(sin, cos)


def wigner_D(b, R):
    """Wigner D^l(R) for all l < b: complex (..., b, 2b-1, 2b-1), [l, m + b - 1, n + b - 1].

    D^l_{mn}(alpha, beta, gamma) = exp(-i m alpha) d^l_{mn}(beta) exp(-i n gamma).
    """
    alpha, beta, gamma = np.moveaxis(matrix_to_euler_zyz(R), -1, 0)
    m = np.arange(-(b - 1), b)
    left = np.exp(-1j * alpha[..., None] * m)[..., None, :, None]
    right = np.exp(-1j * gamma[..., None] * m)[..., None, None, :]
    return left * wigner_d(b, beta) * right


def rotate_coefficients(flm, R):
    """Coefficients of Lambda(R) f: (Lambda(R) f)_lm = sum_n D^l_{mn}(R) f_ln."""
    b = flm.shape[-2]
    return np.einsum("...lmn,...ln->...lm", wigner_D(b, R), flm)


def rotate(f, R, *, channel_axis=None):
    """Lambda(R) f, i.e. x -> f(R^T x), for band-limited maps (exact in the spectrum).

    f: (..., 2b, 2b) maps, real or complex; R: (..., 3, 3), broadcast against
    the leading axes of f. channel_axis: an axis of f holding channels that
    all rotate by the same R (e.g. -1 for NHWC embeddings); the sphere axes are
    then the last two of the others. Real maps give real results.
    """
    f = np.asarray(f)
    R = as_rotations(R)
    if channel_axis is not None:
        f = np.moveaxis(f, channel_axis, -3)
        R = R[..., None, :, :]
    f, _ = as_maps(f, "f")
    out = isht(rotate_coefficients(sht(f), R), real=np.isrealobj(f))
    if channel_axis is not None:
        out = np.moveaxis(out, -3, channel_axis)
    return out
