"""Sharded, resumable, deterministic dataset builder (TFRecord).

Each sample: a rendered image (uint8, image_size^2), the spherical function
(float32, 2b x 2b x C, NHWC with H = theta, W = phi), the pose R (float64 3x3, the
object mapped v -> R v), class id, instance id, pose id and the sample index.

Order within a split: test is rotation-major as in the original evaluation
(sample i + n_instances * j is instance i in pose j); train is instance-major
(sample i * n_poses + j), which builds each mesh once per shard. The pose of
(instance, j) depends only on (seed, split, instance id, j): shards, workers and
machines never change the data.

Shards hold consecutive samples and are written atomically (temporary file, then
rename) with a JSON sidecar; a re-run skips finished shards, so an interrupted build
resumes without duplicates or gaps. --shard-index / --num-shards split the shards
between machines; whoever finds every shard done writes manifest.json.
"""
import dataclasses
import glob
import json
import multiprocessing
import os

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from . import sources
from .config import to_json
from .raycast import EmbreeMesh, SphericalRayCaster
from .render import Renderer

FORMAT_VERSION = 2  # 2: images lit from the camera, so in-plane turns are exact (models.inplane)
ORDER = {"train": "instance-major", "test": "rotation-major"}


def write_json_atomic(path, payload):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def pose(seed, split, instance_id, j):
    """The rotation of pose j of an instance: uniform on SO(3), seeded."""
    rng = np.random.default_rng([seed, sources.SPLITS.index(split), instance_id, j])
    return Rotation.random(random_state=rng).as_matrix()


def sample_position(split, index, n_instances, n_poses):
    """(instance position within the split, pose j) of sample `index`."""
    if ORDER[split] == "rotation-major":
        return index % n_instances, index // n_instances
    return index // n_poses, index % n_poses


@dataclasses.dataclass(frozen=True)
class ShardTask:
    split: str
    shard: int
    n_shards: int
    start: int
    stop: int

    @property
    def name(self):
        return f"{self.split}-{self.shard:05d}-of-{self.n_shards:05d}.tfrecord"


def plan(config, split_instances):
    tasks = []
    for split in sources.SPLITS:
        total = len(split_instances[split]) * (config.train_poses if split == "train" else config.test_poses)
        n_shards = max(1, -(-total // config.shard_size))
        tasks += [ShardTask(split, s, n_shards, s * config.shard_size, min(total, (s + 1) * config.shard_size))
                  for s in range(n_shards) if total]
    return tasks


def _bytes(value):
    import tensorflow as tf
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value):
    import tensorflow as tf
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def encode(image, sphere, rotation, depth, instance, pose_id, index):
    import tensorflow as tf
    feature = {
        "image": _bytes(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8).tobytes()),
        "sphere": _bytes(np.ascontiguousarray(np.moveaxis(sphere, 0, -1), dtype="<f4").tobytes()),
        "rotation": _bytes(np.asarray(rotation, dtype="<f8").tobytes()),
        "class_id": _int(instance.class_id), "instance_id": _int(instance.instance_id),
        "pose_id": _int(pose_id), "index": _int(index),
    }
    if depth is not None:
        feature["depth"] = _bytes(np.asarray(depth, dtype="<f4").tobytes())
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)  # map order must not follow the hash seed


def build_shard(task, config, split_instances, out_dir):
    """Render and ray-cast one shard; write it atomically with its sidecar. Returns its count."""
    import tensorflow as tf
    items = split_instances[task.split]
    n_poses = config.train_poses if task.split == "train" else config.test_poses
    tools = {}
    path = os.path.join(out_dir, task.name)
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.TFRecordWriter(tmp) as writer:
        for index in range(task.start, task.stop):
            position, j = sample_position(task.split, index, len(items), n_poses)
            instance = items[position]
            if instance.instance_id not in tools:
                embree = EmbreeMesh(sources.load(instance))
                tools[instance.instance_id] = (
                    SphericalRayCaster(embree, config.bandwidth, config.sphere_channels),
                    Renderer(embree, config.image_size))
            caster, renderer = tools[instance.instance_id]
            R = pose(config.seed, task.split, instance.instance_id, j)
            rendered = renderer.render(R, depth=config.depth)
            image, depth = rendered if config.depth else (rendered, None)
            writer.write(encode(image, caster.cast(R), R, depth, instance, j, index))
    os.replace(tmp, path)
    write_json_atomic(path + ".json", {"samples": task.stop - task.start, "first": task.start, "last": task.stop - 1})
    return task.stop - task.start


def _run(args):
    return build_shard(*args)


def instances(config, out_dir):
    """Instances and skipped files, cached in instances.json (real meshes are scanned once)."""
    cache = os.path.join(out_dir, "instances.json")
    if os.path.exists(cache):
        with open(cache) as f:
            saved = json.load(f)
        return [sources.Instance(**i) for i in saved["instances"]], saved["skipped"], saved["classes"]
    found, skipped, classes = sources.instances(config)
    write_json_atomic(cache, {"instances": [dataclasses.asdict(i) for i in found], "skipped": skipped,
                              "classes": classes})
    return found, skipped, classes


def _check_config(config, out_dir):
    path = os.path.join(out_dir, "config.json")
    wanted = {**to_json(config), "format_version": FORMAT_VERSION}
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f)
        if existing != wanted:
            raise ValueError(f"{out_dir} holds a dataset built with another config ({path}); "
                             "use a new --out folder or delete the old one")
    else:
        write_json_atomic(path, wanted)


def build(config, out_dir, *, workers=1, shard_index=0, num_shards=1, progress=True):
    """Build (or finish) the dataset in out_dir; returns the manifest once every shard exists."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index must be in [0, {num_shards}), got {shard_index}")
    os.makedirs(out_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(out_dir, "*.tmp-*")):
        os.remove(stale)  # left by an interrupted run
    _check_config(config, out_dir)
    found, skipped, classes = instances(config, out_dir)
    split_instances = {s: [i for i in found if i.split == s] for s in sources.SPLITS}
    tasks = plan(config, split_instances)
    mine = [t for n, t in enumerate(tasks) if n % num_shards == shard_index]
    todo = [t for t in mine if not os.path.exists(os.path.join(out_dir, t.name + ".json"))]
    done = sum(t.stop - t.start for t in mine) - sum(t.stop - t.start for t in todo)
    bar = tqdm(total=sum(t.stop - t.start for t in mine), initial=done, unit="sample",
               desc=f"building {os.path.basename(os.path.normpath(out_dir))}", disable=not progress)
    jobs = [(t, config, split_instances, out_dir) for t in todo]
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for count in pool.imap_unordered(_run, jobs):
                bar.update(count)
    else:
        for job in jobs:
            bar.update(_run(job))
    bar.close()
    if not all(os.path.exists(os.path.join(out_dir, t.name + ".json")) for t in tasks):
        return None  # other machines still owe shards
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": to_json(config),
        "classes": classes,
        "skipped": skipped,
        "features": {"image": [config.image_size, config.image_size, 1],
                     "sphere": [2 * config.bandwidth, 2 * config.bandwidth, len(config.sphere_channels)],
                     "sphere_channels": list(config.sphere_channels), "depth": config.depth},
        "splits": {},
    }
    for split in sources.SPLITS:
        shards = [t for t in tasks if t.split == split]
        manifest["splits"][split] = {
            "samples": sum(t.stop - t.start for t in shards), "instances": len(split_instances[split]),
            "poses": config.train_poses if split == "train" else config.test_poses,
            "order": ORDER[split], "shards": [t.name for t in shards]}
    write_json_atomic(os.path.join(out_dir, "manifest.json"), manifest)
    return manifest
