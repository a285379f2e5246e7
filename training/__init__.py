"""Data and training: procedural and real meshes, spherical ray casting, rendering,
sharded datasets and tf.data readers, and the model.fit training scripts."""
