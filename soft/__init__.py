"""soft: S2kit and SOFT in pure NumPy/SciPy.

Spherical harmonic transforms on the S2kit grid, Wigner-d functions, Fourier
transforms on SO(3) on SOFT's grid, correlation of (multi-channel) spherical
maps over SO(3) and its argmax, and rotation of band-limited maps.

Conventions: maps are (..., 2b, 2b) = (theta, phi) with theta_j = pi(2j+1)/(4b),
phi_k = pi k / b; rotations are active (..., 3, 3) float64 matrices;
(Lambda(R) f)(x) = f(R^T x); Euler angles are ZYZ, R = Rz(alpha) Ry(beta) Rz(gamma).
"""
from .correlate import align, correlate
from .grids import s2_grid, s2_weights, so3_grid
from .rotation import euler_zyz_to_matrix, geodesic_angle, matrix_to_euler_zyz, rotate, wigner_D
from .sht import isht, sht
from .so3 import so3_fft, so3_ifft
from .wigner import delta_table, wigner_d

__all__ = [
    "align", "correlate", "delta_table", "euler_zyz_to_matrix", "geodesic_angle", "isht",
    "matrix_to_euler_zyz", "rotate", "s2_grid", "s2_weights", "sht", "so3_fft", "so3_grid",
    "so3_ifft", "wigner_D", "wigner_d",
]
