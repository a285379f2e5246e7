"""Real meshes: reading OFF/OBJ/PLY/STL with trimesh, dataset folder layouts, normalisation.

Layouts:
- ModelNet40: <root>/<class>/{train,test}/*.off
- ShapeNetCore: <root>/<synset>/<model>/models/model_normalized.obj (no official split
  here: a model goes to test when a stable hash of its id falls in the test fraction).
Every mesh is centred (bounding-box centre at the origin) and scaled so its farthest
vertex lies at `radius` (0.99, inside the unit sphere the ray caster starts from).
"""
import dataclasses
import hashlib
import io
import os
import warnings

import numpy as np
import trimesh

MESH_SUFFIXES = (".off", ".obj", ".ply", ".stl")


class MeshError(ValueError):
    """A mesh file that cannot be used (unreadable, empty, non-finite)."""


def _fix_modelnet_off(data):
    """ModelNet's OFF files may put the counts on the header line ("OFF490 518 0")."""
    first, sep, rest = data.partition(b"\n")
    token = first.strip()
    if token.startswith(b"OFF") and len(token) > 3:
        return b"OFF\n" + token[3:].strip() + sep + rest
    return data


def load_mesh(path):
    """Read a mesh file into one trimesh.Trimesh (scenes are merged). Raises MeshError."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MESH_SUFFIXES:
        raise MeshError(f"{path}: unsupported mesh format {suffix!r} (expected one of {MESH_SUFFIXES})")
    try:
        with open(path, "rb") as f:
            data = f.read()
        if suffix == ".off":
            data = _fix_modelnet_off(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = trimesh.load(io.BytesIO(data), file_type=suffix[1:], force="mesh", process=False)
    except MeshError:
        raise
    except Exception as err:  # trimesh raises many types for corrupt files
        raise MeshError(f"{path}: unreadable mesh ({type(err).__name__}: {err})") from None
    mesh = check_mesh(loaded, path)
    mesh.merge_vertices()  # STL stores triangle soups
    return mesh


def check_mesh(mesh, name="mesh"):
    """Raise MeshError unless the mesh has finite vertices and at least one non-degenerate face."""
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise MeshError(f"{name}: empty mesh (no faces)")
    if not np.all(np.isfinite(mesh.vertices)):
        raise MeshError(f"{name}: non-finite vertex coordinates")
    if np.ptp(mesh.vertices, axis=0).max() <= 0:
        raise MeshError(f"{name}: degenerate mesh (all vertices coincide)")
    return mesh


def normalize(mesh, radius=0.99):
    """Centre the bounding box at the origin and scale the farthest vertex to `radius`."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    vertices = vertices - (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    vertices *= radius / np.linalg.norm(vertices, axis=1).max()
    return trimesh.Trimesh(vertices=vertices, faces=np.asarray(mesh.faces), process=False)


@dataclasses.dataclass(frozen=True)
class MeshRecord:
    path: str
    class_name: str
    split: str  # "train" or "test"
    model_id: str


def _stable_fraction(text):
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 2**32


def _modelnet40(root):
    records = []
    for class_name in sorted(os.listdir(root)):
        for split in ("train", "test"):
            folder = os.path.join(root, class_name, split)
            if os.path.isdir(folder):
                for name in sorted(os.listdir(folder)):
                    if name.lower().endswith(".off"):
                        records.append(MeshRecord(os.path.join(folder, name), class_name, split,
                                                  os.path.splitext(name)[0]))
    return records


def _shapenet(root, test_fraction=0.2):
    records = []
    for synset in sorted(os.listdir(root)):
        synset_dir = os.path.join(root, synset)
        if not os.path.isdir(synset_dir):
            continue
        for model in sorted(os.listdir(synset_dir)):
            path = os.path.join(synset_dir, model, "models", "model_normalized.obj")
            if os.path.isfile(path):
                split = "test" if _stable_fraction(model) < test_fraction else "train"
                records.append(MeshRecord(path, synset, split, model))
    return records


LAYOUTS = {"modelnet40": _modelnet40, "shapenet": _shapenet}


def detect_layout(root):
    """'modelnet40' or 'shapenet' from the folder structure; ValueError otherwise."""
    if not os.path.isdir(root):
        raise ValueError(f"mesh root {root!r} does not exist or is not a folder")
    for class_dir in sorted(os.listdir(root)):
        path = os.path.join(root, class_dir)
        if not os.path.isdir(path):
            continue
        if any(os.path.isdir(os.path.join(path, s)) for s in ("train", "test")):
            return "modelnet40"
        for model in os.listdir(path):
            if os.path.isfile(os.path.join(path, model, "models", "model_normalized.obj")):
                return "shapenet"
    raise ValueError(
        f"unknown mesh layout under {root!r}: expected <class>/{{train,test}}/*.off (ModelNet40) "
        "or <synset>/<model>/models/model_normalized.obj (ShapeNetCore)")


def scan(root, layout=None):
    """All MeshRecords under root, sorted by class, split and model id."""
    layout = layout or detect_layout(root)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")
    if not os.path.isdir(root):
        raise ValueError(f"mesh root {root!r} does not exist or is not a folder")
    records = LAYOUTS[layout](root)
    if not records:
        raise ValueError(f"no mesh files found under {root!r} in the {layout} layout")
    return records
