"""Which objects a dataset holds: the instance list per split, and each instance's mesh.

Procedural instances are (class, seed) pairs drawn from the config's seed. Real
instances come from a ModelNet40 / ShapeNetCore folder; every file is read once up
front so that unreadable, empty or non-finite meshes are skipped (with a warning and
a record in the manifest) before any sample index is assigned.
"""
import dataclasses
import warnings

import numpy as np

from . import meshes
from .shapes import make_shape

SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Instance:
    instance_id: int  # unique over the dataset
    class_id: int
    class_name: str
    split: str
    source: str  # "procedural:<seed>" or a mesh file path


def _procedural_seed(seed, class_id, split, k):
    return int(np.random.SeedSequence([seed, class_id, SPLITS.index(split), k]).generate_state(1)[0])


def procedural_instances(config):
    out, next_id = [], 0
    for split, count in (("train", config.train_instances), ("test", config.test_instances)):
        for class_id, name in enumerate(config.classes):
            for k in range(count):
                out.append(Instance(next_id, class_id, name, split,
                                    f"procedural:{_procedural_seed(config.seed, class_id, split, k)}"))
                next_id += 1
    return out


def real_instances(config, check=True):
    """Instances from config.root: (instances, skipped, class names), skipped = [{path, reason}].

    Class ids index the class names (the config's, or every class found, sorted)."""
    records = meshes.scan(config.root, None if config.source == "auto" else config.source)
    classes = list(config.classes) or sorted({r.class_name for r in records})
    limits = {"train": config.train_instances, "test": config.test_instances}
    poses = {"train": config.train_poses, "test": config.test_poses}
    out, skipped, taken = [], [], {}
    for record in records:
        if record.class_name not in classes or not poses[record.split]:
            continue  # a split with no poses needs no meshes (e.g. an evaluation-only test split)
        key = (record.class_name, record.split)
        if limits[record.split] and taken.get(key, 0) >= limits[record.split]:
            continue
        if check:
            try:
                meshes.load_mesh(record.path)
            except meshes.MeshError as err:
                warnings.warn(f"skipping {err}")
                skipped.append({"path": record.path, "reason": str(err)})
                continue
        taken[key] = taken.get(key, 0) + 1
        out.append(Instance(len(out), classes.index(record.class_name), record.class_name, record.split, record.path))
    if not out:
        raise ValueError(f"no usable meshes under {config.root!r} for classes {classes}")
    return out, skipped, classes


def instances(config):
    """(instances, skipped, class_names) for a DataConfig."""
    if config.source == "procedural":
        return procedural_instances(config), [], list(config.classes)
    if config.source not in ("modelnet40", "shapenet", "auto"):
        raise ValueError(f"unknown data source {config.source!r}: procedural, modelnet40, shapenet or auto")
    if not config.root:
        raise ValueError(f"data source {config.source!r} needs a mesh folder: --set root=/path/to/meshes")
    return real_instances(config)


def load(instance):
    """The normalised mesh of an instance."""
    if instance.source.startswith("procedural:"):
        return make_shape(instance.class_name, int(instance.source.split(":", 1)[1]))
    return meshes.normalize(meshes.load_mesh(instance.source))
