"""Relative-pose experiment in one command:
python -m evaluation.run_alignment_experiment --run runs/quick [--name base] [options]

Embeds the test split (<run>/data, or --data) with the exported models (cached in
<out>/embeddings_*.npz per export and test split), builds same- and different-instance
pairs as the original protocol did (rotation-major data, seed 0), aligns them with
batched soft.align and scores geodesic errors against R_j R_i^T. Modes: pred (image
embeddings), target (the teacher's embeddings of the 3D shapes: the oracle), chance
(uniformly random rotations), regression (the learned peer of
training.train_regression_baseline, on the same pairs).
Writes to <out> (default <run>/eval): results.md (one table row per mode and pair
kind, appended per experiment, with 95 % intervals of the median and acc@30 over
redrawn test instances (alignment.bootstrap_intervals) and a per-class table), raw
per-pair results (pairs_<name>.json), an error-CDF plot (cdf_<name>.png) and an
example-pairs figure (examples_<name>.png).
"""
import argparse
import functools
import hashlib
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import soft
from models.export import load_serving
from models.teacher import load_teacher
from training import reader
from training.dataset import write_json_atomic

from . import alignment
from .inference import embed_images, in_batches

MODES = ("pred", "target", "chance", "regression")
INTERVALS = (f"bootstrap over the test instances, {alignment.BOOTSTRAP_DRAWS:,} draws; "
             "a pair goes with its pose-0 image's instance")


def real_mesh_test_split(run, meshes_root, out, layout="auto"):
    """Build a test split from a folder of real meshes (ModelNet40 or ShapeNetCore layout)
    with the run's own sampling (bandwidth, channels, image size, poses), no training
    split; returns its folder. Nothing is retrained: the run's exported models embed it."""
    import dataclasses
    from training import dataset
    from training.config import DataConfig
    saved = reader.load_manifest(os.path.join(run, "data"))["config"]
    config = dataclasses.replace(
        DataConfig(), source=layout, root=os.path.abspath(meshes_root), classes=(), train_instances=0,
        test_instances=0, train_poses=0, test_poses=saved["test_poses"], bandwidth=saved["bandwidth"],
        sphere_channels=tuple(saved["sphere_channels"]), image_size=saved["image_size"], seed=saved["seed"])
    folder = os.path.join(out, "real_data")
    dataset.build(config, folder)
    return folder


def _cached_embeddings(out, key, model_path, inputs, compute):
    """compute() of `inputs`, cached in <out>/embeddings_<key>.npz and reused only for the
    same model export (its saved_model.pb's mtime) and the same inputs (a SHA-1 of the
    array), so another test split (--data) or a re-export is embedded afresh."""
    path = os.path.join(out, f"embeddings_{key}.npz")
    stamp = os.path.getmtime(os.path.join(model_path, "saved_model.pb"))
    digest = hashlib.sha1(f"{inputs.dtype}{inputs.shape}".encode() + np.ascontiguousarray(inputs).tobytes()).hexdigest()
    if os.path.exists(path):
        saved = np.load(path)
        if float(saved["stamp"]) == stamp and "inputs" in saved.files and str(saved["inputs"]) == digest:
            return saved["embedding"]
    embedding = compute()
    os.makedirs(out, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, embedding=embedding, stamp=stamp, inputs=digest)
    os.replace(tmp, path)
    return embedding


def embed_test_split(run, test, out, turns=1):
    """{mode: () -> embeddings} for pred (averaged over `turns` in-plane turns;
    inference.embed_images) and target."""
    def pred():
        serve = load_serving(os.path.join(run, "embedding"))
        return embed_images(serve, test["image"], turns=turns)

    def target():
        return in_batches(load_teacher(os.path.join(run, "teacher")), test["sphere"])
    pred_key = "pred" if turns == 1 else f"pred_turns{turns}"
    return {"pred": lambda: _cached_embeddings(out, pred_key, os.path.join(run, "embedding"), test["image"], pred),
            "target": lambda: _cached_embeddings(out, "target", os.path.join(run, "teacher"), test["sphere"], target)}


def regress_pairs(export_dir, images, first, second, chunk=128):
    """Relative rotations of the pairs from the learned peer; returns estimates and pairs/s."""
    from training.train_regression_baseline import read_metadata
    read_metadata(export_dir)
    serve = load_serving(export_dir)
    start = time.perf_counter()
    rotations = in_batches(lambda a, b: serve(images_a=tf.gather(images, a), images_b=tf.gather(images, b))["rotation"],
                           first, second, batch_size=chunk)
    estimates = soft.euler_zyz_to_matrix(soft.matrix_to_euler_zyz(rotations.astype(np.float64)))
    return estimates, len(first) / max(time.perf_counter() - start, 1e-9)


def align_pairs(embeddings, first, second, options, chunk=64, label=""):
    """Batched soft.align over pairs with a progress bar; returns estimates and pairs/s."""
    estimates = np.empty((len(first), 3, 3))
    start = time.perf_counter()
    for s in tqdm(range(0, len(first), chunk), desc=f"aligning {label}", unit="chunk", leave=False):
        a, b = first[s : s + chunk], second[s : s + chunk]
        estimates[s : s + chunk] = soft.align(embeddings[b], embeddings[a], channel_axis=-1, **options)
    return estimates, len(first) / max(time.perf_counter() - start, 1e-9)


def run_experiment(run, name, modes=MODES, kinds=("same", "diff"), data_dir=None, out=None, normalize=False,
                   err_symm=False, refine=True, oversample=1, weighting="soft2", score="real", turns=1,
                   embeddings=None):
    """Run one experiment; `embeddings` ({mode: (N, n, n, C) array}) replaces the exported models;
    pred averages over `turns` in-plane turns of each image (inference.embed_images)."""
    data_dir = data_dir or os.path.join(run, "data")
    out = out or os.path.join(run, "eval")
    os.makedirs(out, exist_ok=True)
    manifest = reader.load_manifest(data_dir)
    test = reader.as_numpy(data_dir, "test")
    n, poses = manifest["splits"]["test"]["instances"], manifest["splits"]["test"]["poses"]
    sources = embed_test_split(run, test, out, turns)
    sources.update({mode: (lambda array=array: array) for mode, array in (embeddings or {}).items()})
    sources = {mode: functools.cache(source) for mode, source in sources.items()}  # read (or embedded) once
    options = {"refine": refine, "oversample": oversample, "weighting": weighting, "score": score}
    rows, raw, speeds, estimates_of = [], {}, {}, {}
    for kind in kinds:
        first, second = alignment.pairs(test["class_id"], n, poses, kind)
        truth = test["rotation"][second] @ np.swapaxes(test["rotation"][first], 1, 2)
        for mode in modes:
            if mode == "chance":
                estimates, rate = alignment.chance_rotations(len(first), seed=0), float("nan")
            elif mode == "regression":
                estimates, rate = regress_pairs(os.path.join(run, "regression"), test["image"], first, second)
            else:
                embeddings = sources[mode]().astype(np.float64)
                if normalize:
                    embeddings = alignment.normalize_channels(embeddings)
                estimates, rate = align_pairs(embeddings, first, second, options, label=f"{mode}/{kind}")
            errors = alignment.errors_deg(estimates, truth, err_symm)
            intervals = alignment.bootstrap_intervals(errors, first % n)  # grouped by the pose-0 image's instance
            rows.append({"name": name, "mode": mode, "kind": kind, **alignment.summary(errors), "intervals": intervals})
            speeds[f"{mode}/{kind}"] = rate
            estimates_of[(mode, kind)] = (first, second, estimates, errors)
            per_class = {manifest["classes"][c]: alignment.summary(errors[test["class_id"][first] == c])
                         for c in np.unique(test["class_id"][first])}
            raw[f"{mode}/{kind}"] = {
                "first": first.tolist(), "second": second.tolist(), "truth": truth.tolist(),
                "estimate": estimates.tolist(), "error_deg": errors.tolist(), "per_class": per_class,
                "intervals_95": intervals}
    settings = {"normalize": "sphere-mean removed, unit L2 per channel" if normalize else "none",
                "err_symm": err_symm, "turns": turns, **options}
    write_json_atomic(os.path.join(out, f"pairs_{name}.json"), {"settings": settings, "results": raw})
    _append_tables(os.path.join(out, "results.md"), name, settings, rows, raw)
    _plot_cdf(os.path.join(out, f"cdf_{name}.png"), estimates_of)
    if "pred" in modes or "target" in modes:
        _plot_examples(os.path.join(out, f"examples_{name}.png"), test, sources,
                       "pred" if "pred" in modes else "target", estimates_of)
    return rows, speeds


def format_table(rows):
    """The Markdown alignment-error table of run_experiment's rows, as lines."""
    lines = ["| name | mode | same/diff | median deg | mean deg | acc@15 | acc@30 | pairs |",
             "|---|---|---|---|---|---|---|---|"]
    return lines + [f"| {r['name']} | {r['mode']} | {r['kind']} | {r['median']:.2f} | {r['mean']:.2f} | "
                    f"{100 * r['acc15']:.1f} % | {100 * r['acc30']:.1f} % | {r['pairs']} |" for r in rows]


def format_intervals(rows):
    """One line per row: 95 % intervals of the median and acc@30 over redrawn test instances."""
    return [f"{r['mode']}/{r['kind']}: median {r['intervals']['median'][0]:.2f}-{r['intervals']['median'][1]:.2f} deg, "
            f"acc@30 {100 * r['intervals']['acc30'][0]:.1f}-{100 * r['intervals']['acc30'][1]:.1f} %" for r in rows]


def printed_intervals(rows):
    """format_intervals under a header naming the bootstrap, as printed (the command, the demo)."""
    return [f"95 % intervals ({INTERVALS}):"] + [f"  {line}" for line in format_intervals(rows)]


def _append_tables(path, name, settings, rows, raw):
    lines = [f"\n### {name}\n", f"Settings: {json.dumps(settings)}\n"] + format_table(rows)
    lines += ["", f"95 % intervals ({INTERVALS}):", ""] + [f"- {line}" for line in format_intervals(rows)]
    lines += ["", "Per class, median deg (same-instance pairs):", ""]
    same = {k.split("/")[0]: v["per_class"] for k, v in raw.items() if k.endswith("/same")}
    if same:
        classes = sorted(next(iter(same.values())))
        lines += ["| class | " + " | ".join(same) + " |", "|---" * (len(same) + 1) + "|"]
        lines += [f"| {c} | " + " | ".join(f"{same[m][c]['median']:.1f}" for m in same) + " |" for c in classes]
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")


def _plot_cdf(path, estimates_of):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for (mode, kind), (*_, errors) in estimates_of.items():
        e = np.sort(errors)
        ax.plot(e, np.arange(1, len(e) + 1) / len(e), label=f"{mode} ({kind})")
    ax.set(xlabel="geodesic error (deg)", ylabel="fraction of pairs", xlim=(0, 180), ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_examples(path, test, sources, mode, estimates_of, count=3, channels=2):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    first, second, estimates, errors = estimates_of[(mode, "same")]
    embeddings = sources[mode]()
    picks = np.linspace(0, len(first) - 1, count).astype(int)
    fig, axes = plt.subplots(count, 2 + 3 * channels, figsize=(2 * (2 + 3 * channels), 2.1 * count))
    for row, p in enumerate(picks):
        a, b, E = first[p], second[p], estimates[p]
        moved = soft.rotate(embeddings[a].astype(np.float64), E, channel_axis=-1)
        panels = [(test["image"][a][..., 0], "image i"), (test["image"][b][..., 0], "image j")]
        for c in range(channels):
            panels += [(embeddings[a][..., c], f"i, ch {c}"), (embeddings[b][..., c], f"j, ch {c}"),
                       (moved[..., c], f"E applied to i, ch {c}")]
        for ax, (img, title) in zip(axes[row], panels):
            ax.imshow(img, cmap="gray" if "image" in title else "viridis")
            ax.set_title(title, fontsize=7)
            ax.axis("off")
        axes[row][0].set_ylabel(f"error {errors[p]:.1f} deg")
        axes[row][1].set_title(f"image j (error {errors[p]:.1f} deg)", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/quick")
    parser.add_argument("--name", default="base", help="experiment name (table rows, file names)")
    parser.add_argument("--modes", default="pred,target,chance",
                        help="comma list of pred, target, chance, regression")
    parser.add_argument("--kinds", default="same,diff", help="comma list of same, diff")
    parser.add_argument("--data", help="dataset folder (default <run>/data)")
    parser.add_argument("--meshes", help="evaluate on a folder of real meshes (ModelNet40 / ShapeNetCore layout) "
                                         "instead: its test split is built with the run's sampling")
    parser.add_argument("--out", help="output folder (default <run>/eval)")
    parser.add_argument("--normalize", action="store_true", help="per-channel: remove the sphere mean, unit L2 norm")
    parser.add_argument("--err-symm", action="store_true", help="fold errors as min(err, 180 - err)")
    parser.add_argument("--no-refine", action="store_true", help="grid argmax only (as SOFT)")
    parser.add_argument("--oversample", type=int, default=1, help="spectral oversampling of the correlation grid")
    parser.add_argument("--weighting", default="soft2", choices=("soft2", "soft1"))
    parser.add_argument("--score", default="real", choices=("real", "abs2"), help="argmax of Re C or of |C|^2")
    parser.add_argument("--turns", type=int, default=1,
                        help="pred: average each image's embedding over this many in-plane turns (1: none)")
    args = parser.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.exit(2, f"error: unknown modes {unknown}; choose from {MODES}\n")
    try:
        if args.meshes:
            args.out = args.out or os.path.join(args.run, "eval_real")
            args.data = real_mesh_test_split(args.run, args.meshes, args.out)
        rows, speeds = run_experiment(args.run, args.name, modes, tuple(args.kinds.split(",")), args.data, args.out,
                                      args.normalize, args.err_symm, not args.no_refine, args.oversample,
                                      args.weighting, args.score, args.turns)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    print("\n".join(format_table(rows)))
    print("\n".join(printed_intervals(rows)))
    print("pairs/s: " + ", ".join(f"{k} {v:.0f}" for k, v in speeds.items() if v == v))
    print(f"tables, raw results and plots in {args.out or os.path.join(args.run, 'eval')}")


if __name__ == "__main__":
    sys.exit(main())
