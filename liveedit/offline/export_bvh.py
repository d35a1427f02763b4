"""BVH export of a dance (Blender, Maya, MotionBuilder, most game engines read it).

Hierarchy: the SMPL 24-joint tree with the neutral body's rest offsets (model.skeleton), the pelvis
as ROOT with 6 channels (Xposition Yposition Zposition Zrotation Xrotation Yrotation), every other
joint with 3 (Zrotation Xrotation Yrotation). The leaves (toes, head, hands) get an End Site along
their own bone. A joint's channels hold its parent-relative rotation as intrinsic Z-X-Y Euler
angles in degrees, R = Rz(z) Rx(x) Ry(y), which is what BVH readers build from that channel order.
Rest pose: SMPL's T-pose, y-up, the body facing +z. Units: centimetres by default (`scale` 100).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from liveedit.offline.errors import atomic_output
from model import rotations as rot
from model.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS

DEFAULT_SCALE = 100.0  # metres -> centimetres, the unit most BVH tools assume

CHILDREN: tuple[tuple[int, ...], ...] = tuple(
    tuple(c for c in range(NUM_JOINTS) if PARENTS[c] == j) for j in range(NUM_JOINTS)
)


def joint_order() -> list[int]:
    """Joints in the depth-first order they appear in the file (and in each MOTION line)."""
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for c in CHILDREN[j]:
            visit(c)

    visit(0)
    return order


def _end_site(j: int) -> np.ndarray:
    """A short bone for leaf joints so tools can draw them: half the joint's own bone, same direction."""
    return 0.5 * REST_OFFSETS[j]


def hierarchy_text(scale: float = DEFAULT_SCALE) -> str:
    lines: list[str] = ["HIERARCHY"]

    def fmt(v: np.ndarray) -> str:
        return " ".join(f"{x * scale:.6f}" for x in v)

    def visit(j: int, depth: int) -> None:
        ind = "\t" * depth
        if j == 0:
            lines.append(f"ROOT {JOINT_NAMES[j]}")
        else:
            lines.append(f"{ind}JOINT {JOINT_NAMES[j]}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET {fmt(REST_OFFSETS[j])}")
        if j == 0:
            lines.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{ind}\tCHANNELS 3 Zrotation Xrotation Yrotation")
        for c in CHILDREN[j]:
            visit(c, depth + 1)
        if not CHILDREN[j]:
            lines.append(f"{ind}\tEnd Site")
            lines.append(f"{ind}\t{{")
            lines.append(f"{ind}\t\tOFFSET {fmt(_end_site(j))}")
            lines.append(f"{ind}\t}}")
        lines.append(f"{ind}}}")

    visit(0, 0)
    return "\n".join(lines) + "\n"


def motion_channels(rotmats: np.ndarray, root: np.ndarray, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """(T, 24, 3, 3) local rotations + (T, 3) root -> (T, 3 + 24*3) BVH channel values."""
    euler = rot.np_matrix_to_euler(rotmats, "ZXY")  # (T, 24, 3): z, x, y degrees
    cols = [np.asarray(root, np.float64) * scale]
    cols += [euler[:, j, :] for j in joint_order()]
    return np.concatenate(cols, axis=1)


def write_bvh(path: str | Path, motion: np.ndarray, fps: int = 30, scale: float = DEFAULT_SCALE) -> Path:
    """Write the (T, 151) motion as BVH to `path` (atomically)."""
    motion = np.asarray(motion, np.float32)
    rotmats = rot.np_rot6d_to_matrix(motion[:, 7:].reshape(-1, NUM_JOINTS, 6))  # (T, 24, 3, 3)
    values = motion_channels(rotmats, motion[:, 4:7], scale)
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(hierarchy_text(scale))
            f.write(f"MOTION\nFrames: {len(values)}\nFrame Time: {1.0 / fps:.8f}\n")
            np.savetxt(f, values, fmt="%.5f", delimiter=" ")
    return path
