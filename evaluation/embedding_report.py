"""Report on a trained image embedding: python -m evaluation.embedding_report --run runs/quick

1. Validation loss (held-out training instances, area-weighted Huber) against the
   trivial predictor that always outputs the training-mean embedding; the ratio.
2. First relative-pose figure on the test split: same-instance pairs (pose 0 with
   poses 1..n-1), soft.align on predicted embeddings, geodesic error against
   R_j R_0^T, beside the teacher's own embeddings on the same pairs (target mode);
   each test image's predicted embedding aligned to its own target (the truth is the
   identity), which separates one image's error from a pair's, and the same for the
   training images the model was fitted on (unturned), which separates underfitting
   from poor generalisation to unseen objects. And how much of the
   rotating part of the embeddings (each channel minus its sphere mean: what changes
   with pose) the model predicts: energy of the prediction's and of its error's
   rotating part, as fractions of the target's, in all and per spherical harmonic degree.
3. Training images/s of the embedding model against a plain Model Garden ResNet-18
   classifier on the same input, measured in the same run, and the training input
   pipeline's images/s (cached targets, in-plane rotations; it must not be the bottleneck).
Writes <run>/embedding_report.json.
"""
import os
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

import soft
from models.export import load_serving
from models.embedding import build_embedding_model
from models.losses import area_weighted_huber, area_weights, degree_energies, sphere_mean
from models.teacher import load_teacher
from training import config as configs
from training import reader
from training.config import EmbeddingConfig
from training.dataset import write_json_atomic
from training.train_embedding import read_metadata, split_datasets

from . import alignment
from .inference import embed_images, in_batches
from .report_cli import run_report


def pose_errors(first, second, R, embeddings):
    relative = R[second] @ np.swapaxes(R[first], 1, 2)
    estimate = soft.align(embeddings[second], embeddings[first], channel_axis=-1)
    return alignment.summary(alignment.errors_deg(estimate, relative))


def training_targets(teacher, data_dir, validation_every):
    """The train split (a dict of arrays, reader.as_numpy), its held-out mask (every
    validation_every-th instance, as in training) and the teacher's targets (N, n, n, C)."""
    train = reader.as_numpy(data_dir, "train")
    return train, reader.is_held_out(train["instance_id"], validation_every), in_batches(teacher, train["sphere"])


def own_target_errors(predicted, target):
    """Summary of the errors (deg) of aligning each predicted embedding to its own target, and
    the share off by more than alignment.HALF_TURN_DEG = 150 deg (half turns)."""
    errors = alignment.errors_deg(soft.align(target, predicted, channel_axis=-1), np.eye(3))
    return {**alignment.summary(errors), "over150": float(np.mean(errors > alignment.HALF_TURN_DEG))}


def training_speed(embedding_model, image_size, batch_size=32, steps=10, rounds=3):
    """Training images/s of the embedding model and of a Model Garden ResNet-18 classifier:
    the two are timed in alternating rounds of `steps` steps and each keeps its fastest
    round, so a burst of load on a shared machine does not fall on one model only."""
    from official.vision.modeling.backbones import ResNet
    inputs = keras.Input((image_size, image_size, 1))
    features = ResNet(model_id=18, input_specs=keras.layers.InputSpec(shape=[None, image_size, image_size, 1]))(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features[max(features, key=int)])
    resnet = keras.Model(inputs, keras.layers.Dense(10)(pooled))
    x = tf.random.uniform((batch_size, image_size, image_size, 1))
    runs = {"embedding": (embedding_model, keras.losses.Huber(0.1),
                          tf.random.uniform((batch_size,) + tuple(embedding_model.output_shape[1:]))),
            "resnet18": (resnet, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                         tf.zeros((batch_size,), tf.int32))}
    for model, loss, y in runs.values():
        model.compile(keras.optimizers.Adam(1e-4), loss)
        model.train_on_batch(x, y)
    fastest = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, (model, _, y) in runs.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            fastest[name] = min(fastest[name], time.perf_counter() - start)
    return {name: steps * batch_size / seconds for name, seconds in fastest.items()}


def rotating_energy(predicted, target):
    """Area-weighted energy of the rotating (sphere-mean-removed) parts, summed over a batch
    of NHWC embeddings: {"target", "predicted", "error"} and the last two over "target"."""
    def part(x):
        x = tf.constant(x, tf.float32)
        return x - sphere_mean(x)

    w = area_weights(predicted.shape[1])
    energy = lambda x: float(tf.reduce_sum(x * x * w))  # noqa: E731
    t, p = part(target), part(predicted)
    out = {"target": energy(t), "predicted": energy(p), "error": energy(p - t)}
    return {**out, "predicted_fraction": out["predicted"] / out["target"], "error_fraction": out["error"] / out["target"]}


def degree_error_fractions(predicted, target, max_degree=None):
    """Per spherical harmonic degree l = 1..max_degree, summed over a batch of NHWC embeddings
    (n x n grids): the error's energy over the target's (1 = no better than predicting nothing
    in that degree). max_degree defaults to 8, or the band limit n / 2 - 1 if lower."""
    if max_degree is None:
        max_degree = min(8, np.shape(target)[1] // 2 - 1)
    energies = [degree_energies(tf.constant(x, tf.float32), max_degree).numpy().sum(axis=0)[1:]
                for x in (np.asarray(predicted) - np.asarray(target), target)]
    return (energies[0] / energies[1]).tolist()


def pipeline_speed(data_dir, teacher, config, batch_size=32, batches=60):
    """Images/s of the training input pipeline itself (cached teacher targets, in-plane
    rotations as configured), after one epoch has filled its cache."""
    ds, _, counts = split_datasets(data_dir, teacher, config, batch_size)
    iterator = iter(ds)
    for _ in range(counts["train"] // batch_size):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def report(run, data_dir=None, speed=True):
    export = os.path.join(run, "embedding")
    meta = read_metadata(export)
    data_dir = data_dir or os.path.join(run, "data")
    manifest = reader.load_manifest(data_dir)
    config = meta["config"]
    serve = load_serving(export)
    embed = lambda images: embed_images(serve, images)  # noqa: E731
    teacher = load_teacher(os.path.join(run, "teacher"))
    train, held_out, targets = training_targets(teacher, data_dir, config["validation_every"])
    mean_embedding = targets[~held_out].mean(axis=0, keepdims=True)
    predicted = embed(train["image"][held_out])
    fitted = embed(train["image"][~held_out]).astype(np.float64)
    val_targets = tf.constant(targets[held_out])
    model_loss = float(area_weighted_huber(val_targets, tf.constant(predicted), config["huber_delta"]))
    trivial_loss = float(area_weighted_huber(
        val_targets, tf.constant(np.broadcast_to(mean_embedding, predicted.shape).copy()), config["huber_delta"]))
    test = reader.as_numpy(data_dir, "test")
    n, poses = manifest["splits"]["test"]["instances"], manifest["splits"]["test"]["poses"]
    first, second = alignment.pairs(test["class_id"], n, poses, "same")
    test_pred = embed(test["image"]).astype(np.float64)
    test_target = in_batches(teacher, test["sphere"]).astype(np.float64)
    result = {
        "validation": {"samples": int(held_out.sum()), "model_loss": model_loss, "trivial_loss": trivial_loss,
                       "ratio": model_loss / trivial_loss},
        "rotating_energy": rotating_energy(test_pred, test_target),
        "degree_error_fractions": degree_error_fractions(test_pred, test_target),
        "pose_error_deg": {"pred": pose_errors(first, second, test["rotation"], test_pred),
                           "target": pose_errors(first, second, test["rotation"], test_target),
                           "pred_to_own_target": own_target_errors(test_pred, test_target),
                           "fitted_pred_to_own_target": own_target_errors(fitted, targets[~held_out].astype(np.float64))},
    }
    if speed:
        model = build_embedding_model(meta["image_size"], tuple(meta["embedding_shape"]),
                                      layers_per_block=config["layers_per_block"], max_channels=config["max_channels"],
                                      n_latent=config["n_latent"], bn_momentum=config["bn_momentum"])
        rates = training_speed(model, meta["image_size"])
        result["train_images_per_second"] = {**rates, "ratio": rates["embedding"] / rates["resnet18"],
                                             "input_pipeline": pipeline_speed(
                                                 data_dir, teacher, configs.from_json(EmbeddingConfig, config))}
    write_json_atomic(os.path.join(run, "embedding_report.json"), result)
    return result


def main(argv=None):
    r, _ = run_report(__doc__, report, argv, [(("--no-speed",), dict(
        dest="speed", action="store_false", help="skip the training-speed comparison"))])
    v = r["validation"]
    print("| metric | value |\n|---|---|")
    print(f"| validation loss: model / training-mean predictor ({v['samples']} images) | "
          f"{v['model_loss']:.5f} / {v['trivial_loss']:.5f} = {v['ratio']:.3f} |")
    for mode in ("pred", "target"):
        p = r["pose_error_deg"][mode]
        print(f"| relative pose, same instance, {mode} (median / mean deg; acc@15; acc@30) | {p['median']:.1f} / "
              f"{p['mean']:.1f}; {100 * p['acc15']:.1f} %; {100 * p['acc30']:.1f} % ({p['pairs']} pairs) |")
    for key, images in (("pred_to_own_target", "test image"), ("fitted_pred_to_own_target", "fitted training image")):
        o = r["pose_error_deg"][key]
        print(f"| each {images}'s pred aligned to its own target (median deg; acc@30; off > 150 deg) | "
              f"{o['median']:.1f}; {100 * o['acc30']:.1f} %; {100 * o['over150']:.1f} % ({o['pairs']} images) |")
    e = r["rotating_energy"]
    print(f"| rotating part (test split): predicted energy / target's; error energy / target's | "
          f"{e['predicted_fraction']:.3f}; {e['error_fraction']:.3f} (1 = no better than predicting none) |")
    print("| error energy / target's, degrees 1, 2, ... (test split) | "
          + " ".join(f"{f:.2f}" for f in r["degree_error_fractions"]) + " |")
    if "train_images_per_second" in r:
        s = r["train_images_per_second"]
        print(f"| training images/s: embedding model / Model Garden ResNet-18 (same input) | {s['embedding']:.0f} / "
              f"{s['resnet18']:.0f} = {s['ratio']:.2f} |")
        print(f"| input pipeline images/s | {s['input_pipeline']:.0f} |")


if __name__ == "__main__":
    main()
