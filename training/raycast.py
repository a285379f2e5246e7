"""Spherical ray casting on the S2kit grid with Embree (embreex).

For each grid direction x (theta_j, phi_k) a ray starts on the sphere of radius
`origin_radius` (1, enclosing the unit-ball-normalised mesh) at r x and travels
toward the centre along -x. Channels (float32, (C, 2b, 2b)):
- "distance": distance travelled to the first hit, in [0, 2]; a miss reads 2 (the
  ray crossed the whole ball);
- "normal_cos" / "normal_sin": |cos| / sin of the angle between the ray and the
  surface normal at the hit; a miss reads cos 0 / sin 1 (a grazing ray), the limit
  at a silhouette.
The ECCV 2018 teacher used ("distance", "normal_sin"), the default.

Pose R (the mesh mapped v -> R v): rays are rotated by R^T instead of the mesh, so
one Embree scene serves every pose and cast(R) = Lambda(R) cast(I) up to sampling.
"""
import numpy as np
from embreex import mesh_construction, rtcore_scene

import soft

CHANNELS = ("distance", "normal_cos", "normal_sin")
MISS = {"distance": 2.0, "normal_cos": 0.0, "normal_sin": 1.0}


class EmbreeMesh:
    """One Embree scene for a mesh; `hits(origins, directions)` -> (distance, unit normal, hit)."""

    def __init__(self, mesh):
        self.scene = rtcore_scene.EmbreeScene()
        self.normals = np.asarray(mesh.face_normals, dtype=np.float64)
        mesh_construction.TriangleMesh(self.scene, np.asarray(mesh.vertices, dtype=np.float32),
                                       np.asarray(mesh.faces, dtype=np.int32))

    def hits(self, origins, directions):
        result = self.scene.run(origins.astype(np.float32), directions.astype(np.float32), output=1)
        hit = result["primID"] >= 0
        distance = result["tfar"].astype(np.float64)
        normal = self.normals[np.where(hit, result["primID"], 0)]
        return distance, normal, hit


def sphere_directions(b):
    """Unit vectors (2b, 2b, 3) of the S2kit grid."""
    theta, phi = soft.s2_grid(b)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    return np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1)


class SphericalRayCaster:
    """Spherical functions of one mesh in any pose: cast(R) -> float32 (C, 2b, 2b)."""

    def __init__(self, mesh, bandwidth=32, channels=("distance", "normal_sin"), origin_radius=1.0):
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown or not channels:
            raise ValueError(f"unknown sphere channels {unknown or channels}; choose from {CHANNELS}")
        self.embree = mesh if isinstance(mesh, EmbreeMesh) else EmbreeMesh(mesh)
        self.channels, self.radius = tuple(channels), origin_radius
        self.directions = sphere_directions(bandwidth).reshape(-1, 3)
        self.shape = (2 * bandwidth, 2 * bandwidth)

    def cast(self, R=np.eye(3)):
        x = self.directions @ np.asarray(R)  # rows R^T x: the canonical mesh seen from pose R
        distance, normal, hit = self.embree.hits(self.radius * x, -x)
        cos = np.abs(np.einsum("ij,ij->i", normal, x))
        values = {"distance": distance, "normal_cos": cos, "normal_sin": np.sqrt(np.clip(1 - cos**2, 0, 1))}
        out = np.stack([np.where(hit, values[c], MISS[c]) for c in self.channels])
        return out.reshape((len(self.channels),) + self.shape).astype(np.float32)
