"""Synthetic drum songs with exact beat times (numpy only), for tests and the beat benchmark when
the procedural corpus is not available.

Kick on every beat (or on 1 and the "and" of 2 when syncopated), snare on 2 and 4, closed hi-hats
on eighths (sixteenths when busy), a sustained chord throughout, and optional drumless breakdowns.
"""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 15360


def _kick(sr: int) -> np.ndarray:
    n = int(0.15 * sr)
    t = np.arange(n) / sr
    f = 50 + 80 * np.exp(-t * 30)
    return (np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t * 25)).astype(np.float32)


def _noise_hit(sr: int, dur: float, decay: float, rng: np.random.Generator, hp: bool) -> np.ndarray:
    n = int(dur * sr)
    x = rng.standard_normal(n).astype(np.float32)
    if hp:
        x = np.diff(x, prepend=0.0).astype(np.float32)
    return x * np.exp(-np.arange(n) / sr * decay).astype(np.float32)


def drum_song(bpm: float = 120.0, seconds: float = 30.0, *, sr: int = SAMPLE_RATE, start: float = 0.25,
              breakdowns: tuple[tuple[float, float], ...] = (), syncopated: bool = False, busy: bool = False,
              swing_hats: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """-> (audio (n,) float32 at sr, beat_times (B,) seconds). Beats continue through breakdowns
    (the music keeps its tempo; only the drums stop)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    audio = np.zeros(n + sr, dtype=np.float32)
    period = 60.0 / bpm
    beats = np.arange(start, seconds, period)
    kick, snare = _kick(sr), _noise_hit(sr, 0.12, 30, rng, False) * 0.5
    hat = _noise_hit(sr, 0.04, 120, rng, True) * 0.25

    def in_breakdown(t: float) -> bool:
        return any(a <= t < b for a, b in breakdowns)

    def put(sample: np.ndarray, t: float, gain: float = 1.0) -> None:
        i = int(round(t * sr))
        if 0 <= i < n:
            audio[i:i + sample.size] += gain * sample[: audio.size - i]

    for k, b in enumerate(beats):
        if in_breakdown(b):
            continue
        pos = k % 4
        if syncopated:
            if pos == 0:
                put(kick, b)
            if pos == 1:
                put(kick, b + period / 2, 0.9)
            if pos == 2:
                put(kick, b + period / 2, 0.7)
        else:
            put(kick, b)
        if pos in (1, 3):
            put(snare, b)
        subdiv = 4 if busy else 2
        for s in range(subdiv):
            off = s * period / subdiv
            if s % 2 == 1:
                off += swing_hats * period / subdiv
            put(hat, b + off, 1.0 if s else 0.6)
    # A sustained chord (also through the breakdowns), changing every 2 bars.
    t = np.arange(n) / sr
    roots = [220.0, 174.6, 196.0, 164.8]
    bar2 = 8 * period
    idx = (np.floor((t - start) / bar2).astype(int)) % len(roots)
    f0 = np.asarray(roots)[idx]
    pad = sum(np.sin(2 * np.pi * f0 * r * t) for r in (1.0, 1.26, 1.5)) * 0.05
    audio[:n] += pad.astype(np.float32)
    audio = audio[:n]
    audio /= max(1.0, float(np.abs(audio).max()) / 0.9)
    return audio.astype(np.float32), beats
