"""Beat Alignment Score (BAS), in the two variants found in the literature.

Motion beats (Bailando): local minima of the mean joint speed, Gaussian-smoothed with sigma = 5
frames. Distances are in frames; each beat scores exp(-d^2 / (2 * 3^2)).

* `bas_music_beats` -- Bailando's BAS: averaged over MUSIC beats (each music beat scores by its
  nearest motion beat). This is the number Bailando, EDGE and the paper report.
* `bas_motion_beats` -- the FACT/mint variant: averaged over MOTION beats (each motion beat scores by
  its nearest music beat).
"""
from __future__ import annotations

import numpy as np
from model.beat_snap import SMOOTH_SIGMA, speed_minima  # shared with beat snapping: the same accents

BAS_SIGMA = 3.0  # frames, in the score's Gaussian


def motion_beats(joints: np.ndarray, smooth_sigma: float = SMOOTH_SIGMA) -> np.ndarray:
    """Frame indices of motion beats of (T, J, 3) joints: local minima of smoothed mean joint speed.

    Index k refers to the speed between frames k and k+1, as in Bailando.
    """
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[-1] != 3 or j.shape[0] < 3:
        raise ValueError(f"expected joint positions (T>=3, J, 3), got shape {j.shape}")
    return speed_minima(j, smooth_sigma)


def music_beat_frames(beat_times: np.ndarray, num_frames: int, fps: float = 30.0) -> np.ndarray:
    """Beat times (s) -> frame indices inside [0, num_frames - 1) (the speed curve's length)."""
    f = np.round(np.asarray(beat_times, dtype=np.float64) * fps).astype(int)
    return f[(f >= 0) & (f < num_frames - 1)]


def _score(targets: np.ndarray, references: np.ndarray) -> float:
    """Mean over `targets` of exp(-min_d^2 / 2 sigma^2), min_d = distance to the nearest reference."""
    if len(targets) == 0:
        return float("nan")
    if len(references) == 0:
        return 0.0
    d = np.abs(np.asarray(targets)[:, None] - np.asarray(references)[None, :]).min(axis=1)
    return float(np.exp(-(d.astype(np.float64) ** 2) / (2 * BAS_SIGMA**2)).mean())


def bas_music_beats(joints: np.ndarray, beat_times: np.ndarray, fps: float = 30.0) -> float:
    """Bailando's BAS for one clip: averaged over music beats. NaN when the clip has no music beat."""
    mb = motion_beats(joints)
    return _score(music_beat_frames(beat_times, len(joints), fps), mb)


def bas_motion_beats(joints: np.ndarray, beat_times: np.ndarray, fps: float = 30.0) -> float:
    """FACT/mint BAS for one clip: averaged over motion beats. NaN when the clip has no motion beat."""
    mb = motion_beats(joints)
    return _score(mb, music_beat_frames(beat_times, len(joints), fps))


def bas(clips: list[np.ndarray], beats: list[np.ndarray], fps: float = 30.0) -> dict[str, float]:
    """Both variants averaged over clips (clips with no beat for a variant are skipped)."""
    if len(clips) != len(beats):
        raise ValueError(f"{len(clips)} clips but {len(beats)} beat lists")
    music = [bas_music_beats(c, b, fps) for c, b in zip(clips, beats)]
    motion = [bas_motion_beats(c, b, fps) for c, b in zip(clips, beats)]
    return {
        "bas_music": float(np.nanmean(music)) if np.isfinite(music).any() else float("nan"),
        "bas_motion": float(np.nanmean(motion)) if np.isfinite(motion).any() else float("nan"),
    }
