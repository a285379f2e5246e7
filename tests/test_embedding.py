"""Image embedding model: shapes, padding that really wraps, the loss by hand, a tiny fit,
export/reload, resume after interruption, MirroredStrategy on two logical CPUs, mixed
precision, and the step benchmark."""
import dataclasses
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from PIL import Image

from models.embedding import ResidualUnit, build_embedding_model
from models.losses import area_weighted_huber, relative_err
from models.padding import PaddedConv, PaddedConvTranspose, pad
from training import train_embedding

from conftest import TINY_EMBEDDING as EMBEDDING

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("image_size, target", [(64, (32, 32, 32)), (128, (32, 32, 32)), (64, (16, 16, 8))])
def test_output_shapes(image_size, target):
    model = build_embedding_model(image_size, target, layers_per_block=1, max_channels=16, n_latent=32)
    out = model(tf.random.uniform((2, image_size, image_size, 1)))
    assert out.shape == (2,) + target
    assert float(tf.reduce_min(out)) > 0 and float(tf.reduce_max(out)) < 1
    listed = build_embedding_model(image_size, target, layers_per_block=1, max_channels=16, n_latent=32,
                                   intermediate_supervision=True)
    assert [o.shape[1] for o in listed.outputs] == [4 * 2**i for i in range(int(math.log2(target[0])) - 3)] + [target[0]]


def test_decoder_convolutions_wrap_longitude():
    x = tf.random.normal((2, 8, 8, 4), seed=1)
    rolled = tf.roll(x, 1, axis=2)
    for layer, factor in ((PaddedConvTranspose(3, 3, 2), 2), (PaddedConvTranspose(3, 7, 2), 2),
                          (PaddedConv(3, 3, 1, "sphere"), 1), (ResidualUnit(4, 1, "sphere"), 1)):
        np.testing.assert_allclose(layer(rolled).numpy(), np.roll(layer(x).numpy(), factor, axis=2), atol=1e-5)


def test_padding_modes():
    x = tf.reshape(tf.range(2 * 4 * 4, dtype=tf.float32), (1, 4, 4, 2))
    sphere = pad(x, 1, "sphere").numpy()[0]
    np.testing.assert_array_equal(sphere[0, 1:-1], np.roll(x.numpy()[0, 0], 2, axis=0))  # across the north pole
    np.testing.assert_array_equal(sphere[1:-1, 0], x.numpy()[0, :, -1])  # longitude wraps
    conv = PaddedConv(2, 3, 1, "reflect")
    y = conv(x)
    manual = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT"), conv.conv.kernel, 1, "VALID")
    np.testing.assert_allclose(y.numpy(), manual.numpy(), atol=1e-5)


def test_loss_by_hand():
    """2 x 2 grid: rows at theta = pi/4 and 3 pi/4, both weighted sin = 1/sqrt(2)."""
    target = tf.constant([[[[0.2], [0.4]], [[0.6], [0.8]]]])
    prediction = tf.constant([[[[0.3], [0.4]], [[0.6], [0.0]]]])
    w = 1 / math.sqrt(2)
    delta = 0.1
    diffs = np.array([0.1, 0.0, 0.0, 0.8]) * w
    huber = np.where(np.abs(diffs) <= delta, 0.5 * diffs**2, delta * (np.abs(diffs) - 0.5 * delta))
    assert float(area_weighted_huber(target, prediction, delta)) == pytest.approx(huber.mean(), rel=1e-6)
    assert float(area_weighted_huber(target, [prediction, prediction], delta)) == pytest.approx(huber.mean(), rel=1e-6)
    # pose_weight: the same loss again on the maps minus their sphere means (equal row
    # weights here, so plain means: target 0.5, prediction 0.325), times the weight
    centred = (np.array([0.1, 0.0, 0.0, -0.8]) - (0.325 - 0.5)) * w  # (p - t) - (mean p - mean t)
    pose = np.where(np.abs(centred) <= delta, 0.5 * centred**2, delta * (np.abs(centred) - 0.5 * delta))
    assert float(area_weighted_huber(target, prediction, delta, pose_weight=3.0)) == pytest.approx(
        huber.mean() + 3.0 * pose.mean(), rel=1e-6)
    expected_rel = np.mean(np.abs([0.1, 0, 0, 0.8]) / (np.array([0.5, 0.8, 1.2, 0.8]) + 1e-8))
    assert float(relative_err(target, prediction)) == pytest.approx(expected_rel, rel=1e-6)


def maps_and_degree_3_part(rng, batch, channels):
    """Random band-limited NHWC maps at b = 8 and their degree-3 part, both (batch, 16, 16, channels)."""
    import soft
    from conftest import random_coefficients
    coefficients = random_coefficients(rng, 8, (batch, channels), real=True)  # (B, C, l, m)
    only_3 = np.zeros_like(coefficients)
    only_3[:, :, 3] = coefficients[:, :, 3]
    return tuple(np.moveaxis(soft.isht(c, real=True), 1, -1) for c in (coefficients, only_3))


def test_degree_loss_known_values(rng):
    """Exact prediction: 0. Missing everything but the sphere means: 1 per degree. An error of
    half the target's degree-3 part, one degree of five: 0.5^2 / 5. Energies match soft.sht."""
    import soft
    from models.losses import degree_energies, degree_loss
    target, part_3 = maps_and_degree_3_part(rng, 2, 3)
    loss = lambda p: degree_loss(tf.constant(target, tf.float32), tf.constant(p, tf.float32), 5).numpy()  # noqa: E731
    np.testing.assert_allclose(loss(target), 0, atol=1e-5)
    np.testing.assert_allclose(loss(np.full_like(target, 0.3)), 1, rtol=1e-4)
    np.testing.assert_allclose(loss(target + 0.5 * part_3), 0.25 / 5, rtol=1e-4)
    expected = (np.abs(soft.sht(np.moveaxis(target, -1, 1))) ** 2).sum(axis=(1, 3))[:, :6]
    np.testing.assert_allclose(degree_energies(tf.constant(target, tf.float32), 5).numpy(), expected, rtol=1e-4)
    with_degrees = area_weighted_huber(tf.constant(target, tf.float32), tf.constant(target + 0.5 * part_3, tf.float32),
                                       0.1, degree_weight=2.0, degree_max=5)
    plain = area_weighted_huber(tf.constant(target, tf.float32), tf.constant(target + 0.5 * part_3, tf.float32), 0.1)
    assert float(with_degrees - plain) == pytest.approx(2.0 * 0.25 / 5, rel=1e-4)
    with pytest.raises(ValueError, match=r"degree_max must be in \[0, 8\)"):
        degree_loss(tf.constant(target, tf.float32), tf.constant(target, tf.float32), 8)


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run


def test_training_pairs_are_turned_images_with_shifted_targets(run):
    """Every augmented training pair is some sample's image turned by 2 pi k / W with its
    teacher target shifted by k columns (the wiring of models.inplane into the pipeline)."""
    from models.inplane import roll_longitude, rotate_images
    from models.teacher import load_teacher
    from training import reader
    data_dir = str(run / "data")
    teacher = load_teacher(str(run / "teacher"))
    raw = reader.as_numpy(data_dir, "train")
    targets = teacher(tf.constant(raw["sphere"])).numpy()
    width = targets.shape[2]
    train, _, _ = train_embedding.split_datasets(data_dir, teacher, EMBEDDING, 8)
    images, shifted = (t.numpy() for t in next(iter(train)))
    turns = []
    for image, target in zip(images, shifted):
        matches = [(i, k) for k in range(width) for i in range(len(targets))
                   if np.allclose(np.roll(targets[i], k, axis=1), target, atol=1e-5)]
        assert matches, "a training target is no longer any sample's target shifted in longitude"
        i, k = matches[0]
        turned = rotate_images(tf.constant(raw["image"][i:i + 1]), tf.constant([2 * math.pi * k / width]))
        np.testing.assert_allclose(image, turned.numpy()[0], atol=1e-4)
        turns.append(k)
    assert len(set(turns)) > 1
    np.testing.assert_allclose(roll_longitude(tf.constant(targets[:1]), tf.constant([3])).numpy()[0],
                               np.roll(targets[0], 3, axis=1))


def test_training_pipeline_is_reproducible(run):
    """Shuffling and in-plane turns are seeded (stateless turns keyed on the batch index), so
    two pipelines of one config yield the same batches; another seed turns them otherwise."""
    from models.teacher import load_teacher
    teacher = load_teacher(str(run / "teacher"))

    def batches(config):
        train, _, _ = train_embedding.split_datasets(str(run / "data"), teacher, config, 8)
        return [x.numpy() for batch in train.take(3) for x in batch]

    first, again = batches(EMBEDDING), batches(EMBEDDING)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    other = batches(dataclasses.replace(EMBEDDING, seed=EMBEDDING.seed + 1))
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(first, other))


def test_contrast_targets_and_fit(run, tmp_path):
    """With contrast_rotations each target carries its contrast directions (validation batches
    are not turned, so they compare as they are), and training logs the contrast metric; the
    degree loss trains in the same graph."""
    from models.contrast import contrast_directions
    from models.teacher import load_teacher
    config = dataclasses.replace(EMBEDDING, contrast_rotations=2, contrast_weight=0.1, degree_weight=0.05, degree_max=4)
    teacher = load_teacher(str(run / "teacher"))
    _, validation, _ = train_embedding.split_datasets(str(run / "data"), teacher, config, 8)
    targets = next(iter(validation))[1].numpy()
    assert targets.shape[1:] == (16, 16, 3 * 6)
    np.testing.assert_allclose(targets[..., 6:], contrast_directions(targets[..., :6], 2), atol=1e-5)
    with pytest.raises(ValueError, match="contrast_rotations"):
        train_embedding.split_datasets(str(run / "data"), teacher, dataclasses.replace(config, contrast_rotations=0), 8)
    for name in ("data", "teacher"):
        (tmp_path / name).symlink_to(run / name)
    _, history = train_embedding.train(config, str(run / "data"), str(tmp_path), verbose=0)
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    assert len(history["val_contrast"]) == config.epochs and np.isfinite(history["val_contrast"]).all()


def test_mixed_precision_computes_in_bfloat16_with_float32_variables_and_outputs():
    from training import fit
    images = tf.random.uniform((2, 16, 16, 1), seed=3)
    reference = build_embedding_model(16, (16, 16, 6), layers_per_block=1, max_channels=16, n_latent=32)
    with fit.precision("mixed_bfloat16"):
        mixed = build_embedding_model(16, (16, 16, 6), layers_per_block=1, max_channels=16, n_latent=32)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored: exports build in float32
    convs = [layer for layer in mixed.submodules if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(v.dtype == tf.float32 for v in mixed.weights)
    mixed.set_weights(reference.get_weights())
    out = mixed(images)
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), reference(images).numpy(), atol=0.02)  # bfloat16: 8 mantissa bits
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        with fit.precision("half"):
            pass


def test_mixed_precision_fit_exports_a_float32_model(run, tmp_path):
    config = dataclasses.replace(EMBEDDING, precision="mixed_bfloat16")
    for name in ("data", "teacher"):
        (tmp_path / name).symlink_to(run / name)
    export, history = train_embedding.train(config, str(run / "data"), str(tmp_path), verbose=0)
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    assert train_embedding.read_metadata(export)["config"]["precision"] == "mixed_bfloat16"
    serve = tf.saved_model.load(export).signatures["serving_default"]
    assert "DT_BFLOAT16" not in str(serve.graph.as_graph_def())  # the export computes in float32
    served = serve(images=tf.random.uniform((2, 16, 16, 1)))["embedding"]
    assert served.dtype == tf.float32 and np.isfinite(served.numpy()).all()
    assert keras.mixed_precision.global_policy().name == "float32"


def test_tiny_fit_export_and_reload(run):
    export, history = train_embedding.train(EMBEDDING, str(run / "data"), str(run), verbose=0, force=True)
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    assert "val_relative_err" in history
    images = tf.random.uniform((3, 16, 16, 1), seed=2)
    served = tf.saved_model.load(export).signatures["serving_default"](images=images)["embedding"].numpy()
    again = tf.saved_model.load(export).signatures["serving_default"](images=images)["embedding"].numpy()
    np.testing.assert_array_equal(served, again)
    assert served.shape == (3, 16, 16, 6)
    names = [name for name, _ in tf.train.list_variables(os.path.join(export, "variables", "variables"))]
    assert names and not any("optimizer" in n.lower() for n in names)
    assert train_embedding.read_metadata(export)["image_size"] == 16


def test_warm_start_from_an_export(run, tmp_path):
    """A warm-started model computes what the export does before training, its training
    starts from the export's loss rather than from scratch, and a different architecture or
    a missing export is named."""
    for folder in ("scratch", "warm"):
        (tmp_path / folder).mkdir()
        for name in ("data", "teacher"):
            (tmp_path / folder / name).symlink_to(run / name)
    source, scratch = train_embedding.train(EMBEDDING, str(run / "data"), str(tmp_path / "scratch"), verbose=0)
    model = train_embedding.build_model(EMBEDDING, 16, (16, 16, 6))
    train_embedding.warm_start(model, source, EMBEDDING)
    images = tf.random.uniform((3, 16, 16, 1), seed=4)
    served = tf.saved_model.load(source).signatures["serving_default"](images=images)["embedding"]
    np.testing.assert_allclose(model(images, training=False).numpy(), served.numpy(), atol=1e-5)

    config = dataclasses.replace(EMBEDDING, init_from=source)
    export, warm = train_embedding.train(config, str(run / "data"), str(tmp_path / "warm"), verbose=0)
    # from scratch the first epoch's loss is 1.3 times the last one's; warm, it starts where that ended
    assert warm["loss"][0] < 1.05 * scratch["loss"][-1] < scratch["loss"][0], (warm["loss"], scratch["loss"])
    assert train_embedding.read_metadata(export)["config"]["init_from"] == source

    narrower = dataclasses.replace(EMBEDDING, max_channels=8)
    with pytest.raises(ValueError, match="cannot warm-start from .*max_channels 16 there, 8 here"):
        train_embedding.warm_start(train_embedding.build_model(narrower, 16, (16, 16, 6)), source, narrower)
    with pytest.raises(ValueError, match="embedding shape \\[16, 16, 6\\] there, \\[16, 16, 4\\] here"):
        train_embedding.warm_start(train_embedding.build_model(EMBEDDING, 16, (16, 16, 4)), source, EMBEDDING)
    with pytest.raises(ValueError, match="no SavedModel at"):
        train_embedding.warm_start(model, str(tmp_path / "nowhere"), EMBEDDING)


def test_embedding_report_cli(run, capsys):
    """The report's figures cover the right images: validation on held-out instances, own-target
    alignment on every test image and on every fitted (not held-out) training image."""
    import json
    from evaluation import embedding_report
    from training import reader
    train_embedding.train(EMBEDDING, str(run / "data"), str(run), verbose=0)  # reuses the export if there is one
    embedding_report.main(["--run", str(run), "--no-speed"])
    table = capsys.readouterr().out
    assert "each test image's pred" in table and "each fitted training image's pred" in table
    written = json.loads((run / "embedding_report.json").read_text())
    train = reader.as_numpy(str(run / "data"), "train")
    held_out = train["instance_id"] % EMBEDDING.validation_every == 0
    assert written["validation"]["samples"] == held_out.sum() and np.isfinite(written["validation"]["ratio"])
    errors = written["pose_error_deg"]
    assert errors["fitted_pred_to_own_target"]["pairs"] == (~held_out).sum()
    assert errors["pred_to_own_target"]["pairs"] == len(reader.as_numpy(str(run / "data"), "test")["image"])
    assert all(0 <= e["median"] <= 180 for e in errors.values())
    assert len(written["degree_error_fractions"]) == 7  # degrees 1..b-1 of the 16 x 16 embedding


@pytest.mark.parametrize("warm", [False, True], ids=["scratch", "warm_start"])
def test_resume_after_interruption(run, tmp_path, warm):
    """A killed run resumes at its last finished epoch; a warm-started one resumes from its
    own backup too, not from the export it started from."""
    class Killed(Exception):
        pass

    class KillAfterTwoEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Killed()

    config, run_dir = EMBEDDING, run
    if warm:
        source, _ = train_embedding.train(EMBEDDING, str(run / "data"), str(run), verbose=0)  # reused if there
        config, run_dir = dataclasses.replace(EMBEDDING, init_from=source), tmp_path
        for name in ("data", "teacher"):
            (tmp_path / name).symlink_to(run / name)
    import shutil
    shutil.rmtree(run_dir / "embedding_work", ignore_errors=True)
    with pytest.raises(Killed):
        train_embedding.train(config, str(run / "data"), str(run_dir), verbose=0, force=True,
                              extra_callbacks=[KillAfterTwoEpochs()])
    _, history = train_embedding.train(config, str(run / "data"), str(run_dir), verbose=0, force=True)
    assert len(history["loss"]) == config.epochs - 2  # epochs 1 and 2 were kept, not redone


def test_embed_cli_and_bad_images(run, tmp_path):
    export, _ = train_embedding.train(EMBEDDING, str(run / "data"), str(run), verbose=0)
    for i in range(2):
        Image.fromarray((np.random.default_rng(i).random((40, 40)) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    out = tmp_path / "emb.npz"
    from evaluation import embed
    embed.main(["--model", export, "--images", str(tmp_path / "*.png"), "--out", str(out)])
    saved = np.load(out)
    assert saved["embedding"].shape == (2, 16, 16, 6) and list(saved["files"]) == sorted(saved["files"])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        embed.embed(export, [str(tmp_path / "broken.png")])
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(ValueError, match="not square"):
        embed.embed(export, [str(tmp_path / "wide.png")])
    with pytest.raises(ValueError, match="no SavedModel"):
        embed.embed(str(tmp_path / "nothing"), [])


def test_mirrored_strategy_on_two_logical_cpus(run):
    overrides = ["layers_per_block=1", "max_channels=16", "n_latent=32", "batch_size=8", "epochs=1",
                 "learning_rates=0.003", "boundaries=", "validation_every=4"]
    command = [sys.executable, "-m", "training.train_embedding", "--run", str(run), "--strategy", "mirrored",
               "--cpu-devices", "2", "--force"] + [a for o in overrides for a in ("--set", o)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "training on 2 replica(s)" in result.stdout


def test_only_the_chief_writes(monkeypatch, tmp_path):
    import json
    from models import export
    from training import fit
    workers = {"worker": ["host1:1", "host2:2"]}
    for cluster, task, chief in ((workers, ("worker", 0), True), (workers, ("worker", 1), False),
                                 ({**workers, "chief": ["host0:0"]}, ("worker", 0), False),
                                 ({**workers, "chief": ["host0:0"]}, ("chief", 0), True)):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task[0], "index": task[1]}}))
        assert export.is_chief() is chief, (cluster, task)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": workers, "task": {"type": "worker", "index": 1}}))
    module = tf.Module()
    assert export.save(module, None, str(tmp_path / "export"), "meta.json", {}) is False
    assert not (tmp_path / "export").exists()
    logs = [c.log_dir for c in fit.callbacks(str(tmp_path / "work")) if isinstance(c, keras.callbacks.TensorBoard)]
    assert not logs[0].startswith(str(tmp_path))
    monkeypatch.delenv("TF_CONFIG")
    assert export.is_chief()
    assert export.save(module, None, str(tmp_path / "export"), "meta.json", {}) is True
    assert (tmp_path / "export" / "meta.json").exists()


def test_own_target_errors_know_the_answer(rng):
    """An exact prediction aligns to its target at the identity; one turned by a half turn is off
    by 180 deg."""
    import soft
    from conftest import random_coefficients
    from evaluation.embedding_report import own_target_errors
    maps = np.moveaxis(soft.isht(random_coefficients(rng, 8, (4, 3), real=True), real=True), 1, -1)
    half_turn = np.diag([1.0, -1.0, -1.0])
    exact = own_target_errors(maps, maps)
    assert exact["median"] < 0.01 and exact["acc30"] == 1 and exact["over150"] == 0 and exact["pairs"] == 4
    turned = own_target_errors(soft.rotate(maps, half_turn, channel_axis=-1), maps)
    assert turned["median"] == pytest.approx(180, abs=0.01) and turned["over150"] == 1


def test_degree_error_fractions_know_the_answer(rng):
    from evaluation.embedding_report import degree_error_fractions
    target, part_3 = maps_and_degree_3_part(rng, 3, 2)
    off_in_3 = target + 0.5 * part_3
    np.testing.assert_allclose(degree_error_fractions(off_in_3, target, 5), [0, 0, 0.25, 0, 0], atol=1e-5)
    np.testing.assert_allclose(degree_error_fractions(np.zeros_like(target), target, 5), 1, rtol=1e-5)


def test_rotating_energy_of_predictions(rng):
    from evaluation.embedding_report import rotating_energy
    from models.losses import sphere_mean
    target = rng.random((3, 8, 8, 2)).astype(np.float32)
    exact = rotating_energy(target, target)
    assert exact["predicted_fraction"] == pytest.approx(1.0) and exact["error"] == pytest.approx(0.0, abs=1e-6)
    means_only = np.broadcast_to(sphere_mean(tf.constant(target)).numpy(), target.shape)
    none = rotating_energy(means_only, target)
    assert none["predicted_fraction"] == pytest.approx(0.0, abs=1e-6)
    assert none["error_fraction"] == pytest.approx(1.0, rel=1e-5)
    half = rotating_energy(0.5 * (target + means_only), target)  # half the rotating part
    assert half["predicted_fraction"] == pytest.approx(0.25, rel=1e-5)
    assert half["error_fraction"] == pytest.approx(0.25, rel=1e-5)


def test_bench_step_times_each_precision(capsys):
    from training import bench_step
    from training import config as configs
    quick = [configs.load("quick", section) for section in ("data", "teacher")]
    assert bench_step.teacher_embedding_shape(*quick) == (32, 32, 32)  # bandwidth 32, one pooling before block 4
    bench_step.main(["--set", "max_channels=8", "--set", "n_latent=8", "--set", "batch_size=2", "--steps", "2"])
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| float32")
            or line.startswith("| mixed_bfloat16")]
    assert [row[1].strip() for row in rows] == ["float32", "mixed_bfloat16"]
    assert rows[0][5].strip() == "1.00x" and float(rows[1][4]) > 0
    with pytest.raises(SystemExit):
        bench_step.main(["--precisions", "half"])
