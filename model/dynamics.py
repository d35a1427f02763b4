"""Dynamics that follow the music: calmer in a drumless breakdown, bigger at a drop.

The generation branch, trained for a few thousand CPU steps, hardly reads the music's energy: its
dance is about as lively in a breakdown as in the chorus around it (4% calmer on the held-out songs,
the corpus's dances 30%). Two small parts put the music's dynamics back:

1. `EnergyEnvelope`, a tiny dilated 1-D convolution network (26 k parameters) that reads a window's
   music features (onset envelope, MFCC, onset peaks; not the beat channel and not the key) and
   predicts how fast the corpus's dancers move to that music, frame by frame: the log of the mean
   joint speed smoothed over a third of a second. It learns the choreographer's habits from the
   corpus (section energy, drums or none, style) and is trained by `training/train_energy.py` in
   under a minute; it ships as `model/checkpoints/energy.pt`.
2. `follow_energy`, run on every newly generated window: it scales each joint's quick motion about
   a slow moving average of the pose (rotations in axis-angle about their low-passed rotation, the
   root about its low-passed path) by expected speed / REFERENCE_SPEED, clipped and smoothed. So
   the network's own liveliness and variety stay, and the music moves it up or down: louder, with
   drums, livelier; a drumless breakdown or silence, calmer. A stretch that the network left slower
   than FLOOR of the expected speed is lifted to it. The poses' slow drift and the timing of every
   move stay; only the size of the quick motion changes. Known frames (already streamed, or outside
   an edited span) are never touched, and the gain ramps in over `RAMP` frames after them so seams
   stay continuous. Edits are not scaled: "more energy" must stay more energy.

On the long-form section of `liveedit eval` (12 held-out songs x 40 s, two seeds) it makes the
breakdowns 32-44% calmer than the sections around them (4-13% without; the corpus's dances 41%)
and leaves FID_k, FID_g and Div_k as good or a little better (docs/MODEL.md, "Dynamics").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from torch import nn

from model import rotations as rot
from model.motion import FPS, ROOT, ROT6D, joints_from_motion
from model.music import MFCC, ONSET_ENV, ONSET_PEAK
from model.skeleton import NUM_JOINTS

ENERGY_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "energy.pt"
# Music channels the envelope reads: loudness, timbre and drum hits, not the beat grid or the key.
ENERGY_CHANNELS = [ONSET_ENV, *range(MFCC.start, MFCC.stop), ONSET_PEAK]
SPEED_SIGMA = 10.0   # frames: the smoothing of joint speed, for the target and the measurement alike
SPEED_FLOOR = 0.05   # m/s added before the log, so a still dancer does not dominate the loss
REFERENCE_SIGMA = 8.0  # frames: the slow pose that quick motion is scaled about (cuts off below ~1 Hz)
MIN_GAIN, MAX_GAIN = 0.5, 2.0
GAIN_SIGMA = 10.0    # frames: the gain curve is smoothed like the speeds it compares
RAMP = 12            # frames over which the gain fades in after known frames
# What the engine uses (chosen by the long-form section of `liveedit eval`, docs/MODEL.md): open
# loop about REFERENCE_SPEED, and no stretch left below FLOOR of the expected speed.
REFERENCE_SPEED = 0.75  # m/s; the envelope expects 0.66 on average over the corpus's training songs
FLOOR = 0.6


@dataclass(frozen=True)
class EnergyConfig:
    width: int = 32
    kernel: int = 5
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)   # receptive field about 4 s


class EnergyEnvelope(nn.Module):
    """Music features (B, T, 35) -> (B, T) log of the expected smoothed joint speed (m/s)."""

    def __init__(self, cfg: EnergyConfig = EnergyConfig()):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Conv1d(len(ENERGY_CHANNELS), cfg.width, 1)
        self.blocks = nn.ModuleList([nn.Conv1d(cfg.width, cfg.width, cfg.kernel, padding=(cfg.kernel // 2) * d,
                                               dilation=d) for d in cfg.dilations])
        self.out = nn.Conv1d(cfg.width, 1, 1)

    def forward(self, music: torch.Tensor) -> torch.Tensor:
        h = self.inp(music[..., ENERGY_CHANNELS].transpose(1, 2))   # (B, W, T)
        for block in self.blocks:
            h = h + torch.relu(block(h))
        return self.out(h)[:, 0]                                      # (B, T)

    @torch.no_grad()
    def speed(self, music: np.ndarray) -> np.ndarray:
        """(T, 35) music features -> (T,) expected smoothed joint speed in m/s."""
        x = torch.as_tensor(np.asarray(music, dtype=np.float32))[None]
        return np.maximum(np.exp(self(x)[0].numpy().astype(np.float64)) - SPEED_FLOOR, 0.0)

    def save(self, path: str | Path, **meta) -> None:
        """Float16 weights and a plain config dict: no pickled objects."""
        state = {k: v.half() for k, v in self.state_dict().items()}
        torch.save({"config": asdict(self.cfg), "state": state, "meta": meta}, path)

    @classmethod
    def load(cls, path: str | Path = ENERGY_CHECKPOINT) -> "EnergyEnvelope":
        blob = torch.load(path, map_location="cpu", weights_only=True)
        cfg = dict(blob["config"])
        cfg["dilations"] = tuple(cfg["dilations"])
        net = cls(EnergyConfig(**cfg))
        net.load_state_dict({k: v.float() for k, v in blob["state"].items()})
        return net.eval()


def speed_target(speed: np.ndarray) -> np.ndarray:
    """(T,) per-frame joint speed in m/s -> the envelope's training target, log of the smoothed speed."""
    return np.log(gaussian_filter1d(np.asarray(speed, np.float64), SPEED_SIGMA) + SPEED_FLOOR)


def joint_speed(joints: np.ndarray) -> np.ndarray:
    """(T, 24, 3) joint positions -> (T,) mean joint speed in m/s (the last frame repeats)."""
    v = np.linalg.norm(np.diff(np.asarray(joints, np.float64), axis=0), axis=-1).mean(axis=1) * FPS
    return np.concatenate([v, v[-1:]]) if len(v) else np.zeros(len(joints))


def smoothed_speed(motion: np.ndarray) -> np.ndarray:
    """(T, 151) motion -> (T,) mean joint speed in m/s, smoothed over SPEED_SIGMA frames."""
    return gaussian_filter1d(joint_speed(joints_from_motion(motion).numpy()), SPEED_SIGMA)


def scale_quick_motion(motion: np.ndarray, gain: np.ndarray, reference_sigma: float = REFERENCE_SIGMA) -> np.ndarray:
    """Scale (T, 151) motion about its low-passed self by a per-frame (T,) gain: each joint rotation
    R becomes R_ref · exp(g · log(R_refᵀ R)), the root p becomes p_ref + g · (p − p_ref). Contacts
    are left as they are. -> (T, 151)"""
    motion = np.asarray(motion, dtype=np.float32)
    T = motion.shape[0]
    g = np.asarray(gain, dtype=np.float64)
    r6 = motion[:, ROT6D].reshape(T, NUM_JOINTS, 6).astype(np.float64)
    rotm = rot.np_rot6d_to_matrix(r6)                                                    # (T, 24, 3, 3)
    ref = rot.np_rot6d_to_matrix(gaussian_filter1d(r6, reference_sigma, axis=0, mode="nearest"))
    rel = np.einsum("tjba,tjbc->tjac", ref, rotm)                                        # R_refᵀ R
    aa = rot.np_matrix_to_axis_angle(rel) * g[:, None, None]                             # (T, 24, 3)
    out = motion.copy()
    out[:, ROT6D] = rot.np_matrix_to_rot6d(ref @ rot.np_axis_angle_to_matrix(aa)).reshape(T, -1)
    root = motion[:, ROOT].astype(np.float64)
    root_ref = gaussian_filter1d(root, reference_sigma, axis=0, mode="nearest")
    out[:, ROOT] = root_ref + g[:, None] * (root - root_ref)
    return out


def fade_in_weight(known: np.ndarray, ramp: int = RAMP) -> np.ndarray:
    """(T,) bool known mask -> (T,) weight: 0 on known frames, rising smoothly to 1 over `ramp`
    frames away from the nearest known frame."""
    T = len(known)
    if not known.any():
        return np.ones(T)
    idx = np.flatnonzero(known)
    dist = np.abs(np.arange(T)[:, None] - idx[None, :]).min(axis=1)                      # frames to a known frame
    x = np.clip(dist / max(ramp, 1), 0.0, 1.0)
    return x * x * (3 - 2 * x)                                                           # smoothstep


def expected_speed(envelope: EnergyEnvelope, music: np.ndarray) -> np.ndarray:
    """(T, 35) music features -> (T,) the smoothed speed in m/s that `follow_energy` aims at."""
    return np.maximum(gaussian_filter1d(envelope.speed(music), SPEED_SIGMA), 1e-3)


def follow_energy(motion: np.ndarray, music: np.ndarray, envelope: EnergyEnvelope,
                  known_mask: np.ndarray | None = None, strength: float = 1.0, reference: float | None = None,
                  floor: float = 0.0, min_gain: float = MIN_GAIN, max_gain: float = MAX_GAIN) -> np.ndarray:
    """Make a window's (T, 151) motion follow the energy the envelope hears in its (T, 35) music.

    reference None (closed loop): bring the window to the speed the envelope expects.
    reference a speed in m/s (open loop): scale the window's own speed by expected / reference, so
    the network's own liveliness stays and the music only moves it up or down (louder, drums: more;
    a drumless breakdown or silence: less).
    strength: 0 leaves the motion as it is, 1 applies the whole change (within the gain limits).
    floor: in open loop, never leave a stretch slower than this fraction of the expected speed (a
    stalled window is lifted, a calm one is not calmed further).
    Scaling only the quick part of the motion moves the speed less than the gain, so a second pass
    corrects by what the first one missed. Known frames come back exactly. -> (T, 151)
    """
    motion = np.asarray(motion, dtype=np.float32)
    T = motion.shape[0]
    known = np.zeros(T, dtype=bool) if known_mask is None else np.asarray(known_mask, dtype=bool)
    if strength <= 0 or known.all():
        return motion
    expected = expected_speed(envelope, music)
    measured = np.maximum(smoothed_speed(motion), 1e-3)
    base = measured if reference is None else np.full(T, max(reference, 1e-3))
    weight = fade_in_weight(known)
    lo, hi = np.log(min_gain), np.log(max_gain)
    wanted = strength * np.log(expected / base)                                          # (T,) log change
    if reference is not None and floor > 0:
        wanted = np.maximum(wanted, np.log(floor * expected / measured))
    wanted = gaussian_filter1d(np.clip(wanted, lo, hi), GAIN_SIGMA)
    log_gain = wanted.copy()
    for second in (False, True):
        out = scale_quick_motion(motion, np.exp(weight * log_gain))
        if second:
            break
        achieved = np.log(np.maximum(smoothed_speed(out), 1e-3) / measured)
        log_gain = gaussian_filter1d(np.clip(log_gain + wanted - achieved, lo, hi), GAIN_SIGMA)
    out[known] = motion[known]
    return out


# ============================================================================ live: late binding
# Live, a window is generated ahead of the playhead, and its music past what has been heard is the
# last bar heard, repeated: `follow_energy` hears a breakdown a bar or more late, and the frames
# generated before it was heard never hear it. So, live, each frame's energy is corrected again when
# it is played, by what the music heard by then says: the gain becomes expected now / expected when
# the frame was generated (the network's own motion, and what the next window continues from, are
# untouched: the correction is a smooth gain on the stream that is played).
HEARD_HISTORY = 180   # frames of heard music the envelope reads (its receptive field is ~125)
LOOKAHEAD = 90        # frames of continuation after the heard ones, so its right half is not zeros
LATE_EVERY = 3        # frames between two estimates of the energy heard (the engine: on new audio)
LATE_SMOOTH = 6.0     # frames: time constant of the causal smoothing of the correction


def continue_last_beat(heard: np.ndarray, period: float | None, n: int) -> np.ndarray:
    """(T, 35) heard features -> (n, 35) that continue them by repeating the last beat heard (the
    last frame where less than a beat was heard). For the envelope only: a beat is the shortest span
    that still carries the drums' pattern, so a change of section is heard within a beat (repeating
    the last bar, as the generation's extrapolation does, keeps the old section for a bar)."""
    heard = np.asarray(heard, np.float32)
    p = int(round(period)) if period is not None and np.isfinite(period) else 0
    if len(heard) == 0:
        return np.zeros((n, heard.shape[-1]), np.float32)
    if p < 1 or p > len(heard):
        return np.repeat(heard[-1:], n, axis=0)
    return heard[len(heard) - p + np.arange(n) % p]


def heard_speed(envelope: EnergyEnvelope, heard: np.ndarray, period: float | None) -> float:
    """The speed in m/s the envelope expects at the last heard frame, from the heard (T, 35)
    features (their last HEARD_HISTORY frames are read) and the beat period in frames."""
    h = np.asarray(heard, np.float32)[-HEARD_HISTORY:]
    if len(h) == 0:
        return float("nan")
    music = np.concatenate([h, continue_last_beat(h, period, LOOKAHEAD)])        # (T_h + LOOKAHEAD, 35)
    return float(expected_speed(envelope, music)[len(h) - 1])


class LateEnergy:
    """Per played frame, the gain that corrects a frame's energy from what was heard when its window
    was generated (`then`, the window's `expected_speed`) to what has been heard by now (`hear`).

    The gain is clipped to MIN_GAIN..MAX_GAIN and follows its target through a one-pole smoother of
    LATE_SMOOTH frames, so it never jumps (frames stay continuous, seams too)."""

    def __init__(self, envelope: EnergyEnvelope):
        self.envelope = envelope
        self.now: float | None = None       # expected speed at the last heard frame (m/s)
        self._log_gain = 0.0

    def hear(self, heard: np.ndarray, period: float | None) -> None:
        """Heard (T, 35) features up to now, beat period in frames (None: unknown)."""
        speed = heard_speed(self.envelope, heard, period)
        self.now = speed if np.isfinite(speed) else None

    def gain(self, then: float | None, active: bool = True) -> float:
        """The next played frame's gain; `then` its expected speed when generated (None: unknown),
        active False (e.g. during an edit) brings the gain back to 1."""
        target = 0.0
        if active and then is not None and self.now is not None and np.isfinite(then):
            target = float(np.clip(np.log(max(self.now, 1e-3) / max(then, 1e-3)), np.log(MIN_GAIN), np.log(MAX_GAIN)))
        self._log_gain += (target - self._log_gain) / LATE_SMOOTH
        return float(np.exp(self._log_gain))


def scale_frame(frames: np.ndarray, centre: int, gain: float) -> np.ndarray:
    """The frame at `centre` of (T, 151) motion around it (at least 3 x REFERENCE_SIGMA frames either
    side where there are) with its quick motion scaled by `gain`, as `scale_quick_motion` does. -> (151,)"""
    frames = np.asarray(frames, np.float32)
    return scale_quick_motion(frames, np.full(len(frames), gain))[centre]


__all__ = ["EnergyEnvelope", "EnergyConfig", "ENERGY_CHECKPOINT", "ENERGY_CHANNELS", "speed_target",
           "joint_speed", "smoothed_speed", "scale_quick_motion", "fade_in_weight", "follow_energy",
           "expected_speed", "continue_last_beat", "heard_speed", "LateEnergy", "scale_frame",
           "HEARD_HISTORY", "LATE_EVERY", "LATE_SMOOTH"]
