"""Dataset builder and readers: determinism, resume without duplicates or gaps, manifest,
sharing between machines, skipped meshes, rotation-major test order, tf.data batches."""
import dataclasses
import filecmp
import os

import numpy as np
import pytest
import trimesh

import soft
from training import dataset, reader
from training.config import DataConfig, EmbeddingConfig, apply_overrides, from_json, load, to_json

SMALL = DataConfig(classes=("chair", "mug", "car"), train_instances=2, test_instances=2, train_poses=3,
                   test_poses=2, bandwidth=8, image_size=16, shard_size=4, seed=7)
# 96 training samples stored class by class in 12 shards: more than the small buffers the mixing tests use
CLASS_MAJOR = dataclasses.replace(SMALL, train_instances=8, train_poses=4, test_instances=1, shard_size=8)


def shard_files(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".tfrecord"))


def test_config_overrides():
    config = load("quick", "data", ["train_instances=3", "classes=chair,mug", "depth=true"])
    assert (config.train_instances, config.classes, config.depth) == (3, ("chair", "mug"), True)
    with pytest.raises(ValueError, match="unknown override"):
        apply_overrides(config, ["nonsense=1"])
    with pytest.raises(ValueError, match="unknown config"):
        load("huge", "data")


def test_config_json_round_trip_keeps_types_and_defaults_new_fields():
    config = load("quick", "embedding")
    assert from_json(EmbeddingConfig, to_json(config)) == config
    saved = {k: v for k, v in to_json(config).items() if k != "inplane_rotations"}  # saved before the field existed
    assert from_json(EmbeddingConfig, saved).inplane_rotations == EmbeddingConfig().inplane_rotations


def test_build_counts_order_and_determinism(tmp_path):
    a = dataset.build(SMALL, tmp_path / "a", progress=False)
    dataset.build(SMALL, tmp_path / "b", progress=False)
    assert a["splits"]["train"]["samples"] == 3 * 2 * 3 and a["splits"]["test"]["samples"] == 3 * 2 * 2
    assert a["skipped"] == [] and a["classes"] == list(SMALL.classes)
    files = shard_files(tmp_path / "a")
    assert files == shard_files(tmp_path / "b") and len(files) == 5 + 3
    for name in files:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name

    test = reader.as_numpy(str(tmp_path / "a"), "test")
    n = a["splits"]["test"]["instances"]
    np.testing.assert_array_equal(test["index"], np.arange(12))
    np.testing.assert_array_equal(test["instance_id"][:n], test["instance_id"][n:])  # rotation-major
    np.testing.assert_array_equal(test["pose_id"], np.repeat([0, 1], n))
    assert test["image"].shape == (12, 16, 16, 1) and test["sphere"].shape == (12, 16, 16, 2)
    assert test["image"].max() > 0.2 and test["image"].min() == 0.0
    R = test["rotation"]
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    assert soft.geodesic_angle(R[0], R[n]) > 0.01  # poses differ


def test_resume_after_interruption(tmp_path, monkeypatch):
    out = tmp_path / "data"
    real_build_shard = dataset.build_shard
    calls = []

    def dying(task, *args):
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        calls.append(task.name)
        return real_build_shard(task, *args)

    monkeypatch.setattr(dataset, "build_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        dataset.build(SMALL, out, progress=False)
    assert not (out / "manifest.json").exists()
    finished = {name: os.path.getmtime(out / name) for name in calls}
    (out / "train-00003-of-00005.tfrecord.tmp-999").write_bytes(b"half a shard")  # debris of a kill
    monkeypatch.setattr(dataset, "build_shard", real_build_shard)
    manifest = dataset.build(SMALL, out, progress=False)
    assert {name: os.path.getmtime(out / name) for name in calls} == finished  # not redone
    assert not any(".tmp-" in f for f in os.listdir(out))
    for split in ("train", "test"):
        data = reader.as_numpy(str(out), split)
        np.testing.assert_array_equal(data["index"], np.arange(manifest["splits"][split]["samples"]))
    reference = dataset.build(SMALL, tmp_path / "reference", progress=False)
    for name in shard_files(tmp_path / "reference"):
        assert filecmp.cmp(out / name, tmp_path / "reference" / name, shallow=False)
    assert reference["splits"] == manifest["splits"]


def test_shared_between_machines_and_workers(tmp_path):
    out = tmp_path / "shared"
    assert dataset.build(SMALL, out, shard_index=0, num_shards=2, progress=False) is None
    manifest = dataset.build(SMALL, out, shard_index=1, num_shards=2, workers=2, progress=False)
    assert manifest is not None
    single = tmp_path / "single"
    dataset.build(SMALL, single, progress=False)
    for name in shard_files(single):
        assert filecmp.cmp(out / name, single / name, shallow=False)


def test_config_change_is_refused(tmp_path):
    dataset.build(SMALL, tmp_path, progress=False)
    with pytest.raises(ValueError, match="another config"):
        dataset.build(dataclasses.replace(SMALL, seed=8), tmp_path, progress=False)


def test_real_meshes_with_bad_files_skipped(tmp_path):
    root = tmp_path / "ModelNet40"
    for name, good in (("chair", 3), ("desk", 2)):
        for split in ("train", "test"):
            folder = root / name / split
            folder.mkdir(parents=True)
            for i in range(good):
                mesh = trimesh.creation.box(extents=[1 + i, 0.5, 0.2 + 0.1 * i])
                mesh.export(folder / f"{name}_{i:04d}.off")
    (root / "chair" / "train" / "chair_9998.off").write_text("OFF\n0 0 0\n")  # empty
    (root / "chair" / "test" / "chair_9999.off").write_text("garbage\n")  # unreadable
    config = dataclasses.replace(SMALL, source="modelnet40", root=str(root), classes=(), train_instances=0,
                                 test_instances=0)  # 0: every mesh
    with pytest.warns(UserWarning, match="skipping"):
        manifest = dataset.build(config, tmp_path / "data", progress=False)
    assert sorted(os.path.basename(s["path"]) for s in manifest["skipped"]) == ["chair_9998.off", "chair_9999.off"]
    assert manifest["classes"] == ["chair", "desk"]
    assert manifest["splits"]["train"]["instances"] == 5 and manifest["splits"]["test"]["samples"] == 5 * 2
    with pytest.raises(ValueError, match="does not exist"):
        dataset.build(dataclasses.replace(config, root=str(tmp_path / "nowhere")), tmp_path / "x", progress=False)


def test_reader_batches_shuffle_and_random_rotation(tmp_path):
    dataset.build(SMALL, tmp_path, progress=False)
    batches = list(reader.read(str(tmp_path), "train", 5, shuffle=True, random_rotation=True, seed=1))
    assert [len(b["index"]) for b in batches] == [5, 5, 5, 3]
    indices = np.concatenate([b["index"].numpy() for b in batches])
    assert sorted(indices) == list(range(18)) and list(indices) != list(range(18))
    plain = reader.as_numpy(str(tmp_path), "train")
    batch = batches[0]
    Q = batch["rotation"].numpy() @ np.swapaxes(plain["rotation"][batch["index"].numpy()], 1, 2)
    np.testing.assert_allclose(Q @ np.swapaxes(Q, 1, 2), np.broadcast_to(np.eye(3), Q.shape), atol=1e-5)
    assert np.all(np.degrees(soft.geodesic_angle(Q, np.eye(3))) > 1.0)  # fresh rotations were applied
    again = list(reader.read(str(tmp_path), "train", 5, shuffle=True, random_rotation=True, seed=1))
    for first, second in zip(batches, again):  # seeded: the same order and rotations on every read
        np.testing.assert_array_equal(first["rotation"].numpy(), second["rotation"].numpy())
        np.testing.assert_array_equal(first["sphere"].numpy(), second["sphere"].numpy())
    with pytest.raises(ValueError, match="no manifest"):
        reader.read(str(tmp_path / "empty"), "train", 4)


def test_tf_rotation_of_spheres_is_nearly_equivariant(tmp_path):
    """The bilinear tf.data rotation agrees with exact alignment: align(rotated, original) ~ Q."""
    import tensorflow as tf
    dataset.build(dataclasses.replace(SMALL, bandwidth=16, test_poses=1), tmp_path, progress=False)
    spheres = reader.as_numpy(str(tmp_path), "test")["sphere"]
    from models.rotation import random_rotation_matrices, rotate_spheres
    Q = random_rotation_matrices(len(spheres), seed=(3, 4)).numpy().astype(np.float64)
    rotated = rotate_spheres(tf.constant(spheres), tf.constant(Q)).numpy()
    estimate = soft.align(rotated, spheres, channel_axis=-1)
    assert np.degrees(soft.geodesic_angle(estimate, Q)).max() < 2.0


@pytest.mark.parametrize("cache", [True, False])
def test_training_stream_mixes_a_split_stored_class_by_class(tmp_path, cache):
    """A training set larger than the shuffle buffer still arrives with its classes mixed
    (cached: blocks shuffled first; not cached: shards read in a random order), and every
    epoch is a permutation of it."""
    dataset.build(CLASS_MAJOR, tmp_path, progress=False)
    train, _, counts = reader.held_out_pairs(str(tmp_path), lambda b: (b["class_id"], b["index"]),
                                             validation_every=4, batch_size=8, cache=cache, seed=3,
                                             shuffle_buffer=8, block=2)
    plain = reader.as_numpy(str(tmp_path), "train")
    assert list(plain["class_id"]) == sorted(plain["class_id"])  # stored class by class
    kept = plain["index"][~reader.is_held_out(plain["instance_id"], 4)]
    assert counts["train"] == len(kept) == 72
    steps = counts["train"] // 8
    batches = [(c.numpy(), i.numpy()) for c, i in train.take(2 * steps)]
    for epoch in (batches[:steps], batches[steps:]):
        assert sorted(np.concatenate([i for _, i in epoch])) == sorted(kept)
    # 8 samples drawn at random from three equal classes show 2.9 of them on average;
    # the buffer alone, on the stored order, shows about 1.6
    assert np.mean([len(np.unique(c)) for c, _ in batches]) > 2.2


def test_shuffled_read_mixes_a_split_larger_than_the_buffer(tmp_path, monkeypatch):
    """read(shuffle=True) (the teacher's reader) switches to shard mixing by itself for a
    split of more than SAMPLE_BUFFER samples; within it, the buffer alone shuffles."""
    dataset.build(CLASS_MAJOR, tmp_path, progress=False)
    plain = reader.as_numpy(str(tmp_path), "train")
    assert len(plain["index"]) == 96 and list(plain["class_id"]) == sorted(plain["class_id"])

    def classes_per_batch(sample_buffer):
        monkeypatch.setattr(reader, "SAMPLE_BUFFER", sample_buffer)
        epoch = list(reader.read(str(tmp_path), "train", 8, shuffle=True, seed=3, shuffle_buffer=8))
        assert sorted(np.concatenate([b["index"].numpy() for b in epoch])) == sorted(plain["index"])
        return np.mean([len(np.unique(b["class_id"].numpy())) for b in epoch])

    assert classes_per_batch(95) > 2.2  # 96 samples: over the buffer, shards mixed
    assert classes_per_batch(96) < 2.2  # within it: the stored order through an 8-sample buffer
