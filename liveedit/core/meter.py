"""Bars on top of a beat grid: meter (2, 3 or 4 beats a bar) and which beat is the downbeat (numpy only).

The beat grid says where the beats are; this module says which of them start a bar, causally, from
beat-synchronous features of the audio heard so far:

  * rhythm signature of each beat: the four onset bands on the beat and half-way to the next one.
    Bars repeat, so signatures one bar apart are alike: 4/4 shows it at lags 2 and 4, 3/4 at 3 and 6.
    The meter is the one whose lags are the more alike. A duple meter whose beats divide in three
    (compound time: the onsets between beats fall at their thirds, not half-way) is counted in 2,
    as 6/8 is at the dotted quarter (a 12/8 song is then counted as two bars of 6/8).
  * downbeat: bars start where the harmony changes (the chroma of one beat against the one before:
    chords change on the bar line far more often than inside it) and where the low band hits (kick,
    bass root). Each beat position in
    the bar (0..M-1) collects those two cues with a decay; the strongest position is beat one.

Decisions are held (hysteresis): the meter or the bar's phase changes only when the new one has led
for HOLD_BEATS beats, so a fill or a pickup does not flip the bar count.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

METERS = (2, 3, 4)
HISTORY_S = 10.0


class BarTracker:
    """Meter and downbeat of a beat grid's beats. `observe` the envelope bands and chroma as they
    come, `update` with the grid after each analysis; ask `beats_per_bar` and `is_downbeat(n)`.
    The cue weights were chosen on the beat tuning set (liveedit/bench/beatset.py)."""

    DECAY = 0.92        # per-beat decay of the downbeat evidence (about 3 bars of memory)
    HOLD_BEATS = 4      # beats a new meter or phase must lead before it is taken
    W_NOVELTY = 1.0     # downbeat cue weights (z-scored cues): chroma change,
    W_LOW = 0.6         # low band on the beat (kick, bass root),
    W_MID = -0.4        # mid band on the beat (the snare's backbeat: not beat one)
    MIN_BEATS = 6       # beats seen before the meter is decided
    COMPOUND = 3.0      # onsets at the beat's thirds over those half-way above this = compound time
                        # (tuning set: 6/8 about 10, every duple-time song below 0.9)
    SUB_DECAY = 0.9     # per-beat decay of those two onset levels

    def __init__(self, beats_per_bar: int = 4):
        self.beats_per_bar = beats_per_bar
        self.offset = 0                  # beat index n is a downbeat when (n - offset) % beats_per_bar == 0
        self._t: deque[float] = deque()
        self._bands: deque[np.ndarray] = deque()
        self._spec: deque[np.ndarray] = deque()
        self._last_beat: int | None = None
        self._beats: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}   # n -> (signature, chroma, low)
        self._evidence = {m: np.zeros(m) for m in METERS}
        self._pending: tuple[int, int] | None = None   # (meter, offset) leading but not yet taken
        self._pending_count = 0
        self._novelty_stats = [0.0, 1.0]   # running mean and variance of the novelty
        self._low_stats = [0.0, 1.0]
        self._mid_stats = [0.0, 1.0]
        self._sub = np.zeros(2)            # decayed onset level at the beats' thirds, and half-way

    def is_downbeat(self, n: int) -> bool:
        return (n - self.offset) % self.beats_per_bar == 0

    # ----------------------------------------------------------------------------------- input
    def observe(self, times: np.ndarray, bands: np.ndarray, spectrum: np.ndarray) -> None:
        for t, b, s in zip(times, bands, spectrum):
            self._t.append(float(t))
            self._bands.append(np.asarray(b, dtype=np.float32))
            self._spec.append(np.asarray(s, dtype=np.float32))
        while self._t and self._t[-1] - self._t[0] > HISTORY_S:
            self._t.popleft()
            self._bands.popleft()
            self._spec.popleft()

    def reset(self) -> None:
        self._beats.clear()
        self._last_beat = None
        self._evidence = {m: np.zeros(m) for m in METERS}
        self._sub = np.zeros(2)

    # ----------------------------------------------------------------------------------- beats
    def update(self, grid, now: float) -> None:
        """Take in every beat of `grid` (a GridState) whose following beat has passed by `now`."""
        if not self._t:
            return
        last_done = math.floor(grid.beat_at(now) - 1e-9) - 1   # beat n needs audio up to beat n + 1
        first = last_done - 3 if self._last_beat is None else self._last_beat + 1
        if last_done - first > 8:       # a jump in the grid: start the bars again
            first = last_done - 3
        if first > last_done:
            return
        t = np.fromiter(self._t, dtype=np.float64)
        bands = np.stack(self._bands)
        spec = np.stack(self._spec)
        for n in range(first, last_done + 1):
            b0, b1 = grid.time_of_beat(n), grid.time_of_beat(n + 1)
            if b0 < t[0]:
                continue
            self._add_beat(n, b0, b1, t, bands, spec, grid.period)
        self._last_beat = last_done

    def _add_beat(self, n: int, b0: float, b1: float, t: np.ndarray, bands: np.ndarray, spec: np.ndarray,
                  period: float) -> None:
        tol = min(0.05, 0.15 * period)

        def peak(center: float) -> np.ndarray:
            m = np.abs(t - center) <= tol
            return bands[m].max(0) if m.any() else np.zeros(bands.shape[1], np.float32)

        on_beat = peak(b0)
        half = peak(0.5 * (b0 + b1))
        sig = np.concatenate([on_beat, half])
        thirds = 0.5 * (peak(b0 + (b1 - b0) / 3) + peak(b0 + 2 * (b1 - b0) / 3))
        self._sub = self.SUB_DECAY * self._sub + np.array([thirds.sum(), half.sum()])
        inside = (t >= b0) & (t < b1)
        sp = spec[inside].mean(0) if inside.any() else np.zeros(spec.shape[1], np.float32)
        low = float(on_beat[0])
        mid = float(on_beat[2])
        self._beats[n] = (sig, sp, low)
        for k in [k for k in self._beats if k < n - 16]:
            del self._beats[k]
        prev = self._beats.get(n - 1)
        if prev is None:
            return
        a, b = sp - sp.mean(), prev[1] - prev[1].mean()
        novelty = 1.0 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))   # chroma change
        zn = self._z(self._novelty_stats, novelty)
        zl = self._z(self._low_stats, low)
        zm = self._z(self._mid_stats, mid)
        # Beat one: chords change, the kick or the bass root hits; the snare's backbeat is not one.
        cue = self.W_NOVELTY * zn + self.W_LOW * zl + self.W_MID * zm
        for m in METERS:
            ev = self._evidence[m]
            ev *= self.DECAY
            ev[n % m] += cue
        self._decide(n)

    @staticmethod
    def _z(stats: list[float], x: float, a: float = 0.05) -> float:
        mean, var = stats
        z = (x - mean) / math.sqrt(var + 1e-6)
        stats[0] = mean + a * (x - mean)
        stats[1] = (1 - a) * var + a * (x - mean) ** 2
        return float(np.clip(z, -3.0, 3.0))

    def _similarity(self, lag: int) -> float:
        """Mean cosine similarity of rhythm signatures `lag` beats apart over the recent beats."""
        sims = []
        for n, (sig, _, _) in self._beats.items():
            other = self._beats.get(n - lag)
            if other is not None:
                a, b = sig, other[0]
                sims.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9)))
        return float(np.mean(sims)) if sims else 0.0

    def meter_scores(self) -> dict[int, float]:
        # 4/4 repeats at 2 and 4 beats, 3/4 at 3 and 6 (the history holds 16 beats).
        s = {lag: self._similarity(lag) for lag in (2, 3, 4, 6)}
        return {3: 0.5 * (s[3] + s[6]), 4: 0.5 * (s[2] + s[4])}

    @property
    def compound(self) -> bool:
        """The beats divide in three (6/8, 12/8) rather than in two."""
        third, half = self._sub
        return bool(third > self.COMPOUND * half)

    def _decide(self, n: int) -> None:
        if len(self._beats) < self.MIN_BEATS:
            return
        scores = self.meter_scores()
        meter = max(scores, key=scores.get)
        if meter == 4 and self.compound:
            meter = 2
        ev = self._evidence[meter]
        r = int(np.argmax(ev))
        cand = (meter, r)
        cur = (self.beats_per_bar, self.offset % self.beats_per_bar)
        if cand == cur:
            self._pending, self._pending_count = None, 0
            return
        if cand == self._pending:
            self._pending_count += 1
        else:
            self._pending, self._pending_count = cand, 1
        first = len(self._beats) <= self.MIN_BEATS + 1 and self._pending_count >= 1
        if first or self._pending_count >= self.HOLD_BEATS:
            self.beats_per_bar, self.offset = meter, r
            self._pending, self._pending_count = None, 0
