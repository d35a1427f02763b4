"""Physical Foot Contact score (PFC), as in EDGE's eval_pfc.py, for a y-up skeleton.

Per clip: root acceleration a_t = |second difference of the root position| / dt^2 with the vertical
component clamped at >= 0, divided by the clip's maximum; horizontal foot speeds (metres a frame, as
in EDGE) of the left/right ankle and toe; m_L = min(v_Lankle, v_Ltoe), m_R likewise;
score = mean_t(m_L * m_R * a_t). PFC = 10^4 x mean over clips (EDGE uses 5 s clips).
A clip whose root never accelerates scores 0 (EDGE would divide by zero).
"""
from __future__ import annotations

import numpy as np

UP_AXIS = 1  # y-up (EDGE's data is z-up)
LEFT_FEET = (7, 10)  # ankle, toe
RIGHT_FEET = (8, 11)


def pfc_clip(joints: np.ndarray, fps: float = 30.0) -> float:
    """PFC term of one (T, 24, 3) clip (not yet multiplied by 10^4)."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1] < 12 or j.shape[-1] != 3 or j.shape[0] < 3:
        raise ValueError(f"expected joint positions (T>=3, 24, 3), got shape {j.shape}")
    dt = 1.0 / fps
    root_v = (j[1:, 0] - j[:-1, 0]) / dt  # (T-1, 3)
    root_a = (root_v[1:] - root_v[:-1]) / dt  # (T-2, 3)
    root_a[:, UP_AXIS] = np.maximum(root_a[:, UP_AXIS], 0.0)
    acc = np.linalg.norm(root_a, axis=-1)
    peak = acc.max()
    if peak <= 1e-9:
        return 0.0
    acc = acc / peak
    flat = [a for a in range(3) if a != UP_AXIS]
    feet = j[:, list(LEFT_FEET + RIGHT_FEET)][:, :, flat]  # (T, 4, 2)
    foot_v = np.linalg.norm(feet[2:] - feet[1:-1], axis=-1)  # (T-2, 4), metres a frame
    m_left = np.minimum(foot_v[:, 0], foot_v[:, 1])
    m_right = np.minimum(foot_v[:, 2], foot_v[:, 3])
    return float((m_left * m_right * acc).mean())


def split_clips(joints: np.ndarray, clip_len: int = 150) -> list[np.ndarray]:
    """Cut a long (T, 24, 3) sequence into whole clips of `clip_len` frames (the rest is dropped;
    a sequence shorter than one clip is kept whole)."""
    n = len(joints) // clip_len
    if n == 0:
        return [joints]
    return [joints[i * clip_len:(i + 1) * clip_len] for i in range(n)]


def pfc(clips: list[np.ndarray], fps: float = 30.0) -> float:
    """PFC over clips: 10^4 x mean of per-clip scores."""
    if not len(clips):
        return float("nan")
    return 1e4 * float(np.mean([pfc_clip(c, fps) for c in clips]))
