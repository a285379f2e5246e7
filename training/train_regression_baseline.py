"""Train the learned peer: direct relative-rotation regression from two images.

python -m training.train_regression_baseline --config quick [--set epochs=4] [--run runs/quick]

A Siamese Model Garden ResNet on (image of pose i, image of pose j) of the same training
instance regresses R_j R_i^T (6D representation, geodesic loss), with the image
embedding's budget: `epochs` epochs of (training images / batch_size) steps, and the
same in-plane rotation augmentation (each image turned by its own random angle, the
target rotation turned to match; models.inplane) when config.inplane_rotations. Same
callbacks, resume and export conventions as the other trainers: <run>/regression is a
SavedModel (images_a, images_b) -> rotation.
"""
import os
import sys

import numpy as np
import tensorflow as tf
import tf_keras as keras

from models import export
from models.inplane import random_inplane_pair_rotation
from models.regression import build_regression_model, geodesic_loss

from . import config as configs
from . import fit, reader

METADATA = "regression.json"


def pair_batches(images, rotations, instance_ids, batch_size, seed):
    """Endless batches of random same-instance pose pairs: ((a, b), R_b R_a^T)."""
    groups = [np.flatnonzero(instance_ids == i) for i in np.unique(instance_ids)]
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        raise ValueError("no training instance has two poses: pairs need train_poses >= 2")
    rng = np.random.default_rng(seed)
    while True:
        picks = [rng.choice(groups[k], size=2, replace=False) for k in rng.integers(0, len(groups), batch_size)]
        a, b = np.array(picks).T
        relative = rotations[b] @ np.swapaxes(rotations[a], 1, 2)
        yield (images[a], images[b]), relative.astype(np.float32)


class _Serving(tf.Module):
    def __init__(self, model, image_size):
        super().__init__()
        self.model = model
        spec = tf.TensorSpec([None, image_size, image_size, 1], tf.float32)
        self.serve = tf.function(lambda images_a, images_b: {"rotation": self.model([images_a, images_b])},
                                 input_signature=[spec, spec])


def read_metadata(path):
    return export.read_metadata(path, METADATA, "an exported rotation-regression peer",
                                "python -m training.train_regression_baseline")


def train(config, data_dir, run_dir, strategy_name="default", force=False, verbose=None):
    export_dir = os.path.join(run_dir, "regression")
    if fit.reuse_export(export_dir, force, "regression peer"):
        return export_dir, None
    data = reader.as_numpy(data_dir, "train")
    image_size = data["image"].shape[1]
    steps = len(data["image"]) // config.batch_size
    if steps == 0:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {len(data['image'])} training images")
    keras.utils.set_random_seed(config.seed)
    spec = tf.TensorSpec([config.batch_size, image_size, image_size, 1], tf.float32)
    pairs = tf.data.Dataset.from_generator(
        lambda: pair_batches(data["image"], data["rotation"], data["instance_id"], config.batch_size, config.seed),
        output_signature=((spec, spec), tf.TensorSpec([config.batch_size, 3, 3], tf.float32)))
    if config.inplane_rotations:
        pairs = reader.augmented(pairs, random_inplane_pair_rotation, config.seed)
    with fit.strategy(strategy_name).scope():
        model = build_regression_model(image_size, config.resnet_depth, config.hidden, config.head)
        model.compile(keras.optimizers.Adam(fit.piecewise_schedule(config.boundaries, config.learning_rates, steps)),
                      loss=geodesic_loss)
    history, seconds = fit.timed_fit(model, pairs.prefetch(2), config, steps, os.path.join(run_dir, "regression_work"),
                                     verbose=verbose)
    module = _Serving(export.inference_copy(
        model, lambda: build_regression_model(image_size, config.resnet_depth, config.hidden, config.head)), image_size)
    if export.save(module, {"serving_default": module.serve}, export_dir, METADATA,
                   {"image_size": image_size, "config": configs.to_json(config), "train_seconds": seconds}):
        print(f"regression peer exported to {export_dir} ({seconds:.0f} s of training)")
    return export_dir, history


def main(argv=None):
    return fit.run_cli(__doc__, "regression", train, argv)


if __name__ == "__main__":
    sys.exit(main())
