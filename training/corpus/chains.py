"""Multi-turn edit chains on one piece of music: a seed dance, then successive edits.

    chain = make_chain(song_meta, rng, chain_id="c000001", n_frames=240, n_edits=3, split="train")
    chain.records   # one manifest record per motion (seed first), see training/corpus/format.py
    chain.motions   # (n_edits + 1) arrays (T, 151) float32, same frames of the same song

Every edit is checked on the synthesised result: the attributes it names must move the right way by
at least half their tolerance, and the ones it keeps must stay within tolerance; an edit that fails
is replaced by another one (the corpus only holds edits that did what they say). The measured
changes are stored with the record, so evaluation can score a model's edit the same way.

Train songs never get held-out phrasings or held-out move/edit combinations; val/test songs get
held-out phrasings half of the time and take held-out combinations whenever they come up.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.corpus import attributes as attr
from training.corpus.edits import EDIT_TYPES, LEVELS, EditType, is_heldout_combo
from training.corpus.moves import FPS, Program, make_program, synthesize


@dataclass
class SongMeta:
    """What a chain needs to know about a song (no audio, so workers stay light)."""
    song_id: str
    style: str
    duration: float
    beat_times: np.ndarray
    downbeat_times: np.ndarray
    sections: list[dict] = field(default_factory=list)

    @classmethod
    def from_song(cls, song) -> "SongMeta":
        return cls(song.song_id, song.style, float(song.duration), np.asarray(song.beat_times, dtype=np.float64),
                   np.asarray(song.downbeat_times, dtype=np.float64), list(song.sections))

    @classmethod
    def from_json(cls, path) -> "SongMeta":
        """From a songs/<song_id>.json written by training.corpus.songs.save_song, without its audio.

        JSON keeps every float exactly (Python writes the shortest repr that reads back the same), so
        this equals `from_song` of the song that was saved and chains made from it are identical.
        """
        import json  # noqa: PLC0415
        from pathlib import Path  # noqa: PLC0415

        path = Path(path)
        try:
            info = json.loads(path.read_text())
            return cls(str(info.get("song_id", path.stem)), str(info["style"]), float(info["duration"]),
                       np.asarray(info["beat_times"], dtype=np.float64),
                       np.asarray(info["downbeat_times"], dtype=np.float64), list(info.get("sections", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a song description ({type(exc).__name__}: {exc})") from exc


@dataclass
class Chain:
    chain_id: str
    song_id: str
    start_time: float
    records: list[dict]
    motions: list[np.ndarray]
    programs: list[Program]


def edit_ok(et: EditType, before: dict[str, float], after: dict[str, float]) -> bool:
    """Did the edit move what it promised (by >= half a tolerance) and keep what it promised?"""
    for k, sgn in et.changes.items():
        d = after[k] - before[k]
        if np.sign(d) != sgn or abs(d) < 0.5 * attr.TOLERANCE[k]:
            return False
    return all(abs(after[k] - before[k]) <= attr.TOLERANCE[k] for k in et.keeps)


def _choose_window(meta: SongMeta, rng: np.random.Generator, n_frames: int) -> float:
    """A start time on a downbeat such that the window fits in the song."""
    dur = n_frames / FPS
    db = meta.downbeat_times[meta.downbeat_times <= meta.duration - dur]
    if len(db) == 0:
        return 0.0
    return float(rng.choice(db))


def _round(d: dict[str, float], nd: int = 4) -> dict[str, float]:
    return {k: round(float(v), nd) for k, v in d.items()}


def make_chain(meta: SongMeta, rng: np.random.Generator, chain_id: str, n_frames: int = 240, n_edits: int = 3,
               split: str = "train", max_tries: int = 12, keep_programs: bool = True,
               type_counts: dict[str, int] | None = None) -> Chain:
    """Seed dance on a window of the song plus `n_edits` successive verified edits.

    type_counts: edits made so far per type, shared by the chains of one song so their types are
    balanced (updated in place); the chain depends only on its arguments, so corpora are reproducible.
    """
    counts = {} if type_counts is None else type_counts
    if meta.duration * FPS < n_frames:
        raise ValueError(f"song {meta.song_id} is {meta.duration:.1f} s, shorter than {n_frames} frames")
    t0 = _choose_window(meta, rng, n_frames)
    bt = meta.beat_times
    start_beat = int(np.searchsorted(bt, t0 - 1e-6))
    n_beats = int(np.searchsorted(bt, t0 + n_frames / FPS)) - start_beat + 1
    program = make_program(rng, bt, start_beat, n_beats, style=meta.style, sections=meta.sections,
                           downbeat_times=meta.downbeat_times)

    def render(p: Program):
        dance = synthesize(p, bt, n_frames, start_time=t0, downbeat_times=meta.downbeat_times)
        return dance.motion(), attr.measure(dance.joints, bt - t0)

    motion, measured = render(program)
    base = {"chain_id": chain_id, "song_id": meta.song_id, "start_time": round(t0, 6), "n_frames": n_frames,
            "fps": FPS, "split": split}
    seed_id = f"{chain_id}_0"
    records = [{**base, "motion_id": seed_id, "step": 0, "parent_id": None, "seed_id": seed_id, "text": None,
                "edit_type": None, "level": None, "category": None, "expected": {}, "keep": [], "delta": {},
                "measured": _round(measured), "heldout_phrasing": False, "heldout_combo": False,
                "phrasing_index": None, "program": program.to_dict() if keep_programs else None}]
    motions, programs = [motion], [program]
    evaluation = split != "train"
    used: set[str] = set()
    for step in range(1, n_edits + 1):
        done = False
        for _ in range(max_tries):
            cands = [e for e in EDIT_TYPES.values() if e.name not in used and e.applies(program)]
            if not evaluation:
                cands = [e for e in cands if not is_heldout_combo(e.name, e.acted_moves(program))]
            if not cands:
                break
            # the three levels of detail equally often; inside a level, favour the types used least so
            # far (some apply to few dances)
            levels = [lv for lv in LEVELS if any(e.level == lv for e in cands)]
            lv = levels[int(rng.integers(len(levels)))]
            pool = [e for e in cands if e.level == lv]
            w = np.array([1.0 / (1.0 + counts.get(e.name, 0)) ** 2 for e in pool])
            et = pool[int(rng.choice(len(pool), p=w / w.sum()))]
            new_prog, info = et.apply(program, rng)
            new_motion, new_meas = render(new_prog)
            if not edit_ok(et, measured, new_meas):
                used.add(et.name)  # do not retry the same type on this dance
                continue
            held_phr = evaluation and rng.random() < 0.5
            text, pidx = et.phrase(rng, info["slots"], heldout=held_phr)
            names = sorted(set(et.changes) | set(et.keeps))
            mid = f"{chain_id}_{step}"
            records.append({**base, "motion_id": mid, "step": step, "parent_id": records[-1]["motion_id"],
                            "seed_id": seed_id, "text": text, "edit_type": et.name, "level": et.level,
                            "category": et.category, "expected": dict(et.changes), "keep": list(et.keeps),
                            "delta": _round({k: new_meas[k] - measured[k] for k in names}),
                            "measured": _round(new_meas), "heldout_phrasing": bool(held_phr),
                            "heldout_combo": bool(is_heldout_combo(et.name, et.acted_moves(program))),
                            "phrasing_index": pidx, "slots": info["slots"],
                            "program": new_prog.to_dict() if keep_programs else None})
            counts[et.name] = counts.get(et.name, 0) + 1
            motions.append(new_motion)
            programs.append(new_prog)
            used.add(et.name)
            program, measured = new_prog, new_meas
            done = True
            break
        if not done:
            break
    return Chain(chain_id, meta.song_id, t0, records, motions, programs)
