"""The viewer's default avatar: a procedurally built, SMPL-proportioned humanoid written as a VRM.

    python -m liveedit.avatar                      # rewrites liveedit/web/avatars/default.vrm
    python -m liveedit.avatar --out me.vrm --legs 1.15 --arms 0.9 --height 0.85 --vrm0
    python -m liveedit.avatar --out me.glb --plain      # no VRM data, Mixamo bone names

The body is a toon-shaded mannequin: capsules and ellipsoids, each bound rigidly to one bone, with
spheres at the joints so that bending shows no gaps. The skeleton sits at the SMPL joints of
model/skeleton.py (scaled per limb by the options), so with the default proportions the avatar's
joints are exactly where the stream's joints are and its soles touch the floor when the pelvis is at
STANDING_PELVIS_HEIGHT. A three-bone ponytail carries VRM spring bones.

The output is a GLB with the VRM 1.0 extensions (VRMC_vrm, VRMC_materials_mtoon,
VRMC_springBone), or with VRM 0.x's `VRM` extension (`--vrm0`; facing -z as 0.x wants), or as a
plain humanoid glTF (`--plain`); the tests use them to check that each kind loads. Everything here is made from numbers in this file and
the SMPL joint offsets; no third-party mesh or texture.
"""
from __future__ import annotations

import argparse
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.skeleton import JOINT_NAMES, PARENTS, REST_OFFSETS, SOLE_THICKNESS

DEFAULT_PATH = Path(__file__).resolve().parent / "web" / "avatars" / "default.vrm"

# VRM humanoid bone -> SMPL joint that sits at its head (the bone rotates about that joint).
HUMAN_BONES: dict[str, str] = {
    "hips": "pelvis", "spine": "spine1", "chest": "spine2", "upperChest": "spine3", "neck": "neck",
    "head": "head",
    "leftUpperLeg": "left_hip", "leftLowerLeg": "left_knee", "leftFoot": "left_ankle", "leftToes": "left_foot",
    "rightUpperLeg": "right_hip", "rightLowerLeg": "right_knee", "rightFoot": "right_ankle",
    "rightToes": "right_foot",
    "leftShoulder": "left_collar", "leftUpperArm": "left_shoulder", "leftLowerArm": "left_elbow",
    "leftHand": "left_wrist",
    "rightShoulder": "right_collar", "rightUpperArm": "right_shoulder", "rightLowerArm": "right_elbow",
    "rightHand": "right_wrist",
}
# Mixamo's names for the same bones (a humanoid glTF without VRM data, `plain=True`).
MIXAMO_NAMES: dict[str, str] = {
    "hips": "Hips", "spine": "Spine", "chest": "Spine1", "upperChest": "Spine2", "neck": "Neck", "head": "Head",
    **{f"{s}{a}": f"{S}{b}" for s, S in (("left", "Left"), ("right", "Right")) for a, b in (
        ("UpperLeg", "UpLeg"), ("LowerLeg", "Leg"), ("Foot", "Foot"), ("Toes", "ToeBase"), ("Shoulder", "Shoulder"),
        ("UpperArm", "Arm"), ("LowerArm", "ForeArm"), ("Hand", "Hand"))},
}
_LEG_JOINTS = {"left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot"}
_ARM_JOINTS = {"left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"}

# Toon colours (linear RGB): lit colour and MToon shade colour.
_MATERIALS = {
    "skin": ((0.80, 0.55, 0.42), (0.55, 0.30, 0.28)),
    "top": ((0.05, 0.35, 0.80), (0.02, 0.10, 0.35)),
    "pants": ((0.08, 0.08, 0.12), (0.03, 0.03, 0.07)),
    "shoes": ((0.90, 0.90, 0.92), (0.45, 0.47, 0.60)),
    "hair": ((0.10, 0.05, 0.04), (0.04, 0.02, 0.03)),
    "eyes": ((0.02, 0.02, 0.03), (0.01, 0.01, 0.02)),
}


@dataclass(frozen=True)
class Proportions:
    """Scales of the SMPL body: `height` scales everything, `legs` and `arms` the limb bones."""

    height: float = 1.0
    legs: float = 1.0
    arms: float = 1.0


def joint_positions(p: Proportions) -> np.ndarray:
    """Rest joint positions (24, 3) in metres, standing: the toes' sole touches y = 0, facing +z."""
    offsets = REST_OFFSETS.astype(np.float64).copy()
    for j, name in enumerate(JOINT_NAMES):
        offsets[j] *= p.legs if name in _LEG_JOINTS else p.arms if name in _ARM_JOINTS else 1.0
    offsets *= p.height
    pos = np.zeros_like(offsets)
    for j in range(1, len(offsets)):
        pos[j] = pos[PARENTS[j]] + offsets[j]
    pos[:, 1] += -pos[:, 1].min() + SOLE_THICKNESS * p.height
    return pos


# ---------------------------------------------------------------- geometry

def _frame(axis: np.ndarray) -> np.ndarray:
    """A rotation matrix whose y column is `axis` (unit), x and z columns perpendicular to it."""
    y = axis / np.linalg.norm(axis)
    ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(y, ref)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def _sphere(n_lon: int = 16, n_lat: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Unit UV sphere: vertices (V, 3) and triangles (F, 3), poles on y."""
    verts = []
    for i in range(n_lat + 1):
        theta = np.pi * i / n_lat
        for k in range(n_lon + 1):
            phi = 2 * np.pi * k / n_lon
            verts.append([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)])
    tris = []
    for i in range(n_lat):
        for k in range(n_lon):
            a, b = i * (n_lon + 1) + k, (i + 1) * (n_lon + 1) + k
            tris += [[a, b, a + 1], [a + 1, b, b + 1]]
    return np.asarray(verts), np.asarray(tris)


_UNIT_V, _UNIT_F = _sphere()


class _Mesh:
    """Triangles grouped by material, each vertex bound to one joint (index into the bone list)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]] = {m: [] for m in _MATERIALS}

    def ellipsoid(self, mat: str, bone: int, center, radii, rot: np.ndarray | None = None) -> None:
        rot = np.eye(3) if rot is None else rot
        radii = np.asarray(radii, float)
        v = (_UNIT_V * radii) @ rot.T + np.asarray(center, float)
        n = (_UNIT_V / radii) @ rot.T
        self.parts[mat].append((v, n / np.linalg.norm(n, axis=1, keepdims=True), _UNIT_F, bone))

    def capsule(self, mat: str, bone: int, a, b, r0: float, r1: float, flat: float = 1.0) -> None:
        """A capsule from a to b, radius r0 at a tapering to r1 at b; `flat` squeezes its z."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        axis = b - a
        length = float(np.linalg.norm(axis))
        rot = _frame(axis)
        u = _UNIT_V.copy()
        top = u[:, 1] >= 0  # upper hemisphere goes to b, lower to a
        r = np.where(top, r1, r0)
        local = np.stack([u[:, 0] * r, u[:, 1] * r + np.where(top, length, 0.0), u[:, 2] * r * flat], axis=1)
        normal = np.stack([u[:, 0], u[:, 1], u[:, 2] / flat], axis=1)
        v = local @ rot.T + a
        n = normal @ rot.T
        self.parts[mat].append((v, n / np.linalg.norm(n, axis=1, keepdims=True), _UNIT_F, bone))


def _build_body(pos: np.ndarray, h: float, bone_of: dict[str, int], pony: list[int],
                pony_pos: np.ndarray) -> _Mesh:
    """The mannequin's parts around the joints `pos` (SMPL order); `h` is the height scale."""
    J = {name: pos[i] for i, name in enumerate(JOINT_NAMES)}
    b = bone_of
    m = _Mesh()
    for s in ("left", "right"):
        hip, knee, ankle, toe = J[f"{s}_hip"], J[f"{s}_knee"], J[f"{s}_ankle"], J[f"{s}_foot"]
        m.capsule("pants", b[f"{s}_hip"], hip, knee, 0.075 * h, 0.055 * h)
        m.ellipsoid("pants", b[f"{s}_knee"], knee, [0.056 * h] * 3)
        m.capsule("pants", b[f"{s}_knee"], knee, ankle, 0.054 * h, 0.040 * h)
        # The shoe: a heel under the ankle and a sole to the toes, their undersides on the floor.
        heel = np.array([ankle[0], 0.042 * h, ankle[2] - 0.02 * h])
        m.ellipsoid("shoes", b[f"{s}_ankle"], heel, [0.045 * h, 0.042 * h, 0.05 * h])
        m.capsule("shoes", b[f"{s}_ankle"], heel, toe + np.array([0, 0.005 * h, 0]), 0.042 * h, 0.025 * h,
                  flat=1.0)
        m.ellipsoid("shoes", b[f"{s}_foot"], toe + np.array([0, 0.005 * h, 0.025 * h]),
                    [0.04 * h, 0.025 * h, 0.045 * h])
        sh, el, wr, hand = J[f"{s}_shoulder"], J[f"{s}_elbow"], J[f"{s}_wrist"], J[f"{s}_hand"]
        m.capsule("top", b[f"{s}_collar"], J[f"{s}_collar"], sh, 0.055 * h, 0.055 * h, flat=0.8)
        m.ellipsoid("top", b[f"{s}_shoulder"], sh, [0.058 * h] * 3)
        m.capsule("top", b[f"{s}_shoulder"], sh, el, 0.05 * h, 0.04 * h)
        m.ellipsoid("skin", b[f"{s}_elbow"], el, [0.04 * h] * 3)
        m.capsule("skin", b[f"{s}_elbow"], el, wr, 0.038 * h, 0.03 * h)
        tip = hand + (hand - wr) * 0.6
        m.capsule("skin", b[f"{s}_wrist"], wr, tip, 0.034 * h, 0.028 * h, flat=0.55)
    pelvis, sp1, sp2, sp3, neck, head = (J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head"))
    m.ellipsoid("pants", b["pelvis"], pelvis + np.array([0, -0.02 * h, -0.01 * h]), [0.16 * h, 0.11 * h, 0.11 * h])
    m.capsule("top", b["spine1"], sp1, sp2, 0.125 * h, 0.135 * h, flat=0.75)
    m.capsule("top", b["spine2"], sp2, sp3, 0.135 * h, 0.145 * h, flat=0.75)
    m.capsule("top", b["spine3"], sp3, neck - np.array([0, 0.05 * h, 0]), 0.15 * h, 0.11 * h, flat=0.7)
    m.capsule("skin", b["neck"], neck - np.array([0, 0.02 * h, 0]), head, 0.05 * h, 0.048 * h)
    face = head + np.array([0.0, 0.085 * h, 0.015 * h])
    m.ellipsoid("skin", b["head"], face, [0.092 * h, 0.115 * h, 0.105 * h])
    m.ellipsoid("hair", b["head"], face + np.array([0, 0.03 * h, -0.012 * h]), [0.098 * h, 0.10 * h, 0.105 * h])
    for side in (-1.0, 1.0):  # eyes show which way the head faces
        m.ellipsoid("eyes", b["head"], face + np.array([side * 0.035 * h, 0.005 * h, 0.1 * h]),
                    [0.014 * h, 0.02 * h, 0.01 * h])
    for k, bone in enumerate(pony):
        end = pony_pos[k + 1] if k + 1 < len(pony_pos) else pony_pos[k] + (pony_pos[k] - pony_pos[k - 1])
        m.capsule("hair", bone, pony_pos[k], end, (0.035 - 0.008 * k) * h, (0.03 - 0.008 * k) * h)
    return m


# ---------------------------------------------------------------- glTF / VRM

class _Blob:
    """The GLB's binary chunk with its buffer views and accessors."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, ctype: int, atype: str, target: int | None = None,
            bounds: bool = False) -> int:
        while len(self.data) % 4:
            self.data.append(0)
        raw = np.ascontiguousarray(array).tobytes()
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.data.extend(raw)
        acc = {"bufferView": len(self.views) - 1, "componentType": ctype, "count": len(array), "type": atype}
        if bounds:
            flat = np.asarray(array).reshape(len(array), -1)
            acc["min"] = [float(x) for x in flat.min(0)]
            acc["max"] = [float(x) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _mtoon(lit, shade) -> dict:
    return {"specVersion": "1.0", "transparentWithZWrite": False, "renderQueueOffsetNumber": 0,
            "shadeColorFactor": list(shade), "shadingShiftFactor": -0.1, "shadingToonyFactor": 0.95,
            "giEqualizationFactor": 0.9, "matcapFactor": [0, 0, 0],
            "parametricRimColorFactor": [0.25, 0.25, 0.3], "parametricRimFresnelPowerFactor": 4.0,
            "parametricRimLiftFactor": 0.0, "rimLightingMixFactor": 1.0,
            "outlineWidthMode": "none", "outlineWidthFactor": 0.0, "outlineColorFactor": [0, 0, 0],
            "outlineLightingMixFactor": 1.0, "uvAnimationScrollXSpeedFactor": 0,
            "uvAnimationScrollYSpeedFactor": 0, "uvAnimationRotationSpeedFactor": 0}


_META_1 = {"name": "liveedit mannequin", "version": "1", "authors": ["the liveedit authors"],
           "copyrightInformation": "liveedit (GPL-3.0-or-later); procedurally generated by liveedit/avatar.py",
           "licenseUrl": "https://vrm.dev/licenses/1.0/", "avatarPermission": "everyone",
           "allowExcessivelyViolentUsage": True, "allowExcessivelySexualUsage": False,
           "commercialUsage": "corporation", "allowPoliticalOrReligiousUsage": True,
           "allowAntisocialOrHateUsage": False, "creditNotation": "unnecessary",
           "allowRedistribution": True, "modification": "allowModificationRedistribution"}
_META_0 = {"title": "liveedit mannequin", "version": "1", "author": "the liveedit authors",
           "allowedUserName": "Everyone", "violentUssageName": "Allow", "sexualUssageName": "Disallow",
           "commercialUssageName": "Allow", "licenseName": "Other",
           "otherLicenseUrl": "https://www.gnu.org/licenses/gpl-3.0.html"}


def build_vrm(p: Proportions = Proportions(), vrm0: bool = False, plain: bool = False) -> bytes:
    """The avatar as GLB bytes: VRM 1.0, or VRM 0.x with `vrm0` (then facing -z, as 0.x models do),
    or with `plain` a humanoid glTF with no VRM data, its bones named as Mixamo names them."""
    pos = joint_positions(p)
    h = p.height
    # Nodes: the humanoid bones in SMPL order (SMPL's left_hand joint only places the hand mesh),
    # then the ponytail chain hanging from the back of the head.
    smpl_bones = [n for n in JOINT_NAMES if n in HUMAN_BONES.values()]
    bone_of = {n: i for i, n in enumerate(smpl_bones)}
    head = pos[JOINT_NAMES.index("head")]
    pony_pos = np.array([head + np.array([0, 0.16, -0.09]) * h, head + np.array([0, 0.09, -0.15]) * h,
                         head + np.array([0, -0.01, -0.17]) * h, head + np.array([0, -0.11, -0.17]) * h])
    n_pony = 3
    pony = [len(smpl_bones) + k for k in range(n_pony)]
    world = np.concatenate([pos[[JOINT_NAMES.index(n) for n in smpl_bones]], pony_pos[:n_pony]])
    parent = [smpl_bones.index(JOINT_NAMES[PARENTS[JOINT_NAMES.index(n)]]) if n != "pelvis" else -1
              for n in smpl_bones] + [bone_of["head"], pony[0], pony[1]]
    mesh = _build_body(pos, h, bone_of, pony, pony_pos)

    flip = np.array([-1.0, 1.0, -1.0]) if vrm0 else np.ones(3)  # VRM 0.x faces -z: turn 180 degrees
    world = world * flip

    blob = _Blob()
    primitives, materials = [], []
    for mat, parts in mesh.parts.items():
        if not parts:
            continue
        verts = np.concatenate([v for v, _, _, _ in parts]) * flip
        normals = np.concatenate([n for _, n, _, _ in parts]) * flip  # a turn: windings stay
        base, tris, joints = 0, [], []
        for v, _, f, bone in parts:
            tris.append(f + base)
            joints.append(np.full(len(v), bone))
            base += len(v)
        tris = np.concatenate(tris)
        j4 = np.zeros((base, 4), np.uint8)
        j4[:, 0] = np.concatenate(joints)
        w4 = np.zeros((base, 4), np.float32)
        w4[:, 0] = 1.0
        lit, shade = _MATERIALS[mat]
        material = {"name": mat, "pbrMetallicRoughness": {"baseColorFactor": [*lit, 1.0], "metallicFactor": 0.0,
                                                          "roughnessFactor": 0.9}}
        if not vrm0 and not plain:
            material["extensions"] = {"VRMC_materials_mtoon": _mtoon(lit, shade)}
        materials.append(material)
        primitives.append({
            "attributes": {
                "POSITION": blob.add(verts.astype(np.float32), 5126, "VEC3", 34962, bounds=True),
                "NORMAL": blob.add(normals.astype(np.float32), 5126, "VEC3", 34962),
                "JOINTS_0": blob.add(j4, 5121, "VEC4", 34962),
                "WEIGHTS_0": blob.add(w4, 5126, "VEC4", 34962),
            },
            "indices": blob.add(tris.astype(np.uint16).reshape(-1), 5123, "SCALAR", 34963),
            "material": len(materials) - 1,
        })

    # Bind pose: every bone unrotated, so each inverse bind matrix is a translation.
    ibm = np.tile(np.eye(4, dtype=np.float32), (len(world), 1, 1))
    ibm[:, :3, 3] = -world
    ibm_acc = blob.add(ibm.transpose(0, 2, 1).reshape(len(world), 16), 5126, "MAT4")  # column-major

    n_bones = len(world)
    nodes = []
    for i in range(n_bones):
        name = next(k for k, v in HUMAN_BONES.items() if v == smpl_bones[i]) if i < len(smpl_bones) \
            else f"hair{i - len(smpl_bones)}"
        if plain:
            name = "mixamorig:" + MIXAMO_NAMES.get(name, name)
        local = world[i] - (world[parent[i]] if parent[i] >= 0 else 0.0)
        node = {"name": name, "translation": [float(x) for x in local]}
        kids = [c for c in range(n_bones) if parent[c] == i]
        if kids:
            node["children"] = kids
        nodes.append(node)
    body = len(nodes)
    nodes.append({"name": "body", "mesh": 0, "skin": 0})
    root = len(nodes)
    nodes.append({"name": "liveedit_avatar", "children": [0, body]})

    humanoid = {name: {"node": smpl_bones.index(smpl)} for name, smpl in HUMAN_BONES.items()}
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "liveedit/avatar.py"},
        "scene": 0, "scenes": [{"nodes": [root]}], "nodes": nodes,
        "meshes": [{"name": "body", "primitives": primitives}], "materials": materials,
        "skins": [{"joints": list(range(n_bones)), "inverseBindMatrices": ibm_acc, "skeleton": 0}],
    }
    if plain:
        pass
    elif vrm0:
        gltf["extensionsUsed"] = ["VRM"]
        gltf["extensions"] = {"VRM": {
            "exporterVersion": "liveedit", "specVersion": "0.0", "meta": _META_0,
            "humanoid": {"humanBones": [{"bone": k, "node": v["node"], "useDefaultValues": True}
                                        for k, v in humanoid.items()]},
            "firstPerson": {"firstPersonBone": humanoid["head"]["node"], "firstPersonBoneOffset":
                            {"x": 0, "y": 0.06, "z": 0}, "meshAnnotations": []},
            "blendShapeMaster": {"blendShapeGroups": []},
            "secondaryAnimation": {"boneGroups": [{
                "comment": "ponytail", "stiffiness": 1.0, "gravityPower": 0.3, "gravityDir": {"x": 0, "y": -1, "z": 0},
                "dragForce": 0.4, "center": -1, "hitRadius": 0.02, "bones": [pony[0]], "colliderGroups": []}],
                "colliderGroups": []},
            "materialProperties": [],
        }}
    else:
        gltf["extensionsUsed"] = ["VRMC_vrm", "VRMC_materials_mtoon", "VRMC_springBone"]
        gltf["extensions"] = {
            "VRMC_vrm": {"specVersion": "1.0", "meta": _META_1, "humanoid": {"humanBones": humanoid}},
            "VRMC_springBone": {"specVersion": "1.0", "springs": [{"name": "ponytail", "joints": [
                {"node": n, "hitRadius": 0.02, "stiffness": 1.0, "gravityPower": 0.3,
                 "gravityDir": [0, -1, 0], "dragForce": 0.4} for n in pony]}]},
        }
    gltf["accessors"] = blob.accessors
    gltf["bufferViews"] = blob.views
    gltf["buffers"] = [{"byteLength": len(blob.data)}]
    return _glb(gltf, bytes(blob.data))


def _glb(gltf: dict, binary: bytes) -> bytes:
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


def write_vrm(path: str | Path, p: Proportions = Proportions(), vrm0: bool = False, plain: bool = False) -> Path:
    """Write `build_vrm(p, vrm0, plain)` to `path` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_vrm(p, vrm0, plain))
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m liveedit.avatar", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_PATH), help="output .vrm file (default: the viewer's default avatar)")
    ap.add_argument("--height", type=float, default=1.0, help="scale of the whole body (1 = SMPL's neutral body)")
    ap.add_argument("--legs", type=float, default=1.0, help="extra scale of the leg bones")
    ap.add_argument("--arms", type=float, default=1.0, help="extra scale of the arm bones")
    kind = ap.add_mutually_exclusive_group()
    kind.add_argument("--vrm0", action="store_true", help="write VRM 0.x instead of VRM 1.0")
    kind.add_argument("--plain", action="store_true",
                      help="write a humanoid glTF without VRM data, its bones named as Mixamo names them")
    a = ap.parse_args(argv)
    out = write_vrm(a.out, Proportions(a.height, a.legs, a.arms), a.vrm0, a.plain)
    print(f"{out}: {out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
