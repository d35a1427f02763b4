"""Learn the beat grid's tempo/phase weights (liveedit/core/tempo.py WEIGHTS) on the tuning set.

    python -m liveedit.bench.tune_beats    # writes liveedit/assets/beat_weights.json (about 20 min here)

Songs: the beat tuning set (liveedit/bench/beatset.py `tuning_set`, corpus soundfont) and corpus songs
at their styles' usual tempi (training/corpus, seeds 0-31); `--corpus-extremes N` adds corpus songs at
the ends of their styles' tempo ranges with their parts remixed (`corpus_extremes`, seeds 32 on), all
with the corpus soundfont. Never the held-out beat set that `liveedit bench live --only beats` scores, nor the
long-form evaluation's songs (seeds 50,000+, half of them with FluidR3_GM) it scores after it.

For analysis windows through each song (the envelope the live grid would hold at that moment), every
(period, phase) cell gets its features; a cell is right when its period is within 4 % of the true
local beat period and its newest grid point within 40 ms of a true beat. Three networks (different
initialisations and sampled cells; the grid averages their scores, which steadies the octave calls),
each a linear term plus 16 hidden units, maximise the softmax probability of the right cells (cross-entropy, Adam), with
a small L2 pull towards zero.
Windows that end inside a drumless break are left out (the grid holds its belief there instead).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from liveedit.core.beats import ENV_RATE, OnsetEnvelope
from liveedit.core.tempo import FEATURES, WEIGHTS_PATH, CombAnalyser

WINDOW_S = 6.0


def _songs(n_corpus: int, variants: tuple[float, ...] = (1.0,), n_extreme: int = 0):
    from dataclasses import replace  # noqa: PLC0415

    from liveedit.bench.beatset import SEED0, render, tuning_set  # noqa: PLC0415
    from liveedit.core.testaudio import drum_song  # noqa: PLC0415
    from training.corpus.song_render import default_soundfont  # noqa: PLC0415

    out = []
    for v, factor in enumerate(variants):
        # Each tuning pattern also at other tempi (and other seeds: velocities, keys), for variety.
        for i, spec in enumerate(tuning_set()):
            if factor != 1.0:
                # Other tempi, and each drum layer louder or softer: another soundfont balances its
                # kit differently, and the scorer must not rely on one balance.
                mix = np.random.default_rng(1000 * v + i)
                drums = tuple((k, pat, lvl * float(mix.uniform(0.5, 1.3))) for k, pat, lvl in spec.drums)
                spec = replace(spec, name=f"{spec.name} x{factor:g}", bpm=spec.bpm * factor, drums=drums,
                               bpm_end=None if spec.bpm_end is None else spec.bpm_end * factor)
            s = render(spec, SEED0 + 500 + 50 * v + i, default_soundfont())
            out.append((s.name, s.audio, s.beats, s.breaks))
    # The synthetic drum songs of the tests (numpy only), at tempi across the range.
    for i, bpm in enumerate((84.0, 100.0, 118.0, 136.0, 150.0, 165.0)):
        kw = [{}, {"syncopated": True}, {"busy": True}, {"swing_hats": 0.3}][i % 4]
        audio, beats = drum_song(bpm=bpm, seconds=24.0, seed=100 + i, **kw)
        out.append((f"drum song {bpm:.0f} {kw}", audio, beats, []))
    if n_corpus:
        from training.corpus.songs import STYLES, make_song  # noqa: PLC0415

        for seed in range(n_corpus):
            song = make_song(seed=seed, style=STYLES[seed % len(STYLES)], duration=30.0)
            breaks = [(x["start"], x["end"]) for x in song.sections if not x["has_drums"]]
            out.append((f"corpus {song.style} #{seed}", song.audio, np.asarray(song.beat_times), breaks))
    out.extend(corpus_extremes(n_extreme, seed0=n_corpus))
    return out


def corpus_extremes(n: int, seed0: int) -> list:
    """Corpus-generator songs (every style in turn) at the ends of each style's tempo range and 15 %
    beyond, half of them with a drumless breakdown, each part's level remixed: the styles the dance
    model trains on, at the tempi where the tracker errs on the long-form songs (a latin song's
    off-beat taken for the beat, a slow funk song at double tempo). Seeds from `seed0`; keep them
    below 100 (the benchmark's corpus songs start there; the long-form songs at 50,000)."""
    from training.corpus.song_render import render_midi  # noqa: PLC0415
    from training.corpus.song_styles import STYLE_SPECS  # noqa: PLC0415
    from training.corpus.songs import SAMPLE_RATE, STYLES, make_song  # noqa: PLC0415

    out = []
    for i in range(n):
        seed = seed0 + i
        style = STYLES[i % len(STYLES)]
        rng = np.random.default_rng(7000 + seed)
        lo, hi = STYLE_SPECS[style].bpm_range
        # alternately the slow and the fast end, anywhere from 15 % inside to 15 % beyond it
        bpm = lo * float(rng.uniform(0.85, 1.0 + 0.15 * (hi / lo - 1))) if i % 2 == 0 else \
            hi * float(rng.uniform(1.0 - 0.15 * (1 - lo / hi), 1.15))
        song = make_song(seed=seed, style=style, duration=30.0, bpm=bpm,
                         breakdown=(i // len(STYLES)) % 2 == 0, render=False)
        for inst in song.midi.instruments:   # another mix: drums and each other part louder or softer
            g = float(rng.uniform(0.5, 1.3) if inst.is_drum else rng.uniform(0.6, 1.2))
            for note in inst.notes:
                note.velocity = int(np.clip(round(note.velocity * g), 1, 127))
        audio = render_midi(song.midi, SAMPLE_RATE, duration=30.0)
        audio = (audio * (0.7 / max(1e-6, float(np.abs(audio).max())))).astype(np.float32)
        breaks = [(x["start"], x["end"]) for x in song.sections if not x["has_drums"]]
        out.append((f"corpus {style} {bpm:.0f} remix #{seed}", audio, np.asarray(song.beat_times), breaks))
    return out


def windows(audio: np.ndarray, beats: np.ndarray, breaks, analyser: CombAnalyser,
            times_s: list[float]):
    """-> list of (features (P, Q, F), right-cell mask (P, Q))."""
    env = OnsetEnvelope()
    t, x = env.process_bands(audio)
    out = []
    n_win = int(WINDOW_S * ENV_RATE)
    for te in times_s:
        if any(a - 0.5 <= te <= b + 1.5 for a, b in breaks):
            continue
        end = int(np.searchsorted(t, te))
        seg = x[max(0, end - n_win):end]
        if seg.shape[0] < 30:
            continue
        t_end = float(t[end - 1])
        i = int(np.clip(np.searchsorted(beats, t_end), 1, len(beats) - 1))
        true_p = float(beats[i] - beats[i - 1])
        if t_end < beats[0] + true_p:
            continue
        f = analyser.features(seg)
        per = analyser.periods / ENV_RATE
        q = np.arange(analyser.Q)
        bt = t_end - q / ENV_RATE
        near = np.min(np.abs(bt[:, None] - beats[None, :]), axis=1) <= 0.04
        right = (np.abs(per / true_p - 1) <= 0.04)[:, None] & near[None, :] & analyser.valid
        if right.any():
            out.append((f, right))
    return out


def subsample(data, analyser: CombAnalyser, n_random: int = 300, n_hard: int = 200, seed: int = 0):
    """Per window: every right cell, the `n_hard` best wrong cells under a plain on-grid score and
    `n_random` other wrong cells, with the log of the weight that makes the random ones stand for
    all the rest in the softmax (so training costs a tenth of scoring every cell)."""
    rng = np.random.default_rng(seed)
    on_cols = [FEATURES.index(f"on_{b}") for b in range(4)]
    valid = analyser.valid.reshape(-1)
    Fs, Rs, Ls = [], [], []
    for f, right in data:
        f = f.reshape(-1, len(FEATURES))
        r = right.reshape(-1)
        cells = np.flatnonzero(valid)
        pos = cells[r[cells]]
        neg = cells[~r[cells]]
        base = f[neg][:, on_cols].sum(1)
        hard = neg[np.argsort(base)[-n_hard:]]
        rest = np.setdiff1d(neg, hard)
        rand = rng.choice(rest, size=min(n_random, rest.size), replace=False)
        idx = np.concatenate([pos, hard, rand])
        logw = np.concatenate([np.zeros(pos.size + hard.size), np.full(rand.size, np.log(rest.size / max(1, rand.size)))])
        lab = np.concatenate([np.ones(pos.size, bool), np.zeros(hard.size + rand.size, bool)])
        pad = n_random + n_hard + 40 - idx.size     # fixed width: pad with -inf cells
        if pad < 0:
            idx, logw, lab = idx[:n_random + n_hard + 40], logw[:n_random + n_hard + 40], lab[:n_random + n_hard + 40]
            pad = 0
        Fs.append(np.concatenate([f[idx], np.zeros((pad, f.shape[1]), np.float32)]))
        Rs.append(np.concatenate([lab, np.zeros(pad, bool)]))
        Ls.append(np.concatenate([logw, np.full(pad, -np.inf)]))
    return np.stack(Fs).astype(np.float32), np.stack(Rs), np.stack(Ls)


def train(data, analyser: CombAnalyser, hidden: int = 16, steps: int = 300, lr: float = 0.03,
          l2: float = 1e-3, seed: int = 0) -> dict:
    """Fit score(z) = z @ lin + relu(z @ w1 + b1) @ v, z = (features - mu) / sd; -> the weights."""
    Fs, R, logw = subsample(data, analyser, seed=seed)
    n = Fs.shape[0]
    mu = Fs[np.isfinite(logw)].mean(0)
    sd = Fs[np.isfinite(logw)].std(0) + 1e-6
    Fs -= mu
    Fs /= sd
    rng = np.random.default_rng(seed)
    params = {"lin": np.zeros(len(FEATURES), np.float32),
              "w1": (rng.standard_normal((len(FEATURES), hidden)) * 0.2).astype(np.float32),
              "b1": np.zeros(hidden, np.float32), "v": (rng.standard_normal(hidden) * 0.1).astype(np.float32)}
    if not hidden:
        params = {"lin": params["lin"]}
    mom = {k: np.zeros_like(p) for k, p in params.items()}
    vel = {k: np.zeros_like(p) for k, p in params.items()}
    flat = Fs.reshape(-1, len(FEATURES))
    for step in range(steps):
        s = flat @ params["lin"]
        if hidden:
            pre = flat @ params["w1"] + params["b1"]
            h = np.maximum(pre, 0.0)
            s = s + h @ params["v"]
        s = s.reshape(n, -1) + logw
        s = s - s.max(1, keepdims=True)
        e = np.exp(s)
        p = e / e.sum(1, keepdims=True)
        pr = np.where(R, p, 0)
        pr_sum = pr.sum(1, keepdims=True) + 1e-12
        loss = float(-np.log(pr_sum).mean())
        g_s = ((p - pr / pr_sum) / n).reshape(-1).astype(np.float32)   # d(mean -log sum_right p)/ds
        grads = {"lin": flat.T @ g_s}
        if hidden:
            grads["v"] = h.T @ g_s
            g_pre = (g_s[:, None] * params["v"][None, :]) * (pre > 0)
            grads["w1"] = flat.T @ g_pre
            grads["b1"] = g_pre.sum(0)
        for k in params:
            g = grads[k] + 2 * l2 * params[k]
            mom[k] = 0.9 * mom[k] + 0.1 * g
            vel[k] = 0.999 * vel[k] + 0.001 * g * g
            params[k] -= lr * (mom[k] / (1 - 0.9 ** (step + 1))) / (np.sqrt(vel[k] / (1 - 0.999 ** (step + 1))) + 1e-8)
        if step % 50 == 0 or step == steps - 1:
            acc = float(np.mean(R[np.arange(n), np.argmax(s - np.where(np.isfinite(logw), logw, 0), 1)]))
            print(f"  step {step:4d}  loss {loss:.3f}  argmax right (sampled cells) {acc:.3f}", flush=True)
    out = {k: v.astype(np.float32).tolist() for k, v in params.items()}
    out.update({"mu": mu.tolist(), "sd": sd.tolist(), "features": FEATURES})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-songs", type=int, default=32, help="corpus songs at their styles' usual tempi")
    p.add_argument("--corpus-extremes", type=int, default=0,
                   help="corpus songs at the ends of their styles' tempo ranges, remixed (corpus_extremes; "
                        "64 was tried and not shipped, docs/beats.md)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=float, default=1.5, help="seconds between analysis windows")
    p.add_argument("--hidden", type=int, default=16, help="hidden units (0: a linear score)")
    p.add_argument("--l2", type=float, default=3e-3)
    p.add_argument("--seeds", default="0,1,2",
                   help="one network per seed (initialisation and sampled cells); the grid averages their scores")
    p.add_argument("--variants", default="1,0.92,1.08", help="tempo factors the tuning patterns are rendered at")
    p.add_argument("--out", default=str(WEIGHTS_PATH), help="where to write the weights (JSON)")
    args = p.parse_args(argv)
    analyser = CombAnalyser(ENV_RATE)
    data = []
    variants = tuple(float(v) for v in args.variants.split(","))
    for name, audio, beats, breaks in _songs(args.corpus_songs, variants, args.corpus_extremes):
        ts = [1.5, 2.0, 2.5, 3.0] + list(np.arange(4.0, len(audio) / 15360.0, args.every))
        d = windows(audio, beats, breaks, analyser, ts)
        data.extend(d)
        print(f"  {name:28s} {len(d)} windows", flush=True)
    members = [train(data, analyser, hidden=args.hidden, steps=args.steps, l2=args.l2, seed=int(seed))
               for seed in args.seeds.split(",")]
    weights = {"features": FEATURES, "members": [{k: v for k, v in m.items() if k != "features"} for m in members]}
    Path(args.out).write_text(json.dumps(weights) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
