"""Alignment experiments: the original pairing protocol, exact errors, bootstrap intervals, a near-zero oracle,
outputs that parse."""
import json

import numpy as np
import pytest

import soft
from evaluation import alignment, compare_experiments
from evaluation.run_alignment_experiment import run_experiment
from training import dataset, reader
from training.config import DataConfig
from conftest import random_coefficients


def test_pairing_reproduces_the_protocol():
    # 4 instances (classes 0, 0, 1, 1) in 3 poses, rotation-major: sample i + 4 j
    classes = np.tile([0, 0, 1, 1], 3)
    first, second = alignment.pairs(classes, 4, 3, "same")
    assert list(zip(first, second)) == [(0, 4), (0, 8), (1, 5), (1, 9), (2, 6), (2, 10), (3, 7), (3, 11)]
    first, second = alignment.pairs(classes, 4, 3, "diff", seed=0)
    assert list(first) == [0, 0, 1, 1, 2, 2, 3, 3]
    partner = second % 4
    assert np.all(partner != first) and np.all(classes[partner] == classes[first])
    assert np.all(second // 4 == np.tile([1, 2], 4))  # poses 1..P-1
    np.testing.assert_array_equal(second, alignment.pairs(classes, 4, 3, "diff", seed=0)[1])  # seeded
    with pytest.raises(ValueError, match="single instance"):
        alignment.pairs(np.array([0, 1]), 2, 1 + 1, "diff")


def test_error_of_a_known_estimate_is_exact():
    truth = soft.euler_zyz_to_matrix(np.array([[0.1, 0.2, 0.3]]))
    c, s = np.cos(np.radians(40)), np.sin(np.radians(40))
    off = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert alignment.errors_deg(off @ truth, truth)[0] == pytest.approx(40.0, abs=1e-10)
    flip = np.diag([1.0, -1.0, -1.0])  # 180 deg about x
    assert alignment.errors_deg(flip @ truth, truth)[0] == pytest.approx(180.0, abs=1e-9)
    assert alignment.errors_deg(flip @ truth, truth, symmetric=True)[0] == pytest.approx(0.0, abs=1e-9)
    stats = alignment.summary([5.0, 10.0, 20.0, 40.0])
    assert (stats["median"], stats["acc15"], stats["acc30"], stats["pairs"]) == (15.0, 0.5, 0.75, 4)


def test_bootstrap_intervals_know_the_binomial_width_and_resample_instances_together():
    errors = np.tile([10.0, 50.0], 200)  # acc@30 exactly 0.5 over 400 pairs
    alone = alignment.bootstrap_intervals(errors, np.arange(400))
    low, high = alone["acc30"]
    assert low < 0.5 < high
    assert low == pytest.approx(0.5 - 1.96 * np.sqrt(0.25 / 400), abs=0.012)  # binomial: 0.451-0.549
    assert high == pytest.approx(0.5 + 1.96 * np.sqrt(0.25 / 400), abs=0.012)
    # the same errors, each group of 10 pairs alike (one image's mistake repeated): 40 draws, not 400
    clustered = alignment.bootstrap_intervals(np.repeat(errors[:40], 10), np.repeat(np.arange(40), 10))
    assert np.diff(clustered["acc30"])[0] > 2.5 * np.diff(alone["acc30"])[0]
    assert alignment.bootstrap_intervals(np.full(20, 7.0), np.arange(20) % 5)["median"] == (7.0, 7.0)


def test_difference_intervals_are_exact_for_a_shift_and_tighter_than_unpaired(rng):
    groups = np.repeat(np.arange(30), 7)  # 30 instances, 7 pairs each
    hardness = np.repeat(rng.uniform(0, 120, 30), 7)  # what an object costs any method
    a = hardness + rng.uniform(0, 10, len(groups))
    shifted = alignment.difference_intervals(a, a - 4.0, groups)
    assert shifted["median"] == pytest.approx((-4.0, -4.0)) and shifted["mean"] == pytest.approx((-4.0, -4.0))
    b = hardness + rng.uniform(0, 10, len(groups)) - 4.0  # 4 deg better on average, own noise
    paired = alignment.difference_intervals(a, b, groups)["mean"]
    assert paired[0] < -4.0 < paired[1] and paired[1] < 0  # the improvement is vouched for
    own_a, own_b = (alignment.bootstrap_intervals(e, groups)["mean"] for e in (a, b))
    assert own_b[1] > own_a[0]  # side by side, the two intervals overlap: no verdict
    assert np.diff(paired)[0] < 0.2 * np.diff(own_a)[0]
    with pytest.raises(ValueError, match="one shape"):
        alignment.difference_intervals(a, b[:-1], groups)


def _rotated_maps(tmp_path, rng, noise):
    """Builds a 4-instance, 3-pose test split in tmp_path/data; returns target embeddings that are
    its instances' band-limited maps exactly rotated to each pose, plus Gaussian noise: (N, 2b, 2b, 3)."""
    config = DataConfig(classes=("chair", "mug"), train_instances=1, test_instances=2, train_poses=1,
                        test_poses=3, bandwidth=4, image_size=8, shard_size=16, seed=1)
    dataset.build(config, tmp_path / "data", progress=False)
    test = reader.as_numpy(str(tmp_path / "data"), "test")
    b, n = 8, 4
    canonical = soft.isht(random_coefficients(rng, b, (n, 3), real=True), real=True)  # per instance, 3 channels
    instance = np.arange(len(test["rotation"])) % n
    maps = soft.rotate(canonical[instance], test["rotation"][:, None])
    return np.moveaxis(maps + noise * rng.normal(size=maps.shape), 1, -1)


def test_oracle_embeddings_give_near_zero_error_and_files_parse(tmp_path, rng):
    n = 4
    rows, _ = run_experiment(str(tmp_path), "oracle", modes=("target", "chance"), kinds=("same",),
                             data_dir=str(tmp_path / "data"), embeddings={"target": _rotated_maps(tmp_path, rng, 1e-3)})
    target = next(r for r in rows if r["mode"] == "target")
    chance = next(r for r in rows if r["mode"] == "chance")
    assert target["median"] < 0.5 and target["pairs"] == n * 2
    assert chance["median"] > 30
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "| oracle | target | same |" in table and "Per class" in table
    assert "95 % intervals" in table and "- target/same: median " in table
    raw = json.loads((tmp_path / "eval" / "pairs_oracle.json").read_text())
    assert len(raw["results"]["target/same"]["error_deg"]) == n * 2
    low, high = raw["results"]["target/same"]["intervals_95"]["median"]
    assert low <= target["median"] <= high < 0.5
    assert (tmp_path / "eval" / "cdf_oracle.png").stat().st_size > 1000
    assert (tmp_path / "eval" / "examples_oracle.png").stat().st_size > 1000


def test_compare_experiments_reads_two_runs_on_the_same_pairs(tmp_path, rng, capsys):
    maps = _rotated_maps(tmp_path, rng, 1e-3)
    noisy = maps + 3.0 * maps.std() * rng.normal(size=maps.shape)
    for name, target in (("clean", maps), ("noisy", noisy)):
        run_experiment(str(tmp_path), name, modes=("target", "chance"), kinds=("same",),
                       data_dir=str(tmp_path / "data"), embeddings={"target": target})
    clean, worse = (str(tmp_path / "eval" / f"pairs_{name}.json") for name in ("clean", "noisy"))
    assert compare_experiments.main([clean, worse, "--keys", "target/same"]) is None
    lines = capsys.readouterr().out.splitlines()
    median = next(line for line in lines if line.startswith("| target/same | median deg"))
    cells = [c.strip() for c in median.strip("|").split("|")]
    errors = {name: json.loads((tmp_path / "eval" / f"pairs_{name}.json").read_text())["results"]
              ["target/same"]["error_deg"] for name in ("clean", "noisy")}
    assert float(cells[4]) == pytest.approx(np.median(errors["noisy"]) - np.median(errors["clean"]), abs=0.006)
    rows = compare_experiments.compare(*(compare_experiments.load_pairs(p) for p in (clean, worse)))
    assert {r["key"] for r in rows} == {"target/same", "chance/same"}  # all shared results by default
    chance = next(r for r in rows if r["key"] == "chance/same" and r["statistic"] == "median")
    assert chance["difference"] == 0 and chance["interval"] == (0, 0)  # the same seeded draws
    # errors equal up to rounding noise read as no difference
    nudged = json.loads(open(clean).read())
    nudged["results"]["target/same"]["error_deg"] = [e - 1e-12 for e in errors["clean"]]
    (tmp_path / "nudged.json").write_text(json.dumps(nudged))
    compare_experiments.main([clean, str(tmp_path / "nudged.json"), "--keys", "target/same"])
    assert "| +0.00 | +0.00 to +0.00 | no |" in capsys.readouterr().out
    # another test split's pairs are refused, as is a file that is not a pairs file
    other = json.loads(open(worse).read())
    other["results"]["target/same"]["second"][0] += 1
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit):
        compare_experiments.main([clean, str(tmp_path / "other.json")])
    assert "different pairs" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a pairs"):
        compare_experiments.load_pairs(str(tmp_path / "eval" / "results.md"))


def test_real_mesh_test_split_without_retraining(tmp_path):
    """A ModelNet-style folder becomes a rotation-major test split with the run's sampling;
    training meshes are not even read."""
    import trimesh
    from evaluation.run_alignment_experiment import real_mesh_test_split
    run = tmp_path / "run"
    config = DataConfig(classes=("chair",), train_instances=1, test_instances=1, train_poses=1, test_poses=2,
                        bandwidth=4, image_size=8, shard_size=16)
    dataset.build(config, run / "data", progress=False)
    root = tmp_path / "ModelNet40"
    for name in ("desk", "lamp"):
        (root / name / "test").mkdir(parents=True)
        (root / name / "train").mkdir(parents=True)
        for i in range(2):
            trimesh.creation.box(extents=[1 + i, 0.3, 0.5]).export(root / name / "test" / f"{name}_{i}.off")
        (root / name / "train" / f"{name}_9.off").write_text("unreadable, and never read\n")
    folder = real_mesh_test_split(str(run), str(root), str(tmp_path / "eval"))
    manifest = reader.load_manifest(folder)
    assert manifest["skipped"] == [] and manifest["splits"]["train"]["samples"] == 0
    assert manifest["splits"]["test"]["instances"] == 4 and manifest["splits"]["test"]["samples"] == 8
    assert manifest["features"]["sphere"] == [8, 8, 2] and manifest["features"]["image"] == [8, 8, 1]
    test = reader.as_numpy(folder, "test")
    np.testing.assert_array_equal(test["instance_id"][:4], test["instance_id"][4:])


def test_cached_embeddings_follow_the_test_split(tiny_run, tmp_path):
    """The embedding cache is keyed on the inputs as well as the export: another test split
    (--data) in the same output folder is embedded afresh, the same one is read back."""
    from evaluation.run_alignment_experiment import embed_test_split
    test = reader.as_numpy(str(tiny_run / "data"), "test")
    out = tmp_path / "eval"
    first = embed_test_split(str(tiny_run), test, str(out))["target"]()
    cache = out / "embeddings_target.npz"
    written = cache.stat().st_mtime_ns
    np.testing.assert_array_equal(embed_test_split(str(tiny_run), test, str(out))["target"](), first)
    assert cache.stat().st_mtime_ns == written  # read back, not recomputed
    reversed_split = {**test, "sphere": test["sphere"][::-1]}
    second = embed_test_split(str(tiny_run), reversed_split, str(out))["target"]()
    np.testing.assert_allclose(second, first[::-1], atol=1e-5)
