"""`liveedit eval` / `python training/eval.py`: the paper-style evaluation tables.

    python training/eval.py --limit 16                 # quick run on the default model and corpus
    python training/eval.py --synthetic 12 --tiny-random --out /tmp/R.md   # smoke run, no data needed

Protocol (written into docs/RESULTS.md with the numbers):
* Clips are 5 s windows (150 frames, the model's window and EDGE's PFC clip) cut from each chain of
  the held-out split, non-overlapping; ground truth is the corpus dance on the same frames.
* Features for FID/Div are normalised by the mean/std of all ground truth used (training + held-out
  clips; Bailando normalises by ground truth). The reference "GT vs GT" FID compares as many
  training-split clips as there are held-out clips with the held-out ground truth.
* Table 2 (generation): ground truth, our model, nearest-neighbour retrieval from the training split
  by music descriptors, the music-agnostic model (music dropped through classifier-free guidance's
  null condition, guidance 0), and a random training dance.
* Table 3 (iterative editing): initial prediction, then iterations 1-3 with the chain's three edit
  prompts; FID of iteration k against ground truth after edit k. Edit success / preservation compare
  each iteration with the one before it; "ground-truth edits" scores the corpus's own edits (the
  metric's ceiling with the chosen margin and tolerance).
* Table 4 (ablations): iteration 1 of each model variant, each from its own checkpoint.
* Edits in users' words (training/phrasing_eval.py): single edits with the held-out user phrasings
  (training/corpus/user_phrasings.json) on held-out corpus windows where each edit applies, by
  phrasing category, with a confusion table of what failed edits did instead. Alone:
  `liveedit eval --phrasings-only` (--phrasing-windows N windows per phrasing). Each phrasing edits
  the corpus's dance and, as a performer does live, the model's own dance for the same music
  (--phrasing-dance).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import metrics as M  # noqa: E402
from training.metrics.edits import DEFAULT_MARGIN, DEFAULT_TOLERANCE, EditOutcome  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WINDOW = 150
FPS = 30
CHECKPOINTS = REPO / "model" / "checkpoints"
SAMPLER_NAMES = ("dpm2", "ddim")   # model.diffusion.SAMPLERS, named here so `--help` needs no torch
MeasureFn = Callable[..., Mapping[str, float]]


# ============================================================================ data
@dataclass
class EvalEdit:
    prompt: str
    expected: dict[str, float]          # attribute -> signed expected change (sign = direction)
    motion: np.ndarray | None = None    # (T, 151) ground-truth dance after this edit
    edit_type: str = ""
    held_out: bool = False              # held-out phrasing
    held_out_combo: bool = False        # held-out move/edit combination
    keep: list[str] | None = None       # attributes the edit promises to keep (None: all others)


@dataclass
class EvalChain:
    name: str
    music: np.ndarray                   # (T, 35) music features at 30 fps
    beat_times: np.ndarray              # (K,) seconds from frame 0
    seed: np.ndarray                    # (T, 151) ground-truth seed dance
    edits: list[EvalEdit] = field(default_factory=list)
    song: str = ""


@dataclass
class Window:
    """One 5 s evaluation clip: music, beats (seconds from the clip start), GT at each stage."""
    chain: str
    song: str
    music: np.ndarray                   # (150, 35)
    beats: np.ndarray                   # (K,)
    gt: list[np.ndarray]                # [seed, after edit 1, ...] each (150, 151)
    edits: list[EvalEdit]


def windows_from_chains(chains: Iterable[EvalChain], window: int = WINDOW, per_chain: int | None = None) -> list[Window]:
    """Cut chains into non-overlapping windows; edits are kept while their GT motion covers the window."""
    out: list[Window] = []
    for ch in chains:
        T = min(len(ch.music), len(ch.seed))
        n = T // window
        if per_chain is not None:
            n = min(n, per_chain)
        for w in range(n):
            a, b = w * window, (w + 1) * window
            gt = [np.asarray(ch.seed[a:b], np.float32)]
            edits = []
            for e in ch.edits:
                if e.motion is None or len(e.motion) < b:
                    break
                gt.append(np.asarray(e.motion[a:b], np.float32))
                edits.append(e)
            bt = np.asarray(ch.beat_times, np.float64)
            beats = bt[(bt >= a / FPS) & (bt < b / FPS)] - a / FPS
            out.append(Window(ch.name, ch.song or ch.name, np.asarray(ch.music[a:b], np.float32), beats, gt, edits))
    return out


def load_corpus_windows(corpus: str | Path, split: str, max_windows: int | None = None,
                        per_chain: int | None = None) -> tuple[list[Window], int]:
    """5 s windows of one split of a corpus directory (training/corpus/format.py: the procedural
    corpus or a user's edit pairs), reading chains only until `max_windows` are cut.

    A chain is a seed record (no parent) and the records edited from it, followed by parent links.
    Returns (windows, chains read).
    """
    from training.corpus import format as fmt  # noqa: PLC0415  (owned by the corpus package)
    from training.corpus.dataset import SongCache, window  # noqa: PLC0415

    root = Path(corpus)
    recs = fmt.read_manifest(root)
    songs = SongCache(root)
    children: dict[str, list[dict]] = {}
    for r in recs:
        if r["parent_id"] is not None:
            children.setdefault(r["parent_id"], []).append(r)
    seeds = sorted((r for r in recs if r["parent_id"] is None and r["split"] == split), key=lambda r: r["motion_id"])
    # A fixed shuffle, so that a --limit takes chains from many songs rather than the first few.
    seeds = [seeds[i] for i in np.random.default_rng(0).permutation(len(seeds))]
    windows: list[Window] = []
    n = 0
    for seed in seeds:
        if max_windows and len(windows) >= max_windows:
            break
        motion = fmt.load_motion(root, seed["motion_id"])
        start = float(seed.get("start_time") or 0.0)
        s0 = int(round(start * FPS))
        edits, cur = [], seed
        while children.get(cur["motion_id"]):
            cur = sorted(children[cur["motion_id"]], key=lambda r: (r.get("step") or 0, r["motion_id"]))[0]
            edits.append(EvalEdit(
                prompt=str(cur["text"]), expected={k: float(v) for k, v in (cur.get("expected") or {}).items()},
                motion=fmt.load_motion(root, cur["motion_id"]), edit_type=str(cur.get("edit_type") or ""),
                held_out=bool(cur.get("heldout_phrasing")), held_out_combo=bool(cur.get("heldout_combo")),
                keep=list(cur.get("keep") or []) or None))
        chain = EvalChain(
            name=str(seed.get("chain_id") or seed["motion_id"]),
            music=window(songs.features(seed["song_id"]), s0, len(motion)),
            beat_times=songs.beats(seed["song_id"]) - start, seed=motion, edits=edits, song=seed["song_id"])
        windows += windows_from_chains([chain], per_chain=per_chain)
        n += 1
    return (windows[:max_windows] if max_windows else windows), n


# ---------------------------------------------------------------------------- synthetic data (tests, smoke runs)
TOY_EDITS = (
    ("swing the arms wider", {"arm_span": 1.0}),
    ("keep the arms closer to the body", {"arm_span": -1.0}),
    ("bounce deeper", {"bounce": 1.0}),
    ("bounce less", {"bounce": -1.0}),
)


def toy_measure(joints: np.ndarray, beat_times: np.ndarray, fps: float = FPS) -> dict[str, float]:
    """Two attributes for synthetic chains: mean wrist distance and pelvis height range."""
    j = np.asarray(joints)
    return {
        "arm_span": float(np.linalg.norm(j[:, 20] - j[:, 21], axis=-1).mean()),
        "bounce": float(np.ptp(j[:, 0, 1])),
    }


def synthetic_chains(n: int, seed: int = 0, frames: int = WINDOW) -> list[EvalChain]:
    """Small beat-driven dances with scored edits (arm span, bounce), for tests and smoke runs.

    Not a benchmark: the procedural corpus is the evaluation data.
    """
    import torch  # noqa: PLC0415

    from model.motion import encode
    from model.rotations import axis_angle_to_matrix
    from model.skeleton import STANDING_PELVIS_HEIGHT

    rng = np.random.default_rng(seed)
    chains = []
    for c in range(n):
        bpm = rng.uniform(90, 140)
        period = 60.0 / bpm
        t = np.arange(frames) / FPS
        beat_times = np.arange(rng.uniform(0, period), frames / FPS, period)
        phase = 2 * np.pi * t / period
        music = rng.normal(0, 0.3, size=(frames, 35)).astype(np.float32)
        music[:, 0] = 0.5 + 0.5 * np.cos(phase)
        music[np.round(beat_times * FPS).astype(int).clip(0, frames - 1), 34] = 1.0

        def dance(arm: float, bounce: float) -> np.ndarray:
            aa = np.zeros((frames, 24, 3), np.float32)
            aa[:, 16, 2] = -1.2 + arm * (0.6 + 0.3 * np.sin(phase))   # left shoulder: raise/lower
            aa[:, 17, 2] = 1.2 - arm * (0.6 + 0.3 * np.sin(phase))
            aa[:, 4, 0] = aa[:, 5, 0] = bounce * (1 - np.cos(phase))  # knees bend on the beat
            root = np.zeros((frames, 3), np.float32)
            root[:, 1] = STANDING_PELVIS_HEIGHT - 0.12 * bounce * (1 - np.cos(phase))
            rot = axis_angle_to_matrix(torch.as_tensor(aa))
            return encode(rot, torch.as_tensor(root)).numpy()

        arm, bounce = rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.4)
        seed_motion = dance(arm, bounce)
        edits = []
        for k in rng.permutation(len(TOY_EDITS))[:3]:
            prompt, exp = TOY_EDITS[k]
            if "arm_span" in exp:
                arm = arm + 0.35 * exp["arm_span"]
            else:
                bounce = max(0.05, bounce + 0.15 * exp["bounce"])
            edits.append(EvalEdit(prompt, dict(exp), dance(arm, bounce), edit_type=prompt, held_out=bool(c % 2)))
        chains.append(EvalChain(f"toy{c:03d}", music, beat_times, seed_motion, edits, song=f"toy{c:03d}"))
    return chains


# ============================================================================ generation
def joints_of(motions: np.ndarray | Sequence[np.ndarray], chunk: int = 64) -> np.ndarray:
    """(N, T, 151) motions -> (N, T, 24, 3) joint positions (forward kinematics in chunks)."""
    import torch  # noqa: PLC0415

    from model.motion import joints_from_motion

    m = np.asarray(motions, np.float32)
    out = []
    with torch.no_grad():
        for i in range(0, len(m), chunk):
            out.append(joints_from_motion(torch.as_tensor(m[i:i + chunk])).numpy())
    return np.concatenate(out) if out else np.zeros((0, m.shape[1] if m.ndim > 1 else 0, 24, 3), np.float32)


def _batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, desc=desc, unit="clip", disable=not enabled, leave=False)


def generate_initial(dm, windows: Sequence[Window], steps: int, music_guidance: float, seed: int,
                     batch: int, progress: bool = True, desc: str = "generate") -> np.ndarray:
    """Initial predictions (N, 150, 151), batched."""
    music = np.stack([w.music for w in windows])
    out = []
    with _progress(len(windows), desc, progress) as bar:
        for k, sl in enumerate(_batches(len(windows), batch)):
            out.append(np.asarray(dm.generate(music[sl], steps=steps, music_guidance=music_guidance, seed=seed + k)))
            bar.update(sl.stop - sl.start)
    return np.concatenate(out)


def edit_iteration(dm, windows: Sequence[Window], initial: np.ndarray, current: np.ndarray, k: int,
                   steps: int, text_guidance: float, seed: int, batch: int, progress: bool = True,
                   redraw: float = 1.0) -> np.ndarray:
    """Editing iteration k (1-based) with each window's k-th prompt, batched -> (N, 150, 151)."""
    music = np.stack([w.music for w in windows])
    prompts = [w.edits[k - 1].prompt for w in windows]
    out = []
    with _progress(len(windows), f"edit {k}", progress) as bar:
        for b, sl in enumerate(_batches(len(windows), batch)):
            out.append(np.asarray(dm.edit(music[sl], initial[sl], current[sl], prompts[sl], steps=steps,
                                          text_guidance=text_guidance, seed=seed + 1000 * k + b,
                                          redraw=redraw)))
            bar.update(sl.stop - sl.start)
    return np.concatenate(out)


def music_descriptor(music: np.ndarray) -> np.ndarray:
    """(T, 35) features -> mean, std of every channel and the beat rate: a window's music fingerprint."""
    return np.concatenate([music.mean(0), music.std(0), [music[:, 34].sum() / len(music) * FPS]])


def nearest_neighbour(train: Sequence[Window], test: Sequence[Window]) -> np.ndarray:
    """For each test window, the training dance whose music descriptor is nearest (standardised L2)."""
    a = np.stack([music_descriptor(w.music) for w in train])
    b = np.stack([music_descriptor(w.music) for w in test])
    mu, sd = a.mean(0), a.std(0) + 1e-6
    d = (((b - mu) / sd)[:, None, :] - ((a - mu) / sd)[None, :, :]) ** 2
    idx = d.sum(-1).argmin(1)
    return np.stack([train[i].gt[0] for i in idx])


# ============================================================================ metrics over sets
@dataclass
class Reference:
    """Held-out ground-truth features that FID compares with, and the normalisation statistics."""
    kin: np.ndarray
    geo: np.ndarray
    kin_stats: tuple[np.ndarray, np.ndarray] | None = None  # (mean, std); None: those of kin
    geo_stats: tuple[np.ndarray, np.ndarray] | None = None


def reference_of(joints: np.ndarray, pool: Reference | None = None) -> Reference:
    """Reference features of (N, 150, 24, 3) clips; normalised with `pool`'s statistics if given."""
    kin, geo = M.motion_features(list(joints), FPS)
    if pool is not None:
        return Reference(kin, geo, pool.kin_stats, pool.geo_stats)
    return Reference(kin, geo)


def pooled_reference(*joint_sets: np.ndarray) -> Reference:
    """Normalisation statistics from all ground truth at hand (training + held-out clips).

    Bailando normalises by the ground truth's mean/std. Estimated from a few dozen held-out clips
    alone, some feature dimensions have a tiny spread and any other set lands hundreds of standard
    deviations away, so the statistics come from the larger pool.
    """
    feats = [M.motion_features(list(j), FPS) for j in joint_sets if len(j)]
    kin = np.concatenate([f[0] for f in feats])
    geo = np.concatenate([f[1] for f in feats])
    return Reference(kin, geo, M.feature_stats(kin), M.feature_stats(geo))


def quality(joints: np.ndarray, beats: Sequence[np.ndarray], ref: Reference) -> dict[str, float]:
    """FID_k, FID_g, Div_k, Div_g, BAS (both variants) and PFC of a set of (150, 24, 3) clips."""
    kin, geo = M.motion_features(list(joints), FPS)
    out: dict[str, float] = {}
    for name, gen, gt in (("k", kin, ref.kin), ("g", geo, ref.geo)):
        if len(gen) >= 2 and len(gt) >= 2:
            fid, div = M.fid_and_diversity(gen, gt, ref.kin_stats if name == "k" else ref.geo_stats)
        else:
            fid, div = float("nan"), float("nan")
        out[f"fid_{name}"], out[f"div_{name}"] = fid, div
    out.update(M.bas(list(joints), list(beats), FPS))
    out["pfc"] = M.pfc(list(joints), FPS)
    return out


def edit_scores(before: np.ndarray, after: np.ndarray, windows: Sequence[Window], k: int,
                spread: Mapping[str, float], measure: MeasureFn, margin: float, tolerance: float) -> list[EditOutcome]:
    """Score iteration k's edit for every window: before/after joints (N, 150, 24, 3)."""
    out = []
    for b, a, w in zip(before, after, windows):
        e = w.edits[k - 1]
        out.append(M.score_edit(b, a, w.beats, e.expected, spread, FPS, margin, tolerance, measure=measure,
                                keep=e.keep))
    return out


def summarize_edits(outcomes: Sequence[EditOutcome], windows: Sequence[Window], k: int) -> dict[str, float]:
    s = M.summarize(list(outcomes))
    held = [o for o, w in zip(outcomes, windows) if w.edits[k - 1].held_out]
    hs = M.summarize(held)
    s.update({"held_out_success": hs["edit_success"], "held_out_preservation": hs["preservation"], "held_out_n": len(held)})
    combo = [o for o, w in zip(outcomes, windows) if w.edits[k - 1].held_out_combo]
    if combo:
        s.update({"combo_success": M.summarize(combo)["edit_success"], "combo_n": len(combo)})
    return s


# ============================================================================ the run
@dataclass
class EvalConfig:
    steps: int = 10
    music_guidance: float = 2.0
    text_guidance: float = 2.0
    redraw: float = 1.0
    batch: int = 16
    seed: int = 0
    margin: float = DEFAULT_MARGIN
    tolerance: float = DEFAULT_TOLERANCE
    progress: bool = True


def _stage_ref(windows: Sequence[Window], stage: int, fallback: Reference) -> Reference:
    gt = [w.gt[stage] for w in windows if len(w.gt) > stage]
    return reference_of(joints_of(gt), fallback) if len(gt) >= 2 else fallback


def evaluate_model_editing(dm, windows: Sequence[Window], cfg: EvalConfig, refs: list[Reference], spread,
                           measure: MeasureFn, scorer=None, embed=None, iterations: int = 3,
                           initial: np.ndarray | None = None) -> list[dict]:
    """Initial prediction then `iterations` editing iterations; one row of metrics per stage."""
    beats = [w.beats for w in windows]
    if initial is None:
        initial = generate_initial(dm, windows, cfg.steps, cfg.music_guidance, cfg.seed, cfg.batch, cfg.progress)
    rows = [{"stage": "initial", **quality(joints_of(initial), beats, refs[0])}]
    current, prev_j = initial, joints_of(initial)
    for k in range(1, iterations + 1):
        current = edit_iteration(dm, windows, initial, current, k, cfg.steps, cfg.text_guidance, cfg.seed,
                                 cfg.batch, cfg.progress, cfg.redraw)
        cur_j = joints_of(current)
        row = {"stage": f"iteration {k}", **quality(cur_j, beats, refs[min(k, len(refs) - 1)])}
        outcomes = edit_scores(prev_j, cur_j, windows, k, spread, measure, cfg.margin, cfg.tolerance)
        row.update(summarize_edits(outcomes, windows, k))
        if scorer is not None:
            row.update(alignment_scores(scorer, embed, prev_j, cur_j, windows, k))
        rows.append(row)
        prev_j = cur_j
    return rows


def alignment_scores(scorer, embed, before: np.ndarray, after: np.ndarray, windows: Sequence[Window],
                     k: int) -> dict[str, float]:
    """Mean alignment distance (1 - cos, lower = better) of iteration k's edits, and text -> pair
    retrieval R@1/R@3 among batches of 32 of these pairs."""
    from training.alignment import build_pairs  # noqa: PLC0415

    ps = build_pairs([(b, a, w.edits[k - 1].prompt) for b, a, w in zip(before, after, windows)], embed)
    r = scorer.retrieval(ps)
    return {"align_dist": float(scorer.distances(ps.features, ps.text).mean()), "align_r1": r["r1"],
            "align_r3": r["r3"]}


def ground_truth_editing(windows: Sequence[Window], refs: list[Reference], spread, measure: MeasureFn,
                         cfg: EvalConfig, scorer=None, embed=None, iterations: int = 3) -> list[dict]:
    """The corpus's own edits scored like the model's (ceiling of edit success with these settings)."""
    beats = [w.beats for w in windows]
    prev = joints_of([w.gt[0] for w in windows])
    rows = [{"stage": "GT seed", **quality(prev, beats, refs[0]), "fid_k": float("nan"), "fid_g": float("nan")}]
    for k in range(1, iterations + 1):
        cur = joints_of([w.gt[k] for w in windows])
        row = {"stage": f"GT edit {k}", **quality(cur, beats, refs[min(k, len(refs) - 1)])}
        row["fid_k"] = row["fid_g"] = float("nan")  # the reference itself: 0 by construction
        row.update(summarize_edits(edit_scores(prev, cur, windows, k, spread, measure, cfg.margin, cfg.tolerance), windows, k))
        if scorer is not None:
            row.update(alignment_scores(scorer, embed, prev, cur, windows, k))
        rows.append(row)
        prev = cur
    return rows


def gt_edit_pairs(windows: Sequence[Window]) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(before joints, after joints, prompt) for every ground-truth edit step in the windows."""
    out = []
    for w in windows:
        j = joints_of(w.gt)
        for k, e in enumerate(w.edits):
            out.append((j[k], j[k + 1], e.prompt))
    return out


def get_alignment(path: Path, train: Sequence[Window], test: Sequence[Window], embed, retrain: bool,
                  seconds: float, progress: bool):
    """Load the alignment scorer, or train it on the training split's GT edits and save it."""
    from training.alignment import AlignmentScorer, build_pairs, train_alignment  # noqa: PLC0415

    if path.is_file() and not retrain:
        return AlignmentScorer.load(path), False
    tr = gt_edit_pairs(train)
    if len(tr) < 8:
        return None, False
    te = gt_edit_pairs(test)
    scorer = train_alignment(build_pairs(tr, embed), build_pairs(te, embed) if len(te) >= 4 else None,
                             steps=3000, max_seconds=seconds, progress=progress)
    scorer.save(path)
    return scorer, True


def load_model(path: str | Path | None, tiny_random: bool = False, text_encoder=None, sampler: str | None = None):
    """sampler: a name in model.diffusion.SAMPLERS for new dance (default: the model's own)."""
    from model.diffusion import SAMPLERS  # noqa: PLC0415
    from model.pipeline import DanceModel  # noqa: PLC0415

    dm = DanceModel.tiny_random(seed=0, text_encoder=text_encoder) if tiny_random \
        else DanceModel.load(path, text_encoder=text_encoder)
    if sampler is not None:
        dm.generate_sampling = SAMPLERS[sampler]
    return dm


# (model, args, log) -> the long-form section's results. The long-form evaluation dances whole songs
# through the engine's rolling path, which lives above this package (liveedit.offline.longform), so
# `liveedit eval` hands it in; `python training/eval.py` alone reports isolated windows only.
LongformFn = Callable[..., dict]


def run(args: argparse.Namespace, dm=None, measure: MeasureFn | None = None, embed=None, text_encoder=None,
        variant_models: Mapping[str, object] | None = None, longform: LongformFn | None = None) -> dict:
    """The whole evaluation; returns the results dict and writes the report. Objects passed in
    (model, attribute measure, text embedder, long-form evaluation) replace the defaults (tests use
    small ones)."""
    import torch  # noqa: PLC0415

    threads = torch.get_num_threads()
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    try:
        if getattr(args, "longform_only", False):
            return _run_longform_only(args, dm, text_encoder, longform)
        if getattr(args, "phrasings_only", False):
            return _run_phrasings_only(args, dm, measure, text_encoder)
        return _run(args, dm, measure, embed, text_encoder, variant_models, longform)
    finally:
        torch.set_num_threads(threads)


def _run_longform(args, dm, longform: LongformFn | None, log) -> dict | None:
    """The long-form section (whole held-out songs through the engine's rolling path), or None."""
    if longform is None or not getattr(args, "longform_songs", 0):
        if longform is None:
            log("eval: no long-form section (it needs the engine: run `liveedit eval`)")
        return None
    return longform(dm, args, log)


def _run_longform_only(args, dm, text_encoder, longform: LongformFn | None) -> dict:
    """`--longform-only`: the section that counts, without the corpus windows (no corpus needed)."""
    t0 = time.perf_counter()
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    if longform is None:
        raise SystemExit("--longform-only needs the engine's rolling path: run it as `liveedit eval --longform-only`")
    if not args.longform_songs:
        raise SystemExit("--longform-only with --longform-songs 0 evaluates nothing")
    if dm is None:
        dm = load_model(args.checkpoint, args.tiny_random, text_encoder, getattr(args, "sampler", None))
    results: dict = {"meta": _meta(args, dm, data="held-out songs only (--longform-only)")}
    results["longform"] = _run_longform(args, dm, longform, log)
    results["goals"] = []
    results["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    _write(args, results, None, log)
    return results


def _phrasing_section(args, dm, measure, log) -> dict:
    """Single edits in users' words (training/phrasing_eval.py) on each dance of --phrasing-dance:
    {"phrasings": on the corpus's dance, "phrasings_own": on the model's own}; empty when skipped."""
    if not getattr(args, "phrasing_windows", 0) or args.synthetic or not getattr(dm, "can_edit", True):
        return {}
    from training.phrasing_eval import PhrasingEvalConfig, evaluate_phrasings, load_cases  # noqa: PLC0415

    cases = load_cases(args.phrasings) if args.phrasings else None
    out = {}
    for dance in _phrasing_dances(args):
        cfg = PhrasingEvalConfig(windows=args.phrasing_windows, splits=tuple(args.phrasing_splits.split(",")),
                                 steps=args.steps, text_guidance=args.text_guidance, redraw=_edit_redraw(args),
                                 batch=args.batch, seed=args.seed, margin=args.margin, tolerance=args.tolerance,
                                 dance=dance, music_guidance=args.music_guidance)
        log(f"eval: single edits on user phrasings ({dance} dance)")
        key = "phrasings" if dance == "corpus" else f"phrasings_{dance}"
        out[key] = evaluate_phrasings(dm, args.corpus, cfg, cases=cases, measure=measure, log=log)
    return out


def _phrasing_dances(args) -> list[str]:
    from training.phrasing_eval import DANCES  # noqa: PLC0415

    dances = [d.strip() for d in str(getattr(args, "phrasing_dance", "corpus")).split(",") if d.strip()]
    bad = [d for d in dances if d not in DANCES]
    if bad or not dances:
        raise SystemExit(f"--phrasing-dance takes a comma-separated list of {', '.join(DANCES)}; got {bad or dances}")
    return dances


def _run_phrasings_only(args, dm, measure, text_encoder) -> dict:
    """`--phrasings-only`: the single-edit section on user phrasings alone."""
    t0 = time.perf_counter()
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    if args.synthetic or not args.phrasing_windows:
        raise SystemExit("--phrasings-only needs a corpus (no --synthetic) and --phrasing-windows >= 1")
    if dm is None:
        dm = load_model(args.checkpoint, args.tiny_random, text_encoder, getattr(args, "sampler", None))
    results: dict = {"meta": _meta(args, dm, data=f"corpus `{_short(args.corpus)}` (--phrasings-only)")}
    results.update(_phrasing_section(args, dm, measure, log))
    results["goals"] = []
    results["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    _write(args, results, None, log)
    return results


def _meta(args, dm, **extra) -> dict:
    from model.pipeline import describe_sampling  # noqa: PLC0415

    return {
        "command": " ".join(["liveedit eval"] + list(getattr(args, "argv", []) or [])),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": _machine(),
        "model": getattr(dm, "name", "model"), "model_meta": _plain(getattr(dm, "meta", {})),
        "steps": args.steps, "music_guidance": args.music_guidance, "seed": args.seed,
        "sampler": describe_sampling(dm), "edit_sampler": describe_sampling(dm, "edit_sampling"), **extra,
    }


def _write(args, results: dict, example, log) -> None:
    from training.metrics.report import write_report  # noqa: PLC0415
    write_report(results, Path(args.out), Path(args.img_dir), *(example or ([], None, None)))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(_plain(results), indent=1))
    log(f"eval: wrote {args.out} in {results['meta']['seconds']} s")


@contextlib.contextmanager
def _switched_off(dm, flags: tuple[str, ...]):
    """Turn the named post-processing flags of a DanceModel off for a block, then back on."""
    for flag in flags:
        setattr(dm, flag, False)
    try:
        yield dm
    finally:
        for flag in flags:
            setattr(dm, flag, True)


def _edit_redraw(args) -> float:
    if getattr(args, "edit_redraw", None) is not None:
        return args.edit_redraw
    from model.pipeline import EDIT_REDRAW  # noqa: PLC0415  (what the engine and `liveedit edit` use)
    return EDIT_REDRAW


def _run(args, dm, measure, embed, text_encoder, variant_models, longform: LongformFn | None = None) -> dict:
    t0 = time.perf_counter()
    cfg = EvalConfig(steps=args.steps, music_guidance=args.music_guidance, text_guidance=args.text_guidance,
                     redraw=_edit_redraw(args), batch=args.batch, seed=args.seed, margin=args.margin, tolerance=args.tolerance,
                     progress=not args.quiet)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))

    # ---- data
    if args.synthetic:
        n_train = max(4, args.synthetic)
        train = windows_from_chains(synthetic_chains(n_train, seed=args.seed + 1), per_chain=args.per_chain)
        test = windows_from_chains(synthetic_chains(args.synthetic, seed=args.seed + 2), per_chain=args.per_chain)
        test = test[: args.limit] if args.limit else test
        measure = measure or toy_measure
        data_desc = f"synthetic chains ({n_train} train, {args.synthetic} test)"
    else:
        train, n_tr = load_corpus_windows(args.corpus, args.train_split, args.train_limit or None, args.per_chain)
        test, n_te = load_corpus_windows(args.corpus, args.split, args.limit or None, args.per_chain)
        data_desc = (f"corpus `{_short(args.corpus)}` (train split '{args.train_split}': {n_tr} chains, "
                     f"eval split '{args.split}': {n_te} chains)")
    if measure is None:
        from training.corpus.attributes import measure as corpus_measure  # noqa: PLC0415
        measure = corpus_measure
    if len(test) < 2 or len(train) < 2:
        raise SystemExit(f"need at least 2 train and 2 test windows, got {len(train)} and {len(test)}")
    edit_test = [w for w in test if len(w.edits) >= 3]
    log(f"eval: {len(train)} train windows, {len(test)} test windows ({len(edit_test)} with 3 edits)")

    # ---- references
    test_gt_j = joints_of([w.gt[0] for w in test])
    train_gt_j = joints_of([w.gt[0] for w in train])
    pool = pooled_reference(train_gt_j, test_gt_j)
    ref = reference_of(test_gt_j, pool)
    beats = [w.beats for w in test]
    # GT vs GT with as many training clips as held-out ones: FID is biased upwards at small sample
    # sizes, so the reference must be estimated from the same count as the model's FID.
    ref_idx = np.random.default_rng(cfg.seed + 7).choice(len(train), size=min(len(test), len(train)), replace=False)
    gt_vs_gt = quality(train_gt_j[ref_idx], [train[i].beats for i in ref_idx], ref)
    spread_rows = [measure(j, w.beats, fps=FPS) for j, w in zip(train_gt_j, train)]
    for w in train:
        if len(w.gt) > 1:
            spread_rows.append(measure(joints_of(w.gt[1:2])[0], w.beats, fps=FPS))
    spread = M.attribute_spread(spread_rows)

    # ---- model and baselines (Table 2)
    if dm is None:
        dm = load_model(args.checkpoint, args.tiny_random, text_encoder, getattr(args, "sampler", None))
    results: dict = {"meta": _meta(
        args, dm, data=data_desc, train_windows=len(train), test_windows=len(test), edit_windows=len(edit_test),
        text_guidance=cfg.text_guidance, edit_redraw=cfg.redraw, margin=cfg.margin, tolerance=cfg.tolerance,
        spread=spread)}
    lf = _run_longform(args, dm, longform, log)
    if lf is not None:
        results["longform"] = lf
    table2 = [{"method": "Ground truth", **quality(test_gt_j, beats, ref)}]
    table2[0].update({k: gt_vs_gt[k] for k in ("fid_k", "fid_g")})  # GT's FID is vs the training split
    initial = generate_initial(dm, test, cfg.steps, cfg.music_guidance, cfg.seed, cfg.batch, cfg.progress)
    table2.append({"method": "Ours (initial prediction)", **quality(joints_of(initial), beats, ref)})
    # the same samples (same seeds) without the post-processing steps, to show what each one adds
    for method, off in (("Ours without beat snapping", ("beat_snap",)),
                        ("Ours without beat snapping or foot locking (raw network output)", ("beat_snap", "foot_lock"))):
        if not all(getattr(dm, flag, False) for flag in off):
            continue
        with _switched_off(dm, off):
            raw = generate_initial(dm, test, cfg.steps, cfg.music_guidance, cfg.seed, cfg.batch, cfg.progress,
                                   desc=method.split(" (")[0].lower())
        table2.append({"method": method, **quality(joints_of(raw), beats, ref)})
    table2.append({"method": "Nearest neighbour (music retrieval)",
                   **quality(joints_of(nearest_neighbour(train, test)), beats, ref)})
    agnostic = generate_initial(dm, test, cfg.steps, 0.0, cfg.seed, cfg.batch, cfg.progress, desc="no music")
    table2.append({"method": "Music-agnostic (null music condition)", **quality(joints_of(agnostic), beats, ref)})
    rnd = np.random.default_rng(cfg.seed).integers(0, len(train), size=len(test))
    table2.append({"method": "Random training dance",
                   **quality(joints_of(np.stack([train[i].gt[0] for i in rnd])), beats, ref)})
    results["table2"] = table2
    results["gt_vs_gt"] = gt_vs_gt

    # ---- alignment model
    scorer = None
    if embed is None and edit_test and not args.no_alignment:
        from training.alignment import default_text_embedder  # noqa: PLC0415
        embed = default_text_embedder()
    if embed is not None and edit_test and not args.no_alignment:
        scorer, trained = get_alignment(Path(args.alignment), train, test, embed, args.train_alignment,
                                        args.alignment_seconds, cfg.progress)
        if scorer is not None:
            from training.alignment import build_pairs  # noqa: PLC0415
            te = gt_edit_pairs(edit_test)
            r = scorer.retrieval(build_pairs(te, embed)) if len(te) >= 4 else {"r1": float("nan"), "r3": float("nan"), "n": 0}
            results["alignment"] = {"path": str(args.alignment), "trained_now": trained,
                                    "train_metrics": _plain(scorer.metrics), "gt_r1": r["r1"], "gt_r3": r["r3"],
                                    "gt_pairs": r["n"]}

    # ---- iterative editing (Table 3) and ablations (Table 4)
    if edit_test and getattr(dm, "can_edit", True):
        refs = [_stage_ref(edit_test, s, ref) for s in range(4)]
        idx = [i for i, w in enumerate(test) if len(w.edits) >= 3]
        rows = evaluate_model_editing(dm, edit_test, cfg, refs, spread, measure, scorer, embed,
                                      initial=initial[idx])
        results["table3"] = rows
        results["table3_gt"] = ground_truth_editing(edit_test, refs, spread, measure, cfg, scorer, embed)
        results["table4"] = _ablations(args, dm, edit_test, cfg, refs, spread, measure, scorer, embed,
                                       variant_models, rows[1], text_encoder, log)
        results.update(_phrasing_section(args, dm, measure, log))
    else:
        why = ("the model has no editing branch (stage 2 not trained)" if edit_test
               else "no held-out window has a chain of 3 edits")
        results.setdefault("notes", []).append(f"Tables 3 and 4 not computed: {why}.")
        log(f"eval: Tables 3 and 4 skipped: {why}")
    results["goals"] = goals(results)
    results["meta"]["seconds"] = round(time.perf_counter() - t0, 1)

    _write(args, results, ([(w.music, w.beats) for w in test[:1]], test_gt_j[:1], joints_of(initial[:1])), log)
    return results


VARIANTS = (("no_branch", "No editing branch (text into the generation branch)"),
            ("concat", "Editing branch without CEM (concatenation)"),
            ("cem", "Full model (editing branch with CEM)"))


def _ablations(args, dm, windows, cfg, refs, spread, measure, scorer, embed, variant_models, full_row,
               text_encoder, log) -> list[dict]:
    """Iteration-1 metrics of each variant; 'not trained' when its checkpoint is missing."""
    paths = {"no_branch": args.no_branch, "concat": args.no_cem, "cem": args.checkpoint}
    rows = []
    for key, label in VARIANTS:
        model = (variant_models or {}).get(key)
        if model is None and key == "cem":
            rows.append({"variant": label, "status": "ok", **_training_of(dm, args.checkpoint),
                         **{k: v for k, v in full_row.items() if k != "stage"}})
            continue
        if model is None:
            p = Path(paths[key]) if paths[key] else None
            if p is None or not p.is_file():
                rows.append({"variant": label, "status": "not trained", "checkpoint": _short(p) if p else ""})
                continue
            model = load_model(p, text_encoder=text_encoder, sampler=getattr(args, "sampler", None))
            mode = getattr(getattr(model, "cfg", None), "edit_mode", key)
            if mode != key:
                log(f"eval: warning: {p} has edit_mode {mode!r}, expected {key!r}")
        log(f"eval: ablation {key}")
        r = evaluate_model_editing(model, windows, cfg, refs, spread, measure, scorer, embed, iterations=1)
        rows.append({"variant": label, "status": "ok", **_training_of(model, paths[key]),
                     **{k: v for k, v in r[1].items() if k != "stage"}})
    return rows


def _training_of(model, path) -> dict:
    """Which file a Table 4 row comes from and how long its editing stage trained (from its metadata)."""
    meta = getattr(model, "meta", {}) or {}
    steps = meta.get("stage2_total_steps", meta.get("step")) if meta.get("stage") == 2 else None
    return {"checkpoint": _short(path) if path else getattr(model, "name", ""), "stage2_steps": steps}


# ============================================================================ goals
def goals(results: dict) -> list[dict]:
    """The issue's goals for the default model, each with its value, target and pass/fail."""
    t2 = {r["method"]: r for r in results.get("table2", [])}
    gt, ours = t2.get("Ground truth", {}), t2.get("Ours (initial prediction)", {})
    gg = results.get("gt_vs_gt", {})
    out = []

    def add(name: str, value: float, target: float, ok: bool | None, fmt: str = "{:.4f}") -> None:
        finite = value is not None and np.isfinite(value) and target is not None and np.isfinite(target)
        out.append({"goal": name, "value": value, "target": target,
                    "pass": bool(ok) if finite else None, "fmt": fmt})

    if ours:
        add("BAS (music-beat avg) >= ground truth", ours["bas_music"], gt.get("bas_music"),
            ours["bas_music"] >= gt.get("bas_music", np.nan))
        add("PFC <= 1.2 x ground truth", ours["pfc"], 1.2 * gt.get("pfc", np.nan),
            ours["pfc"] <= 1.2 * gt.get("pfc", np.nan))
        add("FID_k <= 2 x GT-vs-GT FID_k", ours["fid_k"], 2 * gg.get("fid_k", np.nan),
            ours["fid_k"] <= 2 * gg.get("fid_k", np.nan), "{:.2f}")
    t3 = results.get("table3")
    if t3:
        edits = [r for r in t3[1:]]
        n_held = sum(r.get("held_out_n", 0) for r in edits)
        if n_held:
            succ = sum(r["held_out_success"] * r["held_out_n"] for r in edits if r.get("held_out_n")) / n_held
            pres = sum(r["held_out_preservation"] * r["held_out_n"] for r in edits if r.get("held_out_n")) / n_held
            src = "held-out phrasings"
        else:
            succ = float(np.mean([r["edit_success"] for r in edits]))
            pres = float(np.mean([r["preservation"] for r in edits]))
            src = "all phrasings (no held-out flag in the data)"
        add(f"edit success >= 80% ({src}, iterations 1-3)", succ, 0.8, succ >= 0.8, "{:.1%}")
        add(f"preservation >= 90% ({src}, iterations 1-3)", pres, 0.9, pres >= 0.9, "{:.1%}")
        init, it3 = t3[0], t3[-1]
        for key in ("fid_k", "fid_g"):
            add(f"iteration-3 {key.replace('fid', 'FID')} within 10% of initial", it3[key], 1.1 * init[key],
                it3[key] <= 1.1 * init[key], "{:.2f}")
    return out


# ============================================================================ helpers / CLI
def _short(path) -> str:
    """A path relative to the repository when inside it (reports should not show home directories)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(path)


def _machine() -> str:
    """CPU model and count, e.g. 'AMD EPYC 9R14 (2 CPUs)'."""
    import os  # noqa: PLC0415

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count() or 1} CPUs)"


def _plain(x):
    """JSON-friendly copy (numpy scalars and arrays to Python)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="DanceModel checkpoint (default: the shipped model)")
    p.add_argument("--tiny-random", action="store_true", help="use a tiny random model (smoke test of the harness)")
    p.add_argument("--no-branch", default=str(CHECKPOINTS / "ablation_no_branch.pt"),
                   help="Table 4: checkpoint of the variant without editing branch")
    p.add_argument("--no-cem", default=str(CHECKPOINTS / "ablation_concat.pt"),
                   help="Table 4: checkpoint of the editing branch without CEM")
    p.add_argument("--corpus", default=str(REPO / "data" / "corpus"), help="corpus directory (manifest + arrays)")
    p.add_argument("--split", default="test", help="held-out split to evaluate")
    p.add_argument("--train-split", default="train", help="split for baselines and the GT-vs-GT reference")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="evaluate on N synthetic chains instead of a corpus (smoke runs)")
    p.add_argument("--limit", type=int, default=0, help="evaluate at most N held-out windows (quick run)")
    p.add_argument("--train-limit", type=int, default=400, help="at most N training windows (baselines, references)")
    p.add_argument("--per-chain", type=int, default=None, help="at most N 5 s windows per chain")
    p.add_argument("--steps", type=int, default=10, help="sampler steps per window")
    p.add_argument("--sampler", choices=SAMPLER_NAMES, default=None,
                   help="sampler for new dance: dpm2 (DPM-Solver++(2M) over log-SNR steps, the default) or "
                        "ddim (even steps); edits always use DDIM")
    p.add_argument("--music-guidance", type=float, default=2.0)
    p.add_argument("--text-guidance", type=float, default=2.0)
    p.add_argument("--edit-redraw", type=float, default=None,
                   help="edits start from the current dance noised this far (1 = pure noise, as in the paper; "
                        "default: what the engine uses)")
    p.add_argument("--batch", type=int, default=16, help="windows per model call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="edit success margin, x attribute spread")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="preservation tolerance, x spread")
    p.add_argument("--alignment", default=str(CHECKPOINTS / "alignment.pt"), help="alignment model checkpoint")
    p.add_argument("--train-alignment", action="store_true", help="retrain the alignment model even if it exists")
    p.add_argument("--alignment-seconds", type=float, default=240.0, help="time budget to train the alignment model")
    p.add_argument("--no-alignment", action="store_true", help="skip the alignment score")
    p.add_argument("--out", default=str(REPO / "docs" / "RESULTS.md"))
    p.add_argument("--img-dir", default=str(REPO / "docs" / "img"))
    p.add_argument("--json", default=None, help="also write the raw results as JSON here")
    p.add_argument("--longform-songs", type=int, default=6, metavar="N",
                   help="long-form section: N held-out songs per family (corpus soundfont, unseen soundfont), "
                        "each danced whole through the engine's rolling path; 0 skips it")
    p.add_argument("--longform-seconds", type=float, default=40.0, help="length of each long-form song")
    p.add_argument("--longform-only", action="store_true",
                   help="only the long-form section (no corpus needed; quick check of a model or a rolling setting)")
    p.add_argument("--phrasings", default=None, metavar="JSON",
                   help="user phrasing set for the single-edit section (default: training/corpus/user_phrasings.json)")
    p.add_argument("--phrasing-windows", type=int, default=2, metavar="N",
                   help="single-edit section: held-out windows per user phrasing; 0 skips the section")
    p.add_argument("--phrasing-dance", default="corpus,own", metavar="LIST",
                   help="single-edit section: which dance each phrasing edits, comma-separated: 'corpus' (the "
                        "corpus record's parent, where the corpus's edited dance is a reference) and/or 'own' "
                        "(the model's own dance for the window's music, what a performer edits live)")
    p.add_argument("--phrasing-splits", default="test,val", help="corpus splits the section's windows come from")
    p.add_argument("--phrasings-only", action="store_true",
                   help="only the single-edit section on user phrasings (per category, with a confusion table)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Evaluation tables (docs/RESULTS.md) for a DanceModel checkpoint")
    add_arguments(p)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
