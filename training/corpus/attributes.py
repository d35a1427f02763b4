"""Kinematic attributes of a dance, measured from joint positions alone.

These numbers score edits: an edit "swing your arms wider" succeeds when `arm_span` goes up and the
attributes it promised to keep stay put. They read only global joint positions (T, 24, 3) in metres
(y up, floor at y = 0) and, for the tempo-related ones, the song's beat times in seconds relative to
the first frame, so they work the same on generated, procedural and real (AIST++) motion.

    values = measure(joints, beat_times, fps=30)   # dict[str, float]

Directions: "forward" is the body's facing direction, from the hip line (left hip minus right hip,
crossed with up); "left" is the dancer's left.
"""
from __future__ import annotations

import numpy as np

from model.skeleton import STANDING_PELVIS_HEIGHT

# SMPL joint indices used here
PELVIS, L_HIP, R_HIP, SPINE3, L_KNEE, R_KNEE, NECK = 0, 1, 2, 9, 4, 5, 12
L_ANKLE, R_ANKLE, L_TOE, R_TOE = 7, 8, 10, 11
L_SHOULDER, R_SHOULDER, L_WRIST, R_WRIST = 16, 17, 20, 21

# name -> (unit, what it measures); the keys of `measure()`'s result, in this order.
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "energy": ("m/s", "mean speed of all joints"),
    "arm_energy": ("m/s", "mean wrist speed relative to the pelvis"),
    "leg_energy": ("m/s", "mean ankle speed"),
    "tempo": ("cycles/beat", "power-weighted mean frequency of the joint velocities, per beat"),
    "arm_span": ("m", "mean distance between the wrists"),
    "wrist_height_l": ("m", "mean height of the left wrist above the pelvis"),
    "wrist_height_r": ("m", "mean height of the right wrist above the pelvis"),
    "hand_forward": ("m", "mean distance of the wrists in front of the chest"),
    "clap_rate": ("1/bar", "times the hands meet (< 12 cm), per 4 beats"),
    "knee_lift": ("m", "95th percentile of the knee height above the lowest foot, minus the rest value"),
    "kick_height": ("m", "95th percentile of a forward foot's height above the other foot"),
    "kick_rate": ("1/bar", "kicks (a foot > 15 cm up and > 20 cm in front of the pelvis), per 4 beats"),
    "step_width": ("m", "mean horizontal distance between the ankles"),
    "feet_cross": ("m", "mean distance by which the ankles are crossed (left ankle right of the right one)"),
    "step_depth": ("m", "mean front-back distance between the ankles"),
    "lean_forward": ("rad", "mean forward tilt of the pelvis->neck line"),
    "lean_side": ("rad", "mean tilt of the pelvis->neck line to the dancer's left"),
    "torso_motion": ("rad", "standard deviation of the torso tilt (sways, rolls)"),
    "shoulder_shake": ("rad/s", "mean speed of the shoulder line turning against the hips"),
    "hip_sway": ("m", "std of the pelvis' sideways offset from the feet midpoint"),
    "turn": ("rev", "total turning of the hips, in revolutions"),
    "jump_height": ("m", "highest the lowest foot gets off the floor"),
    "bounce": ("m", "standard deviation of the pelvis height"),
    "crouch": ("m", "mean pelvis drop below standing height"),
    "travel": ("m", "mean horizontal distance of the pelvis from its mean position"),
}

REST_KNEE_ABOVE_FOOT = 0.47  # knee height above the lowest foot joint when standing (SMPL neutral)


def _facing(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit left (T,3) and forward (T,3) horizontal directions of the body."""
    left = joints[:, L_HIP] - joints[:, R_HIP]
    left[:, 1] = 0.0
    left /= np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-8)
    fwd = np.cross(left, np.array([0.0, 1.0, 0.0]))
    return left, fwd


def _events(signal: np.ndarray, threshold: float, min_gap: int) -> int:
    """Number of rising crossings of `threshold`, at least `min_gap` frames apart."""
    above = signal > threshold
    rises = np.nonzero(above[1:] & ~above[:-1])[0] + 1
    if above[0]:
        rises = np.concatenate([[0], rises])
    if len(rises) == 0:
        return 0
    keep = [rises[0]]
    for r in rises[1:]:
        if r - keep[-1] >= min_gap:
            keep.append(r)
    return len(keep)


def _beat_period(beat_times: np.ndarray | None, T: int, fps: float) -> tuple[float, float]:
    """(mean beat period in s, number of beats spanned by the clip)."""
    bt = np.asarray(beat_times if beat_times is not None else [], dtype=np.float64)
    dur = T / fps
    inside = bt[(bt >= -1.0) & (bt <= dur + 1.0)]
    period = float(np.median(np.diff(inside))) if len(inside) >= 2 else 0.5
    return period, dur / period


def measure(joints: np.ndarray, beat_times: np.ndarray | None = None, fps: float = 30.0) -> dict[str, float]:
    """All attributes of one dance. joints: (T, 24, 3) metres; beat_times: seconds from frame 0."""
    J = np.asarray(joints, dtype=np.float64)
    if J.ndim != 3 or J.shape[1:] != (24, 3) or J.shape[0] < 4:
        raise ValueError(f"joints must be (T>=4, 24, 3), got {J.shape}")
    T = J.shape[0]
    period, n_beats = _beat_period(beat_times, T, fps)
    bars = max(n_beats / 4.0, 1e-6)
    left, fwd = _facing(J)
    pel = J[:, PELVIS]
    out: dict[str, float] = {}

    vel = np.diff(J, axis=0) * fps  # (T-1, 24, 3)
    speed = np.linalg.norm(vel, axis=-1)
    out["energy"] = float(speed.mean())
    rel = J - pel[:, None]
    out["arm_energy"] = float(np.linalg.norm(np.diff(rel[:, [L_WRIST, R_WRIST]], axis=0), axis=-1).mean() * fps)
    out["leg_energy"] = float(speed[:, [L_ANKLE, R_ANKLE]].mean())

    # movement tempo: power-weighted mean frequency of the joint velocities, in cycles per beat
    v = vel - vel.mean(axis=0, keepdims=True)
    spec = (np.abs(np.fft.rfft(v, axis=0)) ** 2).sum(axis=(1, 2))
    freqs = np.fft.rfftfreq(v.shape[0], d=1.0 / fps)
    spec[0] = 0.0
    out["tempo"] = float((spec * freqs).sum() / max(spec.sum(), 1e-12) * period)

    lw, rw = J[:, L_WRIST], J[:, R_WRIST]
    out["arm_span"] = float(np.linalg.norm(lw - rw, axis=-1).mean())
    out["wrist_height_l"] = float((lw[:, 1] - pel[:, 1]).mean())
    out["wrist_height_r"] = float((rw[:, 1] - pel[:, 1]).mean())
    chest = J[:, SPINE3]
    out["hand_forward"] = float(0.5 * (((lw - chest) * fwd).sum(-1) + ((rw - chest) * fwd).sum(-1)).mean())
    out["clap_rate"] = _events(-np.linalg.norm(lw - rw, axis=-1), -0.12, int(0.25 * period * fps) + 1) / bars

    foot_y = J[:, [L_ANKLE, R_ANKLE, L_TOE, R_TOE], 1]
    lowest = foot_y.min(axis=1)
    knee_h = np.maximum(J[:, L_KNEE, 1], J[:, R_KNEE, 1]) - lowest
    out["knee_lift"] = float(np.percentile(knee_h, 95) - REST_KNEE_ABOVE_FOOT)

    la, ra = J[:, L_ANKLE], J[:, R_ANKLE]
    kick_sig = np.zeros(T)
    for a, b in ((la, ra), (ra, la)):
        ahead = ((a - pel) * fwd).sum(-1)
        kick_sig = np.maximum(kick_sig, np.where(ahead > 0.2, a[:, 1] - b[:, 1], 0.0))
    out["kick_height"] = float(np.percentile(kick_sig, 95))
    out["kick_rate"] = _events(kick_sig, 0.15, int(0.5 * period * fps) + 1) / bars

    d = la - ra
    out["step_width"] = float(np.linalg.norm(d[:, [0, 2]], axis=-1).mean())
    out["feet_cross"] = float(np.maximum(-(d * left).sum(-1), 0.0).mean())
    out["step_depth"] = float(np.abs((d * fwd).sum(-1)).mean())

    spine = J[:, NECK] - pel
    spine /= np.maximum(np.linalg.norm(spine, axis=-1, keepdims=True), 1e-8)
    lean_f = np.arcsin(np.clip((spine * fwd).sum(-1), -1, 1))
    lean_s = np.arcsin(np.clip((spine * left).sum(-1), -1, 1))
    out["lean_forward"] = float(lean_f.mean())
    out["lean_side"] = float(lean_s.mean())
    out["torso_motion"] = float(np.sqrt(lean_f.var() + lean_s.var()))

    sh = J[:, L_SHOULDER] - J[:, R_SHOULDER]
    hip = J[:, L_HIP] - J[:, R_HIP]
    rel_yaw = np.unwrap(np.arctan2(sh[:, 2], sh[:, 0]) - np.arctan2(hip[:, 2], hip[:, 0]))
    out["shoulder_shake"] = float(np.abs(np.diff(rel_yaw)).mean() * fps)

    mid = 0.5 * (la + ra)
    out["hip_sway"] = float(((pel - mid) * left).sum(-1).std())
    yaw = np.unwrap(np.arctan2(hip[:, 2], hip[:, 0]))
    out["turn"] = float(np.abs(np.diff(yaw)).sum() / (2 * np.pi))
    out["jump_height"] = float(max(np.percentile(lowest, 99) - 0.02, 0.0))
    out["bounce"] = float(pel[:, 1].std())
    out["crouch"] = float(STANDING_PELVIS_HEIGHT - pel[:, 1].mean())
    out["travel"] = float(np.linalg.norm(pel[:, [0, 2]] - pel[:, [0, 2]].mean(0), axis=-1).mean())
    return out


# How big a change of each attribute counts as real (used to label "kept" attributes and to decide
# an edit's success): about a tenth of its spread over the seed dances of the corpus.
TOLERANCE: dict[str, float] = {
    "energy": 0.06, "arm_energy": 0.08, "leg_energy": 0.06, "tempo": 0.12, "arm_span": 0.06,
    "wrist_height_l": 0.05, "wrist_height_r": 0.05, "hand_forward": 0.04, "clap_rate": 0.5,
    "knee_lift": 0.03, "kick_height": 0.04, "kick_rate": 0.4, "step_width": 0.03, "feet_cross": 0.006,
    "step_depth": 0.02, "lean_forward": 0.04, "lean_side": 0.03, "torso_motion": 0.02,
    "shoulder_shake": 0.1, "hip_sway": 0.008, "turn": 0.2, "jump_height": 0.02, "bounce": 0.006,
    "crouch": 0.015, "travel": 0.03,
}
