"""evaluation.symmetry_report: a box's symmetric half turn renders like the truth and a chair's
does not (so a box's images are undecidable and a chair's are not); the pair ceiling's known
values; the turn-angle interpolation; half turns about an object's axes found as such; the
command on the tiny run."""
import json

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from evaluation.symmetry_report import (confused_renders, equivalent_turn_deg, main, object_axis_share,
                                         pair_ceiling, renderers, undecidable_images)
from training import train_embedding
from training.shapes import make_shape
from training.sources import Instance

from conftest import TINY_EMBEDDING


def test_equivalent_turn_interpolates_a_monotonic_calibration():
    calibration = {5.0: 0.2, 10.0: 0.4, 20.0: 0.6, 30.0: 0.5}  # noisy: 30 deg measured below 20 deg
    assert equivalent_turn_deg(0.5, calibration) == pytest.approx(15.0)
    assert equivalent_turn_deg(0.1, calibration) == 5.0
    assert equivalent_turn_deg(0.9, calibration) == 30.0


def test_object_axis_share_finds_turns_about_the_objects_axes():
    rng = np.random.default_rng(4)
    poses = Rotation.random(3000, random_state=rng).as_matrix()
    object_axes = poses[np.arange(3000), :, rng.integers(0, 3, 3000)]  # columns R e_k, k random
    about_object_axes = Rotation.from_rotvec(np.pi * object_axes).as_matrix()
    share, random_share = object_axis_share(about_object_axes, poses)
    assert share == 1.0 and random_share == pytest.approx(3 * (1 - np.cos(np.radians(25))))
    camera_axis = Rotation.from_rotvec(np.pi * np.array([[0.0, 0.0, 1.0]] * 3000)).as_matrix()  # not the object's
    assert object_axis_share(camera_axis, poses)[0] == pytest.approx(random_share, abs=0.03)


@pytest.fixture(scope="module")
def box_and_chair(tmp_path_factory):
    """A renderer getter for a box (7: its half turns are symmetries) and a chair (9: none are)."""
    folder = tmp_path_factory.mktemp("meshes")
    trimesh.creation.box(extents=(1.2, 0.8, 0.5)).export(folder / "box.off")
    make_shape("chair", 3).export(folder / "chair.off")
    return renderers({7: Instance(7, 0, "box", "test", str(folder / "box.off")),
                      9: Instance(9, 1, "chair", "test", str(folder / "chair.off"))}, 48)


def test_a_boxs_half_turn_renders_alike_and_a_chairs_does_not(box_and_chair):
    R = Rotation.random(2, random_state=0).as_matrix()
    test = {"instance_id": np.array([7, 9]), "rotation": R}
    half_turn = np.diag([1.0, -1.0, -1.0])  # about the object's x axis: one of the box's symmetries
    estimates = R @ half_turn @ np.swapaxes(R, 1, 2)  # the prediction stands for the pose R H
    distances, calibration = confused_renders(box_and_chair, test, [0, 1], estimates)
    assert distances[0] < calibration[2.5] / 2, (distances, calibration)
    assert distances[1] > calibration[20.0], (distances, calibration)
    assert calibration[2.5] < calibration[10.0] < calibration[45.0]


def test_a_boxs_images_are_undecidable_and_a_chairs_are_not(box_and_chair):
    R = Rotation.random(6, random_state=1).as_matrix()
    test = {"instance_id": np.array([7, 9, 7, 9, 7, 9]), "rotation": R}
    np.testing.assert_array_equal(undecidable_images(box_and_chair, test), [True, False] * 3)


def test_pair_ceiling_halves_the_pairs_with_an_undecidable_image():
    undecidable = np.array([False, True, False, False, False, False])
    first, second = np.array([0, 0, 2, 2]), np.array([1, 3, 4, 5])  # only the first pair holds image 1
    np.testing.assert_array_equal(pair_ceiling(undecidable, first, second), [0.5, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(pair_ceiling(undecidable, second, first), [0.5, 1.0, 1.0, 1.0])


def test_symmetry_report_command(tiny_run, capsys):
    train_embedding.train(TINY_EMBEDDING, str(tiny_run / "data"), str(tiny_run), verbose=0)  # reuses an export
    main(["--run", str(tiny_run)])
    assert "self-similarity of the teacher embeddings" in capsys.readouterr().out
    written = json.loads((tiny_run / "symmetry_report.json").read_text())
    for s in written["self_similarity"].values():
        assert 0 < s["quartiles"][0] <= s["median"] <= s["quartiles"][1] <= 1 + 1e-9
    turned = written["half_turned_images"]
    assert 0 <= turned["count"] <= turned["of"]
    if turned["count"]:
        assert 0 <= turned["equivalent_turn_deg"] <= 180 and 0 <= turned["about_object_axis"] <= 1
    else:  # nothing to render: no render figures either
        assert set(turned) == {"count", "of"}
    undecidable = written["undecidable_images"]
    assert 0 <= undecidable["count"] <= undecidable["of"] and 0.5 <= undecidable["pair_ceiling_acc30"] <= 1
    assert undecidable["per_class"] and all(0.5 <= c["pair_ceiling_acc30"] <= 1 for c in undecidable["per_class"].values())
