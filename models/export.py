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


def save(module, signatures, path, metadata_name, metadata):
    """tf.saved_model.save into a temporary folder, add metadata, then rename into place."""
    tmp = f"{path}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tf.saved_model.save(module, tmp, signatures=signatures)
    with open(os.path.join(tmp, metadata_name), "w") as f:
        json.dump(metadata, f, indent=2)
    if os.path.exists(path):
        shutil.rmtree(path)
    os.replace(tmp, path)


def read_metadata(path, metadata_name, what, how):
    """The metadata of an export; ValueError naming the path and what was expected."""
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"no SavedModel at {path!r}: expected {what} (create it with {how})")
    if not os.path.exists(os.path.join(path, metadata_name)):
        raise ValueError(f"{path!r} is a SavedModel but not {what} (no {metadata_name}); create it with {how}")
    with open(os.path.join(path, metadata_name)) as f:
        return json.load(f)
