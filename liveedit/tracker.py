"""Live beat tracking: the onset envelope and aubio's causal tracker feeding the pure beat grid.

The grid logic lives in liveedit/core/beats.py (no aubio there); this module is the thin wrapper that
feeds it the onset envelope and, optionally, aubio's `tempo` beats as hints. `liveedit bench live`
compares aubio alone, the grid alone and the grid with aubio hints; on the rendered corpus the grid
alone scored best, so the engine runs without hints unless asked (`liveedit serve --aubio`).
"""
from __future__ import annotations

import logging

import numpy as np

from liveedit.core.beats import ENV_FFT, ENV_HOP, SAMPLE_RATE, BeatGrid, OnsetEnvelope

log = logging.getLogger(__name__)


class AubioBeats:
    """aubio's causal tempo tracker ("default" method) on 15360 Hz mono, any block size."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, hop: int = ENV_HOP, n_fft: int = ENV_FFT):
        import aubio  # noqa: PLC0415  (GPL, compiled: imported only when used)

        self.hop = hop
        self._tempo = aubio.tempo("default", n_fft, hop, sample_rate)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> list[float]:
        """-> beat times (s since the first sample) reported during these samples."""
        x = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n = x.size // self.hop
        beats = []
        for i in range(n):
            if self._tempo(x[i * self.hop:(i + 1) * self.hop])[0]:
                beats.append(float(self._tempo.get_last_s()))
        self._pending = x[n * self.hop:]
        return beats

    @property
    def bpm(self) -> float:
        return float(self._tempo.get_bpm())


def aubio_beats(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """aubio alone over a whole recording (the baseline the benchmark compares the grid with)."""
    return np.asarray(AubioBeats(sample_rate).process(np.asarray(audio, dtype=np.float32)))


class LiveBeatTracker:
    """Audio in, beat grid updated. `process` takes any number of new samples.

    time_offset: engine-clock time of the first sample (0 when the audio is the master clock).
    """

    def __init__(self, grid: BeatGrid, sample_rate: int = SAMPLE_RATE, use_aubio: bool = False,
                 time_offset: float = 0.0):
        self.grid = grid
        self.sr = sample_rate
        self.env = OnsetEnvelope(sample_rate)
        self.offset = time_offset
        self.aubio: AubioBeats | None = None
        if use_aubio:
            try:
                self.aubio = AubioBeats(sample_rate)
            except ImportError as exc:  # pragma: no cover - aubio is a dependency
                log.warning("aubio unavailable (%s): beat grid runs on the onset envelope alone", exc)
        self.samples = 0

    def process(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            return
        self.samples += samples.size
        now = self.offset + self.samples / self.sr
        if self.aubio is not None:
            for b in self.aubio.process(samples):
                self.grid.observe_beat(self.offset + b)
        times, bands = self.env.process_bands(samples)
        self.grid.observe_onsets(times + self.offset, bands, now, spectrum=self.env.last_spectrum)


def live_beats(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, *, use_aubio: bool = False,
               block: int = 154, fps: int = 30) -> list[dict]:
    """The beats the live engine would emit for a recording, with its bar count and tempo.

    audio: (n,) float mono at 15360 Hz. The audio is fed to `LiveBeatTracker` in blocks of `block`
    samples (the engine reads its audio source every 10 ms: 154 samples), and beats are taken from
    the grid on the 30 fps output clock exactly as `LiveCore.tick` does (a beat is emitted once the
    clock has passed it, at the time the grid then predicted). Each beat: `t` (s), `beat` (the
    engine's running beat count), `downbeat` (the beat starts a bar: the bars the tracker finds in the
    audio), `beats_per_bar` (the meter it found, 2, 3 or 4), `bpm` and `source` (what drove the grid)
    at that moment.
    """
    from liveedit.core.beats import BeatEmitter  # noqa: PLC0415

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    grid = BeatGrid()
    tracker = LiveBeatTracker(grid, sample_rate, use_aubio=use_aubio)
    emitter = BeatEmitter()
    out: list[dict] = []
    fed = 0
    n_frames = int(audio.size / sample_rate * fps)
    for idx in range(n_frames + 1):
        t = idx / fps
        end = min(audio.size, int(round(t * sample_rate)))
        while fed < end:
            tracker.process(audio[fed:min(end, fed + block)])
            fed = min(end, fed + block)
        if grid.locked or grid.source != "default":
            for b in emitter.advance(grid, t):
                n = int(round(grid.beat_at(b)))
                out.append({"t": round(float(b), 4), "beat": n, "downbeat": grid.is_downbeat(n),
                            "beats_per_bar": grid.beats_per_bar, "bpm": round(grid.bpm, 2), "source": grid.source})
    return out
