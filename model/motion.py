"""The 151-float motion representation and its normaliser.

Per frame (EDGE's layout, which the paper follows):
    [0:4]    foot contacts (left ankle, right ankle, left toe, right toe), 0 or 1
    [4:7]    root (pelvis) position, metres, y-up, right-handed, SMPL's frame
    [7:151]  24 joints x 6D rotation (joint j at 7 + 6j), parent-relative, joint 0 global

Every public API in liveedit takes and returns these un-normalised values; only the network sees
normalised ones (`Normalizer`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model import rotations as rot
from model.skeleton import FOOT_JOINTS, NUM_JOINTS, forward_kinematics

FPS = 30
WINDOW = 150  # frames, 5 s, as in the paper
MOTION_DIM = 151
CONTACT = slice(0, 4)
ROOT = slice(4, 7)
ROT6D = slice(7, 151)

# A foot joint that moves less than this many metres per frame (at 30 fps, i.e. < 0.3 m/s) is in
# contact. EDGE used 0.01 in its units at 30 fps; ours are metres, so the same number.
CONTACT_SPEED_THRESHOLD = 0.01


def contact_labels(joints: np.ndarray | torch.Tensor, threshold: float = CONTACT_SPEED_THRESHOLD):
    """Foot contacts from joint positions (T, 24, 3) -> (T, 4) in {0, 1}.

    A foot joint is in contact when its per-frame displacement is below `threshold`; the last frame
    copies the one before it.
    """
    is_torch = isinstance(joints, torch.Tensor)
    j = joints if is_torch else torch.as_tensor(np.asarray(joints, dtype=np.float32))
    feet = j[..., list(FOOT_JOINTS), :]  # (..., T, 4, 3)
    speed = (feet[..., 1:, :, :] - feet[..., :-1, :, :]).norm(dim=-1)  # (..., T-1, 4)
    speed = torch.cat([speed, speed[..., -1:, :]], dim=-2)
    out = (speed < threshold).to(j.dtype)
    return out if is_torch else out.numpy()


def encode(local_rotmats: torch.Tensor, root_pos: torch.Tensor, contacts: torch.Tensor | None = None) -> torch.Tensor:
    """(…, T, 24, 3, 3) rotations and (…, T, 3) root -> (…, T, 151) motion features."""
    if contacts is None:
        contacts = contact_labels(forward_kinematics(local_rotmats, root_pos))
    r6 = rot.matrix_to_rot6d(local_rotmats).flatten(-2)  # (..., T, 144)
    return torch.cat([contacts.to(r6.dtype), root_pos.to(r6.dtype), r6], dim=-1)


def encode_axis_angle(axis_angle: np.ndarray | torch.Tensor, root_pos: np.ndarray | torch.Tensor) -> torch.Tensor:
    """SMPL poses (T, 72) axis-angle and root (T, 3) -> (T, 151)."""
    aa = torch.as_tensor(np.asarray(axis_angle, dtype=np.float32)).reshape(-1, NUM_JOINTS, 3)
    root = torch.as_tensor(np.asarray(root_pos, dtype=np.float32))
    return encode(rot.axis_angle_to_matrix(aa), root)


@dataclass
class DecodedMotion:
    contacts: torch.Tensor   # (..., T, 4)
    root: torch.Tensor       # (..., T, 3)
    rotmats: torch.Tensor    # (..., T, 24, 3, 3)

    def joints(self) -> torch.Tensor:
        """(..., T, 24, 3) global joint positions."""
        return forward_kinematics(self.rotmats, self.root)

    def axis_angle(self) -> torch.Tensor:
        """(..., T, 72) SMPL poses."""
        return rot.matrix_to_axis_angle(self.rotmats).flatten(-2)

    def quaternions(self) -> torch.Tensor:
        """(..., T, 24, 4) local rotations as (x, y, z, w)."""
        return rot.matrix_to_quaternion(self.rotmats)


def decode(motion: torch.Tensor | np.ndarray) -> DecodedMotion:
    """(..., T, 151) -> contacts, root, rotation matrices."""
    m = torch.as_tensor(np.asarray(motion, dtype=np.float32)) if not isinstance(motion, torch.Tensor) else motion
    rotmats = rot.rot6d_to_matrix(m[..., ROT6D].reshape(*m.shape[:-1], NUM_JOINTS, 6))
    return DecodedMotion(contacts=m[..., CONTACT], root=m[..., ROOT], rotmats=rotmats)


def joints_from_motion(motion: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(..., T, 151) -> (..., T, 24, 3) joint positions."""
    return decode(motion).joints()


class Normalizer:
    """Per-channel standardisation fitted on training motion; stored in every checkpoint.

    Contact channels are left as they are (already in {0, 1}, the foot loss reads them raw... after
    de-normalisation), every other channel is mapped to zero mean, unit variance. Channels that never
    vary get std 1 so they pass through unchanged.
    """

    def __init__(self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor):
        self.mean = torch.as_tensor(np.asarray(mean, dtype=np.float32)).reshape(-1)
        self.std = torch.as_tensor(np.asarray(std, dtype=np.float32)).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"normaliser mean {tuple(self.mean.shape)} and std {tuple(self.std.shape)} differ")

    @classmethod
    def fit(cls, motions: np.ndarray | torch.Tensor, min_std: float = 1e-3) -> "Normalizer":
        """motions: (..., D) sample of un-normalised frames."""
        x = torch.as_tensor(np.asarray(motions, dtype=np.float32)).reshape(-1, np.shape(motions)[-1])
        mean = x.mean(0)
        std = x.std(0)
        std = torch.where(std < min_std, torch.ones_like(std), std)
        if x.shape[-1] == MOTION_DIM:
            mean[CONTACT] = 0.0
            std[CONTACT] = 1.0
        return cls(mean, std)

    @classmethod
    def identity(cls, dim: int = MOTION_DIM) -> "Normalizer":
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x)) / self.std.to(x)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.to(x) + self.mean.to(x)

    def state_dict(self) -> dict[str, list[float]]:
        """Plain lists, so checkpoints need no pickled objects."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Normalizer":
        return cls(np.asarray(state["mean"]), np.asarray(state["std"]))


def canonicalize(motion: torch.Tensor) -> torch.Tensor:
    """First-frame canonicalisation (the paper's): the first frame faces +z and stands at x = z = 0.

    Rotates the whole clip about the vertical axis by the first frame's heading and moves its root
    to the origin in the ground plane; heights are kept. motion: (T, 151) -> (T, 151).
    """
    dec = decode(motion)
    fwd = dec.rotmats[0, 0, :, 2]  # pelvis z-axis in world (body forward)
    yaw = torch.atan2(fwd[0], fwd[2])
    c, s = torch.cos(-yaw), torch.sin(-yaw)
    ry = torch.stack([torch.stack([c, 0 * c, s]), torch.tensor([0.0, 1.0, 0.0]).to(c), torch.stack([-s, 0 * c, c])])
    root = dec.root - torch.stack([dec.root[0, 0], torch.zeros_like(dec.root[0, 1]), dec.root[0, 2]])
    root = root @ ry.T
    rotmats = dec.rotmats.clone()
    rotmats[:, 0] = ry @ rotmats[:, 0]
    return encode(rotmats, root, dec.contacts)
