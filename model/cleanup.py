"""Foot locking: planted feet stay where they touched down.

A diffusion model predicts the root path and every joint rotation separately, so a foot it marks as
planted still drifts a little each frame ("foot skating", what PFC measures; the shipped model's
planted ankles moved 6 mm a frame against 1 mm in the data). For every frame the model marks an
ankle in contact, two-bone IK on hip and knee puts that ankle back where it touched down, keeping
the foot's world orientation (so the toe stays too). Poses elsewhere, the root path and the timing
of every move are unchanged; it runs on a window in a few milliseconds.

Known frames (already streamed, or outside an edited span) are never moved: a contact that began in
them is pinned where the streamed foot was, and pins fade out before known frames that follow
generated ones, so seams stay continuous.
"""
from __future__ import annotations

import numpy as np
import torch

from model import rotations as rot
from model.motion import ROOT, ROT6D
from model.skeleton import NUM_JOINTS, forward_kinematics_np, global_rotations


LEGS = ((1, 4, 7, 0), (2, 5, 8, 1))  # (hip, knee, ankle, ankle contact channel), left then right


def lock_feet(motion: np.ndarray, known_mask: np.ndarray | None = None, blend: int = 4) -> np.ndarray:
    """Pin each ankle where it touched down for as long as the model marks it in contact, by
    two-bone IK on hip and knee (the foot keeps its world orientation, so the toe stays put too).

    After a contact ends the pin is released over `blend` frames; it also fades out before known
    frames that follow generated ones. motion: (T, 151); known_mask: (T,) bool -> (T, 151).
    """
    motion = np.asarray(motion, dtype=np.float32)
    T = motion.shape[0]
    known = np.zeros(T, dtype=bool) if known_mask is None else np.asarray(known_mask, dtype=bool)
    local = rot.np_rot6d_to_matrix(motion[:, ROT6D].reshape(T, NUM_JOINTS, 6)).astype(np.float64)  # (T, 24, 3, 3)
    root = motion[:, ROOT].astype(np.float64)
    joints = forward_kinematics_np(local, root).astype(np.float64)                                  # (T, 24, 3)
    glob = global_rotations(torch.from_numpy(local)).numpy()                                      # (T, 24, 3, 3)
    out = motion.copy()
    for hip, knee, ankle, channel in LEGS:
        target, weight = _ankle_pins(joints[:, ankle], motion[:, channel] > 0.5, known, blend)
        sel = np.flatnonzero(weight > 0)
        if not len(sel):
            continue
        goal = joints[sel, ankle] + weight[sel, None] * (target[sel] - joints[sel, ankle])
        new_hip, new_knee, new_ankle = _two_bone_ik(
            joints[sel, hip], joints[sel, knee], joints[sel, ankle], goal,
            glob[sel, 0], glob[sel, hip], glob[sel, knee], glob[sel, ankle])
        for j, r in ((hip, new_hip), (knee, new_knee), (ankle, new_ankle)):
            out[sel, 7 + 6 * j: 13 + 6 * j] = rot.np_matrix_to_rot6d(r).reshape(len(sel), 6)
    return out


def _ankle_pins(ankle: np.ndarray, contact: np.ndarray, known: np.ndarray, blend: int) -> tuple[np.ndarray, np.ndarray]:
    """Pin targets (T, 3) and IK weights (T,) in [0, 1] for one ankle; weight 0 on known frames."""
    T = len(ankle)
    target = ankle.copy()
    weight = np.zeros(T)
    pin, since_release = None, blend + 1
    for t in range(T):
        if contact[t]:
            if pin is None:
                pin = ankle[t].copy()     # touch-down: the foot stays where it landed
            target[t], weight[t], since_release = pin, 1.0, 0
        elif pin is not None:
            since_release += 1
            if since_release <= blend:    # lift-off: ease back to the network's own foot path
                target[t], weight[t] = pin, 1.0 - since_release / (blend + 1)
            else:
                pin = None
    for start, end in _generated_runs(known):
        if end < T:  # known frames follow: fade the pin out before them
            fade = np.clip((end - np.arange(start, end)) / (blend + 1), 0.0, 1.0)
            weight[start:end] = np.minimum(weight[start:end], fade)
    weight[known] = 0.0
    return target, weight


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations (F, 3, 3) taking directions a to b, (F, 3) each."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    angle = np.arctan2(np.linalg.norm(axis, axis=-1), (a * b).sum(-1))
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    return rot.np_axis_angle_to_matrix(axis * angle[:, None])


def _two_bone_ik(hip, knee, ankle, goal, g_pelvis, g_hip, g_knee, g_ankle):
    """Analytic two-bone IK for F frames: positions (F, 3), global rotations (F, 3, 3).

    Bends the knee (about the leg plane's normal) so the hip-ankle distance matches the goal's, then
    swings the hip to point the leg at it. Returns new LOCAL rotations of hip, knee and ankle, with the
    ankle's world orientation unchanged."""
    thigh, shin = knee - hip, ankle - knee
    a, b = np.linalg.norm(thigh, axis=-1), np.linalg.norm(shin, axis=-1)
    d = np.clip(np.linalg.norm(goal - hip, axis=-1), np.abs(a - b) + 1e-4, a + b - 1e-4)
    u, v = hip - knee, ankle - knee
    current = np.arccos(np.clip((u * v).sum(-1) / (a * b), -1.0, 1.0))
    wanted = np.arccos(np.clip((a * a + b * b - d * d) / (2 * a * b), -1.0, 1.0))
    normal = np.cross(u, v)
    n_len = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.where(n_len > 1e-6, normal / np.maximum(n_len, 1e-12), g_knee[:, :, 0])  # straight leg: knee axis
    q_knee = rot.np_axis_angle_to_matrix(normal * (wanted - current)[:, None])
    ankle_bent = knee + np.einsum("fij,fj->fi", q_knee, v)
    q_hip = _rotation_between(ankle_bent - hip, goal - hip)
    new_g_hip = q_hip @ g_hip
    new_g_knee = q_hip @ q_knee @ g_knee
    t = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731  (inverse of a rotation)
    return t(g_pelvis) @ new_g_hip, t(new_g_hip) @ new_g_knee, t(new_g_knee) @ g_ankle


def _generated_runs(known: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of frames that are not known."""
    edges = np.flatnonzero(np.diff(np.concatenate([[1], known.astype(np.int8), [1]])))
    return list(zip(edges[0::2], edges[1::2]))


__all__ = ["lock_feet"]
