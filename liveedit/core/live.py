"""`LiveCore`: the whole engine state machine without I/O (numpy + stdlib, time passed in).

The asyncio engine (liveedit/engine.py) only moves data in and out of it:

    core.handle(cmd, now)            -> Reply          control commands
    core.add_music(first, features)                    heard music feature frames
    core.poll(now, in_flight)        -> WindowRequest | None   ask the model for a window?
    core.on_result(result, now)      -> CommitInfo | None      a computed window comes back
    core.tick(now)                   -> FrameOut       the next 30 fps output frame

The beat grid is driven directly (`core.grid.observe_onsets`, `midi_clock_tick`, ...).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from liveedit.core.beats import BeatEmitter, BeatGrid
from liveedit.core.continuation import (FPS, INITIAL, MOTION_DIM, MUSIC_DIM, MUSIC_HISTORY, SHOWN, STREAMS_DIM,
                                        WINDOW, WindowRequest, WindowResult, music_window)
from liveedit.core.edits import DEFAULT_DEPTH, EditStack
from liveedit.core.messages import ActiveEdit, Command, Reply
from liveedit.core.scheduler import Scheduler, SchedulerConfig
from liveedit.core.timeline import CommitInfo, FrameRing, Timeline

MAX_STRENGTH = 10.0


# Sampler steps of an edit's first window (the preview that puts the edit on screen). Its frames
# play for about one refine compute time before the full-step window replaces them (cross-faded).
# Single edits sampled with 4 DDIM steps score as 10 do (120 held-out windows: success 53.3% / 55.8%,
# preservation 70.4% / 66.3%; docs/MODEL.md, "Fast edits"); what fewer steps cost is the dance over
# successive edits (FID_k), which the refine avoids.
PREVIEW_STEPS = 4


@dataclass
class LiveConfig:
    steps: int = 10
    preview_steps: int = PREVIEW_STEPS   # an edit's first window; >= steps: no preview, no refine
    strength: float = 2.0          # text guidance of edits ("edit strength")
    max_edits: int = DEFAULT_DEPTH
    crossfade: int = 8
    history_frames: int = 900      # 30 s of committed motion and music kept
    scheduler: SchedulerConfig | None = None
    can_edit: bool = True


@dataclass
class FrameOut:
    index: int
    time: float            # index / fps
    motion: np.ndarray     # (151,) shown motion
    held: bool             # no window had arrived: previous frame repeated
    bpm: float
    beat: float
    phase: float
    edits: tuple[ActiveEdit, ...]


class LiveCore:
    def __init__(self, rest_motion: np.ndarray, config: LiveConfig | None = None, grid: BeatGrid | None = None):
        self.cfg = config or LiveConfig()
        self.grid = grid or BeatGrid()
        self.edits = EditStack(self.cfg.max_edits)
        self.scheduler = Scheduler(self.cfg.scheduler)
        rest = np.concatenate([rest_motion, rest_motion]).astype(np.float32)
        self.timeline = Timeline(STREAMS_DIM, rest, capacity=self.cfg.history_frames,
                                 margin=self.scheduler.cfg.margin, crossfade=self.cfg.crossfade)
        self.music = FrameRing(MUSIC_DIM, self.cfg.history_frames)
        self.strength = self.cfg.strength
        self.beat_log: deque[float] = deque(maxlen=512)   # beats emitted (s)
        self._emitter = BeatEmitter()
        self._next_id = 1
        self._pending_edit: tuple[int, float] | None = None    # (edits version, received time)
        self._edit_first_frame: tuple[int, float] | None = None  # (frame index, received time)
        self.edit_latencies: deque[float] = deque(maxlen=200)
        # (edits version, first frame index showing it, time the change was received) per change
        self.edit_commits: deque[tuple[int, int, float]] = deque(maxlen=200)
        self.last_compute_s = 0.0
        self.windows_committed = 0
        self.stale_dropped = 0
        self.edits_failed = 0                              # edits dropped because their pass raised
        self.edit_errors: deque[dict] = deque(maxlen=5)    # the latest of them, for status

    # ------------------------------------------------------------------ commands
    def handle(self, cmd: Command, now: float) -> Reply:
        try:
            return self._handle(cmd, now)
        except (ValueError, TypeError) as exc:
            return Reply(False, str(exc))

    def _handle(self, cmd: Command, now: float) -> Reply:
        kind = cmd.kind
        if kind == "edit":
            if not self.cfg.can_edit:
                return Reply(False, "this model has no editing branch; edits are unavailable")
            duration = cmd.value
            if duration is not None and (not math.isfinite(duration) or duration <= 0):
                raise ValueError(f"edit duration must be a positive number of beats, got {duration}")
            # "for 2 bars" counts the bars the grid hears: 3 beats each in a waltz
            self.edits.beats_per_bar = self.grid.beats_per_bar
            edit, dropped = self.edits.push(cmd.text, self.grid.beat_at(now), duration)
            self._pending_edit = (self.edits.version, cmd.received or now)
            msg = f"edit {edit.id} '{edit.text}'"
            if edit.until_beat is not None:
                msg += f" until beat {edit.until_beat:g}"
            if dropped is not None:
                msg += f" (stack full: dropped edit {dropped.id} '{dropped.text}')"
            return Reply(True, msg, {"id": edit.id, "text": edit.text, "until_beat": edit.until_beat,
                                     "dropped": dropped.id if dropped else None, "depth": len(self.edits)})
        if kind == "undo":
            gone = self.edits.undo()
            if gone is None:
                return Reply(False, "nothing to undo")
            self._pending_edit = (self.edits.version, cmd.received or now)
            return Reply(True, f"undid edit {gone.id} '{gone.text}'", {"id": gone.id, "depth": len(self.edits)})
        if kind == "reset":
            n = self.edits.reset()
            if n:
                self._pending_edit = (self.edits.version, cmd.received or now)
            return Reply(True, f"removed {n} edit(s)", {"removed": n, "depth": 0})
        if kind == "strength":
            v = cmd.value
            if v is None or not math.isfinite(v) or not 0 <= v <= MAX_STRENGTH:
                raise ValueError(f"strength must be a number in [0, {MAX_STRENGTH:g}], got {v}")
            self.strength = float(v)
            if len(self.edits):
                self.edits.version += 1   # recompute the edited motion with the new strength
                self._pending_edit = (self.edits.version, cmd.received or now)
            return Reply(True, f"edit strength {v:g}", {"strength": self.strength})
        if kind == "tempo":
            v = cmd.value
            if v is None or not math.isfinite(v):
                raise ValueError("tempo needs a BPM value (0 releases manual tempo)")
            self.grid.set_tempo(float(v), now)
            data = {"bpm": self.grid.bpm, "source": self.grid.source, "manual": self.grid.manual}
            if v == 0:
                return Reply(True, f"manual tempo released: the beat follows {self.grid.source} "
                                   f"({self.grid.bpm:.1f} BPM)", data)
            return Reply(True, f"tempo {self.grid.bpm:.1f} BPM", data)
        if kind == "tap":
            self.grid.tap(now)
            data = {"bpm": self.grid.bpm, "source": self.grid.source, "manual": self.grid.manual}
            if self.grid.midi_active(now):
                return Reply(True, "tap ignored: the MIDI clock sets the tempo", data)
            if self.grid.source != "tap":
                return Reply(True, "tap: tap again on the next beat", data)
            return Reply(True, f"tap ({self.grid.bpm:.1f} BPM)", data)
        if kind == "status":
            return Reply(True, "status", self.status(now))
        raise ValueError(f"unknown command '{kind}'")

    # ------------------------------------------------------------------ music
    def add_music(self, first_frame: int, features: np.ndarray) -> None:
        """Heard feature frames [first_frame, first_frame + n) (contiguous with earlier ones)."""
        feats = np.asarray(features, dtype=np.float32).reshape(-1, MUSIC_DIM)
        if first_frame > self.music.end:
            # A gap (frames dropped upstream): pad with the last frame so indices stay aligned.
            pad = self.music.read(self.music.end - 1, self.music.end) if self.music.end > self.music.start else np.zeros((1, MUSIC_DIM), np.float32)
            self.music.write(self.music.end, np.repeat(pad, first_frame - self.music.end, 0))
        self.music.write(first_frame, feats)

    @property
    def heard_end(self) -> int:
        return self.music.end

    # ------------------------------------------------------------------ windows
    def poll(self, now: float, in_flight: bool) -> WindowRequest | None:
        tl = self.timeline
        reason = self.scheduler.due(tl.playhead, tl.committed_end, self.edits.version,
                                    self.grid.beat_at(now), in_flight)
        if reason is None:
            return None
        return self.make_request(now, reason)

    # An edit change reuses the committed initial stream when it reaches this far past the new
    # known frames (the window then ends at the committed end instead of further ahead).
    MIN_REUSE_FRAMES = 30

    def make_request(self, now: float, reason: str = "hop") -> WindowRequest:
        tl = self.timeline
        W = self.scheduler.cfg.window
        start, n_known = self.scheduler.plan(tl.playhead, tl.committed_end, reason)
        reuse = False
        if reason in ("edit", "refine"):
            known_end = start + n_known
            if tl.committed_end - known_end >= self.MIN_REUSE_FRAMES and tl.committed_end >= W:
                start = tl.committed_end - W
                n_known = known_end - start
                reuse = tl.frames.start <= start and n_known >= 0
                if not reuse:
                    start, n_known = self.scheduler.plan(tl.playhead, tl.committed_end, reason)
        known = np.zeros((W, STREAMS_DIM), dtype=np.float32)
        if reuse:
            known[:] = tl.read(start, start + W)
            initial = known[:, INITIAL].copy()
            known[n_known:] = 0.0
        else:
            initial = None
            if n_known:
                known[:n_known] = tl.read(start, start + n_known)
        # Music: the window's heard frames, extrapolated after the last one from the last bar heard,
        # with up to MUSIC_HISTORY heard frames before the window to draw it from, exactly as
        # training (training.corpus.dataset) and the long-form evaluation's serve path
        # (rolling.live_music) do. Live, a window knows frames up to about the playhead, so its own
        # heard frames are fewer than a beat: from them alone the extrapolation held one frame.
        h0 = max(self.music.start, min(start, self.music.end) - MUSIC_HISTORY)
        heard = self.music.read(h0, self.music.end) if self.music.end > h0 else np.zeros((0, MUSIC_DIM), np.float32)
        if self.music.end <= h0:
            h0 = self.music.end
        music, n_heard = music_window(heard, h0, self.grid.state(), start, W)
        req = WindowRequest(id=self._next_id, start=start, n_known=n_known, music=music,
                            known=known[:, SHOWN].copy(), known_initial=known[:, INITIAL].copy(),
                            prompts=self.edits.prompts, strength=self.strength, steps=self.steps_for(reason),
                            edits_version=self.edits.version, reason=reason, created=now,
                            seed=self._next_id, heard=n_heard, initial=initial,
                            edit_ids=tuple(e.id for e in self.edits.edits))
        self._next_id += 1
        self.scheduler.mark_requested(tl.playhead, self.edits.version, self.grid.beat_at(now))
        return req

    def steps_for(self, reason: str) -> int:
        """Sampler steps of a window: few for an edit's preview, the full count otherwise."""
        return min(self.cfg.preview_steps, self.cfg.steps) if reason == "edit" else self.cfg.steps

    def on_result(self, result: WindowResult, now: float) -> CommitInfo | None:
        """Commit a computed window (unless a newer edit state made it stale and motion is not short)."""
        if result.request.needs_model:
            self.scheduler.note_compute(result.compute_s, result.request.reason)
        self.last_compute_s = result.compute_s
        if result.error:
            self._drop_failed_edit(result, now)
            return None
        req = result.request
        tl = self.timeline
        if req.edits_version != self.edits.version and tl.ahead > self.scheduler.lead:
            self.stale_dropped += 1
            return None
        streams = np.concatenate([result.shown, result.initial], axis=1)  # (150, 302)
        if req.start > tl.committed_end:
            return None
        info = tl.commit(req.start, streams)
        self.windows_committed += 1
        if (req.reason == "edit" and req.steps < self.cfg.steps and req.needs_model
                and req.edits_version == self.edits.version):
            self.scheduler.want_refine(req.edits_version)
        if self._pending_edit and req.edits_version >= self._pending_edit[0] and info.end > info.first:
            self._edit_first_frame = (info.first, self._pending_edit[1])
            self.edit_commits.append((req.edits_version, info.first, self._pending_edit[1]))
            self._pending_edit = None
        return info

    def _drop_failed_edit(self, result: WindowResult, now: float) -> None:
        """An edit whose pass raised would fail every later window as well (the stream would hold
        its last frame until /reset): take it off the stack, so the next window runs without it."""
        req, level = result.request, result.failed_edit
        if level is None or not 0 <= level < len(req.edit_ids):
            return
        gone = self.edits.remove(req.edit_ids[level])
        if gone is None:
            return  # already undone or expired
        self.edits_failed += 1
        self.edit_errors.append({"id": gone.id, "text": gone.text, "error": str(result.error)[:300]})
        self._pending_edit = (self.edits.version, now)

    # ------------------------------------------------------------------ output clock
    def tick(self, now: float) -> FrameOut:
        """Play the next frame (call at 30 fps). Expires timed edits on the beat grid."""
        tl = self.timeline
        idx, streams, held = tl.play()
        t = idx / FPS
        beat = self.grid.beat_at(t)
        self.edits.expire(beat)
        if self.grid.locked or self.grid.source != "default":
            self.beat_log.extend(self._emitter.advance(self.grid, t))
        if self._edit_first_frame and idx >= self._edit_first_frame[0]:
            self.edit_latencies.append(now - self._edit_first_frame[1])
            self._edit_first_frame = None
        return FrameOut(idx, t, streams[SHOWN].copy(), held, self.grid.bpm, beat, beat - math.floor(beat),
                        self.edits.active())

    # ------------------------------------------------------------------ status
    def status(self, now: float) -> dict:
        beat = self.grid.beat_at(now)
        lat = sorted(self.edit_latencies)
        return {
            "bpm": round(self.grid.bpm, 2),
            "beat": round(beat, 3),
            "phase": round(beat - math.floor(beat), 3),
            "beat_source": self.grid.source,
            "beat_locked": self.grid.locked,
            "tempo_manual": self.grid.manual,
            "edits": [{"id": e.id, "text": e.text, "until_beat": e.until_beat} for e in self.edits.active()],
            "strength": self.strength,
            "frame": self.timeline.playhead,
            "ahead_frames": self.timeline.ahead,
            "held_frames": self.timeline.underruns,
            "window_ms": round(1000 * self.last_compute_s, 1),
            "windows": self.windows_committed,
            "edit_latency_ms": round(1000 * lat[len(lat) // 2], 1) if lat else None,
            "edits_failed": self.edits_failed,
            "edit_errors": list(self.edit_errors),
        }
