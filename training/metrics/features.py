"""Bailando's motion features for FID_k / FID_g: kinetic (72-d) and geometric (32-d).

Both take global joint positions (T, 24, 3) in metres, y-up, at `fps` frames a second.

* Kinetic (Onuma et al., via fairmotion and Bailando's `extract_kinetic_features`): per joint, the
  mean squared horizontal speed, the mean squared vertical speed and the mean acceleration magnitude,
  each speed/acceleration averaged over a sliding window of +-2 frames. 24 joints x 3 = 72 floats.
* Geometric (Mueller et al.'s boolean relational features, as in Bailando's
  `extract_manual_features`): 32 per-frame booleans (a hand in front of the body, a foot raised,
  a fast wrist...), averaged over frames into fractions in [0, 1].

Deliberate differences from Bailando's code, so numbers are comparable across frame rates:
  * velocities use the true frame time 1/fps. Bailando's relational features divide per-frame
    displacement by 1/120 s although AIST++ runs at 60 fps (speeds twice the true ones); its kinetic
    features use 1/60 s on 60 fps data, i.e. the true time, as here.
  * the code is vectorised over frames; per-frame logic is the same.
Kept as in Bailando (it defines the feature): the body-size constants (humerus length, shoulder and
hip width) computed from Bailando's fixed coordinates, and the `move` feature taking the third named
joint as the moving point (fairmotion's argument order).
"""
from __future__ import annotations

import numpy as np

KINETIC_DIM = 72
GEOMETRIC_DIM = 32

# Bailando's names for SMPL joints 0..21 (its relational features never use the hands 22, 23).
_NAMES = (
    "root", "lhip", "rhip", "belly", "lknee", "rknee", "spine", "lankle", "rankle", "chest",
    "ltoes", "rtoes", "neck", "linshoulder", "rinshoulder", "head", "lshoulder", "rshoulder",
    "lelbow", "relbow", "lwrist", "rwrist",
)
_IDX = {n: i for i, n in enumerate(_NAMES)}

# Body-size constants, from the fixed coordinates in Bailando's ManualFeatures (metres).
_HL = float(np.linalg.norm(np.subtract([0.00121265, 0.37817603, 0.03681623], [0.19911349, 0.23680794, -0.01807022])))
_SW = float(np.linalg.norm(np.subtract([0.00121265, 0.37817603, 0.03681623], [-0.45181984, 0.2225595, -0.04357424])))
_HW = float(np.linalg.norm(np.subtract([0.05640767, -0.32306919, 0.01091971], [-0.10574003, -0.7149903, 0.01019822])))


def _check_joints(joints: np.ndarray, min_frames: int = 3) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[-1] != 3 or j.shape[1] < 22:
        raise ValueError(f"expected joint positions (T, 24, 3), got shape {j.shape}")
    if j.shape[0] < min_frames:
        raise ValueError(f"need at least {min_frames} frames, got {j.shape[0]}")
    if not np.isfinite(j).all():
        raise ValueError("joint positions contain NaN or inf")
    return j


def _window_mean(x: np.ndarray, centres: np.ndarray, lo_off: int, hi_off: int, lo: int, hi: int) -> np.ndarray:
    """Mean of x[m] over m in [c+lo_off, c+hi_off] clipped to [lo, hi], for each centre c.

    x: (M, ...) -> (len(centres), ...). Uses a cumulative sum so the cost is O(M).
    """
    csum = np.concatenate([np.zeros_like(x[:1]), np.cumsum(x, axis=0)], axis=0)
    a = np.clip(centres + lo_off, lo, hi)
    b = np.clip(centres + hi_off, lo, hi)
    count = (b - a + 1).reshape(-1, *([1] * (x.ndim - 1)))
    return (csum[b + 1] - csum[a]) / count


def kinetic_features(joints: np.ndarray, fps: float = 30.0, window: int = 2) -> np.ndarray:
    """(T, 24, 3) joint positions -> (72,) kinetic features [KE_horizontal, KE_vertical, accel] per joint."""
    p = _check_joints(joints)
    T = p.shape[0]
    dt = 1.0 / fps
    frames = np.arange(1, T)  # Bailando averages over frames 1..T-1
    # Velocity term for frame k is p[k] - p[k-1] = d[k-1]; Bailando's window over k in [i-w, i+w]
    # with k-1 >= 0 and k < T means d indices m in [i-w-1, i+w-1] within [0, T-2].
    d = p[1:] - p[:-1]  # (T-1, J, 3)
    v = _window_mean(d, frames, -window - 1, window - 1, 0, T - 2) / dt  # (T-1, J, 3)
    ke_h = (v[..., 0] ** 2 + v[..., 2] ** 2).mean(axis=0)  # (J,)
    ke_v = (v[..., 1] ** 2).mean(axis=0)
    # Acceleration at frame n (1 <= n <= T-2): p[n+1] - 2 p[n] + p[n-1]; window n in [i-w, i+w].
    dd = (p[2:] - 2 * p[1:-1] + p[:-2]) / dt**2  # (T-2, J, 3), row r is frame n = r + 1
    a = _window_mean(dd, frames - 1, -window, window, 0, T - 3)
    energy = np.linalg.norm(a, axis=-1).mean(axis=0)  # (J,)
    return np.stack([ke_h, ke_v, energy], axis=-1).reshape(-1).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


def geometric_features(joints: np.ndarray, fps: float = 30.0) -> np.ndarray:
    """(T, 24, 3) joint positions -> (32,) fractions of frames 1..T-1 where each relation holds."""
    p = _check_joints(joints, min_frames=2)
    dt = 1.0 / fps
    cur, prev = p[1:], p[:-1]  # (F, J, 3) each, F = T - 1
    F = cur.shape[0]
    y_min = np.zeros((F, 3))
    y_min[:, 1] = cur[:, :22, 1].min(axis=1)  # the lowest joint's height, as a point on the y axis
    specials = {
        "zero": np.zeros((F, 3)),
        "y_unit": np.tile([0.0, 1.0, 0.0], (F, 1)),
        "minus_y_unit": np.tile([0.0, -1.0, 0.0], (F, 1)),
        "y_min": y_min,
    }

    def at(name: str) -> np.ndarray:  # (F, 3) current positions of a joint or special point
        return specials[name] if name in specials else cur[:, _IDX[name]]

    def before(name: str) -> np.ndarray:
        return prev[:, _IDX[name]]

    def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * b).sum(-1)

    def move(j1: str, j2: str, j3: str, _j4: str, thr: float) -> np.ndarray:
        # Velocity of j3 relative to j1 along the direction j1 -> j2 (fairmotion's argument use).
        vel = (at(j3) - at(j1)) - (before(j3) - before(j1))
        return dot(vel, _unit(at(j2) - at(j1))) / dt > thr

    def nmove(j1: str, j2: str, j3: str, j4: str, thr: float) -> np.ndarray:
        # Velocity of j4 relative to j1 along the normal of the plane (j1, j2, j3).
        vel = (at(j4) - at(j1)) - (before(j4) - before(j1))
        normal = np.cross(at(j3) - at(j1), at(j2) - at(j1))
        return dot(vel, _unit(normal)) / dt > thr

    def plane(j1: str, j2: str, j3: str, j4: str, thr: float) -> np.ndarray:
        # Signed distance of j4 from the plane through j1, j2, j3.
        normal = np.cross(at(j3) - at(j1), at(j2) - at(j1))
        return dot(_unit(normal), at(j4) - at(j1)) > thr

    def nplane(j1: str, j2: str, j3: str, j4: str, thr: float) -> np.ndarray:
        # Signed distance of j4 from the plane through j3 with normal j1 -> j2.
        return dot(_unit(at(j2) - at(j1)), at(j4) - at(j3)) > thr

    def angle(j1: str, j2: str, k1: str, k2: str, rng: tuple[float, float]) -> np.ndarray:
        cos = dot(_unit(at(j2) - at(j1)), _unit(at(k2) - at(k1)))
        deg = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        return (deg > rng[0]) & (deg < rng[1])

    def fast(j: str, thr: float) -> np.ndarray:
        return np.linalg.norm(at(j) - before(j), axis=-1) / dt > thr

    hl, sw, hw = _HL, _SW, _HW
    feats = [
        nmove("neck", "rhip", "lhip", "rwrist", 1.8 * hl),
        nmove("neck", "lhip", "rhip", "lwrist", 1.8 * hl),
        nplane("chest", "neck", "neck", "rwrist", 0.2 * hl),
        nplane("chest", "neck", "neck", "lwrist", 0.2 * hl),
        move("belly", "chest", "chest", "rwrist", 1.8 * hl),
        move("belly", "chest", "chest", "lwrist", 1.8 * hl),
        angle("relbow", "rshoulder", "relbow", "rwrist", (0, 110)),
        angle("lelbow", "lshoulder", "lelbow", "lwrist", (0, 110)),
        nplane("lshoulder", "rshoulder", "lwrist", "rwrist", 2.5 * sw),
        move("lwrist", "rwrist", "rwrist", "lwrist", 1.4 * hl),
        move("rwrist", "root", "lwrist", "root", 1.4 * hl),
        move("lwrist", "root", "rwrist", "root", 1.4 * hl),
        fast("rwrist", 2.5 * hl),
        fast("lwrist", 2.5 * hl),
        plane("root", "lhip", "ltoes", "rankle", 0.38 * hl),
        plane("root", "rhip", "rtoes", "lankle", 0.38 * hl),
        nplane("zero", "y_unit", "y_min", "rankle", 1.2 * hl),
        nplane("zero", "y_unit", "y_min", "lankle", 1.2 * hl),
        nplane("lhip", "rhip", "lankle", "rankle", 2.1 * hw),
        angle("rknee", "rhip", "rknee", "rankle", (0, 110)),
        angle("lknee", "lhip", "lknee", "lankle", (0, 110)),
        fast("rankle", 2.5 * hl),
        fast("lankle", 2.5 * hl),
        angle("neck", "root", "rshoulder", "relbow", (25, 180)),
        angle("neck", "root", "lshoulder", "lelbow", (25, 180)),
        angle("neck", "root", "rhip", "rknee", (50, 180)),
        angle("neck", "root", "lhip", "lknee", (50, 180)),
        plane("rankle", "neck", "lankle", "root", 0.5 * hl),
        angle("neck", "root", "zero", "y_unit", (70, 110)),
        nplane("zero", "minus_y_unit", "y_min", "rwrist", -1.2 * hl),
        nplane("zero", "minus_y_unit", "y_min", "lwrist", -1.2 * hl),
        fast("root", 2.3 * hl),
    ]
    assert len(feats) == GEOMETRIC_DIM
    return np.stack(feats, axis=-1).astype(np.float32).mean(axis=0)


def motion_features(clips: list[np.ndarray] | np.ndarray, fps: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Kinetic (N, 72) and geometric (N, 32) features for a list of (T, 24, 3) clips."""
    kin = np.stack([kinetic_features(c, fps) for c in clips]) if len(clips) else np.zeros((0, KINETIC_DIM), np.float32)
    geo = np.stack([geometric_features(c, fps) for c in clips]) if len(clips) else np.zeros((0, GEOMETRIC_DIM), np.float32)
    return kin, geo
