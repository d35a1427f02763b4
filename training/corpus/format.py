"""The on-disk corpus layout (documented in docs/corpus.md), shared by the procedural corpus and by
users' own edit pairs:

    <root>/
      corpus.json               header: format version, fps, counts, how it was made (optional)
      manifest.jsonl            one JSON object per motion (schema below)
      motions/<motion_id>.npy   (T, 151) float16 or float32, the representation of model.motion
      songs/<song_id>.json      beat_times, downbeat_times, sections, style, audio file name
      songs/<song_id>.flac      the audio (any format model.music.load_audio reads: wav, flac, ...)
      features/<song_id>.npy    (frames, 35) music features of the whole song at 30 fps (optional
                                cache; recomputed from the audio when missing)

Manifest record (required keys in CAPITALS here only for emphasis; JSON keys are lower case):
    MOTION_ID   unique id, names motions/<motion_id>.npy
    SONG_ID     names songs/<song_id>.*
    start_time  seconds into the song where the motion's frame 0 is (default 0)
    split       "train" | "val" | "test" (default "train")
    parent_id   motion this one was edited from (null for a seed / plain dance)
    text        the edit instruction that turned the parent into this motion (null for a seed)
    chain_id, step, seed_id        chain bookkeeping (seed_id: the chain's unedited dance)
    edit_type, level, category     edit label (levels: coarse | medium | fine)
    expected    {attribute: +1 | -1} attributes the edit must move (training.corpus.attributes)
    keep        [attribute, ...] attributes the edit must leave alone
    delta       {attribute: measured change}, measured {attribute: value}
    heldout_phrasing, heldout_combo   evaluation flags
    program     the dance program (procedural corpus only)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.jsonl"
HEADER = "corpus.json"
MOTIONS_DIR = "motions"
SONGS_DIR = "songs"
FEATURES_DIR = "features"
REQUIRED = ("motion_id", "song_id")
SPLITS = ("train", "val", "test")

DEFAULTS = {"start_time": 0.0, "split": "train", "parent_id": None, "text": None, "chain_id": None, "step": 0,
            "seed_id": None, "edit_type": None, "level": None, "category": None, "expected": {}, "keep": [],
            "delta": {}, "measured": {}, "heldout_phrasing": False, "heldout_combo": False}


def motion_path(root: Path, motion_id: str) -> Path:
    return Path(root) / MOTIONS_DIR / f"{motion_id}.npy"


def feature_path(root: Path, song_id: str) -> Path:
    return Path(root) / FEATURES_DIR / f"{song_id}.npy"


def save_motion(root: Path, motion_id: str, motion: np.ndarray, dtype=np.float16) -> Path:
    """Write a (T, 151) motion; float16 halves the size (rotation 6D values are in [-1, 1])."""
    m = np.asarray(motion)
    if m.ndim != 2 or m.shape[1] != 151:
        raise ValueError(f"motion {motion_id} must be (T, 151), got {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"motion {motion_id} has non-finite values")
    p = motion_path(root, motion_id)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, m.astype(dtype))
    return p


def load_motion(root: Path, motion_id: str) -> np.ndarray:
    """(T, 151) float32."""
    p = motion_path(root, motion_id)
    if not p.exists():
        raise FileNotFoundError(f"manifest names motion {motion_id!r} but {p} does not exist")
    m = np.load(p)
    if m.ndim != 2 or m.shape[1] != 151:
        raise ValueError(f"{p}: expected (T, 151), got {m.shape}")
    return m.astype(np.float32)


def write_manifest(root: Path, records: Iterable[dict], append: bool = False) -> int:
    """Write records as JSON lines; returns how many."""
    p = Path(root) / MANIFEST
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with p.open("a" if append else "w") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
            n += 1
    return n


def read_manifest(root: Path) -> list[dict]:
    """All records with defaults filled in; checks required keys, unique ids and parent links."""
    p = Path(root) / MANIFEST
    if not p.exists():
        raise FileNotFoundError(f"no corpus manifest at {p}")
    out: list[dict] = []
    seen: set[str] = set()
    with p.open() as f:
        for ln, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}:{ln}: not JSON ({exc.msg})") from exc
            missing = [k for k in REQUIRED if not r.get(k)]
            if missing:
                raise ValueError(f"{p}:{ln}: missing {', '.join(missing)}")
            if r["motion_id"] in seen:
                raise ValueError(f"{p}:{ln}: duplicate motion_id {r['motion_id']!r}")
            seen.add(r["motion_id"])
            rec = {**DEFAULTS, **r}
            if rec["split"] not in SPLITS:
                raise ValueError(f"{p}:{ln}: split must be one of {SPLITS}, got {rec['split']!r}")
            if rec["parent_id"] is not None and not rec.get("text"):
                raise ValueError(f"{p}:{ln}: an edited motion (parent_id set) needs its edit text")
            out.append(rec)
    for r in out:
        if r["parent_id"] is not None and r["parent_id"] not in seen:
            raise ValueError(f"{p}: motion {r['motion_id']!r} names parent {r['parent_id']!r}, which is not in the manifest")
        if r["seed_id"] is None:
            r["seed_id"] = r["motion_id"] if r["parent_id"] is None else None
    # resolve seeds for user records that only give parents
    by_id = {r["motion_id"]: r for r in out}
    for r in out:
        if r["seed_id"] is None:
            q, hops = r, 0
            while q["parent_id"] is not None and hops < 1000:
                q, hops = by_id[q["parent_id"]], hops + 1
            r["seed_id"] = q["motion_id"]
    return out


def iter_records(root: Path) -> Iterator[dict]:
    yield from read_manifest(root)


def write_header(root: Path, info: dict) -> None:
    (Path(root) / HEADER).write_text(json.dumps({"format_version": FORMAT_VERSION, **info}, indent=1))


def read_header(root: Path) -> dict:
    p = Path(root) / HEADER
    return json.loads(p.read_text()) if p.exists() else {"format_version": FORMAT_VERSION}


def check_format_version(root: Path) -> None:
    """ValueError naming corpus.json when it was written for another format version (or is not a
    header at all); a corpus without corpus.json (a user's own manifest) is taken as this version."""
    p = Path(root) / HEADER
    try:
        header = read_header(root)
    except ValueError as exc:
        raise ValueError(f"{p}: not JSON ({exc})") from exc
    v = header.get("format_version") if isinstance(header, dict) else None
    if v != FORMAT_VERSION:
        raise ValueError(f"{p}: format_version {v!r}, this liveedit reads format_version {FORMAT_VERSION} "
                         "(rebuild the corpus with this version: python training/make_corpus.py)")


def song_split(song_id: str, val: float = 0.05, test: float = 0.05) -> str:
    """Deterministic split of a song by its id (same song -> same split on every machine)."""
    import zlib  # noqa: PLC0415
    u = (zlib.crc32(song_id.encode()) % 10000) / 10000.0
    return "test" if u < test else ("val" if u < test + val else "train")
