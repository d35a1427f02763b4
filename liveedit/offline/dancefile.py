"""The dance file: one `.npz` with the dance, the song's beats and features, and its edit history.

Layout (format version 1; documented for users in docs/offline.md):

  AIST++-compatible (readable by AIST++/EDGE/Bailando tooling; 30 fps, metres, scaling 1):
    smpl_poses     (T, 72) float32  axis-angle, SMPL joint order, joint 0 = global orientation
    smpl_trans     (T, 3)  float32  SMPL `transl` (pelvis position minus the template pelvis)
    smpl_scaling   (1,)    float32  [1.0]
  liveedit:
    motion         (T, 151) float32 current dance, un-normalised 151-d representation
    fps            ()       int     frames per second (30)
    beat_times     (B,)     float64 the song's beats, seconds
    music_features (T, 35)  float32 the features the model saw, so `edit` needs no audio
    format_version ()       int     FORMAT_VERSION
    meta           ()       str     JSON: format, version, song path + sha256, checkpoint id, seed, ...
    history_motion (M, T, 151) float32  every distinct motion of the history
    history        ()       str     JSON list of iterations: kind, motion index, prompt, span, ...

The current dance is always the last history entry's motion. Iteration 0 is the initial prediction,
the reference the editing branch keeps seeing (the paper's `initial`). Loading uses
allow_pickle=False: no object arrays, strings are stored as 0-d unicode arrays.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from liveedit.offline.errors import OfflineError, atomic_output
from model import rotations as rot
from model.motion import FPS, MOTION_DIM
from model.skeleton import NUM_JOINTS, smpl_transl_from_root

FORMAT_NAME = "liveedit-dance"
FORMAT_VERSION = 1
MUSIC_DIM = 35

REQUIRED_KEYS = (
    "format_version", "meta", "motion", "fps", "beat_times", "music_features", "history_motion", "history",
    "smpl_poses", "smpl_trans", "smpl_scaling",
)


@dataclass
class Iteration:
    """One entry of a dance's history."""

    kind: str                       # "generate" | "edit" | "restore"
    motion_index: int               # row of Dance.motions holding this iteration's dance
    created: str = ""               # UTC ISO time
    prompt: str | None = None       # edit prompt
    start: float | None = None      # edit span, seconds
    end: float | None = None
    strength: float | None = None   # text guidance of an edit
    seed: int | None = None
    steps: int | None = None
    restored_from: int | None = None  # for "restore": the iteration brought back

    def describe(self) -> str:
        if self.kind == "generate":
            return f"initial prediction (seed {self.seed}, {self.steps} steps)"
        if self.kind == "edit":
            return (f'edit "{self.prompt}" on {self.start:.2f}-{self.end:.2f} s '
                    f"(strength {self.strength:g}, seed {self.seed}, {self.steps} steps)")
        if self.kind == "restore":
            return f"restored iteration {self.restored_from}"
        return self.kind


@dataclass
class Dance:
    """A dance file in memory. `motions` holds each distinct motion once (restores point back)."""

    motions: list[np.ndarray]            # each (T, 151) float32
    history: list[Iteration]
    beat_times: np.ndarray               # (B,) seconds
    music_features: np.ndarray           # (T, 35)
    meta: dict[str, Any] = field(default_factory=dict)
    fps: int = FPS

    @classmethod
    def new(cls, motion: np.ndarray, beat_times: np.ndarray, music_features: np.ndarray,
            meta: dict[str, Any], seed: int | None, steps: int | None) -> "Dance":
        """A fresh dance whose only iteration is the initial prediction `motion` (T, 151)."""
        dance = cls(motions=[], history=[], beat_times=np.asarray(beat_times, np.float64),
                    music_features=np.asarray(music_features, np.float32), meta=dict(meta))
        dance.append("generate", motion, seed=seed, steps=steps)
        return dance

    @property
    def num_frames(self) -> int:
        return int(self.motions[0].shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def current(self) -> np.ndarray:
        """(T, 151) the dance as it stands now."""
        return self.motions[self.history[-1].motion_index]

    @property
    def initial(self) -> np.ndarray:
        """(T, 151) the initial (unedited) prediction, the editing branch's reference."""
        return self.motions[self.history[0].motion_index]

    def motion_of(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self.history):
            raise OfflineError(f"iteration {k} does not exist; this file has iterations 0..{len(self.history) - 1}")
        return self.motions[self.history[k].motion_index]

    def append(self, kind: str, motion: np.ndarray | None = None, *, motion_index: int | None = None,
               **info: Any) -> Iteration:
        """Add an iteration holding a new `motion` (T, 151), or pointing at an existing `motion_index`."""
        if motion is not None:
            motion = np.asarray(motion, np.float32)
            if self.motions and motion.shape != self.motions[0].shape:
                raise ValueError(f"motion {motion.shape} does not match the dance's {self.motions[0].shape}")
            if motion.ndim != 2 or motion.shape[1] != MOTION_DIM:
                raise ValueError(f"motion must be (T, {MOTION_DIM}), got {motion.shape}")
            self.motions.append(motion)
            motion_index = len(self.motions) - 1
        if motion_index is None:
            raise ValueError("append needs a motion or a motion_index")
        it = Iteration(kind=kind, motion_index=motion_index,
                       created=datetime.now(timezone.utc).isoformat(timespec="seconds"), **info)
        self.history.append(it)
        return it

    def restore(self, k: int) -> Iteration:
        """Make iteration k current again, as a new "restore" iteration (nothing is dropped)."""
        self.motion_of(k)  # range check
        return self.append("restore", motion_index=self.history[k].motion_index, restored_from=k)


def smpl_arrays(motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 151) -> AIST++ `smpl_poses` (T, 72) axis-angle and `smpl_trans` (T, 3)."""
    motion = np.asarray(motion, np.float32)
    rotmats = rot.np_rot6d_to_matrix(motion[:, 7:].reshape(-1, NUM_JOINTS, 6))  # (T, 24, 3, 3)
    poses = rot.np_matrix_to_axis_angle(rotmats).reshape(-1, NUM_JOINTS * 3).astype(np.float32)
    trans = smpl_transl_from_root(motion[:, 4:7]).astype(np.float32)
    return poses, trans


def _json_str(obj: Any) -> np.ndarray:
    return np.asarray(json.dumps(obj, ensure_ascii=False))


def save(dance: Dance, path: str | Path) -> Path:
    """Write `dance` to `path` atomically (temp file + rename: a failure leaves `path` untouched)."""
    path = Path(path)
    poses, trans = smpl_arrays(dance.current)
    meta = dict(dance.meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    arrays = {
        "smpl_poses": poses,
        "smpl_trans": trans,
        "smpl_scaling": np.array([1.0], np.float32),
        "motion": dance.current.astype(np.float32),
        "fps": np.asarray(dance.fps, np.int64),
        "beat_times": np.asarray(dance.beat_times, np.float64),
        "music_features": np.asarray(dance.music_features, np.float32),
        "format_version": np.asarray(FORMAT_VERSION, np.int64),
        "meta": _json_str(meta),
        "history_motion": np.stack(dance.motions).astype(np.float32),
        "history": _json_str([asdict(it) for it in dance.history]),
    }
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return path


def load(path: str | Path) -> Dance:
    """Read a dance file; any problem raises OfflineError naming the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise OfflineError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # random bytes would reach numpy's pickle fallback and its advice
        raise OfflineError(f"{path}: not a readable .npz dance file (not a zip archive, which an .npz is)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        # numpy's own text for object arrays advises loading pickles unsafely: never say that here
        why = ("it holds Python objects (pickles), which liveedit never loads" if "pickle" in str(exc)
               else "not a zip archive" if isinstance(exc, zipfile.BadZipFile) else str(exc))
        raise OfflineError(f"{path}: not a readable .npz dance file ({why})") from exc

    if "format_version" not in data:
        hint = " (it looks like an AIST++ motion file)" if "smpl_poses" in data else ""
        raise OfflineError(
            f"{path}: not a liveedit dance file{hint}: it has no 'format_version' key "
            f"(keys: {', '.join(sorted(data)) or 'none'}); make one with `liveedit generate`"
        )
    version = int(data["format_version"])
    if version != FORMAT_VERSION:
        raise OfflineError(
            f"{path}: dance file format version {version}, but this liveedit reads version {FORMAT_VERSION}; "
            "regenerate it with this version's `liveedit generate`"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise OfflineError(f"{path}: dance file (version {version}) is missing keys: {', '.join(missing)}")
    try:
        meta = json.loads(str(data["meta"]))
        history = [Iteration(**d) for d in json.loads(str(data["history"]))]
    except (json.JSONDecodeError, TypeError) as exc:
        raise OfflineError(f"{path}: corrupt metadata or history ({exc})") from exc

    motions = data["history_motion"].astype(np.float32)
    music = data["music_features"].astype(np.float32)
    if motions.ndim != 3 or motions.shape[2] != MOTION_DIM or motions.shape[1] == 0:
        raise OfflineError(f"{path}: history_motion has shape {motions.shape}, expected (M, T, {MOTION_DIM})")
    T = motions.shape[1]
    if music.shape != (T, MUSIC_DIM):
        raise OfflineError(f"{path}: music_features has shape {music.shape}, expected ({T}, {MUSIC_DIM})")
    if not history or any(not 0 <= it.motion_index < len(motions) for it in history):
        raise OfflineError(f"{path}: history refers to motions that are not stored")
    dance = Dance(motions=list(motions), history=history, beat_times=data["beat_times"].astype(np.float64),
                  music_features=music, meta=meta, fps=int(data["fps"]))
    if not np.allclose(dance.current, data["motion"], atol=1e-6):
        raise OfflineError(f"{path}: 'motion' differs from the last history entry (file edited by hand?)")
    return dance
