"""The learned peer: 6D rotations, the geodesic loss, a tiny fit, export, and its evaluation mode."""
import numpy as np
import pytest
import tensorflow as tf

from evaluation.run_alignment_experiment import run_experiment
from models.regression import build_regression_model, geodesic_loss, rotation_from_6d
from training import dataset
from training.config import DataConfig, RegressionConfig
from training.train_regression_baseline import read_metadata, train
from conftest import random_rotations


def test_6d_representation_gives_rotations(rng):
    R = rotation_from_6d(tf.constant(rng.normal(size=(5, 6)), tf.float32)).numpy()
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-5)
    truth = random_rotations(rng, 3)
    six = np.concatenate([truth[:, :, 0], truth[:, :, 1]], axis=1)  # the first two columns
    np.testing.assert_allclose(rotation_from_6d(tf.constant(six, tf.float32)).numpy(), truth, atol=1e-5)


def test_geodesic_loss_is_the_angle():
    c, s = np.cos(0.7), np.sin(0.7)
    R = np.array([[[c, -s, 0], [s, c, 0], [0, 0, 1]]], np.float32)
    loss = geodesic_loss(tf.constant(np.eye(3, dtype=np.float32)[None]), tf.constant(R)).numpy()
    assert loss[0] == pytest.approx(0.7, abs=1e-4)


def test_composed_head_is_a_relative_rotation():
    """The composed head: a pair of one image is the identity, and swapping the images
    inverts the rotation; the pair head is checked for shape and orthogonality."""
    a, b = tf.random.uniform((3, 32, 32, 1), seed=3), tf.random.uniform((3, 32, 32, 1), seed=4)
    composed = build_regression_model(32, hidden=16, head="composed")
    np.testing.assert_allclose(composed([a, a]).numpy(), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-5)
    forward, backward = composed([a, b]).numpy(), composed([b, a]).numpy()
    np.testing.assert_allclose(backward, np.swapaxes(forward, 1, 2), atol=1e-5)
    R = build_regression_model(32, hidden=16, head="pair")([a, b]).numpy()
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-5)
    with pytest.raises(ValueError, match="head must be one of"):
        build_regression_model(32, head="concat")


def test_tiny_fit_export_and_evaluation(tmp_path):
    config = DataConfig(classes=("chair", "car"), train_instances=3, test_instances=1, train_poses=4, test_poses=3,
                        bandwidth=4, image_size=32, shard_size=32, seed=2)
    dataset.build(config, tmp_path / "data", progress=False)
    # without in-plane turns: 4 epochs on 24 images lower the loss only when the poses can be
    # memorised; with a new turn drawn for every batch the loss need not fall (it did not in a
    # fresh clone, before the draws were seeded). The turned pairs are checked in test_inplane.py.
    peer = RegressionConfig(hidden=32, batch_size=8, epochs=4, learning_rates=(1e-3,), boundaries=(),
                            inplane_rotations=False)
    export, history = train(peer, str(tmp_path / "data"), str(tmp_path), verbose=0)
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    assert read_metadata(export)["image_size"] == 32
    images = tf.random.uniform((2, 32, 32, 1), seed=1)
    serve = tf.saved_model.load(export).signatures["serving_default"]
    R = serve(images_a=images, images_b=images)["rotation"].numpy()
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-5)
    rows, _ = run_experiment(str(tmp_path), "peer", modes=("regression",), kinds=("same",),
                             data_dir=str(tmp_path / "data"))
    assert rows[0]["mode"] == "regression" and rows[0]["pairs"] == 2 * 2
    assert 0 <= rows[0]["median"] <= 180
