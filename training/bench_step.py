"""Image-model training step speed per precision: python -m training.bench_step

python -m training.bench_step [--config quick] [--set layers_per_block=2 ...]
    [--precisions float32,mixed_bfloat16] [--steps 60]

Builds the preset's image model (sizes from its data and teacher sections) once per
precision (training.fit.PRECISIONS), compiles it with the training loss and optimizer,
and times `--steps` train_on_batch calls on one random in-memory batch after a warm-up,
so the figures are the network's forward and backward pass alone. Prints the median and
10th / 90th percentile milliseconds per step and each precision's speed-up over the
first. Which precision wins depends on the hardware: bfloat16 needs AVX512-BF16 or AMX
on a CPU; float16 a GPU.
"""
import argparse
import dataclasses
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from models.teacher import build_teacher

from . import config as configs
from . import fit
from .train_embedding import build_model, loss, optimizer


def teacher_embedding_shape(data, teacher):
    """(n, n, C) of the embedding a teacher built from these configs gives."""
    classes = max(len(data.classes), 1)
    model = build_teacher(teacher, data.bandwidth, len(data.sphere_channels), classes)
    return tuple(model.output_shape["embedding"][1:])


def step_times(config, image_size, target_shape, steps, warmup=5):
    """Seconds per training step (array of `steps`) of config's image model, full-size
    output only (intermediate supervision heads would need coarse targets)."""
    keras.backend.clear_session()
    with fit.precision(config.precision):
        model = build_model(dataclasses.replace(config, intermediate_supervision=False), image_size, target_shape)
        model.compile(optimizer=optimizer(config, steps), loss=loss(config, contrast=False))
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((config.batch_size, image_size, image_size, 1), np.float32))
    targets = tf.constant(rng.random((config.batch_size, *target_shape), np.float32))
    for _ in range(warmup):
        model.train_on_batch(images, targets)
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(images, targets)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quick", help=f"preset: {', '.join(sorted(configs.PRESETS))}")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an embedding config field (repeatable)")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16",
                        help=f"comma-separated, from {', '.join(fit.PRECISIONS)}")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args(argv)
    precisions = [p for p in args.precisions.split(",") if p]
    unknown = [p for p in precisions if p not in fit.PRECISIONS]
    if unknown or not precisions:
        parser.error(f"--precisions takes names from {', '.join(fit.PRECISIONS)}, got {args.precisions!r}")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    config = configs.load(args.config, "embedding", args.set)
    data, teacher = configs.load(args.config, "data"), configs.load(args.config, "teacher")
    shape = teacher_embedding_shape(data, teacher)
    print(f"{args.config} image model: {data.image_size} x {data.image_size} images -> {shape}, "
          f"batch {config.batch_size}, {args.steps} timed steps")
    print("| precision | ms/step (median) | 10th / 90th percentile | steps/s | speed-up |")
    print("|---|---|---|---|---|")
    first = None
    for name in precisions:
        seconds = step_times(configs.apply_overrides(config, [f"precision={name}"]), data.image_size, shape,
                             args.steps)
        median = float(np.median(seconds))
        first = first or median
        low, high = np.percentile(seconds, [10, 90]) * 1000
        print(f"| {name} | {median * 1000:.0f} | {low:.0f} / {high:.0f} | {1 / median:.2f} | {first / median:.2f}x |")


if __name__ == "__main__":
    main()
