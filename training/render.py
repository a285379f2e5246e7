"""Shaded single-channel images of a mesh in pose R, by ray casting with Embree.

Camera: a pinhole at (0, 0, camera_distance) looking at the origin along -z, image
rows running from +y (top) to -y, columns from -x to +x; the field of view just holds
the unit ball. Shading: Lambertian with the light at the camera (a headlight, so that an
in-plane turn of the image is exactly a turn of the object about the camera axis; see
models.inplane) plus ambient: intensity = ambient + (1 - ambient) max(0, n.l) on the
object, 0 (black) on the background; values in [0, 1]. Optional depth: the
distance from the camera to the hit, 0 on the background.

Pose R (mesh v -> R v) is rendered by rotating the camera rays by R^T, so one Embree
scene serves every pose.
"""
import numpy as np

from .raycast import EmbreeMesh

LIGHT = np.array([0.0, 0.0, 1.0])  # towards the camera


class Renderer:
    def __init__(self, mesh, image_size=64, camera_distance=3.0, ambient=0.2, margin=1.05):
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        self.embree = mesh if isinstance(mesh, EmbreeMesh) else EmbreeMesh(mesh)
        self.size, self.distance, self.ambient = image_size, camera_distance, ambient
        self.half_width = margin * np.tan(np.arcsin(1.0 / camera_distance))
        pixels = (np.arange(image_size) + 0.5) / image_size * 2 - 1
        v, u = np.meshgrid(-pixels, pixels, indexing="ij")  # rows top (+y) to bottom, columns -x to +x
        rays = np.stack([u * self.half_width, v * self.half_width, -np.ones_like(u)], axis=-1).reshape(-1, 3)
        self.directions = rays / np.linalg.norm(rays, axis=1, keepdims=True)
        self.origin = np.array([0.0, 0.0, camera_distance])

    def render(self, R=np.eye(3), depth=False):
        """Image (size, size) float32 in [0, 1]; with depth=True also the depth map."""
        R = np.asarray(R)
        directions = self.directions @ R  # rows R^T d
        origins = np.broadcast_to(self.origin @ R, directions.shape)
        distance, normal, hit = self.embree.hits(origins, directions)
        normal = normal @ R.T  # back to the camera frame
        normal *= -np.sign(np.einsum("ij,ij->i", normal, self.directions))[:, None]  # face the camera
        shade = self.ambient + (1 - self.ambient) * np.clip(normal @ LIGHT, 0, None)
        image = np.where(hit, shade, 0.0).reshape(self.size, self.size).astype(np.float32)
        if not depth:
            return image
        return image, np.where(hit, distance, 0.0).reshape(self.size, self.size).astype(np.float32)
