"""Teacher: a tiny end-to-end fit that lowers the loss, the TF-Hub export, and its boundary checks."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

from models.teacher import build_teacher, load_teacher, read_metadata
from training import dataset, reader
from training.config import DataConfig, TeacherConfig
from training.train_teacher import train

DATA = DataConfig(classes=("chair", "mug", "car"), train_instances=2, test_instances=1, train_poses=4,
                  test_poses=2, bandwidth=8, image_size=16, shard_size=8, seed=3)
TINY = TeacherConfig(channels=(6, 8), pool_after=(1,), embedding_block=1, batch_size=6, epochs=5,
                     learning_rates=(5e-3,), boundaries=())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    dataset.build(DATA, run / "data", progress=False)
    export, history = train(TINY, str(run / "data"), str(run), verbose=0)
    return run, export, history


def test_tiny_fit_lowers_the_loss(trained):
    _, _, history = trained
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]


def test_export_reloads_through_hub_with_identical_outputs(trained):
    run, export, _ = trained
    spheres = reader.as_numpy(str(run / "data"), "test")["sphere"]
    direct = tf.saved_model.load(export).signatures["serving_default"](spheres=tf.constant(spheres))
    layer = hub.KerasLayer(export, signature="serving_default", output_key="embedding", trainable=False)
    embedding = layer(tf.constant(spheres)).numpy()
    np.testing.assert_array_equal(embedding, direct["embedding"].numpy())
    assert embedding.shape == (len(spheres), 16, 16, 6)
    assert 0 < embedding.min() and embedding.max() < 1  # sigmoid-normalised
    np.testing.assert_array_equal(load_teacher(export)(tf.constant(spheres)).numpy(), embedding)
    logits = load_teacher(export, output_key="logits")(tf.constant(spheres)).numpy()
    assert logits.shape == (len(spheres), 3)
    assert read_metadata(export)["classes"] == ["chair", "mug", "car"]


def test_export_keeps_equivariance_for_z_rolls(trained):
    """Pointwise normalisation keeps the embedding equivariant: a longitude roll of the input by
    two grid steps rolls the (pooled once) embedding... here the embedding is block 1, before pooling."""
    run, export, _ = trained
    spheres = reader.as_numpy(str(run / "data"), "test")["sphere"][:2]
    teacher = load_teacher(export)
    base = teacher(tf.constant(spheres)).numpy()
    rolled = teacher(tf.constant(np.roll(spheres, 3, axis=2))).numpy()
    np.testing.assert_allclose(rolled, np.roll(base, 3, axis=2), atol=1e-5)


def test_boundary_errors(trained, tmp_path):
    run, export, _ = trained
    teacher = load_teacher(export)
    with pytest.raises(ValueError, match=r"expects spherical functions of shape \(batch, 16, 16, 2\)"):
        teacher(tf.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="expects spherical functions"):
        load_teacher(export)(tf.zeros((1, 32, 32, 2)))
    with pytest.raises(ValueError, match="no SavedModel"):
        load_teacher(str(tmp_path / "missing"))
    plain = tmp_path / "plain"
    tf.saved_model.save(tf.Module(), str(plain))
    with pytest.raises(ValueError, match="not an exported teacher"):
        load_teacher(str(plain))


def test_teacher_report_command(trained, tmp_path, capsys):
    """The report's figures: refinement beats the grid argmax on the oracle pairs, the embedding
    stays near-equivariant; a run without a teacher exits 2 naming the problem."""
    import json
    from evaluation import teacher_report
    run, _, _ = trained
    teacher_report.main(["--run", str(run)])
    assert "target-mode pose error, refined" in capsys.readouterr().out
    written = json.loads((run / "teacher_report.json").read_text())
    errors = written["target_pose_error_deg"]
    assert errors["refined"]["median"] < errors["grid"]["median"]
    assert written["equivariance_rel_l2"]["median"] < 0.2
    (tmp_path / "data").symlink_to(run / "data")
    with pytest.raises(SystemExit) as exit_info:
        teacher_report.main(["--run", str(tmp_path)])
    assert exit_info.value.code == 2 and "no SavedModel" in capsys.readouterr().err


def test_two_branch_architecture():
    config = TeacherConfig(branches=2, channels=(4, 4, 8, 8), pool_after=(2,), embedding_block=2)
    model = build_teacher(config, 8, 2, 5)
    out = model(tf.zeros((2, 16, 16, 2)))
    assert out["logits"].shape == (2, 5) and out["aux_logits"].shape == (2, 5)
    assert out["embedding"].shape == (2, 16, 16, 8)  # both branches' block 2, concatenated
    with pytest.raises(ValueError, match="one input channel per branch"):
        build_teacher(config, 8, 3, 5)
    with pytest.raises(ValueError, match="pooling"):
        build_teacher(dataclasses.replace(config, pooling="max"), 8, 2, 5)
