"""Embed your own images: python -m evaluation.embed --model runs/quick/embedding --images 'dir/*.png' --out emb.npz

Images (PNG, JPEG, anything Pillow reads) are converted to grayscale, resized to the
model's input size (bilinear) and scaled to [0, 1], as in training (renders of an
object centred in a square frame on a black background). Writes an .npz (atomically)
with `embedding` (N, n, n, C) float32 and `files` (N,) in sorted order. `--turns K`
averages each embedding over K in-plane turns of its image (evaluation.inference).
"""
import argparse
import glob
import os
import sys

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.export import load_serving
from training.train_embedding import read_metadata

from .inference import embed_images


def load_images(paths, size):
    """(N, size, size, 1) float32 in [0, 1]; ValueError naming any unusable file."""
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                gray = image.convert("L")
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{path}: not a readable image ({err})") from None
        if gray.width != gray.height:
            raise ValueError(f"{path}: {gray.width}x{gray.height} is not square; the model embeds square "
                             f"views ({size}x{size} in training): crop it around the object first")
        if gray.width < 8:
            raise ValueError(f"{path}: {gray.width}x{gray.height} is too small to embed")
        resized = gray.resize((size, size), Image.BILINEAR) if gray.width != size else gray
        images.append(np.asarray(resized, dtype=np.float32)[..., None] / 255.0)
    return np.stack(images)


def embed(model_dir, paths, batch_size=64, turns=1):
    meta = read_metadata(model_dir)
    serve = load_serving(model_dir)
    images = load_images(paths, meta["image_size"])
    return embed_images(serve, images, batch_size=batch_size, turns=turns)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an exported embedding model (runs/<config>/embedding)")
    parser.add_argument("--images", required=True, help="a glob pattern, quoted: 'photos/*.png'")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--turns", type=int, default=1,
                        help="average each embedding over this many in-plane turns of the image (1: none)")
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(args.images))
    try:
        if not paths:
            raise ValueError(f"no files match {args.images!r}")
        embedding = embed(args.model, paths, turns=args.turns)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    tmp = f"{args.out}.tmp-{os.getpid()}.npz"
    np.savez(tmp, embedding=embedding, files=np.array(paths))
    os.replace(tmp, args.out)
    print(f"{len(paths)} images -> {args.out}: embedding {embedding.shape}")


if __name__ == "__main__":
    sys.exit(main())
