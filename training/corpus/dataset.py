"""`CorpusDataset`: training samples from a corpus directory (layout: training/corpus/format.py).

Stage 1 (generation branch), one item per motion:
    {"music": (W, 35), "motion": (W, 151), "motion_id", "song_id", "start": first frame}
Stage 2 (editing branch), one item per edited motion (a record with a parent):
    {"music": (W, 35), "initial": (W, 151) the chain's seed dance, "current": (W, 151) the parent,
     "target": (W, 151) this motion, "text", "edit_type", "level", "expected", "keep", "slots" (JSON), ...}
All windows of one item cover the same frames of the same song (W = 150 by default, random offset
in training, centred when random_window=False). Arrays are float32 numpy (PyTorch's default collate
turns them into tensors, strings into lists).

Music features come from features/<song_id>.npy (written when the corpus is built) or are computed
from the song's audio with model.music.extract_features and cached in memory. With `augment=True`
the beat channel is redrawn per sample from the exact beats through model.music.augment_beats
(jitter, missed and spurious beats), so the model learns to live with a real beat tracker.

Splits: by song (`split`), and the evaluation flags: `heldout="exclude"` drops records with a held-out
phrasing or a held-out move/edit combination (default for training), "phrasing" / "combo" keep only
those, "include" keeps everything.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from training.corpus import format as fmt

try:
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover - torch is a hard dependency of the project
    _Base = object

WINDOW = 150
MUSIC_DIM = 35
BEAT_CHANNEL = 34


class SongCache:
    """Per-song music features (whole song, 30 fps) and beat times, loaded once."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._feat: dict[str, np.ndarray] = {}
        self._beats: dict[str, np.ndarray] = {}

    def beats(self, song_id: str) -> np.ndarray:
        if song_id not in self._beats:
            p = self.root / fmt.SONGS_DIR / f"{song_id}.json"
            if p.exists():
                info = json.loads(p.read_text())
                self._beats[song_id] = np.asarray(info.get("beat_times", []), dtype=np.float64)
            else:
                self._beats[song_id] = np.zeros(0)
        return self._beats[song_id]

    def features(self, song_id: str) -> np.ndarray:
        """(frames, 35) float32."""
        if song_id not in self._feat:
            p = fmt.feature_path(self.root, song_id)
            if p.exists():
                f = np.load(p).astype(np.float32)
            else:
                f = self._compute(song_id)
            if f.ndim != 2 or f.shape[1] != MUSIC_DIM:
                raise ValueError(f"music features of {song_id} must be (frames, {MUSIC_DIM}), got {f.shape}")
            self._feat[song_id] = f
        return self._feat[song_id]

    def audio_path(self, song_id: str) -> Path | None:
        """The song's audio file, if the corpus has one."""
        sdir = self.root / fmt.SONGS_DIR
        cands = [sdir / f"{song_id}{ext}" for ext in (".flac", ".wav", ".ogg", ".mp3")]
        jp = sdir / f"{song_id}.json"
        if jp.exists():
            name = json.loads(jp.read_text()).get("audio")
            if name:
                cands.insert(0, sdir / name)
        return next((c for c in cands if c.exists()), None)

    def check(self, song_ids: Iterable[str]) -> None:
        """FileNotFoundError naming the features file of the first song that has neither its
        features nor its audio (rather than a failure in a batch worker hours into a run)."""
        for song_id in sorted(set(song_ids)):
            p = fmt.feature_path(self.root, song_id)
            if song_id not in self._feat and not p.is_file() and self.audio_path(song_id) is None:
                raise FileNotFoundError(f"{p}: missing, and song {song_id!r} has no audio in "
                                        f"{self.root / fmt.SONGS_DIR} to compute its music features from")

    def _compute(self, song_id: str) -> np.ndarray:
        from model.music import extract_features, load_audio  # noqa: PLC0415
        audio_path = self.audio_path(song_id)
        if audio_path is None:
            self.check([song_id])
        return extract_features(load_audio(audio_path), self.beats(song_id))


# Frames of music before a window that come with it: the live engine extrapolates unheard music
# from the last bar heard, which may lie before the window (training.data.extrapolate_after).
MUSIC_HISTORY = 120


def window(arr: np.ndarray, start: int, length: int) -> np.ndarray:
    """arr[start:start+length], padded by repeating the last frame (or zeros if empty)."""
    out = arr[max(start, 0): start + length]
    if len(out) < length:
        pad = np.repeat(out[-1:], length - len(out), axis=0) if len(out) else np.zeros((length,) + arr.shape[1:], arr.dtype)
        out = np.concatenate([out, pad], axis=0)
    return out


class CorpusDataset(_Base):
    """Samples for stage 1 (`stage=1`) or stage 2 (`stage=2`) from a corpus directory."""

    def __init__(self, root: str | Path, stage: int = 1, split: str | None = "train", window_frames: int = WINDOW,
                 heldout: str = "exclude", random_window: bool = True, augment: bool = True,
                 cache_motions: bool = False, seed: int | None = None, records: list[dict] | None = None):
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        if heldout not in ("exclude", "include", "phrasing", "combo"):
            raise ValueError(f"heldout must be exclude|include|phrasing|combo, got {heldout!r}")
        self.root = Path(root)
        self.stage = stage
        self.window = int(window_frames)
        self.random_window = random_window
        self.augment = augment
        self.cache_motions = cache_motions
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._rng_worker = None
        self.songs = SongCache(self.root)
        self._motions: dict[str, np.ndarray] = {}
        recs = records if records is not None else fmt.read_manifest(self.root)
        self.by_id = {r["motion_id"]: r for r in recs}
        sel = [r for r in recs if split is None or r["split"] == split]

        def flagged(r):
            return bool(r.get("heldout_phrasing")) or bool(r.get("heldout_combo"))
        if heldout == "exclude":
            sel = [r for r in sel if not flagged(r)]
        elif heldout == "phrasing":
            sel = [r for r in sel if r.get("heldout_phrasing")]
        elif heldout == "combo":
            sel = [r for r in sel if r.get("heldout_combo")]
        if stage == 2:
            sel = [r for r in sel if r.get("parent_id") is not None]
        self.records = sel

    def __len__(self) -> int:
        return len(self.records)

    def motion(self, motion_id: str) -> np.ndarray:
        if motion_id in self._motions:
            return self._motions[motion_id]
        m = fmt.load_motion(self.root, motion_id)
        if self.cache_motions:
            self._motions[motion_id] = m
        return m

    def _music(self, rec: dict, start: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """-> (the window's features (length, 35), the MUSIC_HISTORY frames of the song before it
        (zeros before the song starts)), with the same beat augmentation on both."""
        feats = self.songs.features(rec["song_id"])
        s0 = int(round(float(rec.get("start_time", 0.0)) * 30)) + start
        h0 = s0 - MUSIC_HISTORY
        mus = np.zeros((MUSIC_HISTORY + length, feats.shape[1]), np.float32)
        mus[max(0, -h0):] = window(feats, max(h0, 0), MUSIC_HISTORY + length - max(0, -h0))
        if self.augment:
            from model.music import augment_beats, beat_onehot  # noqa: PLC0415
            bt = self.songs.beats(rec["song_id"])
            if len(bt):
                aug = augment_beats(bt, rng)
                mus[:, BEAT_CHANNEL] = beat_onehot(aug, h0, s0 + length)
        return mus[MUSIC_HISTORY:], mus[:MUSIC_HISTORY]

    def _start(self, n_frames: int, rng: np.random.Generator) -> int:
        slack = max(n_frames - self.window, 0)
        if not self.random_window:
            return slack // 2
        return int(rng.integers(0, slack + 1))

    def __getitem__(self, idx: int) -> dict:
        rec = self.records[idx]
        rng = self._worker_rng()
        tgt = self.motion(rec["motion_id"])
        start = self._start(len(tgt), rng)
        music, history = self._music(rec, start, self.window, rng)
        item = {"music": music, "music_history": history, "motion_id": rec["motion_id"],
                "song_id": rec["song_id"], "start": start}
        if self.stage == 1:
            item["motion"] = window(tgt, start, self.window)
            return item
        parent = self.motion(rec["parent_id"])
        seed = self.motion(rec["seed_id"])
        item.update({
            "initial": window(seed, start, self.window), "current": window(parent, start, self.window),
            "target": window(tgt, start, self.window), "text": rec["text"], "edit_type": rec.get("edit_type") or "",
            "level": rec.get("level") or "", "step": int(rec.get("step") or 0),
            "expected": json.dumps(rec.get("expected") or {}), "keep": json.dumps(rec.get("keep") or []),
            "slots": json.dumps(rec.get("slots") or {}),
        })
        return item

    def _worker_rng(self) -> np.random.Generator:
        """A generator per DataLoader worker, so workers do not draw the same windows."""
        try:
            from torch.utils.data import get_worker_info  # noqa: PLC0415
            info = get_worker_info()
        except ImportError:  # pragma: no cover
            info = None
        wid = None if info is None else info.id
        if wid != self._rng_worker:
            self._rng_worker = wid
            self._rng = np.random.default_rng(None if self._seed is None else [self._seed, wid + 1])
        return self._rng

    def edit_texts(self) -> list[str]:
        return sorted({r["text"] for r in self.records if r.get("text")})
