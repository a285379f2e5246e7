"""model.fit plumbing shared by the training scripts: strategies, precision, schedules, callbacks."""
import argparse
import contextlib
import json
import os
import shutil
import sys
import time

import tensorflow as tf
import tf_keras as keras

from models import export

from . import config as configs

STRATEGIES = ("default", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def strategy(name):
    """tf.distribute strategy by name; multi_worker reads TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose from {STRATEGIES}")


@contextlib.contextmanager
def precision(name):
    """Build models under Keras' dtype policy `name` (one of PRECISIONS): the mixed ones
    compute in bfloat16 or float16 and keep float32 variables. Layers keep the policy they
    were built under, so the global policy is restored on exit, and exports built later
    (models.export.inference_copy) compute in float32. compile() adds loss scaling for
    mixed_float16 by itself."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose from {PRECISIONS}")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def piecewise_schedule(boundaries, values, steps_per_epoch):
    """Piecewise-constant learning rate, boundaries given in epochs."""
    if len(values) != len(boundaries) + 1:
        raise ValueError(f"need one more learning rate than boundaries, got {values} and {boundaries}")
    if not boundaries:
        return float(values[0])
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [int(b * steps_per_epoch) for b in boundaries], [float(v) for v in values])


def reuse_export(export_dir, force, what):
    """True (and says so) when an export exists and --force was not given."""
    if os.path.exists(os.path.join(export_dir, "saved_model.pb")) and not force:
        print(f"{what} already exported at {export_dir} (use --force to retrain)")
        return True
    return False


def verbosity(verbose):
    """Keras verbosity: a progress bar on a terminal, one line per epoch in logs."""
    return verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)


def callbacks(work_dir, config=None):
    """TensorBoard logs, per-epoch weight checkpoints, and BackupAndRestore so that a
    killed run resumes at the last finished epoch. A backup left by a run with another
    config (saved as run_config.json) is discarded rather than resumed. Workers other
    than the chief (see models.export.is_chief) keep their logs and checkpoints in a private
    temporary folder; BackupAndRestore coordinates the workers itself."""
    backup = os.path.join(work_dir, "backup")
    if not export.is_chief():
        import tempfile
        work_dir = tempfile.mkdtemp(prefix="worker-")
    elif config is not None:
        os.makedirs(work_dir, exist_ok=True)
        path = os.path.join(work_dir, "run_config.json")
        if os.path.exists(path):
            with open(path) as f:
                if json.load(f) != config:
                    print(f"discarding the backup in {work_dir}: it belongs to a run with another config")
                    shutil.rmtree(os.path.join(work_dir, "backup"), ignore_errors=True)
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
    return [
        keras.callbacks.TensorBoard(os.path.join(work_dir, "logs"), write_graph=False),
        keras.callbacks.ModelCheckpoint(os.path.join(work_dir, "checkpoints", "weights"), save_weights_only=True),
        keras.callbacks.BackupAndRestore(backup),
    ]


def timed_fit(model, data, config, steps, work_dir, *, validation_data=None, extra_callbacks=(), verbose=None):
    """model.fit for config.epochs epochs of `steps` steps with callbacks(work_dir, config).
    Returns (history dict, seconds of training)."""
    start = time.time()
    history = model.fit(data, epochs=config.epochs, steps_per_epoch=steps, validation_data=validation_data,
                        callbacks=callbacks(work_dir, configs.to_json(config)) + list(extra_callbacks),
                        verbose=verbosity(verbose))
    return history.history, time.time() - start


def split_cpu(n):
    """Expose the CPU as n logical devices (before TensorFlow initialises its runtime)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def run_cli(doc, section, train, argv=None):
    """The command line shared by the trainers: --config, --set, --run, --data, --strategy,
    --cpu-devices, --force; calls train(config, data_dir, run_dir, strategy, force)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quick", help=f"preset: {', '.join(sorted(configs.PRESETS))}")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help=f"override a field of the {section} config (repeatable)")
    parser.add_argument("--run", help="run folder (default runs/<config>)")
    parser.add_argument("--data", help="dataset folder (default <run>/data)")
    parser.add_argument("--strategy", default="default", choices=STRATEGIES)
    parser.add_argument("--cpu-devices", type=int, default=0,
                        help="split the CPU into this many logical devices (to try strategies without GPUs)")
    parser.add_argument("--force", action="store_true", help="retrain even if an export exists")
    args = parser.parse_args(argv)
    if args.cpu_devices > 1:
        split_cpu(args.cpu_devices)
    run = args.run or os.path.join("runs", args.config)
    try:
        config = configs.load(args.config, section, args.set)
        train(config, args.data or os.path.join(run, "data"), run, args.strategy, args.force)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    return 0
