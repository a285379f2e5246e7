"""Procedural, seeded families of 3D shapes: the embedded default dataset.

Each class builds an object from primitives (boxes, cylinders, cones, spheres) with
per-instance proportions and optional parts drawn from a seeded generator. Every
class carries asymmetric parts so that no rotation other than the identity maps an
instance onto itself (pose is defined); tests check it through the self-correlation
of each class's spherical function. Meshes are returned normalised into the unit
ball (meshes.normalize). Axes: z up, -y front.
"""
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from .config import PROCEDURAL_CLASSES
from .meshes import normalize


def _place(mesh, center, rotation=None):
    if rotation is not None:
        mesh.apply_transform(np.block([[rotation, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]]))
    mesh.apply_translation(center)
    return mesh


def box(size, center, rotation=None):
    return _place(trimesh.creation.box(extents=size), center, rotation)


_AXES = {"x": Rotation.from_euler("y", 90, degrees=True).as_matrix(),
         "y": Rotation.from_euler("x", 90, degrees=True).as_matrix(), "z": np.eye(3)}


def cylinder(radius, length, center, axis="z", sections=20):
    rotation = _AXES[axis] if isinstance(axis, str) else axis
    return _place(trimesh.creation.cylinder(radius=radius, height=length, sections=sections), center, rotation)


def cone(radius, length, center, axis="z", sections=20):
    rotation = _AXES[axis] if isinstance(axis, str) else axis
    mesh = trimesh.creation.cone(radius=radius, height=length, sections=sections)
    mesh.apply_translation([0, 0, -length / 2])
    return _place(mesh, center, rotation)


def ellipsoid(radii, center):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    mesh.apply_scale(radii)
    return _place(mesh, center)


def _legs(rng, half_x, half_y, height, radius, z_top):
    return [cylinder(radius, height, [sx * half_x, sy * half_y, z_top - height / 2])
            for sx in (-1, 1) for sy in (-1, 1)]


def chair(rng):
    w, d, h = rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1)
    parts = [box([w, d, 0.1], [0, 0, h])]
    parts += _legs(rng, w / 2 - 0.06, d / 2 - 0.06, h, rng.uniform(0.03, 0.06), h - 0.05)
    back = rng.uniform(0.8, 1.2)  # the back rest sets front from back
    tilt = Rotation.from_euler("x", rng.uniform(-15, 0), degrees=True).as_matrix()
    parts.append(box([w, 0.1, back], [0, d / 2 - 0.05, h + back / 2], tilt))
    parts.append(box([w * 0.9, 0.05, 0.05], [0, -d / 2 + 0.06, h * 0.3]))  # a front stretcher
    return parts

def table(rng):
    w, d, h = rng.uniform(1.4, 2.0), rng.uniform(0.7, 1.1), rng.uniform(0.7, 1.0)
    parts = [box([w, d, 0.08], [0, 0, h])]
    side = rng.choice([-1, 1])  # a desk: legs at one end, a drawer cabinet at the other
    radius = rng.uniform(0.03, 0.06)
    for y in (-d / 2 + 0.08, d / 2 - 0.08):
        parts.append(cylinder(radius, h, [-side * (w / 2 - 0.08), y, h / 2 - 0.04]))
    parts.append(box([w * 0.3, d * 0.9, h - 0.04], [side * (w / 2 - w * 0.15), 0, (h - 0.04) / 2]))
    for z in np.linspace(0.2, h - 0.2, 3):
        parts.append(box([0.12, 0.05, 0.04], [side * (w / 2 - w * 0.15), -d * 0.45 - 0.025, z]))
    return parts

def lamp(rng):
    base_r, pole = rng.uniform(0.25, 0.4), rng.uniform(1.0, 1.5)
    parts = [cylinder(base_r, 0.08, [0, 0, 0.04]), cylinder(0.03, pole, [0, 0, pole / 2])]
    arm = rng.uniform(0.6, 0.9)
    tilt = Rotation.from_euler("y", rng.uniform(50, 80), degrees=True).as_matrix()
    arm_end = np.array([0, 0, pole]) + tilt @ np.array([0, 0, arm])
    parts.append(cylinder(0.03, arm, (np.array([0, 0, pole]) + arm_end) / 2, tilt))
    shade_r = rng.uniform(0.2, 0.3)
    parts.append(cone(shade_r, 0.35, arm_end + [0.05, 0, -0.1], Rotation.from_euler("y", 180, degrees=True).as_matrix()))
    parts.append(box([0.12, 0.08, 0.06], [base_r * 0.6, 0, 0.1]))  # a switch on the base
    return parts

def airplane(rng):
    length, radius = rng.uniform(1.8, 2.4), rng.uniform(0.1, 0.16)
    span, chord = rng.uniform(1.6, 2.4), rng.uniform(0.25, 0.4)
    parts = [cylinder(radius, length, [0, 0, 0], "x"),
             cone(radius, 0.5, [length / 2 + 0.1, 0, 0], "x"),
             box([chord, span, 0.04], [length * rng.uniform(0.12, 0.2), 0, -radius * 0.3]),
             box([chord * 0.6, span * 0.35, 0.03], [-length / 2 + 0.1, 0, 0]),
             box([chord * 1.1, 0.04, rng.uniform(0.45, 0.6)], [-length / 2 + 0.15, 0, 0.28])]
    if rng.random() < 0.7:  # engines under the wings
        for s in (-1, 1):
            parts.append(cylinder(0.07, 0.35, [length * 0.2, s * span * 0.25, -radius - 0.05], "x"))
    return parts

def car(rng):
    L, W, H = rng.uniform(1.8, 2.3), rng.uniform(0.8, 1.0), rng.uniform(0.35, 0.5)
    parts = [box([L, W, H], [0, 0, 0.25 + H / 2])]
    cabin = rng.uniform(0.8, 1.1)
    parts.append(box([cabin, W * 0.85, rng.uniform(0.3, 0.4)], [-L * 0.12, 0, 0.25 + H + 0.17]))
    for x in (-L / 2 + 0.35, L / 2 - 0.35):
        for y in (-W / 2, W / 2):
            parts.append(cylinder(0.2, 0.12, [x, y, 0.2], "y"))
    if rng.random() < 0.5:
        parts.append(box([0.15, W * 0.9, 0.05], [-L / 2 + 0.05, 0, 0.25 + H + 0.15]))  # spoiler
    parts.append(box([0.1, 0.1, 0.25], [L * 0.2, -W / 2 - 0.05, 0.25 + H]))  # one side mirror
    return parts


def mug(rng):
    bottom, top, h = rng.uniform(0.25, 0.32), rng.uniform(0.36, 0.45), rng.uniform(0.7, 1.1)
    body = trimesh.creation.revolve([[0, 0], [bottom, 0], [top, h], [0, h]], sections=28)  # tapered
    body.apply_scale([1.0, rng.uniform(0.8, 0.9), 1.0])
    parts = [body, cylinder(bottom * 1.15, 0.08, [0, 0, 0.04], sections=28)]
    z = h * rng.uniform(0.6, 0.7)  # handle above the middle
    grip = rng.uniform(0.35, 0.45)
    x = top * 0.95
    parts += [box([0.3, 0.1, 0.09], [x + 0.12, 0, z + grip / 2]), box([0.3, 0.1, 0.09], [x + 0.12, 0, z - grip / 2]),
              box([0.09, 0.1, grip + 0.09], [x + 0.25, 0, z])]
    parts.append(cone(0.12, 0.2, [-0.3 * top, -0.8 * top, h - 0.05], Rotation.from_euler("x", 60, degrees=True).as_matrix()))
    return parts

def bottle(rng):
    r, h = rng.uniform(0.25, 0.35), rng.uniform(1.0, 1.4)
    neck = rng.uniform(0.3, 0.5)
    body = cylinder(r, h, [0, 0, h / 2], sections=24)
    body.apply_scale([1.0, rng.uniform(0.6, 0.75), 1.0])  # a flat flask
    parts = [body, cone(r, 0.3, [0, 0, h + 0.15]),
             cylinder(r * 0.35, neck, [0.1 * r, 0, h + 0.2 + neck / 2]), cylinder(r * 0.45, 0.1, [0.1 * r, 0, h + 0.2 + neck])]
    parts.append(box([0.08, r * 1.0, h * 0.45], [r + 0.02, 0, h * 0.45]))  # a label patch on one side
    parts.append(box([0.25, 0.08, 0.08], [-r - 0.08, 0, h * 0.85]))  # a loop handle opposite
    parts.append(box([0.08, 0.08, 0.4], [-r - 0.18, 0, h * 0.68]))
    return parts


def guitar(rng):
    lower, upper = rng.uniform(0.4, 0.5), rng.uniform(0.3, 0.38)
    depth = rng.uniform(0.1, 0.14)
    parts = [ellipsoid([lower, lower * 0.9, depth], [0, -0.3, 0]), ellipsoid([upper, upper * 0.9, depth], [0, 0.25, 0])]
    neck = rng.uniform(0.9, 1.2)
    parts.append(box([0.1, neck, 0.05], [0, 0.5 + neck / 2, depth * 0.5]))
    parts.append(box([0.16, 0.25, 0.04], [0, 0.55 + neck + 0.1, depth * 0.2], Rotation.from_euler("x", -15, degrees=True).as_matrix()))
    parts.append(box([0.3, 0.08, 0.05], [0, -0.35, depth + 0.02]))  # bridge on the front only
    parts.append(box([0.15, 0.2, 0.02], [0.15, 0.0, depth]))  # pick guard beside the hole
    return parts


def sofa(rng):
    w, d, h = rng.uniform(1.8, 2.4), rng.uniform(0.8, 1.0), rng.uniform(0.35, 0.45)
    parts = [box([w, d, h], [0, 0, h / 2]), box([w, 0.2, rng.uniform(0.45, 0.65)], [0, d / 2 - 0.1, h + 0.25])]
    arm = rng.uniform(0.2, 0.35)
    for s in (-1, 1):
        parts.append(box([0.18, d, arm], [s * (w / 2 - 0.09), 0, h + arm / 2]))
    side = rng.choice([-1, 1])
    parts.append(box([0.35, 0.12, 0.3], [side * w * 0.3, d / 2 - 0.3, h + 0.15], Rotation.from_euler("x", -20, degrees=True).as_matrix()))
    return parts


def bench(rng):
    w, d, h = rng.uniform(1.6, 2.2), rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.5)
    parts = [box([w, d, 0.06], [0, 0, h])]
    for s in (-1, 1):
        parts.append(box([0.08, d * 0.9, h], [s * (w / 2 - 0.15), 0, h / 2]))
    parts.append(box([w, 0.05, 0.25], [0, d / 2, h + 0.3]))  # backrest on one long side
    parts.append(box([0.05, 0.05, 0.3], [w * 0.25, d / 2, h + 0.15]))
    side = rng.choice([-1, 1])  # an armrest at one end
    parts.append(box([0.06, d, 0.05], [side * (w / 2 - 0.03), 0, h + 0.22]))
    parts.append(box([0.05, 0.05, 0.22], [side * (w / 2 - 0.03), -d / 2 + 0.03, h + 0.11]))
    return parts


def bookshelf(rng):
    w, d, h = rng.uniform(0.9, 1.3), rng.uniform(0.3, 0.4), rng.uniform(1.6, 2.0)
    t = 0.04
    parts = [box([t, d, h], [-w / 2, 0, h / 2]), box([t, d, h], [w / 2, 0, h / 2]),
             box([w, t, h], [0, d / 2, h / 2])]  # back panel
    shelves = rng.integers(3, 6)
    for z in np.linspace(0, h, shelves + 1):
        parts.append(box([w, d, t], [0, 0, z]))
    for z in np.linspace(0, h, shelves + 1)[:-1]:
        x = -w / 2 + t
        while x < w / 2 - 0.2:  # books of random widths and heights, left to right
            bw, bh = rng.uniform(0.04, 0.12), rng.uniform(0.15, 0.3)
            if rng.random() < 0.75:
                parts.append(box([bw, d * 0.8, bh], [x + bw / 2, 0, z + t / 2 + bh / 2]))
            x += bw + 0.01
    return parts


def monitor(rng):
    w, h = rng.uniform(1.2, 1.7), rng.uniform(0.7, 1.0)
    lift = rng.uniform(0.3, 0.5)
    parts = [box([w, 0.05, h], [0, 0, lift + h / 2]),
             box([w * 0.5, 0.15, h * 0.5], [0, 0.1, lift + h / 2]),  # housing at the back
             box([0.1, 0.06, lift], [0, 0.12, lift / 2]),
             box([0.5, 0.35, 0.04], [0, 0.1, 0.02]),
             box([0.06, 0.03, 0.03], [w * 0.4, -0.035, lift + 0.05])]  # a button in one corner
    return parts


BUILDERS = {name: globals()[name] for name in PROCEDURAL_CLASSES}


def make_shape(class_name, seed):
    """The instance `seed` of a procedural class, normalised into the unit ball."""
    if class_name not in BUILDERS:
        raise ValueError(f"unknown procedural class {class_name!r}; choose from {sorted(BUILDERS)}")
    parts = BUILDERS[class_name](np.random.default_rng(seed))
    return normalize(trimesh.util.concatenate(parts))
