"""Run configurations: one dataclass per stage, named presets, and command-line overrides.

Every script takes `--config NAME` (a preset below) and any number of
`--set field=value` overrides, e.g. `--set train_instances=4 --set image_size=128`.
"""
import dataclasses
import json
from dataclasses import dataclass

PROCEDURAL_CLASSES = ("airplane", "bench", "bottle", "car", "chair", "guitar", "lamp", "mug",
                      "sofa", "table", "bookshelf", "monitor")


@dataclass(frozen=True)
class DataConfig:
    """What the dataset builder produces.

    source: "procedural" (embedded shape families), "modelnet40" or "shapenet" (meshes
    under `root`). Instance counts are per class; `train_poses` / `test_poses` random
    rotations are drawn per instance. Spherical functions use the S2kit grid at
    `bandwidth` (2b x 2b); images are `image_size` squared.
    """
    source: str = "procedural"
    root: str = ""
    classes: tuple = PROCEDURAL_CLASSES
    train_instances: int = 20
    test_instances: int = 5
    train_poses: int = 12
    test_poses: int = 8
    bandwidth: int = 32
    sphere_channels: tuple = ("distance", "normal_sin")
    image_size: int = 64
    depth: bool = False
    shard_size: int = 256
    seed: int = 0


@dataclass(frozen=True)
class TeacherConfig:
    """The spherical CNN teacher (ECCV 2018 architecture) and its training.

    Blocks are conv -> batch norm (no scale) -> PReLU with `channels[i]` filters;
    pooling ("area" or "spectral") follows the 1-based blocks in `pool_after`.
    branches=2 is the released two-branch model (one input channel per branch, the
    top branch receiving both at each pooling, an auxiliary classifier on the second
    branch). The embedding is the output of block `embedding_block` (before its
    pooling), normalised pointwise into (0, 1) at export. Learning rate:
    `learning_rates[i]` from epoch `boundaries[i-1]` on.
    """
    branches: int = 1
    channels: tuple = (16, 16, 32, 32, 64, 64)
    pool_after: tuple = (2, 4)
    pooling: str = "area"
    anchors: int = 8
    embedding_block: int = 4
    aux_weight: float = 0.5
    batch_size: int = 16
    epochs: int = 5
    learning_rates: tuple = (1e-3, 2e-4, 4e-5)
    boundaries: tuple = (3, 4)
    seed: int = 0


@dataclass(frozen=True)
class EmbeddingConfig:
    """The image model (sph_embedding_residual) and its training against the teacher.

    Every `validation_every`-th training instance is held out for validation.
    Targets come from the frozen teacher in the input pipeline; cache_targets keeps
    them in memory after the first epoch (poses are fixed, so they never change).
    pose_weight: extra weight on the loss of the maps minus their sphere means (the
    rotating part; see models.losses); 0 is the gist's loss.
    contrast_rotations, contrast_weight: with K > 0 rotations, each target carries its K
    most confusing rotations' contrast directions (models.contrast; mined once per
    target, so keep cache_targets on; cached targets grow (1 + K)-fold), and the loss
    adds contrast_weight times models.losses.contrast_loss, which keeps predictions
    nearer the target than the target turned by its confusers (a box's half turns).
    Off in the presets: README "The image embedding" has the measurements.
    degree_weight, degree_max: adds degree_weight times models.losses.degree_loss (each
    spherical harmonic degree 1..degree_max's error relative to the target's energy there).
    inplane_rotations: turn each training image about the camera axis by a random
    multiple of the embedding's longitude step and shift its target to match, afresh
    every epoch (exact for the headlight renders; see models.inplane).
    precision: "float32", or "mixed_bfloat16" / "mixed_float16" to train in half precision
    with float32 variables and outputs (training.fit.precision); the export computes in
    float32 either way. bfloat16 suits CPUs with AVX512-BF16 or AMX and recent GPUs.
    init_from: an exported image embedding model (<run>/embedding) whose weights start the
    training instead of random ones: a warm start, e.g. to train a finished run further. The
    optimizer and its learning-rate schedule start afresh; the architecture fields, the image
    size and the embedding shape must match the export's (training.train_embedding.warm_start).
    """
    layers_per_block: int = 1
    max_channels: int = 64
    n_latent: int = 1024
    intermediate_supervision: bool = False
    bn_momentum: float = 0.95
    huber_delta: float = 0.1
    pose_weight: float = 0.0
    contrast_rotations: int = 0
    contrast_weight: float = 0.0
    degree_weight: float = 0.0
    degree_max: int = 8
    inplane_rotations: bool = True
    batch_size: int = 32
    epochs: int = 12
    learning_rates: tuple = (1e-3, 3e-4, 1e-4)
    boundaries: tuple = (8, 11)
    adam_beta1: float = 0.9
    adam_epsilon: float = 1e-7
    validation_every: int = 10
    cache_targets: bool = True
    precision: str = "float32"
    init_from: str = ""
    seed: int = 0


@dataclass(frozen=True)
class RegressionConfig:
    """The learned peer: a Siamese Model Garden ResNet regressing the relative rotation of two
    images (6D representation, geodesic loss; `head` "composed" or "pair", see
    models.regression), trained on same-instance pairs of the train split with the
    embedding's budget (epochs x train images / batch_size steps) and, with
    inplane_rotations, its augmentation (both images turned, the target rotation to match)."""
    resnet_depth: int = 18
    hidden: int = 256
    head: str = "composed"
    inplane_rotations: bool = True
    batch_size: int = 32
    epochs: int = 12
    learning_rates: tuple = (1e-3, 3e-4, 1e-4)
    boundaries: tuple = (8, 11)
    seed: int = 0


@dataclass(frozen=True)
class SynthesisConfig:
    """The novel-view synthesiser: spherical embedding -> render of the same pose (L1 loss).

    inputs: "target" (teacher embeddings of the spheres) or "predicted" (the exported
    image embedding model's output for the images). Held-out validation and the
    learning-rate schedule as in EmbeddingConfig.
    """
    inputs: str = "target"
    layers_per_block: int = 1
    max_channels: int = 64
    n_latent: int = 512
    bn_momentum: float = 0.95
    batch_size: int = 32
    epochs: int = 6
    learning_rates: tuple = (1e-3, 3e-4)
    boundaries: tuple = (4,)
    validation_every: int = 10
    seed: int = 0


PRESETS = {
    "tiny": {"data": DataConfig(classes=("chair", "mug", "car"), train_instances=4, test_instances=2,
                                train_poses=4, test_poses=2, bandwidth=8, image_size=16, shard_size=16, seed=5),
             "teacher": TeacherConfig(channels=(6, 8), pool_after=(1,), embedding_block=1, batch_size=8, epochs=2,
                                      learning_rates=(5e-3,), boundaries=()),
             "embedding": EmbeddingConfig(layers_per_block=1, max_channels=16, n_latent=32, batch_size=8, epochs=4,
                                          learning_rates=(3e-3,), boundaries=(), validation_every=4, bn_momentum=0.5),
             "regression": RegressionConfig(hidden=16, batch_size=8, epochs=2,
                                            learning_rates=(3e-3,), boundaries=()),
             "synthesis": SynthesisConfig(max_channels=16, n_latent=32, batch_size=8, epochs=4,
                                          learning_rates=(3e-3,), boundaries=(), validation_every=4,
                                          bn_momentum=0.5)},
    # quick: the pose-weighted loss with in-plane rotations, sized for a 2-core CPU
    # (README "The image embedding" has the measurements)
    "quick": {"data": DataConfig(), "teacher": TeacherConfig(),
              "embedding": EmbeddingConfig(pose_weight=10.0, epochs=24, boundaries=(17, 21)),
              "regression": RegressionConfig(epochs=24, boundaries=(17, 21)), "synthesis": SynthesisConfig()},
    "paper": {"data": DataConfig(source="modelnet40", classes=(), train_instances=0, test_instances=0,
                                 train_poses=16, test_poses=16, image_size=128),
              "teacher": TeacherConfig(branches=2, channels=(16, 16, 32, 32, 64, 64, 128, 128),
                                       pool_after=(2, 4, 6), epochs=48, learning_rates=(1e-3, 2e-4, 4e-5),
                                       boundaries=(32, 40)),
              "embedding": EmbeddingConfig(layers_per_block=2, max_channels=256, bn_momentum=0.997, epochs=60,
                                           boundaries=(40, 50),
                                           cache_targets=False),
              "regression": RegressionConfig(epochs=60, boundaries=(40, 50)),
              "synthesis": SynthesisConfig(layers_per_block=2, max_channels=256, n_latent=1024, bn_momentum=0.997,
                                           epochs=60, learning_rates=(1e-3, 3e-4, 1e-4), boundaries=(40, 50))},
}


def _coerce(value, like):
    """Parse a command-line string into the type of an existing field value."""
    if isinstance(like, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true or false, got {value!r}")
        return value.lower() in ("true", "1")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, tuple):
        kind = type(like[0]) if like else str
        return tuple(_coerce(v, kind()) for v in value.split(",") if v)
    return value


def apply_overrides(config, overrides):
    """Return a copy of a config dataclass with `field=value` strings applied."""
    changes = {}
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for item in overrides or ():
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(f"unknown override {item!r}; fields of {type(config).__name__}: {sorted(fields)}")
        try:
            changes[name] = _coerce(value, fields[name])
        except ValueError as err:
            raise ValueError(f"bad value for {name}: {err}") from None
    return dataclasses.replace(config, **changes)


def load(name, section, overrides=()):
    """The `section` config of preset `name` with overrides applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown config {name!r}; choose from {sorted(PRESETS)}")
    return apply_overrides(PRESETS[name][section], overrides)


def to_json(config):
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_json(cls, payload):
    """The config dataclass `cls` saved by to_json (lists back to tuples; fields added since
    the save keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload.items() if k in names})
