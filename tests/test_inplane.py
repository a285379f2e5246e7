"""In-plane rotation augmentation: a turned image and a longitude-shifted sphere are the object
turned about the camera axis (checked against fresh renders and ray casts), and a batch's
images and targets are turned together."""
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

import soft
from evaluation.inference import embed_images
from models.inplane import (random_inplane_pair_rotation, random_inplane_pose_rotation, random_inplane_rotation,
                            roll_longitude, rotate_images, rotation_about_z, turn_pairs)
from training.raycast import EmbreeMesh, SphericalRayCaster
from training.render import Renderer
from training.shapes import make_shape

from conftest import random_coefficients


@pytest.fixture(scope="module")
def chair():
    mesh = EmbreeMesh(make_shape("chair", 1))
    return Renderer(mesh, image_size=64), SphericalRayCaster(mesh, bandwidth=16)


def test_rotation_about_z_matches_scipy():
    alpha = np.array([0.3, -2.0, 4.0])
    np.testing.assert_allclose(rotation_about_z(tf.constant(alpha)).numpy(),
                               Rotation.from_euler("z", alpha[:, None]).as_matrix(), atol=1e-12)


@pytest.mark.parametrize("steps", [1, 5, 8, 13])
def test_turned_image_is_the_render_of_the_object_turned_about_the_camera_axis(chair, steps, rng):
    renderer, _ = chair
    R = Rotation.random(random_state=rng).as_matrix()
    alpha = 2 * math.pi * steps / 32
    turned = rotate_images(tf.constant(renderer.render(R)[None, :, :, None]), tf.constant([alpha])).numpy()[0, ..., 0]
    expected = renderer.render(rotation_about_z(tf.constant(alpha)).numpy() @ R)
    other_way = renderer.render(rotation_about_z(tf.constant(-alpha)).numpy() @ R)
    error = np.abs(turned - expected).mean()
    if steps % 8 == 0:  # quarter turns move pixels onto pixels: exact
        assert error < 1e-6
    assert error < 0.03 < 0.1 < np.abs(turned - other_way).mean()  # bilinear resampling only


@pytest.mark.parametrize("steps", [1, 7, 20])
def test_longitude_shift_is_the_ray_cast_of_the_object_turned_about_the_pole(chair, steps, rng):
    _, caster = chair
    R = Rotation.random(random_state=rng).as_matrix()
    sphere = np.moveaxis(caster.cast(R), 0, -1)[None]  # (1, 32, 32, C)
    expected = caster.cast(rotation_about_z(tf.constant(2 * math.pi * steps / 32)).numpy() @ R)
    shifted = roll_longitude(tf.constant(sphere), tf.constant([steps])).numpy()[0]
    np.testing.assert_allclose(shifted, np.moveaxis(expected, 0, -1), atol=1e-5)


def test_random_inplane_rotation_turns_each_image_with_its_own_target(chair, rng):
    renderer, _ = chair
    images = np.stack([renderer.render(R) for R in Rotation.random(6, random_state=rng).as_matrix()])[..., None]
    width = 16
    # target channel 0 holds each column's index, so the shift applied can be read back
    columns = np.broadcast_to(np.arange(width, dtype=np.float32)[None, None, :, None], (6, 8, width, 1))
    turned, shifted = random_inplane_rotation(tf.constant(images), tf.constant(columns), seed=[4, 0])
    steps = (-shifted.numpy()[:, 0, 0, 0]).astype(int) % width
    np.testing.assert_array_equal(shifted.numpy(), roll_longitude(tf.constant(columns), tf.constant(steps)).numpy())
    expected = rotate_images(tf.constant(images), tf.constant(2 * np.pi * steps / width, tf.float32))
    np.testing.assert_allclose(turned.numpy(), expected.numpy(), atol=1e-4)
    assert len(set(steps)) > 1  # each sample draws its own turn


def test_turned_pairs_match_the_renders_and_rotations_of_the_turned_objects(chair, rng):
    renderer, _ = chair
    Ra, Rb = Rotation.random(2, random_state=rng).as_matrix()
    alpha_a, alpha_b = tf.constant([math.pi / 2]), tf.constant([-math.pi])  # exact pixel moves
    (a, b), relative = turn_pairs(tf.constant(renderer.render(Ra)[None, :, :, None]),
                                  tf.constant(renderer.render(Rb)[None, :, :, None]),
                                  tf.constant((Rb @ Ra.T)[None]), alpha_a, alpha_b)
    Ra2, Rb2 = (rotation_about_z(alpha).numpy()[0] @ R for alpha, R in ((alpha_a, Ra), (alpha_b, Rb)))
    np.testing.assert_allclose(a.numpy()[0, ..., 0], renderer.render(Ra2), atol=1e-5)
    np.testing.assert_allclose(b.numpy()[0, ..., 0], renderer.render(Rb2), atol=1e-5)
    np.testing.assert_allclose(relative.numpy()[0], Rb2 @ Ra2.T, atol=1e-12)


def test_random_pair_rotation_keeps_rotations_and_draws_by_seed(rng):
    relative = tf.constant(Rotation.random(8, random_state=rng).as_matrix())
    images = tf.zeros([8, 16, 16, 1])
    first, again, second = (random_inplane_pair_rotation((images, images), relative, seed)[1].numpy()
                            for seed in ([0, 1], [0, 1], [0, 2]))
    for r in (first, second):
        np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - second).max() > 0.1


def test_random_pose_rotation_keeps_each_target_the_map_in_its_new_pose(rng):
    """(R, Lambda(R) f) stays a pose and its map: (Rz(alpha) R, Lambda(Rz(alpha) R) f), exactly
    for a band-limited f, each sample with its own turn."""
    b = 8
    f = soft.isht(random_coefficients(rng, b, real=True), real=True)
    R = Rotation.random(6, random_state=rng).as_matrix()
    targets = soft.rotate(np.broadcast_to(f, (6, 2 * b, 2 * b)), R)[..., None]
    turned, shifted = random_inplane_pose_rotation(tf.constant(R), tf.constant(targets), seed=[3, 1])
    turned, shifted = turned.numpy(), shifted.numpy()
    np.testing.assert_allclose(turned @ np.swapaxes(turned, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(shifted[..., 0], soft.rotate(np.broadcast_to(f, (6, 2 * b, 2 * b)), turned),
                               atol=1e-4)  # alpha is float32
    assert len({round(float(a), 6) for a in Rotation.from_matrix(turned @ np.swapaxes(R, 1, 2)).magnitude()}) > 1


def polar_model(radii=16, width=32, sign=1):
    """An equivariant stand-in for an image model (exactly for quarter turns, else up to
    bilinear resampling): a serving function mapping images (B, H, H, 1) to their polar
    resampling (B, radii, width, 1), column w at the angle sign 2 pi w / width
    counter-clockwise from the image's x axis (rows point down), so that an in-plane turn
    of the image is a longitude shift of the map (east for sign 1, as models.inplane has it)."""
    from scipy.ndimage import map_coordinates

    def serve(images):
        images = images.numpy()
        centre = (images.shape[1] - 1) / 2
        r = np.linspace(2, 0.45 * images.shape[1], radii)[:, None]
        phi = sign * 2 * math.pi * np.arange(width) / width
        rows, cols = centre - r * np.sin(phi), centre + r * np.cos(phi)
        maps = [map_coordinates(image[..., 0], [rows, cols], order=1) for image in images]
        return {"embedding": tf.constant(np.stack(maps)[..., None])}
    return serve


@pytest.mark.parametrize("turns", [4, 5, 32])
def test_turn_averaged_embedding_of_an_equivariant_model_is_its_plain_embedding(chair, turns, rng):
    renderer, _ = chair
    images = np.stack([renderer.render(R) for R in Rotation.random(3, random_state=rng).as_matrix()])[..., None]
    serve = polar_model()
    plain = embed_images(serve, images)
    averaged = embed_images(serve, images, turns=turns)
    assert plain.shape == averaged.shape == (3, 16, 32, 1)
    scale = np.abs(plain).mean()
    assert np.abs(averaged - plain).mean() < (1e-6 if turns == 4 else 0.05) * scale  # quarter turns are exact
    # a model whose maps shift west instead gets smeared averages
    clockwise = polar_model(sign=-1)
    smeared = embed_images(clockwise, images, turns=turns) - embed_images(clockwise, images)
    assert np.abs(smeared).mean() > 0.15 * scale


def test_turns_are_checked():
    with pytest.raises(ValueError, match="at least 1"):
        embed_images(polar_model(), np.zeros((1, 16, 16, 1), np.float32), turns=0)
    with pytest.raises(ValueError, match="at most the embedding's width 32"):
        embed_images(polar_model(), np.zeros((1, 16, 16, 1), np.float32), turns=33)
