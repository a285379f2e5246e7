"""Train the novel-view synthesiser: spherical embedding -> render of the same pose.

python -m training.train_synthesis --config quick [--set inputs=predicted] [--run runs/quick]
    [--strategy default|mirrored|multi_worker] [--cpu-devices 2]

Inputs are the frozen teacher's embeddings of <run>/data's train spheres (inputs=target,
the default) or the exported image model's embeddings of the train images
(inputs=predicted, needs <run>/embedding); targets are the renders of the same pose.
No rotation is ever supervised: at test time an embedding is rotated on the sphere and
decoded (python -m evaluation.novel_views). L1 loss, Adam with a piecewise-constant
learning rate, held-out validation instances, TensorBoard, checkpoints and
BackupAndRestore as in the other trainers. Exports <run>/synthesis: serving signature
embeddings -> image, without optimizer state. An existing export is kept unless --force.
"""
import os
import sys

import tf_keras as keras

from models import export
from models.synthesis import build_synthesis_model
from models.teacher import load_teacher

from . import config as configs
from . import fit, reader

METADATA = "synthesis.json"
INPUTS = ("target", "predicted")


def embedder(run_dir, inputs):
    """(batch dict -> embeddings, embedding shape, source path) for inputs target|predicted."""
    if inputs == "target":
        path = os.path.join(run_dir, "teacher")
        teacher = load_teacher(path)
        return lambda b: teacher(b["sphere"]), tuple(teacher.metadata["embedding_shape"]), path
    if inputs == "predicted":
        from . import train_embedding
        path = os.path.join(run_dir, "embedding")
        shape = tuple(train_embedding.read_metadata(path)["embedding_shape"])
        serve = export.load_serving(path)
        return lambda b: serve(images=b["image"])["embedding"], shape, path
    raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")


def export_synthesis(model, path, metadata, build):
    module = export.Serving(export.inference_copy(model, build), "embeddings", "image")
    return export.save(module, {"serving_default": module.serve}, path, METADATA,
                       {**metadata, "embedding_shape": list(model.input_shape[1:]), "image_size": model.output_shape[1]})


def read_metadata(path):
    return export.read_metadata(path, METADATA, "an exported synthesis model (embeddings -> image)",
                                "python -m training.train_synthesis")


def train(config, data_dir, run_dir, strategy_name="default", force=False, verbose=None, extra_callbacks=()):
    """Fit and export; returns the export path and the fit history (None if reused)."""
    export_dir = os.path.join(run_dir, "synthesis")
    if fit.reuse_export(export_dir, force, "synthesis model"):
        return export_dir, None
    embed, embedding_shape, source = embedder(run_dir, config.inputs)
    image_size = reader.load_manifest(data_dir)["features"]["image"][0]
    keras.utils.set_random_seed(config.seed)
    distribution = fit.strategy(strategy_name)
    print(f"training on {distribution.num_replicas_in_sync} replica(s) ({strategy_name} strategy)")
    train_ds, val_ds, counts = reader.held_out_pairs(
        data_dir, lambda b: (embed(b), b["image"]), validation_every=config.validation_every,
        batch_size=config.batch_size, replicas=distribution.num_replicas_in_sync, seed=config.seed)
    steps = counts["train"] // config.batch_size

    def build():
        return build_synthesis_model(embedding_shape, image_size, layers_per_block=config.layers_per_block,
                                     max_channels=config.max_channels, n_latent=config.n_latent,
                                     bn_momentum=config.bn_momentum)

    with distribution.scope():
        model = build()
        model.compile(optimizer=keras.optimizers.Adam(
            fit.piecewise_schedule(config.boundaries, config.learning_rates, steps)),
            loss=keras.losses.MeanAbsoluteError())
    history, seconds = fit.timed_fit(model, train_ds, config, steps, os.path.join(run_dir, "synthesis_work"),
                                     validation_data=val_ds, extra_callbacks=extra_callbacks, verbose=verbose)
    written = export_synthesis(model, export_dir, {"inputs": config.inputs, "source": os.path.abspath(source),
                                                   "config": configs.to_json(config), "train_seconds": seconds,
                                                   "samples": counts}, build)
    if written:
        print(f"synthesis model exported to {export_dir} ({seconds:.0f} s of training)")
    return export_dir, history


def main(argv=None):
    return fit.run_cli(__doc__, "synthesis", train, argv)


if __name__ == "__main__":
    sys.exit(main())
