"""Beat snapping: a gentle time warp that puts the dance's accents on the music's beats.

A dance accent (a "kinematic beat") is a moment where the whole body slows to a near stop before
the next move: a local minimum of the smoothed mean joint speed, the definition Bailando's beat
alignment score uses. The network places these accents near the beats but loosely (on 120
held-out windows the shipped model's raw output scores BAS 0.233 against the data's 0.341). This
step finds, for each music beat in the generated part of a window, the nearest accent within
`reach` frames, and re-times the frames between so that the accent lands on the beat. The warp is
piecewise linear, never plays faster than `max_rate` or slower than 1 / `max_rate`, and leaves
known frames (already streamed, or outside an edited span) exactly where they were. Poses are not
changed, only when they happen.

Then, optionally (`pulse`), the dance slows into every beat: a second warp plays the frames at
(1 - pulse) x speed on each beat and (1 + pulse) x half-way between, exact at every beat so nothing
drifts, the way a dancer hits the beat. It makes an accent on every beat the network left without
one (the network makes about half as many accents as the data).

The beats come from the music features' beat channel (model.music.BEAT), so live they are the
engine's beat grid (tracker, MIDI clock or tap tempo) and offline the file's beats.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from model.motion import CONTACT, joints_from_motion

SMOOTH_SIGMA = 5.0  # frames; Bailando's smoothing of the speed curve before taking its minima


def speed_minima(joints: np.ndarray, smooth_sigma: float = SMOOTH_SIGMA) -> np.ndarray:
    """Frame indices of the accents of (T, J, 3) joint positions: local minima of the smoothed
    mean joint speed. Index k is the speed between frames k and k + 1. The one definition of a
    kinematic beat here: the BAS metric (training/metrics/beats.py) counts the same accents."""
    j = np.asarray(joints, dtype=np.float64)
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1).mean(axis=1)                 # (T-1,)
    return argrelextrema(gaussian_filter1d(speed, smooth_sigma), np.less)[0]   # 'reflect' ends


def kinematic_beats(motion: np.ndarray, smooth_sigma: float = SMOOTH_SIGMA) -> np.ndarray:
    """Accent frame indices of (T, 151) motion (see speed_minima)."""
    return speed_minima(joints_from_motion(motion).numpy(), smooth_sigma)


def beat_warp(accents: np.ndarray, beats: np.ndarray, known: np.ndarray, reach: int = 5,
              max_rate: float = 1.5) -> np.ndarray:
    """The source time (T,) float that each output frame plays, so that accents land on beats.

    Anchors: every known frame plays itself; each beat inside a generated run pulls the nearest
    unused accent within `reach` frames onto it. Anchors that would make the warp play faster than
    max_rate or slower than 1 / max_rate against the previous kept anchor are dropped.
    """
    T = len(known)
    fixed = {0, T - 1, *np.flatnonzero(known).tolist()}       # frames that play themselves
    anchors = {int(f): float(f) for f in fixed}
    used: set[int] = set()
    for b in np.sort(np.asarray(beats, dtype=int)):
        if not 0 < b < T - 1 or b in fixed:
            continue
        near = [int(a) for a in accents if abs(int(a) - b) <= reach and int(a) not in used and not known[int(a)]]
        if near:
            a = min(near, key=lambda a: abs(a - b))
            used.add(a)
            anchors[int(b)] = float(a)

    def rate_ok(out_f: int, src: float) -> bool:
        rate = (src - kept_src[-1]) / (out_f - kept_out[-1])
        return 1.0 / max_rate <= rate <= max_rate

    kept_out, kept_src = [0], [0.0]
    for out_f in sorted(anchors)[1:]:
        src = anchors[out_f]
        if out_f in fixed:  # must stay: drop the free anchors before it that make it too steep
            while not rate_ok(out_f, src) and kept_out[-1] not in fixed:
                kept_out.pop(), kept_src.pop()
        elif not rate_ok(out_f, src):
            continue
        kept_out.append(out_f)
        kept_src.append(src)
    return np.interp(np.arange(T), kept_out, kept_src)


def retime(motion: np.ndarray, source_time: np.ndarray) -> np.ndarray:
    """Play (T, 151) motion at the given (T,) source times: pose channels are interpolated
    linearly (6D rotations stay valid after the decoder's Gram-Schmidt), contacts take the
    nearest frame."""
    T = motion.shape[0]
    s = np.clip(source_time, 0, T - 1)
    i0 = np.floor(s).astype(int)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (s - i0)[:, None].astype(np.float32)
    out = (1 - w) * motion[i0] + w * motion[i1]
    out[:, CONTACT] = motion[np.rint(s).astype(int)][:, CONTACT]
    return out.astype(np.float32)


def snap_to_beats(motion: np.ndarray, beat_frames: np.ndarray, known_mask: np.ndarray | None = None,
                  reach: int = 5, max_rate: float = 1.5, pulse: float = 0.0) -> np.ndarray:
    """Re-time (T, 151) motion so its accents land on the beats at `beat_frames` (frame indices);
    pulse > 0 also slows the dance into every beat (beat_pulse_time). Known frames stay exactly as
    they are. -> (T, 151)."""
    motion = np.asarray(motion, dtype=np.float32)
    T = motion.shape[0]
    known = np.zeros(T, dtype=bool) if known_mask is None else np.asarray(known_mask, dtype=bool)
    if len(beat_frames) == 0 or known.all():
        return motion
    warp = beat_warp(kinematic_beats(motion), np.asarray(beat_frames), known, reach, max_rate)
    out = retime(motion, warp)
    if pulse > 0:
        out = retime(out, beat_pulse_time(np.asarray(beat_frames), known, pulse))
    out[known] = motion[known]
    return out


def beat_pulse_time(beat_frames: np.ndarray, known: np.ndarray, depth: float, ramp: int = 12) -> np.ndarray:
    """The source time (T,) that each output frame plays so that the dance slows into every beat:
    between beats b and b' the playback rate is 1 - depth * cos(2 pi (t - b) / (b' - b)), i.e.
    (1 - depth) on the beat and (1 + depth) half-way, with the warp exact at every beat (no drift).
    The warp fades in over `ramp` frames away from known frames, which play themselves."""
    T = len(known)
    t = np.arange(T, dtype=np.float64)
    shift = np.zeros(T)
    b = np.sort(np.asarray(beat_frames, dtype=np.float64))
    for b0, b1 in zip(b[:-1], b[1:]):
        period = b1 - b0
        if period < 4:
            continue
        inside = (t >= b0) & (t < b1)
        shift[inside] = depth * period / (2 * np.pi) * np.sin(2 * np.pi * (t[inside] - b0) / period)
    if known.any():
        dist = np.abs(t[:, None] - np.flatnonzero(known)[None, :]).min(axis=1)
        x = np.clip(dist / max(ramp, 1), 0.0, 1.0)
        shift *= x * x * (3 - 2 * x)
    return np.clip(t - shift, 0, T - 1)


__all__ = ["beat_pulse_time", "speed_minima", "kinematic_beats", "beat_warp", "retime", "snap_to_beats"]
