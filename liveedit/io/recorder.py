"""`--record DIR`: the performance on disk as SMPL npz (AIST++ keys + our 151-d motion), BVH, a beat
log and an edit log (docs/protocol.md section 8).

Safety, so that Ctrl-C, a crash or a kill loses as little as possible:
  * `offer()` only appends to memory (never touches the disk, never blocks the engine);
  * a writer thread appends every frame to `journal.f32` within about 0.1 s (append-only, fixed-size
    records, so a torn last record is simply ignored) and converts it (axis-angle, 6D, Euler, BVH text)
    incrementally, so a rewrite costs I/O, not maths;
  * every `snapshot_every` seconds (longer if a rewrite gets slow) it rewrites motion.npz, motion.bvh,
    beats.json and edits.json by writing a temporary file, fsync, and `os.replace` over the old one:
    a reader never sees a half-written file;
  * `stop()` (called on Ctrl-C) and an atexit hook write everything once more; `recover(DIR)` rebuilds
    the files from the journal after a hard kill.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from liveedit.core.messages import PROTOCOL_VERSION, ActiveEdit, Command, PoseFrame, Reply
from liveedit.offline.export_bvh import hierarchy_text, joint_order  # one BVH layout for recordings and exports
from liveedit.protocol import quat_to_matrix
from model.skeleton import NUM_JOINTS, forward_kinematics_np, smpl_transl_from_root

log = logging.getLogger(__name__)

FPS = 30
JOURNAL_FLOATS = 8 + NUM_JOINTS * 4     # frame, t, bpm, beat, phase, root(3), rotations(96) = 104
BVH_ORDER = "ZXY"
CM = 100.0                               # BVH is written in centimetres
RECORDING_FILES = ("motion.npz", "motion.bvh", "beats.json", "edits.json", "journal.f32")


# ---- files ----

def atomic_write(path: Path, data: bytes | str | None = None, writer=None) -> None:
    """Write `path` via a temporary file + fsync + rename, so it is either the old or the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        if writer is not None:
            writer(f)
        else:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)  # type: ignore[union-attr]
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def bvh_joint_order() -> list[int]:
    """SMPL joint indices in the order the BVH hierarchy lists them (depth first): motion lines
    carry channels in this order, not in SMPL order. Same file layout as `liveedit export`."""
    return joint_order()


def bvh_header() -> str:
    """HIERARCHY section for the SMPL skeleton (centimetres, ZXY Euler), shared with `liveedit export`."""
    return hierarchy_text(scale=CM)


def _euler_zxy(rotmats: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) intrinsic Z, X, Y angles in degrees (BVH `Zrotation Xrotation Yrotation`)."""
    from model.rotations import np_matrix_to_euler  # noqa: PLC0415  (torch-backed; only here)
    return np_matrix_to_euler(rotmats, BVH_ORDER)


def _axis_angle(rotmats: np.ndarray) -> np.ndarray:
    from model.rotations import np_matrix_to_axis_angle  # noqa: PLC0415
    return np_matrix_to_axis_angle(rotmats)


BVH_JOINTS = bvh_joint_order()


# ---- the recorder ----

class _Rows:
    """What the recorder keeps per frame: the journal record (416 bytes) and its BVH motion line
    (formatted once, in the writer thread, since formatting is the slow part of a rewrite), plus
    contacts when the engine sends them. Everything else is derived when the files are written.
    About 1.2 KB a frame, 130 MB an hour."""

    def __init__(self) -> None:
        self.journal: list[np.ndarray] = []     # (n, 104) float32 chunks
        self.bvh_lines: list[bytes] = []
        self.contacts: list[np.ndarray | None] = []  # per chunk (n, 4) or None

    def add(self, rows: np.ndarray, contacts: list[np.ndarray | None]) -> None:
        quats = rows[:, 8:].reshape(-1, NUM_JOINTS, 4)
        euler = _euler_zxy(quat_to_matrix(quats))[:, BVH_JOINTS]  # (n, 24, 3) in hierarchy order
        values = np.concatenate([rows[:, 5:8] * CM, euler.reshape(len(rows), -1)], axis=1)
        for vals in values:
            self.bvh_lines.append(" ".join(f"{v:.5f}" for v in vals).encode())
        self.journal.append(rows)
        if contacts and all(c is not None for c in contacts):
            self.contacts.append(np.stack(contacts).astype(np.float32))  # type: ignore[arg-type]
        else:
            self.contacts.append(None)

    @property
    def count(self) -> int:
        return len(self.bvh_lines)


def _frame_row(frame: PoseFrame) -> np.ndarray:
    row = np.empty(JOURNAL_FLOATS, np.float32)
    row[:5] = (frame.frame, frame.time, frame.bpm, frame.beat, frame.beat_phase)
    row[5:8] = np.asarray(frame.root, np.float32).reshape(3)
    row[8:] = np.asarray(frame.rotations, np.float32).reshape(NUM_JOINTS * 4)
    return row


class Recorder:
    """FrameSink writing DIR/{motion.npz, motion.bvh, beats.json, edits.json, journal.f32}."""

    name = "recorder"

    def __init__(self, directory: str | Path, *, snapshot_every: float = 2.0, journal: bool = True) -> None:
        self.dir = Path(directory)
        self.snapshot_every = float(snapshot_every)
        self.use_journal = journal
        self._lock = threading.Lock()
        self._pending: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._events: list[dict] = []
        self._beats: list[dict] = []
        self._last_beat: int | None = None
        self._last_edits: tuple[ActiveEdit, ...] | None = None
        self._rows = _Rows()
        self._journal_file = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()   # one rewrite at a time (thread, stop(), atexit)
        self._closed = False
        self.offered = 0
        self.written_frames = 0               # frames in the main files after the last rewrite
        self.last_write_s = 0.0
        self.errors = 0

    # ---- FrameSink ----

    def offer(self, frame: PoseFrame) -> None:
        """Append to memory only; never blocks on disk, never raises."""
        try:
            row = _frame_row(frame)
            contacts = None if frame.contacts is None else np.asarray(frame.contacts, np.float32).reshape(4)
            beat = int(np.floor(frame.beat)) if np.isfinite(frame.beat) else None
            with self._lock:
                self._pending.append((row, contacts))
                if beat is not None and beat != self._last_beat:
                    if self._last_beat is not None and beat > self._last_beat:
                        self._beats.append({"beat": beat, "t": round(float(frame.time), 4), "frame": int(frame.frame),
                                            "bpm": round(float(frame.bpm), 3)})
                    self._last_beat = beat
                if frame.edits != self._last_edits:
                    self._events.append({"t": round(float(frame.time), 4), "frame": int(frame.frame), "event": "active",
                                         "edits": [{"id": e.id, "text": e.text, "until_beat": e.until_beat} for e in frame.edits]})
                    self._last_edits = frame.edits
                self.offered += 1
        except Exception as exc:
            self.errors += 1
            log.debug("recorder: frame skipped: %s", exc)

    def record_command(self, cmd: Command, reply: Reply, *, t: float | None = None, frame: int | None = None) -> None:
        """Log a command and its reply in edits.json (the engine calls this for every command)."""
        with self._lock:
            self._events.append({"t": None if t is None else round(float(t), 4), "frame": frame, "source": cmd.source,
                                 "kind": cmd.kind, "text": cmd.text, "value": cmd.value, "ok": bool(reply.ok),
                                 "message": reply.message})

    # ---- lifecycle ----

    async def start(self) -> None:
        self.start_sync()

    def start_sync(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._keep_previous_take()
        if self.use_journal:
            self._journal_file = open(self.dir / "journal.f32", "wb")  # a new recording starts a new journal
        self._write_files()  # every file exists (empty) from the start, whenever the process dies
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        _open_recorders.add(self)
        log.info("recording to %s", self.dir)

    def _keep_previous_take(self) -> None:
        """A new recording never overwrites an old one: earlier files move to DIR/previous-<time>/."""
        old = [self.dir / n for n in RECORDING_FILES if (self.dir / n).exists()]
        if not old:
            return
        dest = self.dir / time.strftime("previous-%Y%m%d-%H%M%S")
        k = 1
        while dest.exists():
            k += 1
            dest = self.dir / time.strftime(f"previous-%Y%m%d-%H%M%S-{k}")
        dest.mkdir()
        for path in old:
            os.replace(path, dest / path.name)
        log.warning("%s held an earlier recording; moved it to %s", self.dir, dest)

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self) -> None:
        """Stop the writer thread and write everything (idempotent; safe from atexit)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._drain()
        self._write_files()
        if self._journal_file is not None:
            self._journal_file.close()
            self._journal_file = None
        _open_recorders.discard(self)
        log.info("recording saved: %d frames in %s", self.written_frames, self.dir)

    # ---- writer thread ----

    def _run(self) -> None:
        next_write = time.monotonic() + self.snapshot_every
        while not self._stop.is_set():
            self._wake.wait(0.1)
            self._wake.clear()
            try:
                self._drain()
                if time.monotonic() >= next_write:
                    t0 = time.monotonic()
                    self._write_files()
                    self.last_write_s = time.monotonic() - t0
                    # Keep rewrites under ~10 % of this thread's time as the recording grows.
                    next_write = time.monotonic() + max(self.snapshot_every, 10 * self.last_write_s)
            except Exception:
                self.errors += 1
                log.exception("recorder: write failed (will retry)")

    def _drain(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        rows = np.stack([r for r, _ in pending])
        if self._journal_file is not None:
            self._journal_file.write(rows.astype("<f4").tobytes())
            self._journal_file.flush()
        with self._write_lock:
            self._rows.add(rows, [c for _, c in pending])

    def _write_files(self) -> None:
        with self._write_lock:
            if self._journal_file is not None:
                try:
                    os.fsync(self._journal_file.fileno())
                except (OSError, ValueError):
                    pass
            with self._lock:
                events = list(self._events)
                beats = list(self._beats)
            write_recording(self.dir, self._rows, beats, events)
            self.written_frames = self._rows.count


def write_recording(directory: Path, rows: _Rows, beats: list[dict], events: list[dict]) -> None:
    """Rewrite the four main files atomically from the rows collected so far."""
    directory = Path(directory)
    n = rows.count
    journal = np.concatenate(rows.journal) if rows.journal else np.zeros((0, JOURNAL_FLOATS), np.float32)
    rotmats = quat_to_matrix(journal[:, 8:].reshape(n, NUM_JOINTS, 4)).astype(np.float32)  # (T, 24, 3, 3)
    axis_angle = _axis_angle(rotmats).reshape(n, NUM_JOINTS * 3).astype(np.float32) if n else np.zeros((0, 72), np.float32)
    root = journal[:, 5:8]
    if n and all(c is not None for c in rows.contacts):
        contacts = np.concatenate(rows.contacts)  # type: ignore[arg-type]
    elif n:
        from model.motion import contact_labels  # noqa: PLC0415
        contacts = np.asarray(contact_labels(forward_kinematics_np(rotmats, root)), np.float32)
    else:
        contacts = np.zeros((0, 4), np.float32)
    rot6d = np.concatenate([rotmats[..., :, 0], rotmats[..., :, 1]], axis=-1).reshape(n, NUM_JOINTS * 6)
    motion = np.concatenate([contacts, root, rot6d], axis=1).astype(np.float32)  # (T, 151)
    arrays = {
        "smpl_poses": axis_angle, "smpl_trans": smpl_transl_from_root(root) if n else np.zeros((0, 3), np.float32),
        "smpl_scaling": np.ones(1, np.float32), "motion": motion, "root": root,
        "quaternions": journal[:, 8:].reshape(n, NUM_JOINTS, 4), "time": journal[:, 1], "frame": journal[:, 0].astype(np.int64),
        "beat": journal[:, 3], "bpm": journal[:, 2], "fps": np.array(FPS), "version": np.array(PROTOCOL_VERSION),
    }
    atomic_write(directory / "motion.npz", writer=lambda f: np.savez(f, **arrays))

    def write_bvh(f) -> None:
        f.write(bvh_header().encode())
        f.write(f"MOTION\nFrames: {n}\nFrame Time: {1.0 / FPS:.8f}\n".encode())
        if n:
            f.write(b"\n".join(rows.bvh_lines) + b"\n")

    atomic_write(directory / "motion.bvh", writer=write_bvh)
    atomic_write(directory / "beats.json", json.dumps({"version": PROTOCOL_VERSION, "beats": beats}, indent=1))
    atomic_write(directory / "edits.json", json.dumps({"version": PROTOCOL_VERSION, "events": events}, indent=1, default=str))


def read_journal(path: str | Path) -> np.ndarray:
    """(T, 104) float32 records of a journal; a torn last record is ignored."""
    data = Path(path).read_bytes()
    usable = len(data) - len(data) % (JOURNAL_FLOATS * 4)
    return np.frombuffer(data[:usable], dtype="<f4").reshape(-1, JOURNAL_FLOATS)


def recover(directory: str | Path) -> int:
    """Rebuild motion.npz / motion.bvh / beats.json from DIR/journal.f32 after a hard stop; keeps
    edits.json as it is. Returns the number of frames recovered."""
    directory = Path(directory)
    journal = read_journal(directory / "journal.f32")
    rows = _Rows()
    for start in range(0, len(journal), 1024):
        chunk = journal[start:start + 1024]
        rows.add(chunk, [None] * len(chunk))
    beats = []
    last = None
    for r in journal:
        b = int(np.floor(r[3]))
        if last is not None and b > last:
            beats.append({"beat": b, "t": round(float(r[1]), 4), "frame": int(r[0]), "bpm": round(float(r[2]), 3)})
        last = b
    events: list[Any] = []
    try:
        events = json.loads((directory / "edits.json").read_text())["events"]
    except (OSError, ValueError, KeyError):
        pass
    write_recording(directory, rows, beats, events)
    return rows.count


_open_recorders: "weakref.WeakSet[Recorder]" = weakref.WeakSet()


@atexit.register
def _close_open_recorders() -> None:
    for rec in list(_open_recorders):
        try:
            rec.close()
        except Exception:
            log.exception("recorder: final write failed for %s", rec.dir)


def main(argv: list[str] | None = None) -> int:
    """`python -m liveedit.io.recorder DIR`: rebuild a recording's files from its journal."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m liveedit.io.recorder",
                                     description="Rebuild motion.npz, motion.bvh and beats.json from DIR/journal.f32 "
                                                 "(after a recording was killed).")
    parser.add_argument("directory")
    args = parser.parse_args(argv)
    if not (Path(args.directory) / "journal.f32").is_file():
        print(f"{args.directory}: no journal.f32 here", flush=True)
        return 1
    n = recover(args.directory)
    print(f"{args.directory}: {n} frames recovered ({n / FPS:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
