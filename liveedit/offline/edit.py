"""One editing iteration on a dance file: `liveedit edit dance.npz "swing arms wider" -o out.npz`.

As in the paper's iterative editing, the initial prediction (history iteration 0) stays the
reference (`initial`) and the current dance (the last iteration) is what gets edited (`current`).
The edit runs window by window by continuation, like generation, from the start of the span to its
end; each window's known frames are the frames before it (unedited before the span, freshly edited
inside it). Outside [start, end] the result is the current dance bit for bit; inside, the edited
dance is cross-faded in and out over `blend` seconds at the span's edges so there is no jump.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from liveedit.offline import rolling
from liveedit.offline.dancefile import Dance
from liveedit.offline.errors import OfflineError
from model import rotations as rot
from model.skeleton import NUM_JOINTS

DEFAULT_BLEND = 0.5  # seconds of cross-fade at each edge of the span


def check_prompt(prompt: str | None) -> str:
    text = " ".join((prompt or "").split())
    if not text:
        raise OfflineError("the edit prompt is empty; say what to change, e.g. \"swing arms wider\"")
    return text


def check_options(strength: float, steps: int, blend: float) -> None:
    if not np.isfinite(strength) or strength < 0:
        raise OfflineError(f"--strength must be a number >= 0, got {strength}")
    if steps < 1:
        raise OfflineError(f"--steps must be at least 1, got {steps}")
    if not np.isfinite(blend) or blend < 0:
        raise OfflineError(f"--blend must be >= 0 seconds, got {blend}")


def span_frames(dance: Dance, start: float | None, end: float | None) -> tuple[int, int, float, float]:
    """Validate an edit span in seconds; return frames [a, b) and the span in seconds."""
    dur = dance.duration
    s = 0.0 if start is None else float(start)
    e = dur if end is None else float(end)
    if not (np.isfinite(s) and np.isfinite(e)):
        raise OfflineError(f"edit span {s}..{e} s is not a pair of finite numbers")
    eps = 0.5 / dance.fps
    if s < 0 or e > dur + eps or s >= e:
        raise OfflineError(f"edit span {s:g}..{e:g} s is out of range: the dance lasts {dur:.2f} s, "
                           "so use 0 <= --start < --end <= duration")
    a, b = int(round(s * dance.fps)), min(int(round(e * dance.fps)), dance.num_frames)
    if b - a < 2:
        raise OfflineError(f"edit span {s:g}..{e:g} s is shorter than two frames")
    return a, b, s, min(e, dur)


def span_weights(T: int, a: int, b: int, blend_frames: int) -> np.ndarray:
    """(T,) weight of the edited dance: 0 outside [a, b), smooth ramps of `blend_frames` inside."""
    w = np.zeros(T, np.float64)
    w[a:b] = 1.0
    n = min(blend_frames, (b - a) // 2)
    if n > 0:
        x = (np.arange(n) + 1) / (n + 1)
        ramp = x * x * (3 - 2 * x)  # smoothstep: zero slope at both ends
        w[a:a + n] = ramp
        w[b - n:b] = ramp[::-1]
    return w


def blend_motion(base: np.ndarray, other: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-frame blend of two (T, 151) motions with weights w (T,) of `other`.

    w == 0 gives `base` exactly, w == 1 `other` exactly. In between: root lerp, rotations by
    normalised quaternion lerp (shortest arc), contacts from whichever weighs more.
    """
    out = base.copy()
    full = w >= 1.0
    out[full] = other[full]
    mid = (w > 0) & (w < 1)
    if mid.any():
        wm = w[mid][:, None]
        out[mid, 4:7] = (1 - wm) * base[mid, 4:7] + wm * other[mid, 4:7]
        out[mid, 0:4] = np.where(wm >= 0.5, other[mid, 0:4], base[mid, 0:4])
        r6 = lambda m: torch.as_tensor(m[:, 7:].reshape(-1, NUM_JOINTS, 6), dtype=torch.float64)  # noqa: E731
        qa = rot.rot6d_to_quaternion(r6(base[mid]))   # (n, 24, 4)
        qb = rot.rot6d_to_quaternion(r6(other[mid]))
        sign = torch.sign((qa * qb).sum(-1, keepdim=True))
        sign[sign == 0] = 1.0
        wt = torch.as_tensor(wm, dtype=torch.float64)[:, :, None]  # (n, 1, 1)
        q = (1 - wt) * qa + wt * sign * qb
        q = q / q.norm(dim=-1, keepdim=True)
        out[mid, 7:] = rot.matrix_to_rot6d(rot.quaternion_to_matrix(q)).reshape(-1, NUM_JOINTS * 6).numpy()
    return out


def edit_motion(model: Any, music: np.ndarray, beat_times: np.ndarray, initial: np.ndarray,
                current: np.ndarray, prompt: str, a: int, b: int, *, strength: float = 2.0,
                steps: int = 10, seed: int | None = 0, hop: int = rolling.HOP,
                context: int = rolling.CONTEXT, blend_frames: int = 15, fps: int = 30,
                progress: bool = True) -> np.ndarray:
    """Edit frames [a, b) of `current` (T, 151) with `prompt`; frames outside are returned unchanged."""
    window = int(getattr(model, "window", rolling.WINDOW))
    T = len(current)
    plan = rolling.plan(a, b, rolling.beat_frames(beat_times, fps), window=window, hop=hop, context=context)
    total = max(T, plan[-1].end)
    music_ext = rolling.extend_music(music, total, beat_times, fps)
    init_ext = rolling.pad_frames(np.asarray(initial, np.float32), total)
    cur_ext = rolling.pad_frames(np.asarray(current, np.float32), total)
    edited = cur_ext.copy()  # frames before `a` stay as they are and are the first window's known frames

    def step(start: int, mus: np.ndarray, known: np.ndarray, mask: np.ndarray) -> np.ndarray:
        win_seed = None if seed is None else (seed * 100003 + start) % 2**31
        end = start + window
        return np.asarray(model.edit(mus, init_ext[start:end], cur_ext[start:end], prompt,
                                     known=known if mask.any() else None,
                                     known_mask=mask if mask.any() else None, steps=steps,
                                     text_guidance=strength, seed=win_seed), np.float32)

    rolling.run(step, music_ext, edited, plan, prefilled=total, desc="edit", progress=progress)
    return blend_motion(np.asarray(current, np.float32), edited[:T], span_weights(T, a, b, blend_frames))


def edit_dance(dance: Dance, model: Any, prompt: str, *, start: float | None = None,
               end: float | None = None, strength: float = 2.0, steps: int = 10, seed: int | None = 0,
               blend: float = DEFAULT_BLEND, hop: int = rolling.HOP, context: int = rolling.CONTEXT,
               progress: bool = True) -> Dance:
    """Run one editing iteration and append it to the dance's history (in place; returns `dance`)."""
    prompt = check_prompt(prompt)
    a, b, s, e = span_frames(dance, start, end)
    if getattr(model, "can_edit", True) is False:
        raise OfflineError(f"the model ({getattr(model, 'name', 'checkpoint')}) has no editing branch "
                           "(its second training stage did not run); use a checkpoint trained for editing")
    check_options(strength, steps, blend)
    result = edit_motion(model, dance.music_features, dance.beat_times, dance.initial, dance.current,
                         prompt, a, b, strength=strength, steps=steps, seed=seed, hop=hop, context=context,
                         blend_frames=int(round(blend * dance.fps)), fps=dance.fps, progress=progress)
    dance.append("edit", result, prompt=prompt, start=s, end=e, strength=float(strength), seed=seed, steps=steps)
    return dance
