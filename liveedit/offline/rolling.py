"""Continuation over a whole song: the live engine's rolling windows, run as fast as the CPU allows.

The same plan as `liveedit serve` (liveedit.core.scheduler / continuation), with the playhead
replaced by a cursor that jumps ahead instead of waiting for the music:

  * a window is 150 frames; its first `context` frames (16, the engine's default) are motion
    already there (known frames, with a mask); the others are new and are committed through the
    engine's `Timeline`, replacing what the previous window had predicted for them with the same
    short cross-fade as live;
  * the known/new boundary then moves on by a hop (45 frames = 1.5 s), taken on the next beat as
    the engine does (or after 1.5 hops when no beat comes), and the next window continues from there.

So every frame ends up coming from a window that saw the motion just before it as fixed: the dance
has no seams. Offline the music for every frame of the song is real (live, unheard frames are
extrapolated); past the song's end it is extrapolated with the engine's own `extrapolate_music`
(repeat the last bar, beats from the grid), and those frames are cut off afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from tqdm import tqdm

from liveedit.core.beats import GridState
from liveedit.core.continuation import MUSIC_HISTORY, WINDOW, extrapolate_music, music_window, window_plan
from liveedit.core.scheduler import SchedulerConfig
from liveedit.core.timeline import Timeline

HOP = SchedulerConfig.hop          # frames between windows (45: 1.5 s at 30 fps)
CONTEXT = SchedulerConfig.context  # known frames at the start of a window
LIVE_HISTORY = MUSIC_HISTORY   # heard music before a window that its extrapolation draws on


@dataclass(frozen=True)
class Step:
    """One model call: window [start, start + window); frames before `cursor` are known."""

    start: int
    cursor: int
    end: int

    @property
    def known(self) -> int:
        return self.cursor - self.start


def plan(first: int, stop: int, beat_frames: np.ndarray | None = None, window: int = WINDOW,
         hop: int = HOP, context: int = CONTEXT) -> list[Step]:
    """Windows that make frames [first, stop); frames before `first` are there already (known).

    Each window keeps min(context, cursor) known frames; the cursor then advances by `hop`, moved to
    the next beat frame at or after it when one comes within half a hop. The last window is the
    first that reaches `stop`; windows may run past `stop` (pad the buffers to `plan[-1].end`).
    """
    if not 0 < hop <= window - context:
        raise ValueError(f"hop must be in 1..{window - context} frames (window {window}, context {context}), got {hop}")
    beats = np.sort(np.asarray(beat_frames if beat_frames is not None else [], np.int64))
    steps: list[Step] = []
    cursor = first
    while True:
        start, n_known = window_plan(cursor, cursor, 0, context, window)
        steps.append(Step(start, start + n_known, start + window))
        if start + window >= stop:
            return steps
        nxt = cursor + hop
        on_beat = beats[(beats >= nxt) & (beats <= nxt + hop // 2)]
        cursor = int(on_beat[0]) if len(on_beat) else nxt


# (window start, music (W, 35), motion buffer slice (W, 151), known mask (W,)) -> (W, 151)
WindowFn = Callable[[int, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def run(fn: WindowFn, music: np.ndarray, buffer: np.ndarray, steps: list[Step], prefilled: int = 0,
        desc: str = "windows", progress: bool = True) -> np.ndarray:
    """Run the planned windows and commit each one as the live engine does; returns `buffer`.

    music: (N, 35), buffer: (N, 151) with N >= steps[-1].end; buffer[:prefilled] holds motion
    already there (at least the frames before steps[0].cursor). Each window is committed through
    the engine's own `Timeline` with the playhead at the window's cursor: its new frames replace
    what an earlier window (or, when editing, the dance being edited) had there, cross-faded over
    the first few frames exactly as in `liveedit serve`. Frames past the last window's end keep
    their old values.
    """
    n, dim = buffer.shape
    timeline = Timeline(dim, rest_frame=buffer[0], capacity=n, margin=0)
    if prefilled:
        timeline.frames.write(0, buffer[:prefilled])
    for st in tqdm(steps, desc=desc, unit="win", disable=not progress, leave=False):
        window = st.end - st.start
        mask = np.zeros(window, dtype=bool)
        mask[: st.known] = True
        known = timeline.read(st.start, st.cursor) if st.known else np.zeros((0, dim), np.float32)
        known_full = np.zeros((window, dim), np.float32)
        known_full[: st.known] = known
        out = fn(st.start, music[st.start:st.end], known_full, mask)
        if out.shape != (window, dim):
            raise RuntimeError(f"model returned {out.shape}, expected ({window}, {dim})")
        timeline.playhead = st.cursor  # frames before the cursor are played (frozen), as live
        timeline.commit(st.start, out)
    end = timeline.committed_end
    buffer[:end] = timeline.read(0, end)
    return buffer


def beat_frames(beat_times: np.ndarray, fps: int) -> np.ndarray:
    return np.round(np.asarray(beat_times, np.float64) * fps).astype(np.int64)


def extend_music(music: np.ndarray, total: int, beat_times: np.ndarray, fps: int) -> np.ndarray:
    """Music features (T, 35) continued to `total` frames the way the live engine extrapolates
    unheard music: repeat the last bar, beats from the grid the song's beats imply."""
    T = len(music)
    if total <= T:
        return music[:total]
    beats = np.asarray(beat_times, np.float64)
    grid = GridState.from_beats(beats[beats * fps < T])
    ext = extrapolate_music(music, grid, total - T, first_frame=0, fps=fps)
    return np.concatenate([music, ext.astype(music.dtype)], axis=0)


def live_music(music: np.ndarray, beat_times: np.ndarray, heard_end: int, start: int, window: int,
               fps: int) -> np.ndarray:
    """Features (window, 35) for frames [start, start + window) as the live engine has them when the
    audio is heard up to frame `heard_end`: real before it, extrapolated after it (repeat the last bar,
    beats from the grid of the beats heard so far; `continuation.music_window`)."""
    heard_end = int(np.clip(heard_end, 0, len(music)))
    first = max(0, min(start, heard_end) - LIVE_HISTORY)   # the engine keeps a few bars of history
    beats = np.asarray(beat_times, np.float64)
    grid = GridState.from_beats(beats[beats * fps < heard_end])
    out, _ = music_window(music[first:heard_end], first, grid, start, window, fps)
    return out


def pad_frames(x: np.ndarray, total: int) -> np.ndarray:
    """Repeat the last frame to reach `total` frames."""
    if len(x) >= total:
        return x
    return np.concatenate([x, np.repeat(x[-1:], total - len(x), axis=0)], axis=0)
