"""Shared pieces of the dataset loaders: the clip type, errors, grounding and encoding."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.motion import FPS, MOTION_DIM, encode
from model.skeleton import FOOT_JOINTS, SOLE_THICKNESS, forward_kinematics


class MotionFormatError(ValueError):
    """A dataset file that does not have the layout its loader expects; the message names the file."""


@dataclass
class MotionClip:
    name: str
    motion: np.ndarray           # (T, 151) float32, un-normalised
    fps: int = FPS
    audio_path: Path | None = None

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / float(self.fps)


def decimate(x: np.ndarray, source_fps: int, target_fps: int, path: Path) -> np.ndarray:
    """Keep every (source/target)-th frame; rotations are not averaged, so nothing blurs."""
    if source_fps == target_fps:
        return x
    if source_fps % target_fps:
        raise MotionFormatError(f"{path}: cannot resample {source_fps} fps to {target_fps} fps by dropping frames")
    return x[:: source_fps // target_fps]


def ground_root(rotmats: np.ndarray, root: np.ndarray, quantile: float = 0.02) -> np.ndarray:
    """Shift root heights so the feet touch the floor (y = 0) like the corpus' rest pose does.

    rotmats (T, 24, 3, 3), root (T, 3). The lowest foot joint of each frame is found with forward
    kinematics; a low quantile over the clip (robust to a glitchy frame) is moved to SOLE_THICKNESS.
    """
    with torch.no_grad():
        joints = forward_kinematics(torch.as_tensor(rotmats, dtype=torch.float32),
                                    torch.as_tensor(root, dtype=torch.float32)).numpy()  # (T, 24, 3)
    lowest = joints[:, list(FOOT_JOINTS), 1].min(axis=1)  # (T,)
    shift = SOLE_THICKNESS - float(np.quantile(lowest, quantile))
    out = np.array(root, dtype=np.float32, copy=True)
    out[:, 1] += shift
    return out


def to_motion(rotmats: np.ndarray, root: np.ndarray) -> np.ndarray:
    """(T, 24, 3, 3) local rotations + (T, 3) pelvis position -> (T, 151) float32 with foot contacts."""
    with torch.no_grad():
        m = encode(torch.as_tensor(rotmats, dtype=torch.float32), torch.as_tensor(root, dtype=torch.float32))
    out = m.numpy().astype(np.float32)
    assert out.shape[-1] == MOTION_DIM
    return out


def check_finite(array: np.ndarray, what: str, path: Path) -> None:
    if not np.all(np.isfinite(array)):
        raise MotionFormatError(f"{path}: {what} contains NaN or infinite values")
