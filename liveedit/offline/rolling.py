"""Continuation over a whole song: the live engine's rolling windows, run as fast as the CPU allows.

Each step asks the model for a 150-frame window whose first frames are motion already committed
(known frames, passed with a mask) and whose last frames are new; the new frames are committed and
the next window starts `hop` frames later. So consecutive windows share `window - hop` frames and
the dance has no seams. Offline the music for every frame is real (the live engine extrapolates the
frames not yet heard); past the end of the song it is extrapolated the same way the engine does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from tqdm import tqdm

WINDOW = 150
HOP = 30  # 1 s at 30 fps: the live engine's default hop


@dataclass(frozen=True)
class Step:
    """One model call: window [start, start + window); frames before `cursor` are known."""

    start: int
    cursor: int
    end: int

    @property
    def known(self) -> int:
        return self.cursor - self.start


def plan(first: int, stop: int, total: int, window: int = WINDOW, hop: int = HOP) -> list[Step]:
    """Windows that fill frames [first, stop) of a buffer of `total` frames (total >= window).

    Frames before `first` are already there and serve as known frames. Each window keeps at most
    `window - hop` known frames and commits the rest; near the end of the buffer the window slides
    back so that it still fits (more known frames, fewer new ones).
    """
    if total < window:
        raise ValueError(f"buffer of {total} frames is shorter than a window ({window}); pad it first")
    if not 0 < hop <= window:
        raise ValueError(f"hop must be in 1..{window}, got {hop}")
    steps: list[Step] = []
    cursor = first
    while cursor < stop:
        start = max(0, cursor - (window - hop))
        start = min(start, total - window)
        steps.append(Step(start, cursor, start + window))
        cursor = start + window
    return steps


# (window start, music (W, 35), motion buffer slice (W, 151), known mask (W,)) -> (W, 151)
WindowFn = Callable[[int, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def run(fn: WindowFn, music: np.ndarray, buffer: np.ndarray, first: int, stop: int,
        window: int = WINDOW, hop: int = HOP, desc: str = "windows", progress: bool = True) -> np.ndarray:
    """Fill buffer[first:stop] (and up to the last window's end) by continuation; returns `buffer`.

    music: (N, 35), buffer: (N, 151), N >= window. buffer[:first] must already hold motion.
    """
    steps = plan(first, stop, len(buffer), window, hop)
    for st in tqdm(steps, desc=desc, unit="win", disable=not progress, leave=False):
        mask = np.zeros(window, dtype=bool)
        mask[: st.known] = True
        out = fn(st.start, music[st.start:st.end], buffer[st.start:st.end].copy(), mask)
        if out.shape != (window, buffer.shape[1]):
            raise RuntimeError(f"model returned {out.shape}, expected ({window}, {buffer.shape[1]})")
        buffer[st.cursor:st.end] = out[st.known:]
    return buffer


def extend_music(music: np.ndarray, total: int, beat_times: np.ndarray, fps: int) -> np.ndarray:
    """Music features (T, D) continued to `total` frames by repeating the last bar (4 beats).

    The live engine extrapolates unheard music from its beat grid the same way; with no usable beats
    the last 2 s are repeated.
    """
    T = len(music)
    if total <= T:
        return music[:total]
    beats = np.asarray(beat_times, np.float64)
    beats = beats[beats * fps < T]
    period = float(np.median(np.diff(beats))) if len(beats) >= 2 else 0.0
    bar = int(round(4 * period * fps)) if period > 0 else 2 * fps
    bar = max(1, min(bar, T))
    tail = music[T - bar:]
    reps = int(np.ceil((total - T) / bar))
    return np.concatenate([music, np.tile(tail, (reps, 1))[: total - T]], axis=0)
