"""Rendering: a sphere is a disk of the right radius; poses rotate the object, not the light."""
import numpy as np
import pytest
import trimesh

from training.render import Renderer
from training.shapes import make_shape
from conftest import random_rotations


@pytest.mark.parametrize("size", [64, 128])
def test_sphere_renders_as_a_disk_of_the_right_radius(size):
    radius, distance = 0.6, 3.0
    renderer = Renderer(trimesh.creation.icosphere(subdivisions=5, radius=radius), image_size=size,
                        camera_distance=distance)
    image, depth = renderer.render(depth=True)
    assert image.shape == depth.shape == (size, size)
    # silhouette half-angle asin(r / D); the image half-width is renderer.half_width
    expected = np.tan(np.arcsin(radius / distance)) / renderer.half_width * size / 2
    area_radius = np.sqrt((image > 0).sum() / np.pi)
    assert area_radius == pytest.approx(expected, abs=0.6)
    center = image[size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1]
    assert center.min() >= renderer.ambient and image[0, 0] == 0.0  # lit object, black background
    assert depth[size // 2, size // 2] == pytest.approx(distance - radius, abs=2e-3)


def test_rotated_mesh_equals_inverse_rotated_camera(rng):
    mesh = make_shape("airplane", 0)
    for R in random_rotations(rng, 3):
        moved = mesh.copy()
        moved.vertices = mesh.vertices @ R.T
        direct = Renderer(moved).render()
        posed = Renderer(mesh).render(R)  # the camera rays rotated by R^T instead
        assert np.mean(np.abs(direct - posed) < 1e-3) > 0.995


def test_images_vary_with_pose(rng):
    renderer = Renderer(make_shape("chair", 0))
    a, b = (renderer.render(R) for R in random_rotations(rng, 2))
    assert np.abs(a - b).mean() > 0.02
    assert 0.0 <= a.min() and a.max() <= 1.0
