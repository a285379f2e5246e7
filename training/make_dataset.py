"""Build a dataset: python -m training.make_dataset --config quick --out runs/quick/data

Renders images and ray-casts spherical functions of procedural shapes (default) or of
a ModelNet40 / ShapeNetCore folder (--set source=modelnet40 --set root=/data/ModelNet40),
in random poses, into TFRecord shards with a manifest.json. Re-running finishes an
interrupted build; --shard-index/--num-shards share the work between machines.
"""
import argparse
import json
import os
import sys

from . import config as configs
from .dataset import build


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quick", help=f"preset: {', '.join(sorted(configs.PRESETS))}")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a DataConfig field, e.g. train_instances=4 (repeatable)")
    parser.add_argument("--out", help="output folder (default runs/<config>/data)")
    parser.add_argument("--workers", type=int, default=1, help="processes building shards")
    parser.add_argument("--shard-index", type=int, default=0, help="this machine's share (0-based)")
    parser.add_argument("--num-shards", type=int, default=1, help="number of machines sharing the build")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        config = configs.load(args.config, "data", args.set)
        out = args.out or os.path.join("runs", args.config, "data")
        manifest = build(config, out, workers=args.workers, shard_index=args.shard_index,
                         num_shards=args.num_shards, progress=not args.quiet)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    if manifest is None:
        print(f"shards {args.shard_index} of {args.num_shards} done; manifest.json is written once all are")
        return
    counts = {s: v["samples"] for s, v in manifest["splits"].items()}
    print(f"dataset in {out}: {json.dumps(counts)}; skipped files: {len(manifest['skipped'])}")


if __name__ == "__main__":
    sys.exit(main())
