"""Keras (tf_keras, i.e. Keras 2) models: spherical CNN layers, the teacher, the image
embedding, the synthesis model, and losses."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
