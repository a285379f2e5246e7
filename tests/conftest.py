"""Shared helpers for the tests: band-limited random signals, direct (slow) synthesis, and
a tiny trained run (dataset + teacher) shared by the model tests of one session."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from scipy.special import sph_harm_y

from training import config as configs


def random_coefficients(rng, b, shape=(), real=False):
    """Random band-limited coefficients (..., b, 2b-1), zero where |m| > l.

    real=True imposes f(l,-m) = (-1)^m conj f(l,m), i.e. a real map.
    """
    c = rng.normal(size=shape + (b, 2 * b - 1)) + 1j * rng.normal(size=shape + (b, 2 * b - 1))
    l = np.arange(b)[:, None]
    m = np.arange(-(b - 1), b)[None, :]
    c = c * (np.abs(m) <= l)
    if real:
        mirrored = np.conj(c[..., ::-1]) * (-1.0) ** m
        c = 0.5 * (c + mirrored)
    return c


def synthesize_at(coefficients, theta, phi):
    """sum_lm f_lm Y_l^m(theta, phi) by direct evaluation (scipy) for one (b, 2b-1) map."""
    b = coefficients.shape[-2]
    out = np.zeros(np.broadcast(theta, phi).shape, dtype=np.complex128)
    for l in range(b):
        for m in range(-l, l + 1):
            out += coefficients[l, m + b - 1] * sph_harm_y(l, m, theta, phi)
    return out


def grid_points(b):
    """Unit vectors (2b, 2b, 3) of the S2kit grid."""
    import soft
    theta, phi = soft.s2_grid(b)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    return np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1)


def to_angles(x):
    """Unit vectors (..., 3) -> (theta, phi)."""
    return np.arctan2(np.hypot(x[..., 0], x[..., 1]), x[..., 2]), np.arctan2(x[..., 1], x[..., 0])


def random_rotations(rng, n):
    return Rotation.random(n, random_state=rng).as_matrix()


@pytest.fixture
def rng():
    return np.random.default_rng(20190609)


TINY_DATA, TINY_TEACHER, TINY_EMBEDDING, TINY_SYNTHESIS = (
    configs.load("tiny", section) for section in ("data", "teacher", "embedding", "synthesis"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder with a 16x16-image dataset (bandwidth 8) and a trained 16x16x6 teacher."""
    from training import dataset, train_teacher
    run = tmp_path_factory.mktemp("tiny_run")
    dataset.build(TINY_DATA, run / "data", progress=False)
    train_teacher.train(TINY_TEACHER, str(run / "data"), str(run), verbose=0)
    return run
