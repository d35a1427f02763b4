"""The SMPL 24-joint skeleton with the neutral body's rest offsets built in.

Forward kinematics here needs no licensed model file: the rest offsets are the joint-to-parent
vectors of SMPL's neutral template (metres, y-up, right-handed, the body facing +z), the same
numbers EDGE and Bailando use to draw skeletons. With a user's SMPL files, `smpl_mesh()` drives
the real mesh from the same poses through `smplx` (optional, imported lazily).

Conventions used everywhere in liveedit:
  * local rotations are parent-relative; joint 0 (pelvis) carries the global orientation;
  * the root position is the pelvis position in world space (not SMPL's `transl`, which is
    offset by the template pelvis; see `smpl_transl_from_root`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = 24

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

# Joint-to-parent offsets of the neutral SMPL template, metres. Row 0 is the pelvis (root).
REST_OFFSETS = np.array(
    [
        [0.0, 0.0, 0.0],
        [0.05858135, -0.08228004, -0.01766408],
        [-0.06030973, -0.09051332, -0.01354254],
        [0.00443945, 0.12440352, -0.03838522],
        [0.04345142, -0.38646945, 0.008037],
        [-0.04325663, -0.38368791, -0.00484304],
        [0.00448844, 0.1379564, 0.02682033],
        [-0.01479032, -0.42687458, -0.037428],
        [0.01905555, -0.4200455, -0.03456167],
        [-0.00226458, 0.05603239, 0.00285505],
        [0.04105436, -0.06028581, 0.12204243],
        [-0.03483987, -0.06210566, 0.13032329],
        [-0.0133902, 0.21163553, -0.03346758],
        [0.07170245, 0.11399969, -0.01889817],
        [-0.08295366, 0.11247234, -0.02370739],
        [0.01011321, 0.08893734, 0.05040987],
        [0.12292141, 0.04520509, -0.019046],
        [-0.11322832, 0.04685326, -0.00847207],
        [0.2553319, -0.01564902, -0.02294649],
        [-0.26012748, -0.01436928, -0.03126873],
        [0.26570925, 0.01269811, -0.00737473],
        [-0.26910836, 0.00679372, -0.00602676],
        [0.08669055, -0.01063603, -0.01559429],
        [-0.0887537, -0.00865157, -0.01010708],
    ],
    dtype=np.float32,
)

# Template pelvis position in SMPL's own model frame (neutral body); SMPL's `transl` moves the
# mesh so that pelvis_world = transl + this (with no global rotation).
SMPL_TEMPLATE_PELVIS = np.array([0.0, -0.2230, 0.0285], dtype=np.float32)

# Foot joints whose contact flags make the first 4 channels of the motion representation.
FOOT_JOINTS: tuple[int, ...] = (7, 8, 10, 11)  # left ankle, right ankle, left toe, right toe


def rest_joint_positions() -> np.ndarray:
    """Rest-pose joint positions relative to the pelvis, (24, 3)."""
    pos = np.zeros((NUM_JOINTS, 3), dtype=np.float32)
    for j in range(1, NUM_JOINTS):
        pos[j] = pos[PARENTS[j]] + REST_OFFSETS[j]
    return pos


# Height of the pelvis above the floor in the rest pose: the lowest point of the body is the toe
# joint; a small sole thickness puts the toes on the floor rather than in it.
SOLE_THICKNESS = 0.02
STANDING_PELVIS_HEIGHT = float(-rest_joint_positions()[:, 1].min() + SOLE_THICKNESS)


def forward_kinematics(local_rotmats: torch.Tensor, root_pos: torch.Tensor) -> torch.Tensor:
    """Global joint positions from local rotations.

    local_rotmats: (..., 24, 3, 3) parent-relative rotations (joint 0 = global orientation).
    root_pos:      (..., 3) pelvis position in world space.
    returns:       (..., 24, 3) joint positions.
    """
    offsets = torch.as_tensor(REST_OFFSETS, dtype=local_rotmats.dtype, device=local_rotmats.device)
    global_rots: list[torch.Tensor] = [local_rotmats[..., 0, :, :]]
    positions: list[torch.Tensor] = [root_pos]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        # (..., 3) = (..., 3, 3) @ (3,)
        positions.append(positions[p] + torch.einsum("...ij,j->...i", global_rots[p], offsets[j]))
        global_rots.append(global_rots[p] @ local_rotmats[..., j, :, :])
    return torch.stack(positions, dim=-2)


def forward_kinematics_np(local_rotmats: np.ndarray, root_pos: np.ndarray) -> np.ndarray:
    """NumPy twin of `forward_kinematics` (same shapes), for code that must not import torch."""
    global_rots = [local_rotmats[..., 0, :, :]]
    positions = [np.asarray(root_pos, dtype=np.float64)]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        positions.append(positions[p] + np.einsum("...ij,j->...i", global_rots[p], REST_OFFSETS[j]))
        global_rots.append(global_rots[p] @ local_rotmats[..., j, :, :])
    return np.stack(positions, axis=-2).astype(np.float32)


def global_rotations(local_rotmats: torch.Tensor) -> torch.Tensor:
    """Global (world) joint rotations, (..., 24, 3, 3), from local ones."""
    out: list[torch.Tensor] = [local_rotmats[..., 0, :, :]]
    for j in range(1, NUM_JOINTS):
        out.append(out[PARENTS[j]] @ local_rotmats[..., j, :, :])
    return torch.stack(out, dim=-3)


def smpl_transl_from_root(root_pos: np.ndarray, global_orient_rotmat: np.ndarray | None = None) -> np.ndarray:
    """SMPL `transl` (as AIST++ stores it) that puts the neutral template's pelvis at `root_pos`.

    root_pos: (T, 3); global_orient_rotmat: (T, 3, 3) or None. The pelvis is the rotation centre of
    the global orientation in SMPL, so the template offset is subtracted unrotated.
    """
    del global_orient_rotmat  # SMPL rotates about the pelvis joint, so the offset does not rotate
    return np.asarray(root_pos, dtype=np.float32) - SMPL_TEMPLATE_PELVIS


def root_from_smpl_transl(transl: np.ndarray) -> np.ndarray:
    """Inverse of `smpl_transl_from_root`: pelvis world position from SMPL `transl`, (T, 3)."""
    return np.asarray(transl, dtype=np.float32) + SMPL_TEMPLATE_PELVIS


def smpl_mesh(model_dir: str | Path, axis_angle: np.ndarray, root_pos: np.ndarray, gender: str = "neutral"):
    """Vertices (T, 6890, 3) of the real SMPL mesh for our poses; needs `smplx` and the user's files.

    axis_angle: (T, 72); root_pos: (T, 3). `model_dir` holds `smpl/SMPL_NEUTRAL.pkl` (or .npz).
    """
    try:
        import smplx  # noqa: PLC0415  (optional: heavy, and useless without licensed model files)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("Driving the SMPL mesh needs the 'smplx' package: pip install smplx") from exc
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise FileNotFoundError(
            f"SMPL model directory {model_dir} does not exist; download SMPL from https://smpl.is.tue.mpg.de "
            "and pass the folder that contains smpl/SMPL_NEUTRAL.pkl"
        )
    body = smplx.create(str(model_dir), model_type="smpl", gender=gender, batch_size=len(axis_angle))
    aa = torch.as_tensor(axis_angle, dtype=torch.float32)
    transl = torch.as_tensor(smpl_transl_from_root(root_pos), dtype=torch.float32)
    with torch.no_grad():
        out = body(global_orient=aa[:, :3], body_pose=aa[:, 3:72], transl=transl)
    return out.vertices.numpy()
