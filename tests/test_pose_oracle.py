"""The pose oracle (evaluation.pose_oracle): the image model's decoder fits the teacher's
targets from the true pose, and the report compares it with the image model on the same
fitted training samples."""
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from evaluation import pose_oracle
from evaluation.embedding_report import training_targets
from models.losses import area_weighted_huber
from models.teacher import load_teacher
from training import train_embedding

from conftest import TINY_EMBEDDING


@pytest.fixture(scope="module")
def fitted(tiny_run):
    """(rotations, instance indices, targets) of the tiny run's fitted training samples."""
    train, held_out, targets = training_targets(load_teacher(str(tiny_run / "teacher")), str(tiny_run / "data"),
                                                TINY_EMBEDDING.validation_every)
    instances = np.unique(train["instance_id"][~held_out], return_inverse=True)[1]
    return train["rotation"][~held_out], instances, targets[~held_out]


def test_decoder_learns_the_targets_from_pose_and_instance(fitted, tmp_path):
    rotations, instances, targets = fitted
    config = dataclasses.replace(TINY_EMBEDDING, epochs=30)
    model, _ = pose_oracle.train_pose_decoder(rotations, instances, targets, config, str(tmp_path), verbose=0)
    predicted = model((tf.constant(rotations, tf.float32), tf.constant(instances, tf.int32)), training=False)
    assert predicted.shape == targets.shape
    mean = np.broadcast_to(targets.mean(axis=0, keepdims=True), targets.shape).copy()
    loss, trivial = (float(area_weighted_huber(tf.constant(targets), tf.constant(p), config.huber_delta))
                     for p in (predicted, mean))
    assert loss < 0.8 * trivial, (loss, trivial)


def test_report_cli(tiny_run, fitted, capsys):
    train_embedding.train(TINY_EMBEDDING, str(tiny_run / "data"), str(tiny_run), verbose=0)  # reuses an export
    pose_oracle.main(["--run", str(tiny_run)])
    table = capsys.readouterr().out
    assert "the image (the run's image model)" in table and "the true pose + instance code (oracle)" in table
    written = json.loads((tiny_run / "pose_oracle.json").read_text())
    _, instances, targets = fitted
    assert written["samples"] == len(targets) and written["instances"] == instances.max() + 1
    trained = train_embedding.read_metadata(str(tiny_run / "embedding"))["config"]  # another test's export, maybe
    assert written["epochs"] == trained["epochs"]  # the image model's budget
    assert written["steps"] == trained["epochs"] * (len(targets) // trained["batch_size"])
    for name in ("image", "pose"):
        own = written[name]["own_target"]
        assert own["pairs"] == len(targets) and 0 <= own["median"] <= 180
        assert len(written[name]["degree_error_fractions"]) == 7  # degrees 1..b-1 of the 16 x 16 embedding


def test_run_without_image_model_is_a_named_error(tiny_run, tmp_path, capsys):
    for name in ("data", "teacher"):
        (tmp_path / name).symlink_to(tiny_run / name)
    with pytest.raises(SystemExit) as exit_info:
        pose_oracle.main(["--run", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "no SavedModel" in capsys.readouterr().err
