"""When to ask for which window (stdlib + numpy; time passed in as frame indices and beats).

Rules, checked every time the engine polls (e.g. each output frame):
  * "edit":  the edit stack changed since the last request -> ask now (even while a window is
             being computed: the worker keeps only the latest request).
  * "start": nothing was ever requested.
  * "low":   the committed frames ahead of the playhead are about to run out (fewer than the
             expected compute time + margin + one hop).
  * "hop":   a hop (default 30 frames, 1 s) has passed since the last request, taken on the next
             beat boundary so windows line up with the music (or after 1.5 hops with no beat).
A window is not requested while another one is in flight, except for edits.

The scheduler also keeps running estimates of the window compute time, one for routine windows and
one for edit windows (cheaper: they reuse the committed prediction); they set how far ahead of the
playhead the known frames end (`lead`), i.e. where the result will be committed, and so the edit
latency.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from liveedit.core.continuation import FPS, WINDOW, window_plan


@dataclass
class SchedulerConfig:
    window: int = WINDOW
    # Known frames at the start of a window, and frames between routine windows. Decided on whole
    # held-out songs (`liveedit eval`, docs/MODEL.md): with 60 known frames (2 s) the model, fed its
    # own output, settles into swaying (speed 0.55 of the data's, FID_k 115); with 16 known frames
    # and a 1.5 s hop the dance keeps its energy (1.21), FID_k 66, seams as smooth as the data's.
    hop: int = 45            # frames between routine windows (1.5 s)
    context: int = 16        # known frames at the start of a window (0.53 s)
    margin: int = 3          # frames of safety between the playhead and the commit point
    beat_aligned: bool = True
    initial_latency_s: float = 0.5   # compute-time guess before the first window is measured
    fps: float = FPS


class Scheduler:
    def __init__(self, config: SchedulerConfig | None = None):
        self.cfg = config or SchedulerConfig()
        self.latency_s = self.cfg.initial_latency_s
        self.edit_latency_s = self.cfg.initial_latency_s
        self._last_frame: int | None = None
        self._last_version: int = 0
        self._last_beat = -math.inf
        self._polled_beat = -math.inf
        self.requests = 0

    @property
    def lead(self) -> int:
        """Frames ahead of the playhead where a routine window requested now will be committed."""
        return self.lead_for("hop")

    def lead_for(self, reason: str) -> int:
        lat = self.edit_latency_s if reason == "edit" else self.latency_s
        return int(math.ceil(lat * self.cfg.fps)) + self.cfg.margin

    def note_compute(self, seconds: float, reason: str = "hop") -> None:
        """Record a window's compute time (the estimate follows rises quickly, falls slowly)."""
        cur = self.edit_latency_s if reason == "edit" else self.latency_s
        a = 0.5 if seconds > cur else 0.1
        new = (1 - a) * cur + a * seconds
        if reason == "edit":
            self.edit_latency_s = new
        else:
            self.latency_s = new

    def due(self, playhead: int, committed_end: int, edits_version: int, beat: float, in_flight: bool) -> str | None:
        """The reason a window should be requested now, or None."""
        crossed_beat = math.isfinite(self._polled_beat) and math.floor(beat) > math.floor(self._polled_beat)
        self._polled_beat = beat
        if self._last_frame is None:
            return "start"
        if edits_version != self._last_version:
            return "edit"
        if in_flight:
            return None
        ahead = committed_end - playhead
        if ahead < self.lead + self.cfg.hop:
            return "low"
        since = playhead - self._last_frame
        if since >= self.cfg.hop:
            if not self.cfg.beat_aligned or crossed_beat or since >= 1.5 * self.cfg.hop:
                return "hop"
        return None

    def plan(self, playhead: int, committed_end: int, reason: str = "hop") -> tuple[int, int]:
        """-> (window start frame, number of known frames)."""
        return window_plan(playhead, committed_end, self.lead_for(reason), self.cfg.context, self.cfg.window)

    def mark_requested(self, playhead: int, edits_version: int, beat: float) -> None:
        self._last_frame = playhead
        self._last_version = edits_version
        self._last_beat = beat
        self.requests += 1
