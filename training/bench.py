"""Data pipeline speed: python -m training.bench

1. Samples per second on one core (the process is pinned to CPU 0): one sample is a
   64x64 render plus a 64x64 spherical ray cast of a ~5k-face mesh in a random pose,
   beside the bare Embree time for the same rays (the floor).
2. The quick config's whole dataset built from scratch (all cores), wall time.
"""
import argparse
import os
import tempfile
import time

import numpy as np
from scipy.spatial.transform import Rotation

from . import config as configs
from .dataset import build
from .raycast import EmbreeMesh, SphericalRayCaster
from .render import Renderer
from .shapes import make_shape


def dense_shape(name, seed, faces=5000):
    """A procedural shape subdivided until it has at least `faces` faces."""
    mesh = make_shape(name, seed)
    while len(mesh.faces) < faces:
        mesh = mesh.subdivide()
    return mesh


def per_sample(name, samples):
    mesh = dense_shape(name, 0)
    embree = EmbreeMesh(mesh)
    caster, renderer = SphericalRayCaster(embree, 32), Renderer(embree, 64)
    poses = Rotation.random(samples, random_state=0).as_matrix()
    start = time.perf_counter()
    for R in poses:
        renderer.render(R)
        caster.cast(R)
    full = (time.perf_counter() - start) / samples
    origins = [np.broadcast_to(renderer.origin @ R, renderer.directions.shape).astype(np.float32) for R in poses]
    cam = [(renderer.directions @ R).astype(np.float32) for R in poses]
    sph = [(caster.directions @ R).astype(np.float32) for R in poses]
    start = time.perf_counter()
    for o, d, x in zip(origins, cam, sph):
        embree.scene.run(o, d, output=1)
        embree.scene.run(x, -x, output=1)
    floor = (time.perf_counter() - start) / samples
    return len(mesh.faces), full, floor


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--skip-build", action="store_true", help="skip timing the quick dataset build")
    args = parser.parse_args(argv)
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    print(f"1. one core: render 64x64 + ray cast 64x64 per sample ({args.samples} random poses)")
    print("| mesh | faces | samples/s | bare Embree samples/s (floor) | overhead |")
    print("|---|---|---|---|---|")
    for name in ("chair", "airplane", "mug", "bookshelf"):
        faces, full, floor = per_sample(name, args.samples)
        print(f"| {name} | {faces} | {1 / full:.0f} | {1 / floor:.0f} | {full / floor:.2f}x |")
    os.sched_setaffinity(0, cpus)
    if not args.skip_build:
        config = configs.load("quick", "data")
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            manifest = build(config, out, workers=len(cpus), progress=False)
            seconds = time.perf_counter() - start
        total = sum(s["samples"] for s in manifest["splits"].values())
        print(f"\n2. quick dataset ({total} samples, {len(cpus)} workers): built in {seconds:.1f} s")


if __name__ == "__main__":
    main()
