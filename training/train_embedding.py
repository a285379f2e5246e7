"""Train the image embedding (sph_embedding_residual) against the TF-Hub teacher.

python -m training.train_embedding --config quick [--set epochs=4] [--run runs/quick]
    [--strategy default|mirrored|multi_worker] [--cpu-devices 2]

Images of <run>/data's train split go in; the frozen teacher at <run>/teacher
(hub.KerasLayer) turns each sample's spherical function into the target embedding.
Every `validation_every`-th training instance is held out for validation. Adam with a
piecewise-constant learning rate, area-weighted Huber loss, relative_err metric,
TensorBoard, checkpoints and BackupAndRestore (a killed run resumes at its last
finished epoch). `--set init_from=<export>` starts from an exported model's weights
(warm_start), e.g. to train a finished run further. Exports <run>/embedding: serving
signature images -> embedding, without optimizer state. An existing export is kept
unless --force.
"""
import os
import sys

import tensorflow as tf
import tf_keras as keras

from models import export
from models.contrast import with_contrast_directions
from models.embedding import build_embedding_model
from models.inplane import random_inplane_rotation
from models.losses import AreaWeightedHuber, contrast, relative_err
from models.teacher import load_teacher

from . import config as configs
from . import fit, reader

METADATA = "embedding.json"
ARCHITECTURE = ("layers_per_block", "max_channels", "n_latent", "intermediate_supervision")


def split_datasets(data_dir, teacher, config, batch_size, replicas=1):
    """(train, validation, counts) of (image, teacher embedding) pairs; see reader.held_out_pairs.
    With config.inplane_rotations every training pair is turned about the camera axis by a
    random multiple of the embedding's longitude step, drawn afresh per batch from the
    config's seed and the batch index (models.inplane, reader.augmented). With
    config.contrast_rotations the targets carry their contrast directions (models.contrast)."""
    if config.contrast_weight and not config.contrast_rotations:
        raise ValueError("contrast_weight needs contrast_rotations > 0 (the confusers to contrast with)")

    def to_pairs(batch):
        target = teacher(batch["sphere"])
        if config.contrast_rotations:
            target = with_contrast_directions(target, config.contrast_rotations)
        return batch["image"], target

    return reader.held_out_pairs(data_dir, to_pairs,
                                 validation_every=config.validation_every, batch_size=batch_size,
                                 replicas=replicas, cache=config.cache_targets, seed=config.seed,
                                 augment=random_inplane_rotation if config.inplane_rotations else None)


def optimizer(config, steps_per_epoch):
    """Adam on config's piecewise-constant learning rate (an EmbeddingConfig)."""
    return keras.optimizers.Adam(fit.piecewise_schedule(config.boundaries, config.learning_rates, steps_per_epoch),
                                 beta_1=config.adam_beta1, epsilon=config.adam_epsilon)


def loss(config, contrast=True):
    """The area-weighted Huber loss with config's extra terms; contrast=False leaves out the
    contrast term (for targets that carry no contrast directions)."""
    return AreaWeightedHuber(config.huber_delta, config.pose_weight, config.contrast_weight if contrast else 0.0,
                             config.degree_weight, config.degree_max)


def build_model(config, image_size, target_shape):
    """config's (an EmbeddingConfig) image model: (B, image_size, image_size, 1) images ->
    target_shape embeddings, under the dtype policy in force (see fit.precision)."""
    return build_embedding_model(image_size, target_shape, layers_per_block=config.layers_per_block,
                                 max_channels=config.max_channels, n_latent=config.n_latent,
                                 intermediate_supervision=config.intermediate_supervision,
                                 bn_momentum=config.bn_momentum)


def export_embedding(model, path, metadata, build):
    image_size = model.input_shape[1]
    module = export.Serving(export.inference_copy(model, build), "images", "embedding")
    return export.save(module, {"serving_default": module.serve}, path, METADATA,
                       {**metadata, "image_size": image_size})


def read_metadata(path):
    return export.read_metadata(path, METADATA, "an exported image embedding model",
                                "python -m training.train_embedding")


def warm_start(model, path, config):
    """Load the weights of the export at `path` into `model`, built from config (an
    EmbeddingConfig), to start training from them. The export's Serving
    module keeps the Keras model as `.model`, so its variables are a checkpoint of it.
    ValueError naming what differs when the export's architecture, image size or embedding
    shape is not config's and the model's."""
    metadata = read_metadata(path)
    source = configs.from_json(configs.EmbeddingConfig, metadata["config"])
    compared = [(name, getattr(source, name), getattr(config, name)) for name in ARCHITECTURE] + [
        ("image size", metadata["image_size"], model.input_shape[1]),
        ("embedding shape", list(metadata["embedding_shape"]), list(model.outputs[-1].shape[1:]))]
    differences = [f"{name} {theirs} there, {ours} here" for name, theirs, ours in compared if theirs != ours]
    if differences:
        raise ValueError(f"cannot warm-start from {path}: " + "; ".join(differences))
    try:
        tf.train.Checkpoint(model=model).read(os.path.join(path, "variables", "variables")) \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError) as err:
        raise ValueError(f"cannot warm-start from {path}: its weights do not fit this model ({err})") from None
    print(f"warm start from {path}")


def train(config, data_dir, run_dir, strategy_name="default", force=False, verbose=None, extra_callbacks=()):
    """Fit and export; returns the export path and the fit history (None if reused)."""
    export_dir = os.path.join(run_dir, "embedding")
    if fit.reuse_export(export_dir, force, "embedding model"):
        return export_dir, None
    teacher_path = os.path.join(run_dir, "teacher")
    teacher = load_teacher(teacher_path)
    target_shape = tuple(teacher.metadata["embedding_shape"])
    manifest = reader.load_manifest(data_dir)
    image_size = manifest["features"]["image"][0]
    keras.utils.set_random_seed(config.seed)
    distribution = fit.strategy(strategy_name)
    print(f"training on {distribution.num_replicas_in_sync} replica(s) ({strategy_name} strategy)")
    train_ds, val_ds, counts = split_datasets(data_dir, teacher, config, config.batch_size,
                                              distribution.num_replicas_in_sync)
    steps = counts["train"] // config.batch_size
    def build():
        return build_model(config, image_size, target_shape)

    with distribution.scope(), fit.precision(config.precision):
        model = build()
        if config.init_from:
            warm_start(model, config.init_from, config)
        outputs = len(model.outputs)
        metrics = [relative_err] + ([contrast] if config.contrast_rotations else [])
        model.compile(
            optimizer=optimizer(config, steps), loss=[loss(config)] * outputs, loss_weights=[1.0 / outputs] * outputs,
            metrics=[metrics if i == outputs - 1 else [] for i in range(outputs)])
    if outputs > 1:
        train_ds = train_ds.map(lambda x, t: (x, (t,) * outputs))
        val_ds = val_ds.map(lambda x, t: (x, (t,) * outputs))
    history, seconds = fit.timed_fit(model, train_ds, config, steps, os.path.join(run_dir, "embedding_work"),
                                     validation_data=val_ds, extra_callbacks=extra_callbacks, verbose=verbose)
    written = export_embedding(model, export_dir, {
        "teacher": os.path.abspath(teacher_path), "embedding_shape": list(target_shape),
        "config": configs.to_json(config), "train_seconds": seconds, "samples": counts}, build)
    if written:
        print(f"embedding model exported to {export_dir} ({seconds:.0f} s of training)")
    return export_dir, history


def main(argv=None):
    return fit.run_cli(__doc__, "embedding", train, argv)


if __name__ == "__main__":
    sys.exit(main())
