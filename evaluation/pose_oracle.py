"""The pose oracle: the image model's decoder, given the true pose instead of the image.

python -m evaluation.pose_oracle --run runs/quick

The image model has two jobs: see the object's pose in the image (the encoder) and draw
the teacher's embedding in that pose (the decoder). This report takes the first job
away. The encoder is replaced by the true rotation (its 9 entries) and a learned code per
training instance, through a ReLU dense layer and a linear one to the n_latent bottleneck;
the decoder, the loss (without the contrast term, which needs mined targets), the batch,
the learning-rate schedule, the steps and the in-plane turns are those of the run's
exported image model. It trains on the same fitted (not held-out) training samples, then
aligns both models' embeddings of them to their own targets
(embedding_report.own_target_errors) and splits their errors by spherical-harmonic
degree. If the oracle aligns where the image model does not, the decoder and the
teacher's embedding space are not what limits relative pose: seeing the pose is.

Trains from scratch on every call (about half the image model's time; checkpoints and
TensorBoard in <run>/pose_oracle_work, so a killed run resumes). Writes
<run>/pose_oracle.json.
"""
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras

from models.embedding import decode
from models.export import load_serving
from models.inplane import random_inplane_pose_rotation
from models.losses import relative_err
from models.teacher import load_teacher
from training import config as configs
from training import fit, reader, train_embedding
from training.config import EmbeddingConfig
from training.dataset import write_json_atomic

from .embedding_report import degree_error_fractions, own_target_errors, training_targets
from .inference import embed_images, in_batches
from .report_cli import run_report

INSTANCE_CODE_SIZE = 64


def build_pose_decoder(n_instances, target_shape, *, layers_per_block, max_channels, n_latent, bn_momentum):
    """Keras model: (rotations (B, 3, 3), instance indices (B,) in [0, n_instances)) ->
    embeddings (B, n, n, C) in (0, 1), through models.embedding.decode."""
    n, _, channels = target_shape
    rotations = keras.Input((3, 3), name="rotations")
    instances = keras.Input((), dtype="int32", name="instances")
    code = keras.layers.Embedding(n_instances, INSTANCE_CODE_SIZE, name="instance_code")(instances)
    x = keras.layers.Concatenate()([keras.layers.Flatten()(rotations), code])
    x = keras.layers.Dense(n_latent, activation="relu", name="pose_hidden")(x)
    x = keras.layers.Reshape((1, 1, n_latent))(keras.layers.Dense(n_latent, name="pose_latent")(x))
    embedding = decode(x, n, channels, "sphere", layers_per_block=layers_per_block, max_channels=max_channels,
                       bn_momentum=bn_momentum)[-1]
    return keras.Model([rotations, instances], embedding, name="pose_oracle")


def _turn(inputs, targets, seed):
    rotations, instances = inputs
    rotations, targets = random_inplane_pose_rotation(rotations, targets, seed)
    return (rotations, instances), targets


def train_pose_decoder(rotations, instances, targets, config, work_dir, verbose=None):
    """Fit build_pose_decoder to (rotations (N, 3, 3), instance indices (N,)) -> targets
    (N, n, n, C) with config's (an EmbeddingConfig) decoder, loss, batch, schedule, epochs,
    in-plane turns and precision; returns the model and its seconds of training."""
    keras.utils.set_random_seed(config.seed)
    with fit.precision(config.precision):
        model = build_pose_decoder(int(instances.max()) + 1, targets.shape[1:],
                                   layers_per_block=config.layers_per_block, max_channels=config.max_channels,
                                   n_latent=config.n_latent, bn_momentum=config.bn_momentum)
    samples = tf.data.Dataset.from_tensor_slices(((rotations.astype(np.float32), instances.astype(np.int32)), targets))
    data = reader.training_batches(samples, config.batch_size, config.seed, _turn if config.inplane_rotations else None)
    steps = len(targets) // config.batch_size
    model.compile(optimizer=train_embedding.optimizer(config, steps), loss=train_embedding.loss(config, contrast=False),
                  metrics=[relative_err])
    return model, fit.timed_fit(model, data, config, steps, work_dir, verbose=verbose)[1]


def report(run, data_dir=None, verbose=None):
    export = os.path.join(run, "embedding")
    meta = train_embedding.read_metadata(export)
    config = configs.from_json(EmbeddingConfig, meta["config"])
    data_dir = data_dir or os.path.join(run, "data")
    teacher = load_teacher(os.path.join(run, "teacher"))
    train, held_out, targets = training_targets(teacher, data_dir, config.validation_every)
    fitted = ~held_out
    targets = targets[fitted]
    if len(targets) < config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {len(targets)} fitted training samples")
    rotations = train["rotation"][fitted].astype(np.float32)
    instances = np.unique(train["instance_id"][fitted], return_inverse=True)[1].astype(np.int32)
    model, seconds = train_pose_decoder(rotations, instances, targets, config, os.path.join(run, "pose_oracle_work"),
                                        verbose)
    serve = load_serving(export)
    predictions = {
        "image": embed_images(serve, train["image"][fitted]),
        "pose": in_batches(lambda r, i: model((r, i), training=False), rotations, instances),
    }
    targets = targets.astype(np.float64)
    result = {"samples": len(targets), "instances": int(instances.max()) + 1, "epochs": config.epochs,
              "steps": int(model.optimizer.iterations), "train_seconds": seconds}
    for name, predicted in predictions.items():
        predicted = predicted.astype(np.float64)
        result[name] = {"own_target": own_target_errors(predicted, targets),
                        "degree_error_fractions": degree_error_fractions(predicted, targets)}
    write_json_atomic(os.path.join(run, "pose_oracle.json"), result)
    return result


def main(argv=None):
    r, args = run_report(__doc__, report, argv)
    print(f"\n== fitted training images ({r['samples']}, {r['instances']} instances) aligned to their own targets;"
          f" both models trained {r['epochs']} epochs, {r['steps']} steps ==")
    print("| input | median deg | acc@15 | acc@30 | off > 150 deg | error / target, degrees 1, 2, ... |")
    print("|---|---|---|---|---|---|")
    for name, label in (("image", "the image (the run's image model)"), ("pose", "the true pose + instance code (oracle)")):
        o, fractions = r[name]["own_target"], r[name]["degree_error_fractions"]
        print(f"| {label} | {o['median']:.1f} | {100 * o['acc15']:.1f} % | {100 * o['acc30']:.1f} % | "
              f"{100 * o['over150']:.1f} % | {' '.join(f'{f:.2f}' for f in fractions)} |")
    print(f"(oracle trained in {r['train_seconds']:.0f} s; {os.path.join(args.run, 'pose_oracle.json')})")


if __name__ == "__main__":
    main()
