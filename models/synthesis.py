"""Novel-view synthesis: spherical embedding -> image, the embedding model run backwards.

The encoder reads the teacher's n x n x C embedding with spherical padding (longitude
wraps, rows continue across the poles) down to a 1 x 1 x n_latent bottleneck; the
decoder grows it to an H x H x 1 image in (0, 1) with REFLECT padding. Both halves are
models.embedding.encode / decode, the blocks of the image embedding model.
"""
import tf_keras as keras

from .embedding import decode, encode, power_of_two


def build_synthesis_model(embedding_shape, image_size, *, layers_per_block=1, max_channels=256, n_latent=1024,
                          bn_momentum=0.997):
    """Keras model: embeddings (B, n, n, C) -> images (B, image_size, image_size, 1) in (0, 1)."""
    n, n2, channels = embedding_shape
    if n != n2:
        raise ValueError(f"the embedding must be n x n x C, got {embedding_shape}")
    power_of_two(n, "the embedding size")
    power_of_two(image_size, "image_size")
    blocks = dict(layers_per_block=layers_per_block, max_channels=max_channels, bn_momentum=bn_momentum)
    embeddings = keras.Input((n, n, channels), name="embeddings")
    latent = encode(embeddings, "sphere", n_latent=n_latent, **blocks)
    image = decode(latent, image_size, 1, "reflect", **blocks)[0]
    return keras.Model(embeddings, image, name="sph_synthesis")
