"""Report on an exported teacher: python -m evaluation.teacher_report --run runs/quick

On the test split (every sample in a uniformly random pose, rotation-major):
1. classification accuracy under random SO(3) rotations;
2. equivariance of the exported embedding: relative L2 error between the embedding
   of instance i in pose j and soft.rotate(embedding in pose 0, R_j R_0^T);
3. target-mode pose: soft.align between the embeddings of pose j and pose 0 of the
   same instance, geodesic error against R_j R_0^T (with and without refinement);
4. speed: the separable TF transform against the dense-matrix transform of the
   released implementation at 64 x 64, and the recorded training samples/s.
Writes <run>/teacher_report.json.
"""
import math
import os
import time

import numpy as np
import tensorflow as tf

import soft
from models.export import load_serving
from models.spherical import sht
from models.teacher import read_metadata
from training import reader
from training.dataset import write_json_atomic

from . import alignment
from .inference import in_batches
from .report_cli import run_report


def dense_transform_speed(b=32, batch=16, channels=16, repeats=5):
    """ms of the separable TF transform and of a dense (2b)^2 x b^2 harmonic matrix product."""
    theta, phi = soft.s2_grid(b)
    from scipy.special import sph_harm_y
    t, p = np.meshgrid(theta, phi, indexing="ij")
    l, m = np.array([(l, m) for l in range(b) for m in range(-l, l + 1)]).T
    w = (soft.s2_weights(b)[:, None] * np.ones(2 * b) * math.pi / b).ravel()
    Y = np.conj(sph_harm_y(l[None], m[None], t.reshape(-1, 1), p.reshape(-1, 1))) * w[:, None]
    Y_re, Y_im = tf.constant(Y.real, tf.float32), tf.constant(Y.imag, tf.float32)
    x = tf.constant(np.random.default_rng(0).normal(size=(batch, 2 * b, 2 * b, channels)), tf.float32)
    dense = tf.function(lambda x: (tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [batch * channels, -1]) @ Y_re,
                                   tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [batch * channels, -1]) @ Y_im))
    separable = tf.function(lambda x: sht(x, b))

    def best(fn):
        fn(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
        return 1e3 * min(times)
    return best(separable), best(dense), Y.nbytes / 2 / 2**20  # table size as complex64


def report(run, data_dir=None, quick_speed=False):
    export = os.path.join(run, "teacher")
    meta = read_metadata(export)
    data_dir = data_dir or os.path.join(run, "data")
    manifest = reader.load_manifest(data_dir)
    test = reader.as_numpy(data_dir, "test")
    serve = load_serving(export)
    out = in_batches(lambda x: serve(spheres=x), test["sphere"])
    accuracy = float(np.mean(out["logits"].argmax(axis=1) == test["class_id"]))
    n, poses = manifest["splits"]["test"]["instances"], manifest["splits"]["test"]["poses"]
    first, second = alignment.pairs(test["class_id"], n, poses, "same")
    R = test["rotation"]
    relative = R[second] @ np.swapaxes(R[first], 1, 2)
    E = out["embedding"].astype(np.float64)
    predicted = soft.rotate(E[first], relative, channel_axis=-1)
    rel_l2 = np.linalg.norm((E[second] - predicted).reshape(len(first), -1), axis=1) / np.linalg.norm(
        E[second].reshape(len(first), -1), axis=1)
    errors = {}
    for name, refine in (("refined", True), ("grid", False)):
        estimate = soft.align(E[second], E[first], channel_axis=-1, refine=refine)
        errors[name] = alignment.errors_deg(estimate, relative)
    result = {
        "test_samples": len(test["class_id"]), "accuracy": accuracy,
        "equivariance_rel_l2": {"median": float(np.median(rel_l2)), "mean": float(np.mean(rel_l2))},
        "target_pose_error_deg": {k: alignment.summary(v) for k, v in errors.items()},
        "pairs": len(first), "embedding_shape": meta["embedding_shape"],
        "train_samples_per_second": meta.get("train_samples_per_second"),
    }
    if not quick_speed:
        result["transform_ms"] = {}
        for batch, channels in ((16, 16), (1, 1)):
            separable, dense, table_mb = dense_transform_speed(batch=batch, channels=channels)
            result["transform_ms"][f"{batch}x{channels}"] = {
                "separable": separable, "dense": dense, "dense_table_mb": table_mb, "ratio": dense / separable}
    write_json_atomic(os.path.join(run, "teacher_report.json"), result)
    return result


def main(argv=None):
    r, args = run_report(__doc__, report, argv)
    t = r["target_pose_error_deg"]
    print(f"teacher at {args.run}/teacher, embedding {r['embedding_shape']}, {r['test_samples']} test samples")
    print("| metric | value |\n|---|---|")
    print(f"| accuracy under random SO(3) rotations | {100 * r['accuracy']:.1f} % |")
    print(f"| embedding equivariance, relative L2 (median / mean) | {r['equivariance_rel_l2']['median']:.3f} / "
          f"{r['equivariance_rel_l2']['mean']:.3f} |")
    for k in ("refined", "grid"):
        print(f"| target-mode pose error, {k} (median / mean deg; acc@15) | {t[k]['median']:.2f} / "
              f"{t[k]['mean']:.2f}; {100 * t[k]['acc15']:.1f} % ({r['pairs']} pairs) |")
    for key, s in r["transform_ms"].items():
        batch, channels = key.split("x")
        print(f"| 64x64 transform of {batch} x {channels} maps: separable / dense ({s['dense_table_mb']:.0f} MB "
              f"table) | {s['separable']:.2f} ms / {s['dense']:.2f} ms = {s['ratio']:.1f}x |")
    if r["train_samples_per_second"]:
        print(f"| training samples/s (recorded at export) | {r['train_samples_per_second']:.0f} |")


if __name__ == "__main__":
    main()
