"""Mesh files and folder layouts: round trips, the ModelNet OFF quirk, clear errors."""
import numpy as np
import pytest
import trimesh

from training import meshes


def tetra():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]], dtype=float)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return trimesh.Trimesh(vertices, faces, process=False)


@pytest.mark.parametrize("suffix", [".off", ".obj", ".ply", ".stl"])
def test_round_trip(tmp_path, suffix):
    path = tmp_path / f"shape{suffix}"
    tetra().export(path)
    loaded = meshes.load_mesh(path)
    assert len(loaded.faces) == 4
    np.testing.assert_allclose(np.sort(loaded.vertices, axis=0), np.sort(tetra().vertices, axis=0), atol=1e-6)


def test_modelnet_off_header_quirk(tmp_path):
    path = tmp_path / "chair_0001.off"
    path.write_text("OFF4 4 0\n0 0 0\n1 0 0\n0 2 0\n0 0 3\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n")
    loaded = meshes.load_mesh(path)
    assert loaded.vertices.shape == (4, 3) and len(loaded.faces) == 4


def test_normalize_into_unit_ball():
    mesh = meshes.normalize(tetra(), radius=0.99)
    bounds = mesh.bounds
    np.testing.assert_allclose(bounds[0] + bounds[1], 0, atol=1e-12)
    assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(0.99)


@pytest.mark.parametrize("content, message", [
    ("", "unreadable|empty"),
    ("this is not a mesh\n", "unreadable|empty"),
    ("OFF\n3 1 0\n0 0 0\nnan 0 0\n0 1 0\n3 0 1 2\n", "non-finite|unreadable"),
])
def test_bad_meshes(tmp_path, content, message):
    path = tmp_path / "bad.off"
    path.write_text(content)
    with pytest.raises(meshes.MeshError, match=message):
        meshes.load_mesh(path)
    with pytest.raises(meshes.MeshError, match="unsupported"):
        meshes.load_mesh(tmp_path / "x.glb")


def make_modelnet(root, classes=("chair", "table"), per_split=2):
    for c in classes:
        for split in ("train", "test"):
            (root / c / split).mkdir(parents=True)
            for i in range(per_split):
                tetra().export(root / c / split / f"{c}_{split}_{i}.off")
    return root


def test_layouts(tmp_path):
    modelnet = make_modelnet(tmp_path / "ModelNet40")
    assert meshes.detect_layout(modelnet) == "modelnet40"
    records = meshes.scan(modelnet)
    assert len(records) == 8 and {r.split for r in records} == {"train", "test"}
    assert {r.class_name for r in records} == {"chair", "table"}

    shapenet = tmp_path / "ShapeNetCore"
    for synset in ("02691156", "03001627"):
        for model in ("a1", "b2", "c3"):
            folder = shapenet / synset / model / "models"
            folder.mkdir(parents=True)
            tetra().export(folder / "model_normalized.obj")
    assert meshes.detect_layout(shapenet) == "shapenet"
    records = meshes.scan(shapenet)
    assert len(records) == 6 and all(r.path.endswith("model_normalized.obj") for r in records)
    assert records == meshes.scan(shapenet)  # deterministic split

    with pytest.raises(ValueError, match="does not exist"):
        meshes.scan(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.off").write_text("OFF\n")
    with pytest.raises(ValueError, match="unknown mesh layout"):
        meshes.scan(tmp_path / "flat")
