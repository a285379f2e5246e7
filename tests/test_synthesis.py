"""Novel-view synthesis: embedding rotation (identity, composition, NumPy vs TF), the
synthesiser's shapes, a tiny fit, export/reload, and the scored experiment end to end."""
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import soft
from evaluation import novel_views
from models.rotation import rotate_spheres
from models.synthesis import build_synthesis_model
from training import train_embedding, train_synthesis

from conftest import TINY_EMBEDDING, TINY_SYNTHESIS as SYNTHESIS, random_coefficients, random_rotations

def smooth_batch(rng, b=16, degree=4, batch=3, channels=2):
    """(batch, 2b, 2b, channels) real maps band-limited at `degree` on the bandwidth-b grid."""
    coefficients = np.zeros((batch, channels, b, 2 * b - 1), complex)
    coefficients[..., :degree, b - degree : b + degree - 1] = random_coefficients(
        rng, degree, (batch, channels), real=True)
    return np.moveaxis(soft.isht(coefficients, real=True), 1, -1)


def test_identity_rotation_changes_nothing(rng):
    maps = smooth_batch(rng)
    eye = np.broadcast_to(np.eye(3), (len(maps), 3, 3))
    np.testing.assert_allclose(soft.rotate(maps, eye, channel_axis=-1), maps, atol=1e-12)
    np.testing.assert_allclose(rotate_spheres(tf.constant(maps, tf.float32), tf.constant(eye, tf.float32)).numpy(),
                               maps, atol=1e-5)
    np.testing.assert_allclose(novel_views.rotate_embeddings(maps, eye, "spectral"), maps, atol=1e-5)


def test_rotation_by_r1_then_r2_is_rotation_by_r2_r1(rng):
    maps = smooth_batch(rng)
    r1, r2 = random_rotations(rng, 3), random_rotations(rng, 3)
    twice = soft.rotate(soft.rotate(maps, r1, channel_axis=-1), r2, channel_axis=-1)
    once = soft.rotate(maps, r2 @ r1, channel_axis=-1)
    np.testing.assert_allclose(twice, once, atol=1e-10)
    scale = np.abs(maps).max()
    tf_twice = novel_views.rotate_embeddings(novel_views.rotate_embeddings(maps, r1), r2)
    tf_once = novel_views.rotate_embeddings(maps, r2 @ r1)
    assert np.abs(tf_twice - once).max() < 0.05 * scale  # interpolation, twice
    assert np.abs(tf_once - once).max() < 0.03 * scale
    assert np.abs(novel_views.rotate_embeddings(maps, r1) - maps).max() > 0.2 * scale  # it did move


def test_tf_rotation_runs_inside_tf_data(rng):
    maps = smooth_batch(rng, batch=4).astype(np.float32)
    rotations = random_rotations(rng, 4).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((maps, rotations)).batch(2).map(rotate_spheres)
    rotated = np.concatenate(list(ds.as_numpy_iterator()))
    np.testing.assert_allclose(rotated, rotate_spheres(maps, rotations).numpy(), atol=1e-6)
    exact = soft.rotate(maps.astype(np.float64), rotations.astype(np.float64), channel_axis=-1)
    assert np.abs(rotated - exact).max() < 0.03 * np.abs(maps).max()


@pytest.mark.parametrize("embedding_shape, image_size", [((32, 32, 16), 64), ((32, 32, 16), 128), ((16, 16, 6), 16)])
def test_synthesiser_shapes(embedding_shape, image_size):
    model = build_synthesis_model(embedding_shape, image_size, max_channels=16, n_latent=32)
    out = model(tf.random.uniform((2, *embedding_shape)))
    assert out.shape == (2, image_size, image_size, 1)
    assert float(tf.reduce_min(out)) > 0 and float(tf.reduce_max(out)) < 1
    with pytest.raises(ValueError, match="power of 2"):
        build_synthesis_model((24, 24, 4), 64)


def test_tiny_fit_export_and_reload(tiny_run):
    export, history = train_synthesis.train(SYNTHESIS, str(tiny_run / "data"), str(tiny_run), verbose=0, force=True)
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    embeddings = tf.random.uniform((3, 16, 16, 6), seed=4)
    images = [tf.saved_model.load(export).signatures["serving_default"](embeddings=embeddings)["image"].numpy()
              for _ in range(2)]
    np.testing.assert_array_equal(*images)
    assert images[0].shape == (3, 16, 16, 1)
    names = [name for name, _ in tf.train.list_variables(os.path.join(export, "variables", "variables"))]
    assert names and not any("optimizer" in n.lower() for n in names)
    meta = train_synthesis.read_metadata(export)
    assert meta["embedding_shape"] == [16, 16, 6] and meta["image_size"] == 16 and meta["inputs"] == "target"
    with pytest.raises(ValueError, match="no SavedModel"):
        train_synthesis.read_metadata(str(tiny_run / "nothing"))
    with pytest.raises(ValueError, match="not an exported synthesis model"):
        train_synthesis.read_metadata(str(tiny_run / "teacher"))


def test_predicted_inputs_and_novel_view_experiment(tiny_run, tmp_path):
    train_embedding.train(TINY_EMBEDDING, str(tiny_run / "data"), str(tiny_run), verbose=0)
    config = dataclasses.replace(SYNTHESIS, inputs="predicted", epochs=1)
    run = tmp_path / "run"
    run.mkdir()
    for name in ("data", "teacher", "embedding"):
        os.symlink(tiny_run / name, run / name)
    export, history = train_synthesis.train(config, str(run / "data"), str(run), verbose=0)
    assert train_synthesis.read_metadata(export)["inputs"] == "predicted" and np.isfinite(history["loss"][0])
    novel_views.main(["--run", str(run), "--out", str(tmp_path / "out")])
    table = (tmp_path / "out" / "novel_views.md").read_text()
    for method in ("copy input", "pred: rotated", "target: rotated", "target: unrotated"):
        assert f"| {method} |" in table
    raw = json.loads((tmp_path / "out" / "novel_views.json").read_text())
    truth = np.array(raw["angle_deg"])
    assert len(truth) == len(raw["first"]) == 6  # six test instances, pose 0 -> pose 1
    copy = np.array(raw["scores"]["copy input"]["psnr"])
    assert np.all(np.isfinite(copy)) and (tmp_path / "out" / "novel_views.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        novel_views.main(["--run", str(tmp_path / "missing")])


def test_paper_preset_models_fit_together():
    """The documented paper configuration builds: two-branch teacher on 64 x 64 spheres,
    128 x 128 images to its embedding, and the synthesiser back to 128 x 128 images."""
    from models.embedding import build_embedding_model
    from models.teacher import build_teacher
    from training import config as configs
    data, teacher, embedding, synthesis = (configs.load("paper", s) for s in ("data", "teacher", "embedding", "synthesis"))
    spheres = build_teacher(teacher, data.bandwidth, len(data.sphere_channels), n_classes=40)
    shape = tuple(spheres.output["embedding"].shape[1:])
    assert shape == (32, 32, 64)
    image_model = build_embedding_model(data.image_size, shape, layers_per_block=embedding.layers_per_block,
                                        max_channels=embedding.max_channels, n_latent=embedding.n_latent)
    assert image_model.output_shape == (None, *shape)
    synthesiser = build_synthesis_model(shape, data.image_size, layers_per_block=synthesis.layers_per_block,
                                        max_channels=synthesis.max_channels, n_latent=synthesis.n_latent)
    assert synthesiser.output_shape == (None, 128, 128, 1)
