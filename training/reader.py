"""tf.data readers for datasets written by training.make_dataset.

read(data_dir, split, batch_size) yields dicts of batched tensors:
  image (B, H, W, 1) float32 in [0, 1]; sphere (B, 2b, 2b, C) float32 (NHWC, H = theta,
  W = phi); rotation (B, 3, 3) float64 (object pose, v -> R v); class_id, instance_id,
  pose_id, index (B,) int64; depth (B, H, W, 1) float32 when the dataset has it.
random_rotation=True applies a fresh uniform rotation Q to every sphere each time it
is read (for the teacher) and sets rotation to Q R; images are left as they are.
Random draws in pipelines are stateless, keyed on the seed and the batch index
(`augmented`), so a run repeats exactly however tf.data schedules its parallel maps.
"""
import json
import os

import numpy as np
import tensorflow as tf

from models.rotation import random_rotation_matrices, rotate_spheres

SAMPLE_BUFFER = 4096  # samples in the training shuffle buffer (training_batches)
BLOCK = 256  # samples per cached block of held_out_pairs (the unit its large-set shuffle moves)
INTERLEAVED_SHARDS = 16  # shards read at once by read(shard_seed=...)


def load_manifest(data_dir):
    from .dataset import FORMAT_VERSION
    path = os.path.join(data_dir, "manifest.json")
    if not os.path.exists(path):
        raise ValueError(f"{data_dir} has no manifest.json: build it with python -m training.make_dataset "
                         "(or finish an interrupted build by running it again)")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{data_dir} is dataset format {manifest.get('format_version')}, this code reads format "
                         f"{FORMAT_VERSION} (images lit from the camera); rebuild it with python -m "
                         "training.make_dataset into a new --out folder")
    return manifest


def _parser(manifest):
    feats = manifest["features"]
    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in ("image", "sphere", "rotation")}
    spec.update({k: tf.io.FixedLenFeature([], tf.int64) for k in ("class_id", "instance_id", "pose_id", "index")})
    if feats["depth"]:
        spec["depth"] = tf.io.FixedLenFeature([], tf.string)

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        out = {k: ex[k] for k in ("class_id", "instance_id", "pose_id", "index")}
        out["image"] = tf.reshape(tf.cast(tf.io.decode_raw(ex["image"], tf.uint8), tf.float32) / 255.0,
                                  [-1] + feats["image"])
        out["sphere"] = tf.reshape(tf.io.decode_raw(ex["sphere"], tf.float32), [-1] + feats["sphere"])
        out["rotation"] = tf.reshape(tf.io.decode_raw(ex["rotation"], tf.float64), [-1, 3, 3])
        if feats["depth"]:
            out["depth"] = tf.reshape(tf.io.decode_raw(ex["depth"], tf.float32), [-1] + feats["image"])
        return out
    return parse


def _randomly_rotated(batch, seed):
    Q = random_rotation_matrices(tf.shape(batch["sphere"])[0], seed=seed)
    batch = dict(batch)
    batch["sphere"] = rotate_spheres(batch["sphere"], Q)
    batch["rotation"] = tf.matmul(tf.cast(Q, tf.float64), batch["rotation"])
    return batch


def verify_shards(data_dir, split):
    """Read every record of a split's shards once (TFRecord CRCs are checked) and compare
    the counts with the sidecars; ValueError naming the first bad shard."""
    manifest = load_manifest(data_dir)
    for name in manifest["splits"][split]["shards"]:
        path = os.path.join(data_dir, name)
        if not os.path.exists(path):
            raise ValueError(f"{path}: missing shard; re-run python -m training.make_dataset to rebuild it")
        try:
            count = int(tf.data.TFRecordDataset(path).reduce(np.int64(0), lambda n, _: n + 1))
        except tf.errors.DataLossError as err:
            raise ValueError(f"{path}: corrupted TFRecord shard ({err.message.splitlines()[0]}); delete it and its "
                             ".json sidecar, then re-run python -m training.make_dataset to rebuild it") from None
        with open(path + ".json") as f:
            expected = json.load(f)["samples"]
        if count != expected:
            raise ValueError(f"{path}: {count} records, its sidecar says {expected}; delete it and its .json "
                             "sidecar, then re-run python -m training.make_dataset to rebuild it")


def read(data_dir, split, batch_size, *, shuffle=False, repeat=False, random_rotation=False,
         drop_remainder=False, seed=None, shuffle_buffer=2048, verify=True, shard_seed=None):
    """A batched tf.data.Dataset of sample dicts (see module doc), prefetched.

    verify: check every shard first (verify_shards), so a corrupted file is named
    before training starts rather than failing mid-epoch with a bare DataLossError.
    shard_seed: read the shards in a random order, drawn afresh each pass,
    INTERLEAVED_SHARDS at a time record by record (a split stored class by class then
    arrives mixed). shuffle=True does so by itself (from seed) for a split of more than
    SAMPLE_BUFFER samples, the training buffer's size, whatever shuffle_buffer is: a smaller
    split (the quick preset's 2,880) keeps the stream it always had."""
    manifest = load_manifest(data_dir)
    if split not in manifest["splits"]:
        raise ValueError(f"unknown split {split!r}; {data_dir} has {sorted(manifest['splits'])}")
    files = [os.path.join(data_dir, name) for name in manifest["splits"][split]["shards"]]
    if verify:
        verify_shards(data_dir, split)
    if shuffle and shard_seed is None and manifest["splits"][split]["samples"] > SAMPLE_BUFFER:
        shard_seed = 0 if seed is None else seed
    if shard_seed is not None:
        order = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=shard_seed,
                                                                  reshuffle_each_iteration=True)
        ds = order.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), INTERLEAVED_SHARDS),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE if shuffle else None)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(_parser(manifest), num_parallel_calls=tf.data.AUTOTUNE)
    if random_rotation:
        ds = augmented(ds, _randomly_rotated, 0 if seed is None else seed)
    return ds.prefetch(tf.data.AUTOTUNE)


def is_held_out(instance_id, validation_every):
    """Whether training instances are held out for validation: every validation_every-th
    instance id (0, k, 2k, ...). instance_id: an int, a NumPy array or a tensor."""
    return instance_id % validation_every == 0


def held_out_pairs(data_dir, to_pairs, *, validation_every, batch_size, replicas=1, cache=True, seed=0,
                   augment=None, shuffle_buffer=SAMPLE_BUFFER, block=BLOCK):
    """(train, validation, counts): (input, target) datasets from the train split.

    to_pairs maps a batch dict (see module doc) to (input, target) tensors. Every
    `validation_every`-th training instance is held out for validation. cache keeps
    the pairs in memory after the first pass (poses are fixed, so targets never change).
    augment, if given, maps each training batch (input, target) afresh every epoch (see
    augmented).
    The training set repeats, shuffled by a buffer of shuffle_buffer samples. The train
    split is stored class by class, so a set larger than that buffer is mixed first: cached,
    its blocks of `block` samples are shuffled (afresh each pass, without copying); not
    cached, its shards are read in a random order (read's shard_seed). A smaller set is
    shuffled whole by the buffer. With several replicas the last partial validation batch
    is dropped (a replica must never receive an empty batch)."""
    manifest = load_manifest(data_dir)
    samples = manifest["splits"]["train"]["samples"]
    held_out = lambda b: is_held_out(b["instance_id"], validation_every)  # noqa: E731
    with open(os.path.join(data_dir, "instances.json")) as f:
        ids = [i["instance_id"] for i in json.load(f)["instances"] if i["split"] == "train"]
    n_train = sum(1 for i in ids if not is_held_out(i, validation_every)) * manifest["splits"]["train"]["poses"]
    if n_train < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_train} training images")
    verify_shards(data_dir, "train")

    def subset(keep, mixed=False):
        ds = read(data_dir, "train", block, verify=False, shard_seed=seed if mixed and not cache else None)
        ds = ds.unbatch().filter(lambda b: keep(held_out(b))).batch(block).map(to_pairs, num_parallel_calls=1)
        if cache:
            ds = ds.cache()
            if mixed:
                ds = ds.shuffle(-(-n_train // block), seed=seed, reshuffle_each_iteration=True)
        return ds

    train = subset(tf.logical_not, mixed=n_train > shuffle_buffer).unbatch()
    validation = subset(tf.identity).unbatch().batch(batch_size, drop_remainder=replicas > 1)
    return (training_batches(train, batch_size, seed, augment, shuffle_buffer), validation.prefetch(tf.data.AUTOTUNE),
            {"train": n_train, "validation": samples - n_train})


def training_batches(samples, batch_size, seed, augment=None, shuffle_buffer=SAMPLE_BUFFER):
    """A dataset of single samples shuffled (seeded, afresh every pass, by a buffer of
    shuffle_buffer samples), repeated, in batches of batch_size (remainder dropped), mapped
    by augment (see augmented) and prefetched."""
    batches = samples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    batches = batches.batch(batch_size, drop_remainder=True)
    if augment is not None:
        batches = augmented(batches, augment, seed)
    return batches.prefetch(tf.data.AUTOTUNE)


def augmented(batches, augment, seed):
    """batches mapped by augment(batch, seed=(seed, batch index)), a tuple batch unpacked
    into arguments: stateless random draws, the same every time a run is repeated."""
    def apply(index, batch):
        key = tf.stack([tf.constant(seed, tf.int64), index])
        return augment(*batch, seed=key) if isinstance(batch, tuple) else augment(batch, seed=key)
    return batches.enumerate().map(apply, num_parallel_calls=tf.data.AUTOTUNE)


def as_numpy(data_dir, split, batch_size=256):
    """The whole split as a dict of NumPy arrays, in file order."""
    parts = list(read(data_dir, split, batch_size).as_numpy_iterator())
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
