"""Tempo and beat-phase evidence from multi-band onset envelopes (numpy + stdlib only).

`CombAnalyser.scores(x)` takes the last few seconds of a multi-band onset envelope, x: (L, C) at
`rate` values a second (C bands, each already normalised by its running level), and scores every
(period, phase) cell of a grid of candidate beat periods (`PERIOD_BPM`) and phases (envelope samples
back from the newest one). The score is a small function of the cell's features (`CellScorer`: three
networks of a linear term and 16 hidden units, averaged), learned as a softmax over cells on the
tuning set (liveedit/bench/tune_beats.py, never on the held-out benchmark set) and shipped in
liveedit/assets/beat_weights.json. The features:

  per band, on the cell's beat grid:
    on       mean envelope on the grid points (recent beats weigh more)
    half     mean half-way between grid points (energy there means the beat is twice as fast, or the
             grid sits on the off-beats)
    quarter  mean at the quarter points (16th notes; the dembow's and funk's syncopations live here)
    third    mean at the third points (triplet feel: 6/8, 12/8, jazz waltz)
  per band, per period: contrast, the best phase's `on` minus the mean over phases (pulse salience)
  per period, from the autocorrelation of the band sum: its value at 1/3, 1/2, 1, 3/2, 2, 3 and 4
    periods (the metrical levels above and below: 4/4 shows the double and quadruple, 3/4 the triple)
  the tempo prior: log2(bpm / 120) and its square.

Why learned weights rather than hand rules: which band marks the beat differs by style (hats in house,
the kick in reggaeton, where the rim plays 3-3-2 off the beat; the snare's backbeat in drum and bass).
A hand-weighted comb locked dembow and afrobeat to the off-beat and drum and bass to half tempo; a
linear score over these features fixed most of it, 16 hidden units (interactions: "the kick marks the
beat when it plays on every one") the rest, and the held-out set has other patterns, tempi and
another soundfont than the tuning songs.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

PERIOD_BPM = np.geomspace(215.0, 54.0, 72)   # candidate beat tempi, fastest first
MAX_BEATS = 16                               # grid points per cell (the most recent ones)
DECAY_BEATS = 8.0                            # weight of beat k back: exp(-k / DECAY_BEATS)
ACF_RATIOS = (1 / 3, 1 / 2, 1.0, 3 / 2, 2.0, 3.0, 4.0)
N_BANDS = 4

FEATURES = ([f"{k}_{b}" for b in range(N_BANDS) for k in ("on", "half", "quarter", "third")]
            + [f"contrast_{b}" for b in range(N_BANDS)]
            + [f"acf_{r:.2f}" for r in ACF_RATIOS] + ["octave", "octave2"])

# Learned by liveedit/bench/tune_beats.py on the tuning set (see the module doc).
WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "assets" / "beat_weights.json"


class _Member:
    """score(f) = z @ lin + relu(z @ w1 + b1) @ v with z = (f - mu) / sd, folded into f's units."""

    def __init__(self, d: dict):
        arr = {k: np.asarray(v, dtype=np.float32) for k, v in d.items()}
        self.lin = arr["lin"] / arr["sd"]
        self.offset = -float(arr["mu"] @ self.lin)
        self.hidden = "w1" in arr
        if self.hidden:
            self.w1 = arr["w1"] / arr["sd"][:, None]
            self.b1 = arr["b1"] - arr["mu"] @ self.w1
            self.v = arr["v"]

    def __call__(self, f: np.ndarray) -> np.ndarray:
        s = f @ self.lin + self.offset
        if self.hidden:
            s = s + np.maximum(f @ self.w1 + self.b1, 0.0) @ self.v
        return s


class CellScorer:
    """The mean score of the networks in a weights file (liveedit/bench/tune_beats.py writes it)."""

    def __init__(self, path: Path = WEIGHTS_PATH):
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"beat tracker weights {path} are unreadable ({exc}); reinstall liveedit") from exc
        if d.get("features") != FEATURES:
            raise RuntimeError(f"beat tracker weights {path} were learned for other features; "
                               "run python -m liveedit.bench.tune_beats")
        members = d.get("members") or [{k: v for k, v in d.items() if k != "features"}]
        self.members = [_Member(m) for m in members]

    def __call__(self, f: np.ndarray) -> np.ndarray:
        s = self.members[0](f)
        for m in self.members[1:]:
            s = s + m(f)
        return s / len(self.members)


@lru_cache(maxsize=1)
def default_scorer() -> CellScorer:
    return CellScorer()


@dataclass(frozen=True)
class Estimate:
    period: float      # seconds
    beat_time: float   # a beat's time, seconds (the newest grid point)
    score: float       # the winning cell's score
    margin: float      # its lead over the best cell of another period (not a neighbour)
    strength: float    # `on` of the band sum at the winning cell over the band sum's mean


class CombAnalyser:
    """Scores (period, phase) cells of a multi-band onset envelope. Index tables are cached per
    window length, so a running analysis costs one gather and one product per call."""

    def __init__(self, rate: float, bpm: np.ndarray = PERIOD_BPM, scorer: CellScorer | None = None):
        self.rate = float(rate)
        self.bpm = np.asarray(bpm, dtype=np.float64)
        self.periods = self.rate * 60.0 / self.bpm               # (P,) envelope samples
        self.Q = int(math.ceil(self.periods.max()))
        self._scorer = scorer
        self._cache: dict[int, tuple] = {}
        phases = np.arange(self.Q)
        self.valid = phases[None, :] < self.periods[:, None]      # (P, Q): phases beyond a period repeat
        # Offsets (in phase samples) of the half, quarter and third points, wrapped into [0, period).
        p = self.periods[:, None]

        def wrap(frac: float) -> np.ndarray:
            return np.clip(np.round((phases[None, :] + frac * p) % p).astype(np.int64), 0, self.Q - 1)

        self._half = wrap(0.5)
        self._quarters = (wrap(0.25), wrap(0.75))
        self._thirds = (wrap(1 / 3), wrap(2 / 3))
        o = np.log2(self.bpm / 120.0)
        self._octave = np.stack([o, o * o], axis=1).astype(np.float32)   # (P, 2)

    @property
    def scorer(self) -> CellScorer:
        if self._scorer is None:
            self._scorer = default_scorer()   # read on first use: tune_beats needs features without it
        return self._scorer

    def _tables(self, L: int):
        if L not in self._cache:
            k = np.arange(MAX_BEATS, dtype=np.float64)
            pos = (L - 1) - np.arange(self.Q)[None, :, None] - k[None, None, :] * self.periods[:, None, None]
            w = np.exp(-k / DECAY_BEATS)[None, None, :] * (pos >= 0)
            w = w / np.maximum(w.sum(-1, keepdims=True), 1e-9)
            idx = np.clip(np.round(pos), 0, L - 1).astype(np.int64)
            self._cache = {L: (idx, w.astype(np.float32))}
        return self._cache[L]

    def features(self, x: np.ndarray) -> np.ndarray:
        """x: (L, C) envelope -> (P, Q, len(FEATURES)) float32 (cells beyond a period are garbage:
        mask them with `self.valid`)."""
        x = np.asarray(x, dtype=np.float32)
        L, C = x.shape
        x = x / (x.mean(0, keepdims=True) + 1e-6)
        # Tolerance: each grid point reads the largest value within +-1 sample (16 ms).
        xm = x.copy()
        xm[1:] = np.maximum(xm[1:], x[:-1])
        xm[:-1] = np.maximum(xm[:-1], x[1:])
        idx, w = self._tables(L)
        on = np.einsum("pqk,pqkc->pqc", w, xm[idx])                 # (P, Q, C)
        P = self.periods.size
        rows = np.arange(P)[:, None]
        half = on[rows, self._half]
        quarter = 0.5 * (on[rows, self._quarters[0]] + on[rows, self._quarters[1]])
        third = 0.5 * (on[rows, self._thirds[0]] + on[rows, self._thirds[1]])
        masked = np.where(self.valid[:, :, None], on, np.nan)
        contrast = np.nanmax(masked, 1) - np.nanmean(masked, 1)     # (P, C)
        acf = self._acf(x.sum(1))                                    # (P, len(ACF_RATIOS))
        per_band = np.stack([on, half, quarter, third], axis=-1).reshape(P, self.Q, C * 4)
        per_period = np.concatenate([contrast, acf, self._octave], axis=1)   # (P, C + 7 + 2)
        return np.concatenate([per_band, np.broadcast_to(per_period[:, None, :], (P, self.Q, per_period.shape[1]))],
                              axis=-1).astype(np.float32)

    def _acf(self, s: np.ndarray) -> np.ndarray:
        s = s - s.mean()
        n = s.size
        f = np.fft.rfft(s, 2 * n)
        r = np.fft.irfft(f * np.conj(f))[:n]
        r = r / (r[0] + 1e-9) * n / np.maximum(n - np.arange(n), 1)   # unbiased, 1 at lag 0
        lags = self.periods[:, None] * np.asarray(ACF_RATIOS)[None, :]
        ok = lags < 0.75 * n
        val = np.interp(np.minimum(lags, n - 1), np.arange(n), r)
        return np.where(ok, val, 0.0).astype(np.float32)

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (scores (P, Q) with -inf on invalid cells, features)."""
        f = self.features(x)
        s = self.scorer(f)
        return np.where(self.valid, s, -np.inf), f

    def estimate(self, x: np.ndarray, t_end: float, period_range: tuple[float, float] | None = None) -> Estimate:
        """The best cell of this window alone. t_end: time of x's newest sample. period_range (s):
        restrict the search."""
        s, f = self.scores(x)
        return self.pick(s, f, t_end, period_range)

    def period_evidence(self, s: np.ndarray) -> np.ndarray:
        """(P,) each period's best phase score, relative to the best period (<= 0)."""
        e = s.max(1)
        return e - e.max()

    def pick(self, s: np.ndarray, f: np.ndarray, t_end: float, period_range: tuple[float, float] | None = None,
             bias: np.ndarray | None = None) -> Estimate:
        """The best cell of scores s (P, Q), with `bias` (P,) added to each period's row (the grid's
        tempo belief from earlier windows)."""
        if bias is not None:
            s = s + bias[:, None]
        if period_range is not None:
            lo, hi = period_range
            sec = self.periods / self.rate
            s = np.where(((sec >= lo) & (sec <= hi))[:, None], s, -np.inf)
        pi, qi = np.unravel_index(int(np.argmax(s)), s.shape)
        best = float(s[pi, qi])
        far = np.abs(np.log(self.periods / self.periods[pi])) > 0.06
        other = float(s[far].max()) if far.any() else -np.inf
        q = float(qi)
        row = s[pi]
        if 0 < qi < self.Q - 1 and np.isfinite(row[qi - 1]) and np.isfinite(row[qi + 1]):
            a, b, c = row[qi - 1], row[qi], row[qi + 1]
            den = a - 2 * b + c
            if den < 0:
                q += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
        on_sum = float(f[pi, qi, 0:4 * N_BANDS:4].mean())
        return Estimate(period=float(self.periods[pi] / self.rate), beat_time=t_end - q / self.rate,
                        score=best, margin=best - other, strength=on_sum)
