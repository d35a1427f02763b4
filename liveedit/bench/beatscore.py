"""Scores for a causal beat tracker on songs with exact beats (the held-out set in beatset.py).

Per song:
  * F:          mir_eval beat F-measure, 70 ms window, first 5 s trimmed (mir_eval's convention);
  * octave:     the tracker's tempo (from its beat intervals after 5 s) over the true tempo at the same
                times, median; right when within 8 % of 1 (else "half", "double", "x1.5" ...);
  * downbeat F: mir_eval F-measure of the emitted downbeats against the bar starts (70 ms, 5 s trimmed);
  * lock-in:    seconds from the first true beat until 4 consecutive emitted beats match 4 consecutive
                true beats within 70 ms;
  * break phase: after each drumless break, the largest error (ms) of the beats emitted from 2 beats
                before the drums come back to 1 beat after (what the grid predicted through the break);
  * CPU:        process time of the whole live path (10 ms audio blocks, 30 fps beat readout) over the
                song's duration, percent of one core.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

TOL = 0.07


def f_measure(ref: np.ndarray, est: np.ndarray) -> float:
    import mir_eval  # noqa: PLC0415

    ref, est = np.asarray(ref, float), np.asarray(est, float)
    return float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est), TOL))


def lock_in_time(ref: np.ndarray, est: np.ndarray, tol: float = TOL, run: int = 4) -> float:
    """Seconds from the first true beat until the first of `run` consecutive estimated beats that
    each match consecutive true beats within `tol` (nan if that never happens)."""
    if len(est) < run or len(ref) < run:
        return math.nan
    match = np.array([np.argmin(np.abs(ref - e)) if np.min(np.abs(ref - e)) <= tol else -1 for e in est])
    for i in range(len(est) - run + 1):
        m = match[i:i + run]
        if np.all(m >= 0) and np.all(np.diff(m) == 1):
            return float(est[i] - ref[0])
    return math.nan


def tempo_ratio(ref: np.ndarray, est: np.ndarray, after: float = 5.0) -> float:
    """Median over the tracker's beat intervals (after `after` s) of its tempo over the true tempo."""
    est = np.asarray(est, float)
    est = est[est >= after]
    if est.size < 3 or len(ref) < 2:
        return math.nan
    mids = 0.5 * (est[1:] + est[:-1])
    ioi = np.diff(est)
    idx = np.clip(np.searchsorted(ref, mids), 1, len(ref) - 1)
    true_ioi = ref[idx] - ref[idx - 1]
    return float(np.median(true_ioi / ioi))


def octave_label(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "none"
    for value, name in ((1.0, "right"), (0.5, "half"), (2.0, "double"), (1.5, "x1.5"), (2 / 3, "x2/3"),
                        (1 / 3, "third"), (3.0, "triple")):
        if abs(ratio / value - 1) <= 0.08:
            return name
    return f"x{ratio:.2f}"


def break_phase_ms(ref: np.ndarray, est: np.ndarray, breaks: list[tuple[float, float]]) -> float:
    """Largest error (ms) of the beats emitted around the end of each drumless break (nan if none)."""
    worst = math.nan
    ref = np.asarray(ref, float)
    est = np.asarray(est, float)
    for _, t1 in breaks:
        i = int(np.searchsorted(ref, t1 - 1e-6))
        lo = ref[max(0, i - 2)] - 0.5 * TOL
        hi = ref[min(len(ref) - 1, i + 1)] + 0.5 * TOL
        near = est[(est >= lo) & (est <= hi)]
        if near.size == 0:
            return math.inf
        err = max(float(np.min(np.abs(ref - e))) for e in near) * 1000
        worst = err if math.isnan(worst) else max(worst, err)
    return worst


def score_song(song, tracker: Callable[[np.ndarray], list[dict]]) -> dict:
    """Run `tracker(audio) -> [{"t", "downbeat", ...}]` on a BeatSong and score it."""
    t0 = time.process_time()
    out = tracker(song.audio)
    cpu = time.process_time() - t0
    est = np.asarray([b["t"] for b in out], float)
    down = np.asarray([b["t"] for b in out if b.get("downbeat")], float)
    ratio = tempo_ratio(song.beats, est)
    meters = [b.get("beats_per_bar") for b in out[len(out) // 2:] if b.get("beats_per_bar")]
    return {
        "name": song.name, "F": f_measure(song.beats, est), "ratio": ratio, "octave": octave_label(ratio),
        "downbeat_F": f_measure(song.downbeats, down), "lock_s": lock_in_time(song.beats, est),
        "break_ms": break_phase_ms(song.beats, est, song.breaks),
        "meter": max(set(meters), key=meters.count) if meters else None, "true_meter": song.meter,
        "cpu_pct": 100.0 * cpu / (len(song.audio) / 15360.0),
    }


def summary(rows: list[dict]) -> dict:
    def finite(key):
        return [r[key] for r in rows if r[key] is not None and math.isfinite(r[key])]

    locks = finite("lock_s")
    breaks = [r["break_ms"] for r in rows if not (isinstance(r["break_ms"], float) and math.isnan(r["break_ms"]))]
    return {
        "songs": len(rows),
        "F_mean": float(np.mean([r["F"] for r in rows])), "F_min": float(min(r["F"] for r in rows)),
        "octave_right": float(np.mean([r["octave"] == "right" for r in rows])),
        "downbeat_F_mean": float(np.mean([r["downbeat_F"] for r in rows])),
        "lock_s_median": float(np.median(locks)) if locks else math.nan,
        "lock_s_max": float(max(locks)) if locks else math.nan,
        "never_locked": len(rows) - len(locks),
        "break_ms_max": float(max(breaks)) if breaks else math.nan,
        "cpu_pct_mean": float(np.mean([r["cpu_pct"] for r in rows])),
    }


TARGETS = (("F_mean", ">=", 0.90), ("F_min", ">=", 0.75), ("octave_right", ">=", 0.95),
           ("downbeat_F_mean", ">=", 0.80), ("lock_s_max", "<=", 2.0), ("break_ms_max", "<=", 70.0),
           ("cpu_pct_mean", "<", 3.0))


def format_table(rows: list[dict], summ: dict) -> str:
    lines = [f"  {'song':28s} {'F':>5s} {'tempo':>7s} {'downF':>5s} {'meter':>5s} {'lock s':>6s} "
             f"{'break ms':>8s} {'CPU %':>6s}"]
    for r in rows:
        brk = "-" if isinstance(r["break_ms"], float) and math.isnan(r["break_ms"]) else f"{r['break_ms']:.0f}"
        meter = f"{r['meter'] or '?'}/{r['true_meter']}"
        lines.append(f"  {r['name']:28s} {r['F']:5.2f} {r['octave']:>7s} {r['downbeat_F']:5.2f} {meter:>5s} "
                     f"{r['lock_s']:6.2f} {brk:>8s} {r['cpu_pct']:6.2f}")
    lines.append("")
    for key, op, target in TARGETS:
        v = summ[key]
        if not math.isfinite(v):
            lines.append(f"  {key:16s}     n/a   target {op} {target:g}")
            continue
        ok = (v >= target) if op == ">=" else (v <= target) if op == "<=" else (v < target)
        lines.append(f"  {key:16s} {v:7.3f}   target {op} {target:g}   {'ok' if ok else 'MISSED'}")
    lines.append(f"  {'never_locked':16s} {summ['never_locked']:7d}")
    return "\n".join(lines)
