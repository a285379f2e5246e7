"""The spherical CNN teacher (Esteves et al., ECCV 2018) and its exported TF-Hub form.

build_teacher(config, bandwidth, in_channels, n_classes) -> a Keras model from NHWC
spherical functions (B, 2b, 2b, C_in) to {"logits", "embedding"} (+ "aux_logits" with
two branches). export_teacher() writes a SavedModel whose serving signature maps a
batch of spherical functions to {"logits", "embedding"}, the embedding normalised
pointwise into (0, 1) with training-set statistics, sigmoid((e - mean_c) / std_c),
which keeps it rotation-equivariant. load_teacher() loads it through
hub.KerasLayer and checks the input shape at the boundary.
"""
import tensorflow as tf
import tf_keras as keras

from . import export
from .spherical import AreaPooling, SpectralPooling, SphericalConv, SphericalGlobalPooling

METADATA = "teacher.json"


def _block(x, filters, anchors, name):
    x = SphericalConv(filters, n_anchors=anchors, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(scale=False, name=f"{name}_bn")(x)
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.1), shared_axes=[1, 2],
                              name=f"{name}_prelu")(x)


def build_teacher(config, bandwidth, in_channels, n_classes):
    if config.branches not in (1, 2):
        raise ValueError(f"branches must be 1 or 2, got {config.branches}")
    if config.branches == 2 and in_channels != 2:
        raise ValueError(f"the two-branch teacher takes one input channel per branch (2), got {in_channels}")
    if not 1 <= config.embedding_block <= len(config.channels):
        raise ValueError(f"embedding_block {config.embedding_block} is not a block (1..{len(config.channels)})")
    pools = {"area": AreaPooling, "spectral": SpectralPooling}
    if config.pooling not in pools:
        raise ValueError(f"pooling must be one of {sorted(pools)}, got {config.pooling!r}")
    inputs = keras.Input((2 * bandwidth, 2 * bandwidth, in_channels), name="spheres")
    streams = [inputs] if config.branches == 1 else [inputs[..., :1], inputs[..., 1:]]
    embedding = None
    for i, filters in enumerate(config.channels, start=1):
        streams = [_block(s, filters, config.anchors, f"branch{k}_block{i}") for k, s in enumerate(streams)]
        if i == config.embedding_block:
            embedding = streams[0] if len(streams) == 1 else keras.layers.Concatenate(name="embedding")(streams)
        if i in config.pool_after:
            if len(streams) == 2:
                streams[0] = keras.layers.Concatenate(name=f"merge{i}")(streams)
            streams = [pools[config.pooling](name=f"branch{k}_pool{i}")(s) for k, s in enumerate(streams)]
    descriptors = [SphericalGlobalPooling(name=f"branch{k}_global")(s) for k, s in enumerate(streams)]
    descriptor = descriptors[0] if len(descriptors) == 1 else keras.layers.Concatenate(name="descriptor")(descriptors)
    outputs = {"logits": keras.layers.Dense(n_classes, name="logits")(descriptor),
               "embedding": keras.layers.Activation("linear", name="embedding_out")(embedding)}
    if len(descriptors) == 2:
        outputs["aux_logits"] = keras.layers.Dense(n_classes, name="aux_logits")(descriptors[1])
    return keras.Model(inputs, outputs, name="spherical_cnn_teacher")


class _Serving(tf.Module):
    def __init__(self, model, mean, std, input_shape):
        super().__init__()
        self.model = model
        self.mean = tf.Variable(mean, trainable=False, dtype=tf.float32)
        self.std = tf.Variable(std, trainable=False, dtype=tf.float32)
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None] + list(input_shape), tf.float32, name="spheres")])

    def _serve(self, spheres):
        out = self.model(spheres, training=False)
        return {"logits": out["logits"],
                "embedding": tf.sigmoid((out["embedding"] - self.mean) / self.std)}


def export_teacher(model, mean, std, path, metadata, build):
    """Write the SavedModel atomically with its teacher.json; returns the metadata (None on a
    worker that is not the chief, which writes nothing).
    build() makes the model's architecture afresh (see export.inference_copy)."""
    input_shape = model.input_shape[1:]
    module = _Serving(export.inference_copy(model, build), mean, std, input_shape)
    info = {**metadata, "input_shape": list(input_shape),
            "embedding_shape": list(model.output_shape["embedding"][1:])}
    return info if export.save(module, {"serving_default": module.serve}, path, METADATA, info) else None


def read_metadata(path):
    """The teacher.json of an exported teacher; ValueError naming what is missing."""
    return export.read_metadata(path, METADATA, "an exported teacher", "python -m training.train_teacher")


class TeacherLayer(keras.layers.Layer):
    """A frozen exported teacher as a Keras layer (hub.KerasLayer inside) with shape checks.

    output_key: "embedding" (default) or "logits".
    """

    def __init__(self, path, output_key="embedding", **kwargs):
        super().__init__(trainable=False, **kwargs)
        import tensorflow_hub as hub
        self.path, self.output_key = path, output_key
        self.metadata = read_metadata(path)
        if output_key not in ("embedding", "logits"):
            raise ValueError(f"output_key must be 'embedding' or 'logits', got {output_key!r}")
        self.hub_layer = hub.KerasLayer(path, signature="serving_default", output_key=output_key, trainable=False)
        self.expected = tuple(self.metadata["input_shape"])

    def build(self, input_shape):
        got = tuple(input_shape[1:])
        if got != self.expected:
            raise ValueError(f"teacher at {self.path!r} expects spherical functions of shape (batch, "
                             f"{', '.join(map(str, self.expected))}) (2b x 2b x channels), got {tuple(input_shape)}")
        super().build(input_shape)

    def call(self, spheres):
        return self.hub_layer(spheres)

    def compute_output_shape(self, input_shape):
        tail = self.metadata["embedding_shape"] if self.output_key == "embedding" else [self.metadata["n_classes"]]
        return tf.TensorShape([input_shape[0]] + list(tail))

    def get_config(self):
        return {**super().get_config(), "path": self.path, "output_key": self.output_key}


def load_teacher(path, output_key="embedding"):
    return TeacherLayer(path, output_key=output_key)
