"""How near-symmetric the data is, and whether the image model's half turns are in the images:
python -m evaluation.symmetry_report --run runs/quick

1. Self-similarity (models.contrast.self_similarity) of the test split's input spheres and of
   their teacher embeddings, each channel minus its sphere mean and scaled to unit norm
   (evaluation.alignment.normalize_channels), so that every channel counts alike: the highest
   autocorrelation at least 45 deg from the identity over the identity's. 1 is an exact
   symmetry. A teacher that kept its input's asymmetry scores no higher than its input.
2. For the test images whose predicted embedding aligns to its own target off by more than
   150 deg (half turns): how far the render of the object in the pose that the prediction
   stands for lies from the render in its true pose (relative L2), expressed as the angle of
   a turn about a random axis that changes the same renders as much (the median distance of
   turns by CALIBRATION_DEG, interpolated). A few degrees: the confused poses look alike and
   no image model could tell them apart; 180: they look as different as a random half turn.
   And how many of those half turns turn about one of the object's own axes (within
   AXIS_WITHIN_DEG of the mesh's x, y or z), against the share random axes would give: a
   near-symmetry of the shape turns about its axes.
3. Which test images no image model can place: those whose render equals (relative L2 below
   UNDECIDABLE_TOLERANCE) the render of the object half turned about one of its own axes, pose
   R H. Test poses are uniform, so R and R H are equally likely, look the same, and their
   pairs' truths lie 180 deg apart: any image model can expect to get at most half of the
   same-instance pairs with such an image within 30 deg. The report gives that ceiling on
   acc@30, overall and per class, beside the share of such images.
Writes <run>/symmetry_report.json.
"""
import functools
import os

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

import soft
from models.contrast import MIN_ANGLE_DEG, self_similarity
from training import dataset, reader, sources
from training.config import DataConfig, from_json
from training.raycast import EmbreeMesh
from training.render import Renderer

from . import alignment
from .report_cli import run_report
from .run_alignment_experiment import embed_test_split

CALIBRATION_DEG = (2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 180.0)
AXIS_WITHIN_DEG = 25.0
UNDECIDABLE_TOLERANCE = 0.01  # relative L2; a 1 deg turn changes a 64 x 64 render by about 0.2
OBJECT_HALF_TURNS = np.stack([np.diag(d) for d in ((1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0))])


def object_axis_share(estimates, rotations, within_deg=AXIS_WITHIN_DEG):
    """The share of error rotations `estimates` (n, 3, 3) (camera frame) of samples in poses
    `rotations` (n, 3, 3) (mesh v -> R v) whose axis lies within `within_deg` of one of the
    object's axes (R e_x, R e_y, R e_z), and the share for uniformly random axes (6 caps)."""
    axes = Rotation.from_matrix(estimates).as_rotvec()
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    in_object_frame = np.einsum("nji,nj->ni", rotations, axes)  # R^T a
    near = np.abs(in_object_frame).max(axis=1) >= np.cos(np.radians(within_deg))
    return float(np.mean(near)), float(3 * (1 - np.cos(np.radians(within_deg))))


def relative_distance(image, truth):
    """Relative L2 distance of a render from the true one, over the latter's norm."""
    return float(np.linalg.norm(image - truth) / np.linalg.norm(truth))


def equivalent_turn_deg(distance, calibration):
    """The turn angle (deg) whose median render distance in `calibration` ({angle: distance})
    equals `distance`, interpolated (made monotonic first); capped to the calibrated range."""
    angles = np.array(sorted(calibration))
    distances = np.maximum.accumulate([calibration[a] for a in angles])
    return float(np.interp(distance, distances, angles))


def renderers(instances, image_size):
    """instance id -> its Renderer, built on first use ({id: sources.Instance} `instances`)."""
    return functools.cache(lambda instance: Renderer(EmbreeMesh(sources.load(instances[instance])), image_size))


def confused_renders(renderer, test, indices, estimates, seed=0):
    """For test samples `indices` with estimates (n, 3, 3) (rotations taking the prediction to its
    target): (render distances of the pose each prediction stands for, {angle: median distance of
    random turns by that angle}), both measured on the same samples; `renderer` as renderers()."""
    rng = np.random.default_rng(seed)
    confused, turns = [], {a: [] for a in CALIBRATION_DEG}
    for i, estimate in tqdm(list(zip(indices, estimates)), desc="renders", unit="image", leave=False):
        render, R = renderer(int(test["instance_id"][i])).render, test["rotation"][i]  # pose R: mesh v -> R v
        truth = render(R)
        confused.append(relative_distance(render(estimate.T @ R), truth))
        for angle in CALIBRATION_DEG:
            axis = rng.normal(size=3)
            turn = Rotation.from_rotvec(np.radians(angle) * axis / np.linalg.norm(axis)).as_matrix()
            turns[angle].append(relative_distance(render(turn @ R), truth))
    return np.array(confused), {a: float(np.median(d)) for a, d in turns.items()}


def undecidable_images(renderer, test, tolerance=UNDECIDABLE_TOLERANCE):
    """(n,) bool: test images whose render lies within `tolerance` (relative L2) of the render in
    pose R H for a half turn H about one of the object's own axes (OBJECT_HALF_TURNS)."""
    out = np.empty(len(test["rotation"]), bool)
    for i in tqdm(range(len(out)), desc="half-turn renders", unit="image", leave=False):
        render, R = renderer(int(test["instance_id"][i])).render, test["rotation"][i]
        truth = render(R)
        out[i] = min(relative_distance(render(R @ H), truth) for H in OBJECT_HALF_TURNS) < tolerance
    return out


def pair_ceiling(undecidable, first, second):
    """(pairs,) the most any image model can expect to get right per pair: 1, or 1/2 where either
    image is undecidable (its pose and its half turn are equally likely; the truths differ by
    180 deg)."""
    return np.where(undecidable[first] | undecidable[second], 0.5, 1.0)


def report(run, data_dir=None):
    data_dir = data_dir or os.path.join(run, "data")
    manifest = reader.load_manifest(data_dir)
    config = from_json(DataConfig, manifest["config"])
    test = reader.as_numpy(data_dir, "test")
    embeddings = embed_test_split(run, test, os.path.join(run, "eval"))
    pred, target = (embeddings[mode]().astype(np.float64) for mode in ("pred", "target"))
    similarity = {name: self_similarity(alignment.normalize_channels(maps))
                  for name, maps in (("input_spheres", test["sphere"]), ("teacher_embeddings", target))}
    estimates = soft.align(target, pred, channel_axis=-1)
    errors = alignment.errors_deg(estimates, np.eye(3))
    turned = np.flatnonzero(errors > alignment.HALF_TURN_DEG)
    result = {
        "self_similarity": {name: {"median": float(np.median(s)), "quartiles": np.percentile(s, [25, 75]).tolist(),
                                   "maps": len(s), "min_angle_deg": MIN_ANGLE_DEG} for name, s in similarity.items()},
        "half_turned_images": {"count": int(len(turned)), "of": int(len(errors))},
    }
    found = {i.instance_id: i for i in dataset.instances(config, data_dir)[0]}
    renderer = renderers(found, config.image_size)
    if len(turned):
        distances, calibration = confused_renders(renderer, test, turned, estimates[turned])
        median = float(np.median(distances))
        share, random_share = object_axis_share(estimates[turned], test["rotation"][turned])
        result["half_turned_images"].update({
            "about_object_axis": share, "about_object_axis_if_random": random_share,
            "render_distance_median": median, "equivalent_turn_deg": equivalent_turn_deg(median, calibration),
            "calibration": {str(a): d for a, d in calibration.items()}})
    undecidable = undecidable_images(renderer, test)
    split = manifest["splits"]["test"]
    first, second = alignment.pairs(test["class_id"], split["instances"], split["poses"], "same")
    ceiling, pair_class = pair_ceiling(undecidable, first, second), test["class_id"][first]
    classes = manifest["classes"]
    result["undecidable_images"] = {
        "count": int(undecidable.sum()), "of": len(undecidable), "tolerance": UNDECIDABLE_TOLERANCE,
        "pair_ceiling_acc30": float(ceiling.mean()),
        "per_class": {classes[c]: {"share": float(undecidable[test["class_id"] == c].mean()),
                                   "pair_ceiling_acc30": float(ceiling[pair_class == c].mean())}
                      for c in np.unique(test["class_id"])}}
    dataset.write_json_atomic(os.path.join(run, "symmetry_report.json"), result)
    return result


def main(argv=None):
    r, _ = run_report(__doc__, report, argv)
    print("| measure | value |\n|---|---|")
    for name, s in r["self_similarity"].items():
        print(f"| self-similarity of the {name.replace('_', ' ')} (median; quartiles; 1 = a symmetry) | "
              f"{s['median']:.3f}; {s['quartiles'][0]:.3f} / {s['quartiles'][1]:.3f} ({s['maps']} maps) |")
    h = r["half_turned_images"]
    print(f"| test images whose pred aligns to its own target off by > {alignment.HALF_TURN_DEG:.0f} deg | "
          f"{h['count']} of {h['of']} |")
    if h["count"]:
        c = h["calibration"]
        print(f"| their render in the confused pose against the true one: relative L2 (median) | "
              f"{h['render_distance_median']:.3f}, as far as a {h['equivalent_turn_deg']:.1f} deg turn |")
        print(f"| their turn's axis within {AXIS_WITHIN_DEG:g} deg of one of the object's axes | "
              f"{100 * h['about_object_axis']:.1f} % (random axes: {100 * h['about_object_axis_if_random']:.1f} %) |")
        print("| renders turned by a random axis: relative L2 (median) | "
              + "; ".join(f"{float(a):g} deg {d:.3f}" for a, d in c.items()) + " |")
    u = r["undecidable_images"]
    affected = {name: c for name, c in u["per_class"].items() if c["share"]}
    print(f"| test images that render like their half turn about one of the object's axes (relative L2 < "
          f"{u['tolerance']:g}) | {u['count']} of {u['of']}"
          + "".join(f"; {name} {100 * c['share']:.0f} %" for name, c in affected.items()) + " |")
    print(f"| same-instance acc@30 that no image model can expect to exceed (a pair with such an image counts 1/2) | "
          f"{100 * u['pair_ceiling_acc30']:.1f} %"
          + "".join(f"; {name} {100 * c['pair_ceiling_acc30']:.0f} %" for name, c in affected.items()) + " |")


if __name__ == "__main__":
    main()
