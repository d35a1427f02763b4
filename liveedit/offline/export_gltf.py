"""glTF 2.0 binary (.glb) export: a skin-free node hierarchy with one animation.

Nodes: the SMPL 24 joints (names from model.skeleton), each child's `translation` its rest offset
from its parent, metres, y-up, the body facing +z (glTF's own conventions, so no axis change).
Animation "dance": a `translation` channel on the root node (pelvis world position per frame) and a
`rotation` channel per joint (parent-relative unit quaternions x, y, z, w, glTF's order), linear
interpolation, one keyframe per frame. No mesh or skin: rig a character to these nodes in the
target tool (Blender imports them as empties/bones), or use the BVH export for retargeting.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pygltflib as g

from liveedit.offline.errors import atomic_output
from model import rotations as rot
from model.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS


def _align4(blob: bytearray) -> None:
    while len(blob) % 4:
        blob.append(0)


def build_gltf(motion: np.ndarray, fps: int = 30) -> g.GLTF2:
    """A GLTF2 object (binary blob attached) for the (T, 151) motion."""
    motion = np.asarray(motion, np.float32)
    T = len(motion)
    rotmats = rot.np_rot6d_to_matrix(motion[:, 7:].reshape(T, NUM_JOINTS, 6))  # (T, 24, 3, 3)
    quats = rot.np_matrix_to_quaternion(rotmats).astype(np.float32)  # (T, 24, 4) xyzw
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)  # glTF requires unit quaternions
    root = np.ascontiguousarray(motion[:, 4:7], np.float32)  # (T, 3)
    times = (np.arange(T, dtype=np.float32) / fps).astype(np.float32)

    blob = bytearray()
    views: list[g.BufferView] = []
    accessors: list[g.Accessor] = []

    def add(array: np.ndarray, acc_type: str, with_bounds: bool) -> int:
        _align4(blob)
        data = np.ascontiguousarray(array, np.float32)
        views.append(g.BufferView(buffer=0, byteOffset=len(blob), byteLength=data.nbytes))
        blob.extend(data.tobytes())
        flat = data.reshape(len(data), -1)
        acc = g.Accessor(bufferView=len(views) - 1, componentType=g.FLOAT, count=len(data), type=acc_type)
        if with_bounds:
            acc.min = [float(v) for v in flat.min(0)]
            acc.max = [float(v) for v in flat.max(0)]
        accessors.append(acc)
        return len(accessors) - 1

    t_acc = add(times, g.SCALAR, with_bounds=True)  # animation inputs must have min/max
    root_acc = add(root, g.VEC3, with_bounds=True)
    rot_accs = [add(quats[:, j], g.VEC4, with_bounds=False) for j in range(NUM_JOINTS)]

    nodes = []
    for j in range(NUM_JOINTS):
        children = [c for c in range(NUM_JOINTS) if PARENTS[c] == j]
        translation = root[0] if j == 0 else REST_OFFSETS[j]
        nodes.append(g.Node(name=JOINT_NAMES[j], children=children or [],
                            translation=[float(v) for v in translation],
                            rotation=[float(v) for v in quats[0, j]]))

    samplers = [g.AnimationSampler(input=t_acc, output=root_acc, interpolation="LINEAR")]
    channels = [g.AnimationChannel(sampler=0, target=g.AnimationChannelTarget(node=0, path="translation"))]
    for j in range(NUM_JOINTS):
        samplers.append(g.AnimationSampler(input=t_acc, output=rot_accs[j], interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1,
                                           target=g.AnimationChannelTarget(node=j, path="rotation")))

    _align4(blob)
    gltf = g.GLTF2(
        asset=g.Asset(version="2.0", generator="liveedit"),
        scene=0,
        scenes=[g.Scene(name="dance", nodes=[0])],
        nodes=nodes,
        buffers=[g.Buffer(byteLength=len(blob))],
        bufferViews=views,
        accessors=accessors,
        animations=[g.Animation(name="dance", samplers=samplers, channels=channels)],
    )
    gltf.set_binary_blob(bytes(blob))
    return gltf


def write_glb(path: str | Path, motion: np.ndarray, fps: int = 30) -> Path:
    """Write the (T, 151) motion as a .glb file to `path` (atomically)."""
    path = Path(path)
    gltf = build_gltf(motion, fps)
    with atomic_output(path) as tmp:
        gltf.save_binary(str(tmp))
    return path
