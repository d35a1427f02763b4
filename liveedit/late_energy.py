"""The live dance's energy, bound late: each frame is corrected, as it is played, by the music heard
by then (model.dynamics.LateEnergy).

A window is generated ahead of the playhead and follows the energy of the music it was given, of
which the part past the playhead is the last bar heard, repeated: a drumless breakdown reached the
dance a bar or more after it was heard, and the frames generated before it never. This stage sits
between the engine's timeline and its outputs. It keeps, per committed frame, the speed its window
aimed at (`committed`), the speed the envelope expects from the music heard so far (`hear`, on the
audio analysis thread), and scales each played frame's quick motion by their ratio (`play`), with a
gain that moves smoothly (LATE_SMOOTH frames). The timeline is not touched: the next window
continues from the committed frames, as before; what is played is a smooth gain on them, so it
stays continuous across seams. Edited frames and held frames are not corrected (the gain returns
to 1): an edit's energy is what the user asked for.
"""
from __future__ import annotations

import math

import numpy as np

from liveedit.core.continuation import SHOWN
from liveedit.core.live import FrameOut
from liveedit.core.timeline import CommitInfo, FrameRing, Timeline

# Frames either side of a played frame read for the slow pose its quick motion is scaled about
# (3 x model.dynamics.REFERENCE_SIGMA).
REFERENCE_SPAN = 24


class LateEnergyStage:
    def __init__(self, envelope, timeline: Timeline, capacity: int = 900):
        from model.dynamics import HEARD_HISTORY, LATE_EVERY, LateEnergy  # noqa: PLC0415

        self.follower = LateEnergy(envelope)
        self.envelope = envelope
        self.timeline = timeline
        self.expected = FrameRing(1, capacity)   # per committed frame: the speed its window aimed at
        self.history = HEARD_HISTORY
        self.every = LATE_EVERY
        self.heard_at = 0                        # heard frames at the last estimate
        self.gain = 1.0                          # the last played frame's gain

    def expected_speed(self, music: np.ndarray) -> np.ndarray:
        """A window's (150, 35) music -> (150,) the speed its energy gain aimed at (on the worker thread)."""
        from model.dynamics import expected_speed  # noqa: PLC0415

        return expected_speed(self.envelope, music)

    def committed(self, info: CommitInfo | None, start: int, expected: np.ndarray | None) -> None:
        """A window starting at `start` was committed over frames [info.first, info.end)."""
        if info is None or info.end <= info.first:
            return
        ring = self.expected
        if info.first > ring.end:   # frames committed without a window (held): nothing to correct
            ring.write(ring.end, np.zeros((info.first - ring.end, 1), np.float32))
        values = np.zeros(info.end - info.first) if expected is None else \
            np.asarray(expected, np.float64)[info.first - start:info.end - start]
        ring.truncate(info.first)
        ring.write(info.first, values[:, None])

    def due(self, heard_end: int) -> bool:
        """Enough new music was heard for a new estimate."""
        return heard_end - self.heard_at >= self.every

    def hear(self, music: FrameRing, beat_period_s: float | None, fps: float) -> None:
        """Estimate the energy of the music heard so far (call off the frame clock)."""
        end = music.end
        a = max(music.start, end - self.history)
        if end <= a:
            return
        period = beat_period_s * fps if beat_period_s and math.isfinite(beat_period_s) else None
        self.follower.hear(music.read(a, end), period)
        self.heard_at = end

    def play(self, out: FrameOut) -> FrameOut:
        """The frame as it is to be played: `out` with its quick motion corrected."""
        i = out.index
        ring = self.expected
        then = float(ring.read(i, i + 1)[0, 0]) if ring.start <= i < ring.end else 0.0
        active = not out.held and not out.edits and then > 0
        self.gain = self.follower.gain(then if active else None, active)
        if abs(self.gain - 1.0) < 1e-3:
            return out
        from model.dynamics import scale_frame  # noqa: PLC0415

        tl = self.timeline
        a = max(tl.frames.start, i - REFERENCE_SPAN)
        b = min(tl.committed_end, i + REFERENCE_SPAN + 1)
        frames = tl.read(a, b)[:, SHOWN]                      # (b - a, 151) committed around frame i
        out.motion = scale_frame(frames, i - a, self.gain).astype(np.float32)
        return out
