"""Single edits phrased the way users talk: success and preservation per phrasing category, and what
each failed edit did instead.

The phrasings come from training/corpus/user_phrasings.json (written by hand, never trained on); each
names an edit type (its expected changes and keep list apply) or an attribute and direction. Every
phrasing edits the same few held-out corpus windows where its edit type applies: the window's parent
dance is the dance to edit ("current"), the chain's seed is "initial", exactly the inputs of the
editing branch in training. Success and preservation compare the edited window with the dance it
edited (training/metrics/edits.py, the same margin and tolerance as the main tables); the attribute
spread comes from training-split windows. Two references on the same windows:

* corpus phrasing: the corpus's own prompt for that window (the language gap is the difference);
* ground truth: the corpus's edited dance (the ceiling of the measures).

`PhrasingEvalConfig(dance="own")` edits the model's own dance instead: for each window, what the
model generates for its music (`DanceModel.generate`, the dance a performer sees and edits live)
is both the initial and the current dance. The corpus's edited dance is then no reference (it edits
another dance), so only the corpus phrasing is scored beside the user phrasings.

    res = evaluate_phrasings(dm, corpus_dir, PhrasingEvalConfig(windows=2))
    res["categories"]   # rows: category, n, edit_success, preservation
    res["confusion"]    # rows: requested change -> what moved most instead, count
"""
from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from training.metrics.edits import DEFAULT_MARGIN, DEFAULT_TOLERANCE, EditOutcome, attribute_spread, score_attributes

USER_PHRASINGS = Path(__file__).resolve().parent / "corpus" / "user_phrasings.json"
WINDOW, FPS = 150, 30
SPREAD_WINDOWS = 300   # training-split windows that set the attribute spread
MeasureFn = Callable[..., Mapping[str, float]]


@dataclass(frozen=True)
class PhrasingCase:
    text: str
    category: str
    edit_type: str                      # "" for an attribute-only case
    expected: dict[str, float]          # attribute -> signed change
    keep: tuple[str, ...] | None        # attributes to keep (None: all others)


@dataclass
class EditWindow:
    """One held-out corpus edit, cut to a 5 s window."""
    music: np.ndarray                   # (150, 35)
    beats: np.ndarray                   # (K,) seconds from the window's first frame
    initial: np.ndarray                 # (150, 151) the chain's seed dance
    current: np.ndarray                 # (150, 151) the dance to edit (the record's parent)
    target: np.ndarray                  # (150, 151) the corpus's edited dance
    text: str                           # the corpus's prompt for this edit
    motion_id: str = ""


@dataclass
class PhrasingEvalConfig:
    windows: int = 2                    # held-out windows per phrasing
    splits: tuple[str, ...] = ("test", "val")
    steps: int = 10
    text_guidance: float = 2.0
    redraw: float = 1.0
    batch: int = 16
    seed: int = 0
    margin: float = DEFAULT_MARGIN
    tolerance: float = DEFAULT_TOLERANCE
    references: bool = True             # also score the corpus phrasing and the ground truth
    dance: str = "corpus"               # the dance edited: "corpus" (the record's parent) or "own" (generated)
    music_guidance: float = 2.0         # the own dance's, as the engine dances it


DANCES = ("corpus", "own")


def load_cases(path: str | Path = USER_PHRASINGS) -> list[PhrasingCase]:
    from training.corpus.edits import EDIT_TYPES  # noqa: PLC0415

    out = []
    for e in json.loads(Path(path).read_text())["entries"]:
        if "edit_type" in e:
            et = EDIT_TYPES[e["edit_type"]]
            # as the corpus records them: an empty keep list means "all the others"
            out.append(PhrasingCase(e["text"], e["category"], et.name, dict(et.changes), tuple(et.keeps) or None))
        else:
            out.append(PhrasingCase(e["text"], e["category"], "", {k: float(v) for k, v in e["expected"].items()}, None))
    return out


class CorpusWindows:
    """Held-out edit windows of a corpus, by edit type, read on demand."""

    def __init__(self, root: str | Path, splits: Sequence[str]):
        from training.corpus import format as fmt  # noqa: PLC0415
        from training.corpus.dataset import SongCache  # noqa: PLC0415

        self.root, self.fmt = Path(root), fmt
        self.records = fmt.read_manifest(self.root)
        self.songs = SongCache(self.root)
        edits = [r for r in self.records if r.get("parent_id") and r["split"] in splits]
        # a fixed shuffle, so that the first windows of a type come from many songs
        edits = [edits[i] for i in np.random.default_rng(0).permutation(len(edits))]
        self.by_type: dict[str, list[dict]] = {}
        for r in edits:
            self.by_type.setdefault(str(r.get("edit_type") or ""), []).append(r)
        self.any_edit = edits
        self.by_id = {r["motion_id"]: r for r in self.records}
        self._cache: dict[str, EditWindow] = {}

    def seed_id(self, rec: dict) -> str:
        """The chain's unedited dance: seed_id, or the end of the parent links (users' manifests)."""
        if rec.get("seed_id"):
            return rec["seed_id"]
        while rec.get("parent_id") and rec["parent_id"] in self.by_id:
            rec = self.by_id[rec["parent_id"]]
        return rec["motion_id"]

    def for_case(self, case: PhrasingCase, n: int) -> list[EditWindow]:
        """The first n windows of the case's edit type (the same for every phrasing of a type);
        attribute-only cases take n windows of any edit, chosen by the phrasing."""
        if case.edit_type:
            recs = self.by_type.get(case.edit_type, [])[:n]
        else:
            k = zlib.crc32(case.text.encode()) % max(1, len(self.any_edit))
            recs = (self.any_edit[k:] + self.any_edit[:k])[:n]
        return [self.window(r) for r in recs]

    def window(self, rec: dict) -> EditWindow:
        if rec["motion_id"] in self._cache:
            return self._cache[rec["motion_id"]]
        from training.corpus.dataset import window  # noqa: PLC0415

        target = self.fmt.load_motion(self.root, rec["motion_id"])
        a = max(0, (len(target) - WINDOW) // 2)   # centred, as the dataset's validation windows
        s0 = int(round(float(rec.get("start_time") or 0.0) * FPS)) + a
        bt = self.songs.beats(rec["song_id"]) - s0 / FPS
        w = EditWindow(
            music=window(self.songs.features(rec["song_id"]), s0, WINDOW).astype(np.float32),
            beats=bt[(bt >= 0) & (bt < WINDOW / FPS)],
            initial=window(self.fmt.load_motion(self.root, self.seed_id(rec)), a, WINDOW).astype(np.float32),
            current=window(self.fmt.load_motion(self.root, rec["parent_id"]), a, WINDOW).astype(np.float32),
            target=window(target, a, WINDOW).astype(np.float32),
            text=str(rec["text"]), motion_id=rec["motion_id"])
        self._cache[rec["motion_id"]] = w
        return w

    def spread(self, measure: MeasureFn, n: int = SPREAD_WINDOWS) -> dict[str, float]:
        """Attribute spread over training-split windows (seed dances and edited ones)."""
        from training.eval import joints_of  # noqa: PLC0415

        train = [r for r in self.records if r["split"] == "train"] or self.records
        pick = np.random.default_rng(1).permutation(len(train))[:n]
        from training.corpus.dataset import window  # noqa: PLC0415
        motions, beats = [], []
        for i in pick:
            r = train[int(i)]
            m = self.fmt.load_motion(self.root, r["motion_id"])
            a = max(0, (len(m) - WINDOW) // 2)
            s0 = int(round(float(r.get("start_time") or 0.0) * FPS)) + a
            bt = self.songs.beats(r["song_id"]) - s0 / FPS
            motions.append(window(m, a, WINDOW))
            beats.append(bt[(bt >= 0) & (bt < WINDOW / FPS)])
        rows = [measure(j, b, fps=FPS) for j, b in zip(joints_of(motions), beats)]
        return attribute_spread(rows)


def _edit_all(dm, jobs: list[tuple[EditWindow, str]], cfg: PhrasingEvalConfig) -> np.ndarray:
    """Run every (window, prompt) edit, batched -> (N, 150, 151)."""
    out = []
    for b, i in enumerate(range(0, len(jobs), cfg.batch)):
        part = jobs[i:i + cfg.batch]
        out.append(np.asarray(dm.edit(np.stack([w.music for w, _ in part]), np.stack([w.initial for w, _ in part]),
                                      np.stack([w.current for w, _ in part]), [p for _, p in part], steps=cfg.steps,
                                      text_guidance=cfg.text_guidance, seed=cfg.seed + b, redraw=cfg.redraw)))
    return np.concatenate(out) if out else np.zeros((0, WINDOW, 151), np.float32)


def _own_dances(dm, windows: list[EditWindow], cfg: PhrasingEvalConfig) -> dict[str, np.ndarray]:
    """The model's own dance for each window's music, by motion id -> (150, 151)."""
    from training.eval import generate_initial  # noqa: PLC0415

    gen = generate_initial(dm, windows, cfg.steps, cfg.music_guidance, cfg.seed, cfg.batch, progress=False)
    return {w.motion_id: g for w, g in zip(windows, gen)}


def _dominant(before: Mapping[str, float], after: Mapping[str, float], spread: Mapping[str, float]) -> tuple[str, float]:
    """The attribute that moved most (in spreads) and its signed change."""
    best, val = "", 0.0
    for k in before:
        if k in after:
            d = (float(after[k]) - float(before[k])) / max(float(spread.get(k, 0.0)), 1e-6)
            if abs(d) > abs(val):
                best, val = k, d
    return best, val


def _requested(expected: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {'+' if v > 0 else '-'}" for k, v in sorted(expected.items()) if v)


def _summary(outcomes: Sequence[EditOutcome]) -> dict:
    if not outcomes:
        return {"n": 0, "edit_success": float("nan"), "preservation": float("nan")}
    return {"n": len(outcomes), "edit_success": float(np.mean([o.success for o in outcomes])),
            "preservation": float(np.mean([o.preservation for o in outcomes]))}


def evaluate_phrasings(dm, corpus: str | Path, cfg: PhrasingEvalConfig | None = None,
                       cases: Sequence[PhrasingCase] | None = None, measure: MeasureFn | None = None,
                       spread: Mapping[str, float] | None = None, log=None) -> dict:
    """The whole section's results (module docstring); `cases` default to the user phrasing set."""
    from training.eval import joints_of  # noqa: PLC0415

    t0 = time.perf_counter()
    cfg = cfg or PhrasingEvalConfig()
    if cfg.dance not in DANCES:
        raise ValueError(f"dance must be one of {DANCES}, got {cfg.dance!r}")
    log = log or (lambda *a: None)
    if measure is None:
        from training.corpus.attributes import measure  # noqa: PLC0415
    cases = list(load_cases() if cases is None else cases)
    data = CorpusWindows(corpus, cfg.splits)
    if spread is None:
        spread = data.spread(measure)

    jobs: list[tuple[EditWindow, str]] = []
    owners: list[PhrasingCase] = []
    skipped = []
    for c in cases:
        ws = data.for_case(c, cfg.windows)
        if not ws:
            skipped.append(c.edit_type or _requested(c.expected))
        jobs += [(w, c.text) for w in ws]
        owners += [c] * len(ws)
    if cfg.dance == "own":
        own = _own_dances(dm, list({w.motion_id: w for w, _ in jobs}.values()), cfg)
        jobs = [(replace(w, current=own[w.motion_id], initial=own[w.motion_id]), p) for w, p in jobs]
    windows = {w.motion_id: (w, c) for (w, _), c in zip(jobs, owners)}  # distinct windows, first owner
    log(f"phrasings: {len(jobs)} edits of {len(cases) - len(skipped)} phrasings on {len(windows)} held-out windows")

    edited = _edit_all(dm, jobs, cfg)
    measured: dict[str, dict] = {}          # before-values, once per window
    for mid, (w, _) in windows.items():
        measured[mid] = measure(joints_of(w.current[None])[0], w.beats, fps=FPS)
    after_j = joints_of(edited)

    per_cat: dict[str, list[EditOutcome]] = {}
    failures, rows = [], []
    for (w, text), c, aj in zip(jobs, owners, after_j):
        before = measured[w.motion_id]
        after = measure(aj, w.beats, fps=FPS)
        o = score_attributes(before, after, c.expected, spread, cfg.margin, cfg.tolerance, c.keep)
        per_cat.setdefault(c.category, []).append(o)
        moved = {k: round(v, 2) for k, v in o.moved.items()}
        rows.append({"text": text, "category": c.category, "edit_type": c.edit_type, "success": o.success,
                     "preservation": o.preservation, "moved": moved})
        if not o.success:
            attr, d = _dominant(before, after, spread)
            failures.append({"text": text, "category": c.category, "requested": _requested(c.expected),
                             "moved": moved, "instead": f"{attr} {'+' if d > 0 else '-'}", "instead_by": round(d, 2)})

    categories = [{"category": k, **_summary(per_cat.get(k, []))} for k in ("plain", "negation", "intensity", "synonym")
                  if k in per_cat] + [{"category": k, **_summary(v)} for k, v in per_cat.items()
                                      if k not in ("plain", "negation", "intensity", "synonym")]
    categories.append({"category": "all", **_summary([o for v in per_cat.values() for o in v])})

    # skipped: the edit type of every phrasing without a held-out window
    res = {"cases": len(cases), "skipped": skipped, "edits": len(jobs), "windows": len(windows),
           "categories": categories, "confusion": _confusion(failures), "failures": failures, "rows": rows,
           "config": {k: v for k, v in vars(cfg).items()}}
    if cfg.references:
        res["references"] = _references(dm, windows, cfg, measured, spread, measure)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def _confusion(failures: list[dict]) -> list[dict]:
    """Failed edits counted by (requested change, what moved most instead), most frequent first."""
    counts: dict[tuple[str, str], list[str]] = {}
    for f in failures:
        counts.setdefault((f["requested"], f["instead"]), []).append(f["text"])
    rows = [{"requested": r, "instead": i, "count": len(t), "example": t[0]} for (r, i), t in counts.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["requested"], r["instead"]))


def _references(dm, windows: dict, cfg: PhrasingEvalConfig, measured: dict, spread, measure) -> list[dict]:
    """The corpus's own prompt and the corpus's edited dance, on the same windows (one edit each)."""
    from training.eval import joints_of  # noqa: PLC0415

    items = [(w, c) for w, c in windows.values() if c.edit_type]
    if not items:
        return []
    rows = [("corpus phrasing, same windows", joints_of(_edit_all(dm, [(w, w.text) for w, _ in items], cfg)))]
    if cfg.dance == "corpus":   # the corpus's edited dance edits the corpus's dance, not the model's
        rows.append(("ground truth (corpus edit)", joints_of(np.stack([w.target for w, _ in items]))))
    out = []
    for label, after_j in rows:
        oc = [score_attributes(measured[w.motion_id], measure(a, w.beats, fps=FPS), c.expected, spread,
                               cfg.margin, cfg.tolerance, c.keep) for (w, c), a in zip(items, after_j)]
        out.append({"category": label, **_summary(oc)})
    return out


def markdown(res: dict) -> list[str]:
    """Markdown lines of the section (training/metrics/report.py places them)."""
    def pct(v):
        return "–" if v is None or not np.isfinite(v) else f"{v:.1%}"

    cfg = res["config"]
    own = cfg.get("dance") == "own"
    L = ["# Edits in users' words (held-out user phrasings)" + (", on the model's own dance" if own else ""), "",
         *(["The dance edited is the model's own for each window's music (what a performer edits live), "
            "not the corpus's; the corpus's edited dance is no reference for it.", ""] if own else []),
         f"{res['cases']} phrasings from `training/corpus/user_phrasings.json` (written the way performers talk, never "
         f"trained on), each a single edit of the same {cfg['windows']} held-out corpus window(s) where its edit type "
         f"applies ({res['edits']} edits on {res['windows']} windows of the {'/'.join(cfg['splits'])} split(s)); success and "
         "preservation against the dance it edited, margin and tolerance as above. "
         f"Edits: {cfg['steps']} steps, text guidance {cfg['text_guidance']}, redraw {cfg['redraw']}; {res['seconds']} s.", "",
         "| Phrasings | Edits | Edit success ↑ | Preservation ↑ |", "|---|---|---|---|"]
    for r in res["categories"] + res.get("references", []):
        L.append(f"| {r['category']} | {r['n']} | {pct(r['edit_success'])} | {pct(r['preservation'])} |")
    if res.get("skipped"):
        L += ["", f"Not scored, no held-out window of their edit type: {len(res['skipped'])} phrasings "
                  f"({', '.join(sorted(set(res['skipped'])))})."]
    L += ["", "What the failed edits did instead (the attribute that moved most, in spreads, and its direction):", "",
          "| Requested | Moved most instead | Edits | Example |", "|---|---|---|---|"]
    for r in res["confusion"][:25]:
        L.append(f"| {r['requested']} | {r['instead']} | {r['count']} | {r['example']} |")
    if len(res["confusion"]) > 25:
        L.append(f"| … {len(res['confusion']) - 25} more pairs | | | |")
    return L + [""]
