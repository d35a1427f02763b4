"""The asyncio live engine: wires the sans-I/O core (liveedit/core/live.py) to audio, the model
worker thread and the output sinks.

Tasks on the event loop:
  * audio:  polls the AudioSource every 10 ms; beat analysis (onset envelope, optionally aubio) and
            the music feature extractor run on a helper thread so their FFTs never delay a frame.
  * frames: the 30 fps frame clock. Offers the prepared PoseFrame (quaternions, global joints by
            FK) to every sink, polls the scheduler and submits window requests to the inference
            worker (latest request wins; an edit cancels a routine window), then prepares the next.
  * status: optional one-line status printer.

Clock: engine seconds = time.perf_counter() - origin + correction. With live audio the correction
slews (at most 1 ms per 10 ms poll) so that the engine clock follows the audio sample count: the
sample count is the master, the monotonic clock only smooths it. Frame i is due at engine time i/30,
and music frame k was heard at engine time k/30, so motion, music and beats share one time line.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

import numpy as np

from liveedit.core.beats import BeatGrid
from liveedit.core.continuation import WindowRequest, WindowResult, run_window
from liveedit.core.live import FrameOut, LiveConfig, LiveCore
from liveedit.core.messages import Command, PoseFrame, Reply
from liveedit.core.scheduler import SchedulerConfig
from liveedit.protocol import LogLimiter
from liveedit.io.audio import AudioSource  # the audio-input protocol, defined beside its implementations
from liveedit.worker import InferenceWorker

log = logging.getLogger(__name__)

FPS = 30
AUDIO_RATE = 15360
EDIT_KINDS = ("edit", "undo", "reset", "strength")   # commands that change the edited motion


class FrameSink(Protocol):
    name: str

    def offer(self, frame: PoseFrame) -> None: ...


@dataclass
class EngineConfig:
    steps: int = 10
    strength: float = 2.0
    music_guidance: float = 2.0
    max_edits: int = 3
    hop: int = SchedulerConfig.hop          # frames between routine windows
    context: int = SchedulerConfig.context  # known frames per window
    # Frames between the playhead and the commit point. 1 is safe here: windows are committed on the
    # event loop, the same thread that prepares and sends frames, so a commit never races a send.
    margin: int = 1
    crossfade: int = 8
    use_aubio: bool = False       # aubio's beats as grid hints (measured to lower F on the corpus)
    joints: bool = True           # include global joint positions in PoseFrames
    audio_poll_s: float = 0.01
    shutdown_timeout_s: float = 3.0
    initial_latency_s: float = 0.5
    # torch intra-op threads for inference (process-wide). 1 by default: the event loop and the
    # audio analysis need a core, and on this 2-core machine under load one thread computed a
    # window 4-6x faster than two (spinning OpenMP workers fight everything else). None = leave.
    torch_threads: int | None = 1
    warm_up_timeout_s: float = 30.0   # start() waits this long at most for the text encoder


def rest_motion() -> np.ndarray:
    """(151,) standing rest pose: feet on the ground, identity rotations."""
    from model.rotations import np_matrix_to_rot6d  # noqa: PLC0415
    from model.skeleton import STANDING_PELVIS_HEIGHT  # noqa: PLC0415

    m = np.zeros(151, dtype=np.float32)
    m[:4] = 1.0
    m[4:7] = (0.0, STANDING_PELVIS_HEIGHT, 0.0)
    m[7:] = np.tile(np_matrix_to_rot6d(np.eye(3)), 24)
    return m


def _rot6d_to_matrix_np(r6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3): Gram-Schmidt on the first two columns (model.rotations' convention)."""
    a1, a2 = r6[..., 0:3], r6[..., 3:6]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-8)
    b2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = b2 / np.maximum(np.linalg.norm(b2, axis=-1, keepdims=True), 1e-8)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-1)


def _matrix_to_quaternion_np(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) (x, y, z, w), w >= 0 (Shepperd's method, numerically safe branch)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    cand = np.stack([1 + 2 * m00 - trace, 1 + 2 * m11 - trace, 1 + 2 * m22 - trace, 1 + trace], -1)
    k = np.argmax(cand, axis=-1)
    q = np.empty(m.shape[:-2] + (4,), dtype=np.float64)
    r = np.sqrt(np.maximum(np.take_along_axis(cand, k[..., None], -1)[..., 0], 1e-12))
    s = 0.5 / r
    # one formula per branch (x, y, z, w largest)
    qx = np.where(k == 0, 0.5 * r, np.where(k == 1, (m[..., 0, 1] + m[..., 1, 0]) * s,
                  np.where(k == 2, (m[..., 0, 2] + m[..., 2, 0]) * s, (m[..., 2, 1] - m[..., 1, 2]) * s)))
    qy = np.where(k == 0, (m[..., 0, 1] + m[..., 1, 0]) * s, np.where(k == 1, 0.5 * r,
                  np.where(k == 2, (m[..., 1, 2] + m[..., 2, 1]) * s, (m[..., 0, 2] - m[..., 2, 0]) * s)))
    qz = np.where(k == 0, (m[..., 0, 2] + m[..., 2, 0]) * s, np.where(k == 1, (m[..., 1, 2] + m[..., 2, 1]) * s,
                  np.where(k == 2, 0.5 * r, (m[..., 1, 0] - m[..., 0, 1]) * s)))
    qw = np.where(k == 0, (m[..., 2, 1] - m[..., 1, 2]) * s, np.where(k == 1, (m[..., 0, 2] - m[..., 2, 0]) * s,
                  np.where(k == 2, (m[..., 1, 0] - m[..., 0, 1]) * s, 0.5 * r)))
    q[..., 0], q[..., 1], q[..., 2], q[..., 3] = qx, qy, qz, qw
    q *= np.where(q[..., 3:4] < 0, -1.0, 1.0)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


class PoseConverter:
    """151-d motion frame -> PoseFrame fields: root, local quaternions (x, y, z, w), global joints
    by forward kinematics, contacts. Plain numpy (about 0.2 ms a frame, no torch on the frame
    clock); tests check it against model.motion.decode()."""

    def __init__(self, joints: bool = True):
        from model.skeleton import forward_kinematics_np  # noqa: PLC0415

        self._fk = forward_kinematics_np
        self.joints = joints

    def __call__(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        m = np.asarray(motion, dtype=np.float64).reshape(151)
        rotmats = _rot6d_to_matrix_np(m[7:].reshape(24, 6))           # (24, 3, 3)
        quats = _matrix_to_quaternion_np(rotmats).astype(np.float32)  # (24, 4)
        root = m[4:7].astype(np.float32)
        joints = self._fk(rotmats, m[4:7]) if self.joints else None   # (24, 3)
        return root, quats, joints, m[0:4].astype(np.float32)


class Engine:
    def __init__(self, model: Any, audio: AudioSource | None = None, sinks: Iterable[FrameSink] = (),
                 config: EngineConfig | None = None, *, rest: np.ndarray | None = None,
                 converter: Any = None, features: Any = None, status_line: bool = False):
        self.cfg = config or EngineConfig()
        self.model = model
        self.audio = audio
        self.sinks: list[FrameSink] = list(sinks)
        sched = SchedulerConfig(window=getattr(model, "window", 150), hop=self.cfg.hop, context=self.cfg.context,
                                margin=self.cfg.margin, initial_latency_s=self.cfg.initial_latency_s)
        live_cfg = LiveConfig(steps=self.cfg.steps, strength=self.cfg.strength, max_edits=self.cfg.max_edits,
                              crossfade=self.cfg.crossfade, scheduler=sched,
                              can_edit=bool(getattr(model, "can_edit", True)))
        self.grid = BeatGrid()
        self.core = LiveCore(rest if rest is not None else rest_motion(), live_cfg, self.grid)
        self.convert = converter or PoseConverter(self.cfg.joints)
        self._features = features          # LiveMusicFeatures-like (push, final_frames, features)
        self._tracker = None
        self.worker = InferenceWorker(model, self._result_from_thread, music_guidance=self.cfg.music_guidance)
        # Live, each frame's energy is corrected as it is played by the music heard by then
        # (liveedit/late_energy.py); only for a model whose new dance follows an energy envelope.
        self.late = None
        if getattr(model, "energy", None) is not None and float(getattr(model, "dynamics", 0.0) or 0.0) > 0:
            from liveedit.late_energy import LateEnergyStage  # noqa: PLC0415
            self.late = LateEnergyStage(model.energy, self.core.timeline, live_cfg.history_frames)
        self._grid_lock = threading.Lock()
        self._analysis = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="liveedit-audio")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._origin = time.perf_counter()
        self._correction = 0.0
        self._last_submitted = 0
        self._last_handled = 0
        self._music_sent = 0             # music frames handed to the core
        self.frames_sent = 0
        self.frames_skipped = 0  # frames never sent because the loop stalled past their due time
        self.frame_times: list[float] = []   # engine time each frame was offered (last 10 s)
        self.sink_errors = 0
        self.warnings: list[str] = []   # shown in status (e.g. control open to the network)
        self._log_limit = LogLimiter(10.0, 1024, burst=20)
        self._log_limit_all = LogLimiter(10.0, 1, burst=40)
        self.started = False
        self.status_line = status_line

    # ------------------------------------------------------------------ clock
    def clock(self) -> float:
        """Engine seconds (0 = stream start)."""
        return time.perf_counter() - self._origin + self._correction

    def from_perf(self, t: float) -> float:
        """A time.perf_counter() stamp (as MIDI/OSC inputs take them) -> engine seconds."""
        return t - self._origin + self._correction

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Shorter GIL switch interval: the inference thread runs Python between torch ops, and
        # the default 5 ms would show up as frame jitter.
        sys.setswitchinterval(0.001)
        if self.cfg.torch_threads:
            try:
                import torch  # noqa: PLC0415
                torch.set_num_threads(int(self.cfg.torch_threads))
            except ImportError:
                pass
        if self.audio is not None:
            if self._features is None:
                try:
                    from model.music import LiveMusicFeatures  # noqa: PLC0415
                    self._features = LiveMusicFeatures(history_s=30.0)
                except ImportError as exc:
                    log.warning("music features unavailable (%s): windows get beat-only music", exc)
            from liveedit.tracker import LiveBeatTracker  # noqa: PLC0415
            self._tracker = LiveBeatTracker(self.grid, AUDIO_RATE, use_aubio=self.cfg.use_aubio)
        for sink in self.sinks:
            start = getattr(sink, "start", None)
            if start is not None:
                await start()
        # The text encoder loads before the frame clock starts: its imports hold the GIL for up to
        # 0.2 s at a time, which on the encoder's own thread showed as a frame gap in the first
        # seconds of every stream. Bounded: a slow load carries on in the background.
        self.worker.start(warm_up=False)
        try:
            await asyncio.wait_for(asyncio.to_thread(self.worker.warm_up), self.cfg.warm_up_timeout_s)
        except asyncio.TimeoutError:
            log.warning("text encoder still loading after %.0f s; streaming without waiting",
                        self.cfg.warm_up_timeout_s)
        if self.audio is not None:
            await self.audio.start()
        self._origin = time.perf_counter()
        self._correction = 0.0
        self.started = True
        self._tasks = [asyncio.create_task(self._frame_loop(), name="liveedit-frames")]
        if self.audio is not None:
            self._tasks.append(asyncio.create_task(self._audio_loop(), name="liveedit-audio"))
        if self.status_line:
            from liveedit.status import StatusPrinter  # noqa: PLC0415
            self._tasks.append(asyncio.create_task(StatusPrinter(self).run(), name="liveedit-status"))

    async def stop(self) -> None:
        """Stop everything within about `shutdown_timeout_s` (sinks flush, e.g. the recorder)."""
        if not self.started:
            return
        self.started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        timeout = self.cfg.shutdown_timeout_s
        await asyncio.to_thread(self.worker.stop, timeout)
        if self.audio is not None:
            try:
                await asyncio.wait_for(self.audio.stop(), timeout)
            except Exception as exc:
                log.warning("audio source did not stop cleanly: %s", exc)
        for sink in self.sinks:
            stop = getattr(sink, "stop", None)
            if stop is not None:
                try:
                    await asyncio.wait_for(stop(), timeout)
                except Exception as exc:
                    log.warning("output %s did not stop cleanly: %s", getattr(sink, "name", sink), exc)
        self._analysis.shutdown(wait=False, cancel_futures=True)

    def add_sink(self, sink: FrameSink) -> None:
        self.sinks.append(sink)

    # ------------------------------------------------------------------ inputs
    async def handle(self, cmd: Command) -> Reply:
        """Any input's command -> the reply to send back on its channel."""
        now = self.clock()
        if cmd.received:  # inputs stamp arrival with time.perf_counter(); the core counts engine seconds
            cmd = dataclasses.replace(cmd, received=self.from_perf(cmd.received))
        if cmd.kind in ("tempo", "tap"):
            with self._grid_lock:
                reply = self.core.handle(cmd, now)
        elif cmd.kind == "status":
            reply = Reply(True, "status", self.status())
        else:
            reply = self.core.handle(cmd, now)
            if reply.ok and cmd.kind in EDIT_KINDS and self.started:
                # Ask for the edited window now rather than at the next frame tick (up to 33 ms).
                self._poll_windows(now)
        self._log_command(cmd, reply, now)
        for sink in self.sinks:
            rec = getattr(sink, "record_command", None)
            if rec is not None:
                try:
                    rec(cmd, reply, t=now, frame=self.core.timeline.playhead)
                except Exception:
                    log.exception("recording a command failed")
        return reply

    def _log_command(self, cmd: Command, reply: Reply, now: float) -> None:
        """One line per command, but a flood of commands (many senders, each within its rate limit)
        cannot flood the log: at most 20 lines per sender address and 40 in all every 10 s."""
        sender = (cmd.source or "?").rsplit(":", 1)[0] if (cmd.source or "").startswith("osc:") else cmd.source
        left_out = self._log_limit.check(sender, now)
        if left_out is None or self._log_limit_all.check("*", now) is None:
            return
        more = f" ({left_out} earlier commands from {sender} not logged)" if left_out else ""
        (log.info if reply.ok else log.warning)("%s %s: %s%s", cmd.source or "?", cmd.kind, reply.message[:300], more)

    def midi_clock_tick(self, t: float) -> None:
        """MIDI clock pulse. t is a time.perf_counter() stamp taken when the message arrived (what
        liveedit.io.midi passes, stamped on rtmidi's thread); it is converted to engine time here.
        The same holds for midi_start / midi_continue / midi_stop."""
        with self._grid_lock:
            self.grid.midi_clock_tick(self.from_perf(t))

    def midi_start(self, t: float) -> None:
        with self._grid_lock:
            self.grid.midi_start(self.from_perf(t))

    def midi_continue(self, t: float) -> None:
        with self._grid_lock:
            self.grid.midi_continue(self.from_perf(t))

    def midi_stop(self, t: float) -> None:
        with self._grid_lock:
            self.grid.midi_stop(self.from_perf(t))

    # ------------------------------------------------------------------ audio
    def _analyse(self, samples: np.ndarray) -> None:
        """On the analysis thread: beat tracking and music features."""
        with self._grid_lock:
            self._tracker.process(samples)
        if self._features is not None:
            self._features.push(samples)

    async def _audio_loop(self) -> None:
        loop = asyncio.get_running_loop()
        sr = float(getattr(self.audio, "sample_rate", AUDIO_RATE))
        last_audio = -1.0
        while True:
            await asyncio.sleep(self.cfg.audio_poll_s)
            samples = self.audio.read_available()
            if samples is not None and len(samples):
                await loop.run_in_executor(self._analysis, self._analyse, samples)
                self._take_music()
                if self.late is not None and self.late.due(self.core.heard_end):
                    await loop.run_in_executor(self._analysis, self._hear_energy)
                last_audio = self.clock()
            # Discipline the engine clock to the audio sample count (slew, never jump), while the
            # audio flows; when it stops (file ended, device gone) the monotonic clock carries on.
            audio_now = float(getattr(self.audio, "samples_read", 0)) / sr
            if audio_now > 0 and self.clock() - last_audio < 0.25:
                err = audio_now - self.clock()
                if abs(err) > 2.0:
                    log.warning("audio clock is %.2f s away from the engine clock (stall or loop?)", err)
                self._correction += max(-0.001, min(0.001, 0.05 * err))

    def _take_music(self) -> None:
        f = self._features
        if f is None:
            return
        end = int(f.final_frames)
        start = max(self._music_sent, int(getattr(f, "oldest_frame", 0)))
        if end <= start:
            return
        beats = np.asarray(self.core.beat_log) if self.core.beat_log else None
        # Frames heard but not yet played have no logged beat yet: add the grid's predictions.
        future = self.grid.beats_between(self.core.timeline.playhead / FPS, end / FPS + 0.1)
        beats = np.concatenate([beats, future]) if beats is not None else future
        feats = f.features(start, end, beats)
        self.core.add_music(start, feats)
        self._music_sent = end

    def _hear_energy(self) -> None:
        """On the analysis thread: the energy of the music heard so far, for the frames played next.
        (The music ring is written only by the audio task, which waits for this.)"""
        with self._grid_lock:
            period = self.grid.period
        self.late.hear(self.core.music, period, FPS)

    # ------------------------------------------------------------------ windows
    def _result_from_thread(self, result: WindowResult) -> None:
        if self.late is not None and not result.error and result.request.needs_model:
            try:   # on the worker thread: the speed the window's energy gain aimed at
                result.expected = self.late.expected_speed(result.request.music)
            except Exception:
                log.exception("energy of window %d", result.request.id)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._on_result, result)
            except RuntimeError:
                pass

    def _on_result(self, result: WindowResult) -> None:
        if result.error:
            log.error("window %d failed: %s", result.request.id, result.error)
        info = self.core.on_result(result, self.clock())
        if self.late is not None:
            self.late.committed(info, result.request.start, result.expected)
        self._last_handled = max(self._last_handled, result.request.id)

    @property
    def in_flight(self) -> bool:
        return self._last_submitted > self._last_handled

    def _poll_windows(self, now: float) -> None:
        req = self.core.poll(now, self.in_flight)
        if req is None:
            return
        if not req.needs_model:
            # e.g. /undo of the last edit: the committed unedited stream comes back at once.
            res = run_window(self.model, req)
            self._last_submitted = max(self._last_submitted, req.id)
            self.worker.discard_pending()
            self._on_result(res)
            return
        self._last_submitted = req.id
        self.worker.submit(req)

    # ------------------------------------------------------------------ frames
    def _tick(self, now: float) -> FrameOut:
        """The core's next frame, with its energy corrected by the music heard by now."""
        out = self.core.tick(now)
        return self.late.play(out) if self.late is not None else out

    def _pose_frame(self, out: FrameOut) -> PoseFrame:
        root, quats, joints, contacts = self.convert(out.motion)
        return PoseFrame(time=out.time, frame=out.index, bpm=out.bpm, beat_phase=out.phase, beat=out.beat,
                         root=root, rotations=quats, joints=joints, edits=out.edits, contacts=contacts)

    async def _frame_loop(self) -> None:
        """30 fps. Each frame is prepared right after the previous one was sent (it is frozen by
        then: the commit margin keeps windows off it), so at its due time only `offer` runs."""
        tl = self.core.timeline
        nxt: tuple[float, PoseFrame] | None = None
        while True:
            if nxt is None:
                out = self._tick(self.clock())
                nxt = (out.index / FPS, self._pose_frame(out))
            due, frame = nxt
            delay = due - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            now = self.clock()
            if now - due > 2.0 / FPS:
                # The loop stalled: skip the frames that are already late, send the current one.
                out = None
                while tl.playhead / FPS <= now - 1.0 / FPS:
                    out = self._tick(now)
                    self.frames_skipped += 1  # the prepared frame, then each one ticked past
                if out is not None:
                    frame = self._pose_frame(out)
            for sink in self.sinks:
                try:
                    sink.offer(frame)
                except Exception:
                    self.sink_errors += 1
                    if self.sink_errors < 10:
                        log.exception("output %s failed on a frame", getattr(sink, "name", sink))
            self.frames_sent += 1
            self.frame_times.append(now)
            if len(self.frame_times) > 300:
                del self.frame_times[:-300]
            self._poll_windows(now)
            out = self._tick(now)
            nxt = (out.index / FPS, self._pose_frame(out))

    # ------------------------------------------------------------------ status
    def clients(self) -> int:
        n = 0
        for sink in self.sinks:
            c = getattr(sink, "client_count", None)
            if c is not None:
                n += int(c() if callable(c) else c)
        return n

    def status(self) -> dict:
        s = self.core.status(self.clock())
        ft = np.diff(np.asarray(self.frame_times[-91:]))
        s.update({
            "clients": self.clients(),
            "frames_sent": self.frames_sent,
            "frames_skipped": self.frames_skipped,
            "fps": round(float(1.0 / ft.mean()), 2) if ft.size else 0.0,
            "frame_jitter_ms": round(float(np.abs(ft - 1.0 / FPS).max() * 1000), 2) if ft.size else 0.0,
            "windows_replaced": self.worker.replaced,
            "windows_failed": self.worker.failed,
            "audio": getattr(self.audio, "name", type(self.audio).__name__) if self.audio is not None else None,
            "model": getattr(self.model, "name", type(self.model).__name__),
            "sinks": [getattr(s_, "name", type(s_).__name__) for s_ in self.sinks],
        })
        if self.grid.switches:   # the latest change of what drives the beat (audio, midi, link, ...)
            t, old, new = self.grid.switches[-1]
            s["beat_switch"] = {"t": round(t, 3), "from": old, "to": new}
        for sink in self.sinks:   # outputs with a state of their own (e.g. Ableton Link peers)
            extra = getattr(sink, "status", None)
            if callable(extra):
                s.update(extra())
        if self.warnings:
            s["warnings"] = list(self.warnings)
        return s
