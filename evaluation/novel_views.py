"""Novel views in one command: python -m evaluation.novel_views --run runs/quick

For every test instance, its pose-0 image is embedded, the embedding is rotated by
R = R_j R_0^T on the sphere (no rotation was ever supervised) and decoded by the
synthesis model (<run>/synthesis); the result is compared with the render of pose j.
References on the same pairs: copying the input image, and the synthesiser on the
unrotated embedding. Embeddings: pred (the image model, the real pipeline) and target
(the teacher's embeddings of the 3D shape: the oracle). Metrics: L1, PSNR and SSIM
(tf.image, max value 1), per rotation-angle bin. Writes <out> (default
<run>/novel_views): novel_views.md (the table), novel_views.json (per pair), and
novel_views.png (a grid: input, rotated syntheses, ground truth).
"""
import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf

import soft
from models.export import load_serving
from models.rotation import rotate_spheres
from training import reader
from training.dataset import write_json_atomic
from training.train_synthesis import read_metadata

from . import alignment
from .inference import in_batches
from .run_alignment_experiment import embed_test_split

ROTATIONS = ("bilinear", "spectral")
BINS = ((0.0, 30.0), (30.0, 180.01))


def rotate_embeddings(embeddings, rotations, method="bilinear"):
    """Lambda(R) e for NHWC embeddings (N, n, n, C) and rotations (N, 3, 3).

    bilinear: models.rotation.rotate_spheres (TF, interpolation); spectral: soft.rotate
    (exact for maps band-limited at n / 2, which embeddings are not)."""
    if method == "bilinear":
        return in_batches(rotate_spheres, embeddings.astype(np.float32), rotations.astype(np.float32))
    if method == "spectral":
        return soft.rotate(embeddings.astype(np.float64), rotations, channel_axis=-1).astype(np.float32)
    raise ValueError(f"rotation must be one of {ROTATIONS}, got {method!r}")


def image_scores(predicted, truth):
    """Per-image L1, PSNR (dB) and SSIM of (N, H, W, 1) images in [0, 1]."""
    p, t = tf.constant(np.clip(predicted, 0, 1), tf.float32), tf.constant(truth, tf.float32)
    filter_size = min(11, truth.shape[1])
    return {"l1": np.abs(predicted - truth).mean(axis=(1, 2, 3)),
            "psnr": tf.image.psnr(p, t, max_val=1.0).numpy(),
            "ssim": tf.image.ssim(p, t, max_val=1.0, filter_size=filter_size).numpy()}


def run(run_dir, out=None, data_dir=None, modes=("pred", "target"), rotation="bilinear", figure_examples=4):
    """Score novel views; returns the table rows (dicts)."""
    data_dir = data_dir or os.path.join(run_dir, "data")
    out = out or os.path.join(run_dir, "novel_views")
    synthesis_dir = os.path.join(run_dir, "synthesis")
    meta = read_metadata(synthesis_dir)
    os.makedirs(out, exist_ok=True)
    manifest = reader.load_manifest(data_dir)
    test = reader.as_numpy(data_dir, "test")
    if list(test["image"].shape[1:3]) != [meta["image_size"]] * 2:
        raise ValueError(f"{synthesis_dir} makes {meta['image_size']}x{meta['image_size']} images but "
                         f"{data_dir} has {tuple(test['image'].shape[1:3])}")
    synthesize = load_serving(synthesis_dir)
    decode = lambda e: in_batches(lambda x: synthesize(embeddings=x)["image"], e.astype(np.float32))  # noqa: E731
    first, second = alignment.pairs(test["class_id"], manifest["splits"]["test"]["instances"],
                                    manifest["splits"]["test"]["poses"], "same")
    relative = test["rotation"][second] @ np.swapaxes(test["rotation"][first], 1, 2)
    angles = np.degrees(soft.geodesic_angle(relative, np.eye(3)))
    truth = test["image"][second]
    start = time.perf_counter()
    sources = embed_test_split(run_dir, test, os.path.join(run_dir, "eval"))
    results = {"copy input": image_scores(test["image"][first], truth)}
    views = {}
    for mode in modes:
        embeddings = sources[mode]()[first]
        if list(embeddings.shape[1:]) != meta["embedding_shape"]:
            raise ValueError(f"{mode} embeddings are {embeddings.shape[1:]}, {synthesis_dir} expects "
                             f"{tuple(meta['embedding_shape'])}")
        views[mode] = decode(rotate_embeddings(embeddings, relative, rotation))
        results[f"{mode}: rotated"] = image_scores(views[mode], truth)
        results[f"{mode}: unrotated"] = image_scores(decode(embeddings), truth)
    seconds = time.perf_counter() - start
    rows = []
    for (lo, hi) in BINS:
        keep = (angles >= lo) & (angles < hi)
        for method, scores in results.items():
            rows.append({"method": method, "angles": f"{lo:.0f}-{min(hi, 180):.0f}", "pairs": int(keep.sum()),
                         **{k: float(v[keep].mean()) if keep.any() else float("nan") for k, v in scores.items()}})
    write_json_atomic(os.path.join(out, "novel_views.json"), {
        "rotation": rotation, "synthesis": meta, "first": first.tolist(), "second": second.tolist(),
        "angle_deg": angles.tolist(), "scores": {m: {k: v.tolist() for k, v in s.items()} for m, s in results.items()}})
    _write_table(os.path.join(out, "novel_views.md"), rows, rotation, meta)
    if figure_examples:
        _plot_grid(os.path.join(out, "novel_views.png"), test, first, second, angles, views, figure_examples)
    print(f"{len(first)} pairs x {len(modes)} embedding sources in {seconds:.1f} s")
    return rows


def format_table(rows):
    """The Markdown novel-view table of run()'s rows, as lines."""
    lines = ["| method | rotation deg | L1 | PSNR dB | SSIM | pairs |", "|---|---|---|---|---|---|"]
    return lines + [f"| {r['method']} | {r['angles']} | {r['l1']:.4f} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                    f"{r['pairs']} |" for r in rows]


def _write_table(path, rows, rotation, meta):
    lines = [f"Novel views (synthesiser trained on {meta['inputs']} embeddings; embedding rotation: {rotation})",
             ""] + format_table(rows)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _plot_grid(path, test, first, second, angles, views, count):
    """Rows: instances. Columns: the input, then per target pose each source's synthesis
    and the ground-truth render."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    instances = np.unique(first)
    instances = instances[np.linspace(0, len(instances) - 1, min(count, len(instances))).astype(int)]
    per_row = [np.flatnonzero(first == i)[:3] for i in instances]
    columns = 1 + max(len(p) for p in per_row) * (len(views) + 1)
    fig, axes = plt.subplots(len(instances), columns, figsize=(1.6 * columns, 1.7 * len(instances)), squeeze=False)
    for row, picks in enumerate(per_row):
        panels = [(test["image"][first[picks[0]]], "input")]
        for p in picks:
            panels += [(v[p], f"{mode} {angles[p]:.0f} deg") for mode, v in views.items()]
            panels.append((test["image"][second[p]], "ground truth"))
        for ax in axes[row]:
            ax.axis("off")
        for ax, (img, title) in zip(axes[row], panels):
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=7)
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run folder with data/, teacher/, embedding/, synthesis/")
    parser.add_argument("--data", help="dataset folder (default <run>/data)")
    parser.add_argument("--out", help="output folder (default <run>/novel_views)")
    parser.add_argument("--modes", default="pred,target", help="embedding sources, comma-separated: pred,target")
    parser.add_argument("--rotation", default="bilinear", choices=ROTATIONS, help="how embeddings are rotated")
    args = parser.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    if not modes or set(modes) - {"pred", "target"}:
        parser.exit(2, f"error: --modes must list pred and/or target, got {args.modes!r}\n")
    try:
        run(args.run, args.out, args.data, modes, args.rotation)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    out = args.out or os.path.join(args.run, "novel_views")
    with open(os.path.join(out, "novel_views.md")) as f:
        print(f.read())
    print(f"per-pair scores: {os.path.join(out, 'novel_views.json')}; figure: {os.path.join(out, 'novel_views.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
