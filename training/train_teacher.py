"""Train the spherical CNN teacher and export it as a TF-Hub SavedModel.

python -m training.train_teacher --config quick [--set epochs=4] [--run runs/quick]

Reads <run>/data (training.make_dataset), fits on the train split with a fresh
uniformly random rotation of every spherical function each epoch, validates on the
test split (random poses), and exports <run>/teacher: serving signature
spheres -> {logits, embedding}. Work files (TensorBoard logs, checkpoints, the
BackupAndRestore state that lets a killed run resume) live in <run>/teacher_work.
An existing export is kept unless --force.
"""
import os
import sys

import numpy as np
import tf_keras as keras

from models.teacher import build_teacher, export_teacher

from . import config as configs
from . import fit, reader


def _inputs(batch):
    return batch["sphere"], batch["class_id"]


def embedding_statistics(model, data_dir, batch_size):
    """Per-channel mean and std of the raw embedding over the train split (its poses)."""
    total, total_sq, count = 0.0, 0.0, 0
    for batch in reader.read(data_dir, "train", batch_size):
        e = model(batch["sphere"], training=False)["embedding"].numpy().astype(np.float64)
        total = total + e.sum(axis=(0, 1, 2))
        total_sq = total_sq + (e**2).sum(axis=(0, 1, 2))
        count += e.shape[0] * e.shape[1] * e.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


def train(config, data_dir, run_dir, strategy_name="default", force=False, verbose=None):
    """Fit and export; returns the export path and the fit history (None if reused)."""
    export_dir = os.path.join(run_dir, "teacher")
    if fit.reuse_export(export_dir, force, "teacher"):
        return export_dir, None
    manifest = reader.load_manifest(data_dir)
    keras.utils.set_random_seed(config.seed)
    size, _, channels = manifest["features"]["sphere"]
    n_classes = len(manifest["classes"])
    steps = manifest["splits"]["train"]["samples"] // config.batch_size
    if steps == 0:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {manifest['splits']['train']['samples']} "
                         "training samples")
    work = os.path.join(run_dir, "teacher_work")
    def build():
        return build_teacher(config, size // 2, channels, n_classes)

    with fit.strategy(strategy_name).scope():
        model = build()
        losses = {"logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
        weights = {"logits": 1.0}
        if "aux_logits" in model.output_names:
            losses["aux_logits"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            weights["aux_logits"] = config.aux_weight
        model.compile(optimizer=keras.optimizers.Adam(
            fit.piecewise_schedule(config.boundaries, config.learning_rates, steps)),
            loss=losses, loss_weights=weights, metrics={"logits": ["accuracy"]})

    def targets(batch):
        labels = {k: batch["class_id"] for k in losses}
        return batch["sphere"], labels

    train_ds = reader.read(data_dir, "train", config.batch_size, shuffle=True, repeat=True,
                           random_rotation=True, drop_remainder=True, seed=config.seed).map(targets)
    val_ds = reader.read(data_dir, "test", 64).map(targets)
    history, seconds = fit.timed_fit(model, train_ds, config, steps, work, validation_data=val_ds, verbose=verbose)
    mean, std = embedding_statistics(model, data_dir, 64)
    info = export_teacher(model, mean, std, export_dir, {
        "n_classes": n_classes, "classes": manifest["classes"], "sphere_channels": manifest["features"]["sphere_channels"],
        "config": configs.to_json(config), "train_seconds": seconds,
        "train_samples_per_second": config.epochs * steps * config.batch_size / seconds}, build)
    if info:
        print(f"teacher exported to {export_dir}: embedding {info['embedding_shape']}, "
              f"{info['train_samples_per_second']:.0f} training samples/s")
    return export_dir, history


def main(argv=None):
    return fit.run_cli(__doc__, "teacher", train, argv)


if __name__ == "__main__":
    sys.exit(main())
