"""Atomic SavedModel export with a JSON metadata file beside saved_model.pb."""
import json
import os
import shutil

import tensorflow as tf


def inference_copy(model, build):
    """An uncompiled copy of a trained Keras model: build() makes the same architecture
    afresh (cloning from configs loses some Model Garden settings, e.g. input channels),
    then the weights are copied, so no optimizer or metric state is exported."""
    copy = build()
    copy.set_weights(model.get_weights())
    return copy


class Serving(tf.Module):
    """A SavedModel module with one signature: {input_name: batch} -> {output_name: model(batch)}.

    The input spec is the model's input shape with a free batch size; for a model with
    several outputs (intermediate supervision) the last, full-resolution one is served."""

    def __init__(self, model, input_name, output_name):
        super().__init__()
        self.model = model
        self.output_name = output_name
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name=input_name)
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, batch):
        out = self.model(batch, training=False)
        return {self.output_name: out[-1] if isinstance(out, (list, tuple)) else out}


def is_chief():
    """Whether this process writes checkpoints, logs and exports: always, except under a
    multi-machine TF_CONFIG, where only the chief (or worker 0 when there is none) does."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster = resolver.cluster_spec().as_dict()
    if not cluster or resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def save(module, signatures, path, metadata_name, metadata):
    """tf.saved_model.save into a temporary folder, add metadata, then rename into place.
    Only the chief writes (is_chief); other workers of a multi-machine run skip it.
    Returns whether this process wrote the export."""
    if not is_chief():
        print(f"not the chief worker: the chief writes {path}")
        return False
    tmp = f"{path}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tf.saved_model.save(module, tmp, signatures=signatures)
    with open(os.path.join(tmp, metadata_name), "w") as f:
        json.dump(metadata, f, indent=2)
    if os.path.exists(path):
        shutil.rmtree(path)
    os.replace(tmp, path)
    return True


def load_serving(path):
    """The serving_default signature of a SavedModel, as a function of keyword tensors.

    The function holds the loaded object, so its variables live as long as it does
    (a bare signature loses them once the object is collected, e.g. inside tf.data)."""
    loaded = tf.saved_model.load(path)

    def serve(**inputs):
        return loaded.signatures["serving_default"](**inputs)
    return serve


def read_metadata(path, metadata_name, what, how):
    """The metadata of an export; ValueError naming the path and what was expected."""
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"no SavedModel at {path!r}: expected {what} (create it with {how})")
    if not os.path.exists(os.path.join(path, metadata_name)):
        raise ValueError(f"{path!r} is a SavedModel but not {what} (no {metadata_name}); create it with {how}")
    with open(os.path.join(path, metadata_name)) as f:
        return json.load(f)
