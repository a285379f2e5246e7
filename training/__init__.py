"""Data and training: procedural and real meshes, spherical ray casting, rendering,
sharded datasets and tf.data readers, and the model.fit training scripts."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of logs
