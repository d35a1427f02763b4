"""Committed frames at 30 fps and the playhead (numpy only).

Frames are addressed by absolute frame index (frame 0 = stream start). The timeline keeps a ring of
the last `capacity` frames. Frames before `playhead + margin` are frozen: they are being (or have
been) sent. Later frames may be replaced by a newer window; the replacement is cross-faded over a
few frames so the stream never jumps at a seam. If no committed frame is there when the playhead
needs one (every window late), the last frame is held and committed, so the stream never waits and
the next window continues from what was actually shown.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class FrameRing:
    """Fixed-capacity store of per-frame vectors addressed by absolute frame index."""

    def __init__(self, dim: int, capacity: int):
        self.dim, self.capacity = dim, capacity
        self._data = np.zeros((capacity, dim), dtype=np.float32)
        self.end = 0  # one past the newest stored index
        self.start = 0  # oldest stored index

    def write(self, index: int, frames: np.ndarray) -> None:
        """Store frames (n, dim) at indices index..index+n-1 (index <= end: no gaps)."""
        frames = np.asarray(frames, dtype=np.float32).reshape(-1, self.dim)
        if index > self.end:
            raise ValueError(f"frame {index} would leave a gap after frame {self.end - 1}")
        if index < self.start:
            frames = frames[self.start - index:]
            index = self.start
        n = frames.shape[0]
        if n == 0:
            return
        if n > self.capacity:
            frames, index, n = frames[-self.capacity:], index + n - self.capacity, self.capacity
        idx = np.arange(index, index + n) % self.capacity
        self._data[idx] = frames
        self.end = max(self.end, index + n)
        self.start = max(self.start, self.end - self.capacity)

    def truncate(self, end: int) -> None:
        """Forget frames at indices >= end."""
        self.end = max(self.start, min(self.end, end))

    def read(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, dim) frames; every index must be stored."""
        if start < self.start or stop > self.end or stop < start:
            raise IndexError(f"frames [{start}, {stop}) not stored (have [{self.start}, {self.end}))")
        return self._data[np.arange(start, stop) % self.capacity].copy()

    def __contains__(self, index: int) -> bool:
        return self.start <= index < self.end


@dataclass(frozen=True)
class CommitInfo:
    first: int        # first frame index written
    end: int          # one past the last
    crossfaded: int   # frames blended with the frames they replaced
    dropped: int      # leading frames of the window not written (already played or frozen)


class Timeline:
    def __init__(self, dim: int, rest_frame: np.ndarray, capacity: int = 900, margin: int = 3,
                 crossfade: int = 8):
        self.frames = FrameRing(dim, capacity)
        self.rest_frame = np.asarray(rest_frame, dtype=np.float32).reshape(dim)
        self.margin = margin          # frames ahead of the playhead that are frozen
        self.crossfade = crossfade
        self.playhead = 0             # index of the next frame to play
        self.underruns = 0            # frames played by holding (no window had arrived)

    @property
    def committed_end(self) -> int:
        return self.frames.end

    @property
    def ahead(self) -> int:
        """Committed frames not yet played."""
        return max(0, self.frames.end - self.playhead)

    @property
    def commit_floor(self) -> int:
        """The first index a new window may write."""
        return self.playhead + self.margin

    def commit(self, start: int, window: np.ndarray) -> CommitInfo:
        """Write a window whose frame i belongs at index start + i.

        Frames before the commit floor are skipped. Where committed frames are replaced, the first
        `crossfade` replaced frames are blended from old to new. A window that starts after the end
        of the committed frames is refused (it would leave a hole).
        """
        window = np.asarray(window, dtype=np.float32)
        first = max(start, self.commit_floor)
        if first > self.frames.end:
            if start > self.frames.end:
                raise ValueError(f"window starts at frame {start}, after the last committed frame {self.frames.end - 1}")
            first = self.frames.end  # the playhead is past the committed end (held frames)
        end = start + window.shape[0]
        if first >= end:
            return CommitInfo(first, first, 0, window.shape[0])
        new = window[first - start:].copy()
        # Fade from what would have played: the committed frames being replaced, continued by the
        # last committed frame where there are none (e.g. after held frames at the start).
        n_fade = min(self.crossfade, new.shape[0]) if self.frames.end > self.frames.start else 0
        if n_fade > 0:
            n_old = max(0, min(self.frames.end, first + n_fade) - first)
            old = self.frames.read(first, first + n_old)
            if n_old < n_fade:
                last = self.frames.read(self.frames.end - 1, self.frames.end)
                old = np.concatenate([old, np.repeat(last, n_fade - n_old, axis=0)])
            w = (np.arange(1, n_fade + 1, dtype=np.float32) / (n_fade + 1))[:, None]
            new[:n_fade] = (1 - w) * old + w * new[:n_fade]
        self.frames.truncate(first)
        self.frames.write(first, new)
        return CommitInfo(first, end, n_fade, first - start)

    def play(self) -> tuple[int, np.ndarray, bool]:
        """Advance one frame: -> (index, frame, held). held = no committed frame was there, so the
        previous frame (or the rest pose) is repeated and committed in its place."""
        i = self.playhead
        held = i >= self.frames.end
        if held:
            frame = self.frames.read(self.frames.end - 1, self.frames.end)[0] if self.frames.end > self.frames.start else self.rest_frame
            # Fill any gap (the playhead can only be past the end by held frames) and commit it.
            while self.frames.end <= i:
                self.frames.write(self.frames.end, frame[None])
            self.underruns += 1
        else:
            frame = self.frames.read(i, i + 1)[0]
        self.playhead += 1
        return i, frame, held

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.frames.read(start, stop)
