"""When to ask for which window (stdlib + numpy; time passed in as frame indices and beats).

Rules, checked every time the engine polls (e.g. each output frame):
  * "edit":  the edit stack changed since the last request -> ask now (even while a window is
             being computed: the worker keeps only the latest request). The engine samples this
             window with few steps (a preview), so the edit is on screen within a beat.
  * "refine": an edit's preview was committed and the stack has not changed since -> the same
             edit state again with the full step count; its frames replace the preview's from a
             compute time after the playhead on (cross-faded), so the dance the edit leaves behind
             is sampled as carefully as any other.
  * "start": nothing was ever requested.
  * "low":   the committed frames ahead of the playhead are about to run out (fewer than the
             expected compute time + margin + one hop).
  * "hop":   a hop (default 30 frames, 1 s) has passed since the last request, taken on the next
             beat boundary so windows line up with the music (or after 1.5 hops with no beat).
A window is not requested while another one is in flight, except for edits.

The scheduler also keeps running estimates of the window compute time, one each for routine
windows, edit previews and refine windows (edit windows reuse the committed prediction); they set how
far ahead of the playhead the known frames end (`lead`), i.e. where the result will be committed, and
so the edit latency.
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


def _kind(reason: str) -> str:
    """Which compute-time estimate a request reason uses."""
    return reason if reason in ("edit", "refine") else "window"


class Scheduler:
    def __init__(self, config: SchedulerConfig | None = None):
        self.cfg = config or SchedulerConfig()
        self._latency = {k: self.cfg.initial_latency_s for k in ("window", "edit", "refine")}
        self._refine_version: int | None = None   # edit state whose preview is on screen
        self._measured: set[str] = set()          # kinds with a measured compute time
        self._last_frame: int | None = None
        self._last_version: int = 0
        self._last_beat = -math.inf
        self._polled_beat = -math.inf
        self.requests = 0

    @property
    def lead(self) -> int:
        """Frames ahead of the playhead where a routine window requested now will be committed."""
        return self.lead_for("hop")

    @property
    def latency_s(self) -> float:
        """Expected compute time of a routine window (s)."""
        return self._latency["window"]

    @property
    def edit_latency_s(self) -> float:
        """Expected compute time of an edit's first (preview) window (s)."""
        return self._latency["edit"]

    def lead_for(self, reason: str) -> int:
        return int(math.ceil(self._latency[_kind(reason)] * self.cfg.fps)) + self.cfg.margin

    def note_compute(self, seconds: float, reason: str = "hop") -> None:
        """Record a window's compute time (the estimate follows rises quickly, falls slowly). The
        first measurement of a kind replaces the initial guess: falling slowly from it, the lead of
        a 0.1 s preview still held 0.2 s more after a dozen edits."""
        kind = _kind(reason)
        if kind not in self._measured:
            self._measured.add(kind)
            self._latency[kind] = seconds
            return
        cur = self._latency[kind]
        a = 0.5 if seconds > cur else 0.1
        self._latency[kind] = (1 - a) * cur + a * seconds

    def want_refine(self, edits_version: int) -> None:
        """The preview of this edit state was committed: ask for its full-step window next."""
        self._refine_version = edits_version

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
        if self._refine_version is not None:
            if self._refine_version == edits_version:
                return "refine"
            self._refine_version = None   # the stack changed again: that refine is moot
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
        self._refine_version = None
        self._last_beat = beat
        self.requests += 1
