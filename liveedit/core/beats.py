"""The beat grid: a causal tempo/phase estimate that predicts the next beats (numpy + stdlib only).

Time is always passed in (engine-clock seconds); nothing here reads a clock.

Inputs, in order of priority:
  1. MIDI clock (24 pulses per quarter note, start/stop): when pulses arrived in the last second, the
     grid follows them exactly (a DJ's clock is the truth).
  2. Manual tempo (`/tempo f`) or tap tempo (`/tap`): pins the period; the audio analysis may still
     nudge the phase. `/tempo 0` (or `/tempo auto`) releases either back to the audio analysis.
     Every tempo a user or a clock can set lies in `TEMPO_RANGE` (docs/protocol.md section 1).
  3. Audio: an onset envelope in four bands (spectral flux, `OnsetEnvelope`, 60 values a second)
     analysed every 0.25 s over the last 6 s. Beats from an external causal tracker (aubio) can be
     added as hints (`observe_beat`); on the rendered corpus they lowered the score, so the engine
     does not add them by default.

Why not aubio alone (REFERENCE.md): it loses the beat in drumless breakdowns, locks to half tempo on
fast music and to off-beats on syncopated patterns. The grid here:
  * scores every (period, phase) cell of the recent envelope with a small function of per-band comb
    features learned on a tuning set (liveedit/core/tempo.py): which band marks the beat differs by
    style (hats in house, the kick under reggaeton's off-beat 3-3-2, the backbeat in drum and bass),
  * turns the scores into probabilities and keeps a tempo belief (each period's probability averaged
    over about 3 s) and a phase histogram (where recent analyses put the beat, in the grid's own
    phase), so one ambiguous window cannot flip the octave and single windows that pick the off-beat
    are outvoted,
  * once locked, changes tempo only when another tempo's belief leads by half again for a few seconds
    (quicker in the first seconds after the first lock), and jumps phase only when another phase
    leads for 1.5 s; otherwise a second-order loop pulls period and phase (ramps, a drummer's drift),
  * holds tempo and phase when the recent audio has no clear pulse (breakdowns free-run the grid):
    when the onset level drops or the scorer is unsure where the beat is,
  * and finds bars (meter 2, 3 or 4, which beat is one) on top of the beats (liveedit/core/meter.py).

`track_beats(audio)` runs the same causal grid over a whole file (offline workflow, benchmarks).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from typing import Iterable

import numpy as np

from liveedit.core.meter import BarTracker
from liveedit.core.tempo import N_BANDS, PERIOD_BPM, CombAnalyser
# the frozen grid is the continuation rule's (training fits one to known beats too)
from model.continuation import DEFAULT_BPM, GridState  # noqa: F401 (re-exported)

SAMPLE_RATE = 15360
ENV_HOP = 256          # onset envelope hop: 60 values a second at 15360 Hz
ENV_FFT = 1024
ENV_RATE = SAMPLE_RATE / ENV_HOP
MIN_BPM, MAX_BPM = float(PERIOD_BPM.min()), float(PERIOD_BPM.max())   # what the audio analysis searches
# The one tempo range for everything a user or a clock sets (`/tempo`, tap tempo, MIDI clock), on
# every channel; docs/protocol.md section 1 documents it. The audio analysis searches a narrower
# band (MIN_BPM-MAX_BPM, liveedit/core/tempo.py) where music's beat level almost always lies.
TEMPO_RANGE = (20.0, 300.0)


def check_tempo(bpm: float, what: str = "tempo") -> float:
    """bpm if it is a finite number inside TEMPO_RANGE, else ValueError with the range in it."""
    lo, hi = TEMPO_RANGE
    if not (math.isfinite(bpm) and lo <= bpm <= hi):
        raise ValueError(f"{what} must be between {lo:g} and {hi:g} BPM, got {bpm:g}")
    return float(bpm)


class OnsetEnvelope:
    """Streaming spectral-flux onset envelope at `ENV_RATE` values a second, in four bands.

    Log-compressed magnitude spectrum, half-wave rectified frame difference, averaged in four bands
    (< 150 Hz: kicks and bass; 150-500 Hz: snare bodies, toms, low chords; 500-2500 Hz: snares, rims,
    claps, chords; > 2.5 kHz: hats, shakers, cymbals). Each band is divided by a slow running mean of
    itself (so a loud bass cannot drown the hats). `process_bands` gives the four bands (what the beat
    grid analyses: which band marks the beat differs by style, see liveedit/core/tempo.py);
    `process` their weighted sum (`band_weights`), one value per hop. `last_spectrum` holds the chroma
    (12 pitch classes of the log spectrum, 130 Hz-2 kHz) of the hops `process_bands` returned last,
    for bar detection.
    """

    BANDS = ((20.0, 150.0), (150.0, 500.0), (500.0, 2500.0), (2500.0, 1e9))
    N_SPECTRUM = 12

    def __init__(self, sample_rate: int = SAMPLE_RATE, hop: int = ENV_HOP, n_fft: int = ENV_FFT,
                 band_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 2.0)):
        self.sr, self.hop, self.n_fft = sample_rate, hop, n_fft
        self.window = np.hanning(n_fft).astype(np.float32)
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
        masks = [(freqs >= lo) & (freqs < hi) for lo, hi in self.BANDS]
        self.band_matrix = np.stack([m / max(1, m.sum()) for m in masks], axis=1).astype(np.float32)  # (bins, 4)
        # Chroma: each FFT bin between 130 Hz and 2 kHz adds to its pitch class (bar lines are where
        # chords change, and pitch classes show a chord change that band energies can miss).
        chroma = np.zeros((freqs.size, self.N_SPECTRUM), dtype=np.float32)
        ok = (freqs >= 130.0) & (freqs <= 2000.0)
        pc = np.round(12 * np.log2(freqs[ok] / 440.0) + 69).astype(int) % 12
        chroma[np.flatnonzero(ok), pc] = 1.0
        self.spectrum_matrix = chroma / np.maximum(chroma.sum(0, keepdims=True), 1.0)
        self.band_weights = np.asarray(band_weights, dtype=np.float64)
        self._band_mean = np.zeros(len(self.BANDS))
        self._seen = 0
        self._buf = np.zeros(n_fft, dtype=np.float32)  # last n_fft samples
        self._pending = np.zeros(0, dtype=np.float32)
        self._prev: np.ndarray | None = None
        self.samples_seen = 0   # samples consumed into hops
        self.last_spectrum = np.zeros((0, self.N_SPECTRUM), dtype=np.float32)

    def process(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """samples: (n,) float mono -> (times (k,), values (k,)): the bands' weighted sum per hop."""
        times, bands = self.process_bands(samples)
        return times, bands @ self.band_weights

    def process_bands(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """samples: (n,) float mono -> (times (k,), bands (k, 4)) for each completed hop.

        A value's time is where an attack that produced it typically is: a quarter window before
        the end of its analysis window (the flux of a Hann-windowed frame peaks there), in seconds
        since the first sample.
        """
        x = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n_hops = x.size // self.hop
        self._pending = x[n_hops * self.hop:]
        if n_hops == 0:
            self.last_spectrum = np.zeros((0, self.N_SPECTRUM), dtype=np.float32)
            return np.zeros(0), np.zeros((0, len(self.BANDS)))
        frames = np.empty((n_hops, self.n_fft), dtype=np.float32)
        buf = self._buf
        for i in range(n_hops):
            buf = np.concatenate([buf[self.hop:], x[i * self.hop:(i + 1) * self.hop]])
            frames[i] = buf
        self._buf = buf
        mag = np.log1p(100.0 * np.abs(np.fft.rfft(frames * self.window, axis=1))).astype(np.float32)  # (k, bins)
        self.last_spectrum = mag @ self.spectrum_matrix
        prev = self._prev if self._prev is not None else mag[0]
        diffs = np.diff(np.vstack([prev[None], mag]), axis=0)  # (k, bins)
        self._prev = mag[-1]
        bands = np.maximum(diffs, 0.0) @ self.band_matrix      # (k, 4)
        values = np.empty((n_hops, len(self.BANDS)))
        for i in range(n_hops):
            # running band means over about 10 s (faster at the start)
            self._seen += 1
            a = max(1.0 / self._seen, 1.0 / (10.0 * self.sr / self.hop))
            self._band_mean += a * (bands[i] - self._band_mean)
            values[i] = bands[i] / (self._band_mean + 1e-6)
        ends = self.samples_seen + self.hop * np.arange(1, n_hops + 1)
        self.samples_seen += n_hops * self.hop
        times = (ends - self.n_fft / 4) / self.sr
        return times, values


class BeatGrid:
    """Causal beat grid. Feed it audio evidence, MIDI clock or manual tempo; ask it for beats.

    All times are engine-clock seconds passed in by the caller.
    """

    ANALYSIS_INTERVAL = 0.25   # s between audio analyses
    WINDOW = 6.0               # s of onset envelope analysed
    MIN_EVIDENCE = 1.0         # s of audio before the first estimate (lock-in ~2 s, same F as 2 s)
    CONFIRM = 2                # consistent analyses needed for the first lock
    SWITCH_AFTER = 3.0         # s another tempo must lead (SWITCH_RATIO) before a locked grid takes it
    JUMP_AFTER = 1.0           # the same for a tempo no simple ratio away (a tempo jump, not an octave)
    OCTAVE_RATIOS = (2.0, 0.5, 1.5, 2 / 3, 3.0, 1 / 3)   # tempo ratios the scorer confuses
    MIDI_TIMEOUT = 1.0         # s without MIDI pulses before the grid falls back to audio/manual
    LINK_TIMEOUT = 0.5         # s without Link updates before the grid falls back to audio/manual
    SLEW = 0.1                 # beats per second at most that a clock switch moves the beat phase
    LINK_GAIN = 0.3            # fraction of the Link phase error corrected per update
    TAP_RESET = 60.0 / TEMPO_RANGE[0]   # s between taps that starts a new tap sequence (slowest beat)

    def __init__(self, bpm: float = DEFAULT_BPM, beats_per_bar: int = 4, env_rate: float = ENV_RATE):
        self.beats_per_bar = beats_per_bar
        self.env_rate = env_rate
        self._state = GridState(60.0 / bpm, 0.0, 0, beats_per_bar)
        self._source = "default"     # default | audio | manual | tap | midi | link
        self._clock_t = 0.0          # latest time an input was handed in (stamps source switches)
        self.switches: deque[tuple[float, str, str]] = deque(maxlen=32)   # (t, from, to)
        self.locked = False
        self.confidence = 0.0
        # audio evidence
        maxlen = int(self.WINDOW * env_rate) + 8
        self._env_t: deque[float] = deque(maxlen=maxlen)
        self._env_v: deque[float] = deque(maxlen=maxlen)
        self._hints: deque[float] = deque(maxlen=64)
        self._analyser = CombAnalyser(env_rate)
        self._belief: np.ndarray | None = None
        self._phase_hist = np.zeros(48)
        self._switch_since: float | None = None
        self._locked_at = -math.inf
        self._last_quiet = -math.inf   # last analysis that found no pulse (a break)
        self._phase_since: float | None = None
        self.bars = BarTracker(beats_per_bar)
        self._first_t: float | None = None
        self._last_analysis = -math.inf
        self._candidate: tuple[float, float] | None = None   # (period, phase time) awaiting confirmation
        self._candidate_since = 0.0
        self._candidate_count = 0
        self._manual_period: float | None = None
        self._taps: list[float] = []
        self._audio_locked = False   # the audio analysis has confirmed a tempo at least once
        # MIDI clock
        self._midi_ticks: deque[float] = deque(maxlen=97)
        self._midi_count = 0
        self._midi_running = False
        self._midi_last = -math.inf
        # Ableton Link
        self._link_last = -math.inf

    @property
    def source(self) -> str:
        """What drives the grid now: default | audio | manual | tap | midi | link."""
        return self._source

    @source.setter
    def source(self, value: str) -> None:
        if value != self._source:
            self.switches.append((self._clock_t, self._source, value))
            self._source = value

    # ------------------------------------------------------------------ queries
    def state(self, t: float | None = None) -> GridState:
        """The current grid (frozen copy). With MIDI clock active it is derived from the pulses."""
        return self._state

    @property
    def period(self) -> float:
        return self._state.period

    @property
    def bpm(self) -> float:
        return self._state.bpm

    def beat_at(self, t: float) -> float:
        return self._state.beat_at(t)

    def phase(self, t: float) -> float:
        """In [0, 1): 0 on a beat."""
        b = self.beat_at(t)
        return b - math.floor(b)

    def next_beats(self, t: float, n: int = 4) -> np.ndarray:
        """The next n predicted beat times at or after t."""
        k = math.ceil(self.beat_at(t) - 1e-9)
        return np.array([self._state.time_of_beat(k + i) for i in range(n)])

    def beats_between(self, t0: float, t1: float) -> np.ndarray:
        return self._state.beats_between(t0, t1)

    def midi_active(self, t: float) -> bool:
        return self._midi_running and t - self._midi_last < self.MIDI_TIMEOUT

    def link_active(self, t: float) -> bool:
        """An Ableton Link session with other peers has updated the grid within LINK_TIMEOUT."""
        return t - self._link_last < self.LINK_TIMEOUT

    # ------------------------------------------------------------------ re-anchoring helper
    def _set(self, period: float, beat_time: float, t: float) -> None:
        """New grid with `period` through a beat at `beat_time`, keeping the beat count continuous
        (the beat index at time t changes by less than half a beat)."""
        self._clock_t = t
        old = self._state
        n_old = old.beat_at(beat_time)
        idx = int(round(n_old))
        self._state = GridState(period, beat_time, idx, self.beats_per_bar)
        # If the count at t jumped by >= 0.5 beat (e.g. tempo changed a lot), shift the index.
        jump = self._state.beat_at(t) - old.beat_at(t)
        if abs(jump) >= 0.5:
            self._state = GridState(period, beat_time, idx - int(round(jump)), self.beats_per_bar)

    # ------------------------------------------------------------------ manual inputs
    def set_tempo(self, bpm: float, t: float) -> None:
        """`/tempo f`: pin the period (phase kept); bpm == 0 releases a manual or tapped tempo back
        to the audio analysis (or to the MIDI clock while one runs). Other values must lie in
        TEMPO_RANGE (ValueError otherwise)."""
        if bpm == 0:
            self.release_tempo(t)
            return
        bpm = check_tempo(bpm)
        self._manual_period = 60.0 / bpm
        self._taps = []
        if not self.midi_active(t) and not self.link_active(t):   # a Link session takes it as its tempo
            nxt = self._state.time_of_beat(round(self._state.beat_at(t)))
            self._set(self._manual_period, nxt, t)
            self.source = "manual"

    def release_tempo(self, t: float) -> None:
        """Hand the tempo back from `/tempo` or tap tempo: the grid keeps its current period and phase
        (no jump) and the audio analysis moves it from there; before any audio lock it waits, as at
        start, for the audio to confirm a tempo."""
        self._manual_period = None
        self._taps = []
        if self.source in ("manual", "tap"):
            if self.midi_active(t):
                self.source = "midi"
            elif self.link_active(t):
                self.source = "link"
            elif self._audio_locked:
                self.source = "audio"
            else:
                self.source = "default"
                self.locked = False

    @property
    def manual(self) -> bool:
        """True while `/tempo` or tap tempo pins the period."""
        return self._manual_period is not None

    @property
    def manual_bpm(self) -> float | None:
        """The tempo `/tempo` or tap tempo asked for (None when released)."""
        return None if self._manual_period is None else 60.0 / self._manual_period

    def tap(self, t: float) -> None:
        """`/tap`: each tap is a beat; two or more taps set tempo (median interval) and phase.
        Taps faster than TEMPO_RANGE allows start a new sequence and raise ValueError."""
        if self._taps and t - self._taps[-1] > self.TAP_RESET:
            self._taps = []
        self._taps = (self._taps + [t])[-8:]
        if len(self._taps) >= 2 and not self.midi_active(t):
            period = float(np.median(np.diff(self._taps)))
            if not TEMPO_RANGE[0] <= 60.0 / period <= TEMPO_RANGE[1]:
                self._taps = [t]
                check_tempo(60.0 / period, "tap tempo")
            self._manual_period = period
            if self.link_active(t):
                return          # a Link session takes it as its tempo (liveedit.io.link)
            self._set(period, t, t)
            self.source = "tap"
            self.locked = True

    # ------------------------------------------------------------------ MIDI clock
    def midi_start(self, t: float) -> None:
        """MIDI Start: the next pulse is beat 0's first pulse."""
        self._midi_running = True
        self._midi_count = 0
        self._midi_ticks.clear()

    def midi_continue(self, t: float) -> None:
        """MIDI Continue: resume counting pulses where they stopped."""
        self._midi_running = True

    def midi_stop(self, t: float) -> None:
        self._midi_running = False
        if self.source == "midi":
            self.source = "audio" if self.locked else "default"

    def midi_clock_tick(self, t: float) -> None:
        """One of 24 pulses per quarter note."""
        if not self._midi_running:
            # Clock without Start (many devices send clock all the time): follow its tempo; the
            # beat phase is only known for sure after a Start.
            self._midi_running = True
        self._midi_ticks.append(t)
        self._midi_last = t
        count = self._midi_count
        self._midi_count += 1
        if len(self._midi_ticks) < 3:
            return
        ticks = np.asarray(self._midi_ticks)
        period = float(np.median(np.diff(ticks))) * 24.0   # pulse interval -> beat period
        # The beat this pulse belongs to started (count % 24) pulses ago.
        beat_time = t - (count % 24) * period / 24.0
        if not TEMPO_RANGE[0] <= 60.0 / period <= TEMPO_RANGE[1]:
            return
        self._set(period, beat_time, t)
        self.source = "midi"
        self.locked = True
        self.confidence = 1.0

    # ------------------------------------------------------------------ Ableton Link
    def link_update(self, t: float, link_beat: float, bpm: float) -> None:
        """The Link session's beat (`link_beat` at time t) and tempo, from a session with other peers.

        Link outranks audio, manual and tap tempo (MIDI clock, when it runs, outranks Link). The tempo
        is taken at once; the beat phase moves toward the session's by at most SLEW beats a second,
        so the dance never jumps: a half-beat offset is made up over five seconds. The running beat
        count keeps its integer part (the session's bar count is not imposed).
        """
        if self.midi_active(t) or not TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
            return
        self._clock_t = t
        dt = min(max(t - self._link_last, 0.0), 0.1) if self._link_last > -math.inf else 0.0
        self._link_last = t
        period = 60.0 / bpm
        ours = self._state.beat_at(t)
        err = (link_beat - ours + 0.5) % 1.0 - 0.5          # phase error in beats, in [-0.5, 0.5)
        if self.source != "link":
            self.source = "link"
            self.locked = True
            self.confidence = 1.0
        # A third of the error each update (30 a second) averages out the jitter of reading the session
        # clock on a loaded machine; the slew limit bounds how fast a large offset is made up.
        step = max(-self.SLEW * dt, min(self.SLEW * dt, self.LINK_GAIN * err))
        b = ours + step
        k = math.floor(b)
        self._state = GridState(period, t - (b - k) * period, k, self.beats_per_bar)

    def link_phase_error(self, t: float, link_beat: float) -> float:
        """(session beat - grid beat) at t, wrapped to [-0.5, 0.5) beats."""
        return (link_beat - self._state.beat_at(t) + 0.5) % 1.0 - 0.5

    def link_lost(self, t: float) -> None:
        """The Link session has no other peer any more: fall back to the next clock."""
        self._link_last = -math.inf
        if self.source == "link":
            self._clock_t = t
            self.source = "manual" if self._manual_period is not None else "audio" if self._audio_locked else "default"

    # ------------------------------------------------------------------ audio evidence
    def observe_beat(self, t: float) -> None:
        """A beat reported by an external causal tracker (e.g. aubio): used as a weak hint."""
        self._hints.append(t)

    def observe_onsets(self, times: np.ndarray, values: np.ndarray, now: float | None = None,
                       spectrum: np.ndarray | None = None) -> None:
        """Onset envelope values with their times; analyses when due.

        values: (k,) one envelope, or (k, C) bands (`OnsetEnvelope.process_bands`: the analysis is
        tuned on its four bands; a single envelope is used as all four). spectrum: (k, S) coarse log
        spectrum of the same hops (`OnsetEnvelope.last_spectrum`), for bar and meter detection.
        """
        times = np.asarray(times, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if times.size == 0:
            return
        if values.ndim == 1:
            values = np.repeat(values[:, None], N_BANDS, axis=1)
        if self._first_t is None:
            self._first_t = float(times[0])
        self._env_t.extend(times.tolist())
        self._env_v.extend(values[:, :N_BANDS])
        now = float(times[-1]) if now is None else now
        if spectrum is not None and len(spectrum) == times.size:
            self.bars.observe(times, values[:, :N_BANDS], np.asarray(spectrum))
        if now - self._last_analysis >= self.ANALYSIS_INTERVAL:
            self._last_analysis = now
            self._analyse(now)
        if self.locked and self.source == "audio":
            self.bars.update(self._state, now)
            if self.bars.beats_per_bar != self.beats_per_bar:
                self.beats_per_bar = self.bars.beats_per_bar
                self._state = replace(self._state, beats_per_bar=self.beats_per_bar)

    def is_downbeat(self, n: int) -> bool:
        """Beat n of the running count starts a bar (from the audio's bars while it drives the grid;
        else every `beats_per_bar` beats from beat 0)."""
        if self.source == "audio":
            return self.bars.is_downbeat(n)
        return n % self.beats_per_bar == 0

    def _envelope(self) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(self._env_t)
        x = np.asarray(self._env_v)
        raw_level = float(np.mean(x[-int(2.0 * self.env_rate):])) if x.size else 0.0
        if self._hints and t.size and raw_level >= 0.5 * getattr(self, "_level_avg", 0.0):
            # Hints become bumps on the envelope at the nearest envelope sample, only while the audio
            # itself has a pulse (trackers keep reporting beats through breakdowns).
            x = x.copy()
            scale = np.percentile(x, 95, axis=0)
            for h in self._hints:
                i = int(round((h - t[0]) * self.env_rate))
                if 0 <= i < len(x):
                    x[i] += self.HINT_WEIGHT * scale
        return t, x

    # Tempo and phase come from liveedit/core/tempo.py (weights learned on the tuning set); these
    # constants steer how the grid follows them (tuned on the tuning set, liveedit/bench/beatset.py).
    HINT_WEIGHT = 1.0
    BREAKDOWN_LEVEL = 0.5    # recent drum onset level below this fraction of the song's = no pulse
    LEVEL_BANDS = (0, 3)     # kick and hats: their onset level says whether the drums play
    MIN_STRENGTH = 1.3       # the winning cell's on-grid onset level over the mean, below = no pulse
    LOCK_PROB = 0.15         # the best cell's probability needed for a first lock
    EARLY_S = 4.0            # s after a first lock during which a tempo switch is quick
    SWITCH_AFTER_EARLY = 0.75  # s a leading tempo must lead in those seconds (else SWITCH_AFTER)
    MIN_MASS = 0.3           # once locked, probability near the current period needed to move the grid
    MIN_PROB = 0.15          # the best cell's probability, below = no pulse (drumless breaks)
    PERIOD_GAIN = 0.4        # fraction of a locked period's error corrected per analysis
    PHASE_GAIN = 0.35        # fraction of a locked phase error corrected per analysis
    BELIEF_S = 3.0           # time constant of the tempo belief
    BELIEF_S_EARLY = 0.5     # the same before and in the first EARLY_S seconds after the first lock
    SWITCH_RATIO = 1.5       # another tempo's belief over the current one's that starts a switch
    LOOP_GAIN = 0.3          # period change per beat of phase error, per analysis
    PHASE_DECAY = 0.85       # per analysis, of the phase histogram
    SETTLE_S = 3.0           # s after a break during which the period is held (phase still followed)
    NEAR_PHASE = 0.3         # beats: a phase error up to this is followed, beyond it must persist
    PHASE_SWITCH_AFTER = 1.5   # s another phase must lead before the grid jumps to it

    def _analyse(self, now: float) -> None:
        if self.midi_active(now) or self.link_active(now) or self._first_t is None:
            return
        if now - self._first_t < self.MIN_EVIDENCE:
            return
        t, x = self._envelope()
        # Pulse clarity: is there recent onset activity compared with the song so far? (Measured on
        # the audio alone: a tracker that keeps reporting beats through a breakdown must not count.)
        raw = np.asarray(self._env_v)[:, list(self.LEVEL_BANDS)].sum(1)
        recent = raw[-int(2.0 * self.env_rate):]
        level = float(np.mean(recent)) if recent.size else 0.0
        # The song's onset level: the recent peak, decaying over about a minute (a break of 16 bars
        # must still read as a break at its end).
        self._level_avg = max(0.995 * getattr(self, "_level_avg", level), level)
        if len(x) < 30 or level < self.BREAKDOWN_LEVEL * self._level_avg or level < 1e-6:
            self.confidence *= 0.9
            self._last_quiet = now
            return  # breakdown / silence: hold the grid
        fixed = self._manual_period
        an = self._analyser
        s, f = an.scores(x)
        t_end = float(t[-1])
        if fixed is not None:   # a manual tempo: only phases at (about) that period count
            s = np.where((np.abs(np.log(an.periods / (fixed * an.rate))) < 0.03)[:, None], s, -np.inf)
        # The scorer was trained as a softmax over cells: exp(score) normalised is each cell's
        # probability of being the right (period, phase).
        prob = np.exp(s - s.max())
        prob /= prob.sum()
        # Tempo belief: each period's probability, averaged over the analyses (about BELIEF_S s),
        # so one ambiguous window (a fill, a sparse bar) cannot flip the octave.
        marg = prob.sum(1)
        # (shorter at first: an early lock from a bar or two of audio must be easy to correct)
        early = not self.locked or now - self._locked_at < self.EARLY_S
        a = min(1.0, self.ANALYSIS_INTERVAL / (self.BELIEF_S_EARLY if early else self.BELIEF_S))
        self._belief = marg if self._belief is None else (1 - a) * self._belief + a * marg
        pi, qi = np.unravel_index(int(np.argmax(s)), s.shape)
        strength = float(f[pi, qi, 0:4 * N_BANDS:4].mean())
        self.confidence = 0.8 * self.confidence + 0.2 * min(1.0, strength / 3.0)
        if strength < self.MIN_STRENGTH or float(prob.max()) < self.MIN_PROB:
            return  # no clear pulse (the scorer is unsure where the beat is): hold
        if not self.locked:
            if float(prob.max()) < self.LOCK_PROB:
                return
            period, beat_time = self._best_of(prob, self._belief, t_end)
            self._confirm_lock(fixed or period, beat_time, now)
            if self.locked:
                self._phase_hist[:] = 0.0
                self._locked_at = now
            return
        self._follow(prob, t_end, now, fixed)

    def _best_of(self, prob: np.ndarray, belief: np.ndarray, t_end: float) -> tuple[float, float]:
        """(period s, beat time) of the most believed period and its likeliest phase now."""
        an = self._analyser
        k = np.convolve(belief, np.ones(3), mode="same")
        pi = int(np.argmax(k))
        rows = slice(max(0, pi - 1), pi + 2)
        w = belief[rows] / belief[rows].sum()
        period = float(np.exp((np.log(an.periods[rows]) * w).sum()) / an.rate)
        qi = int(np.argmax(prob[rows].sum(0)))
        return period, t_end - qi / an.rate

    def _peak_period(self, marg: np.ndarray, rows: np.ndarray) -> float:
        """Period (s) at the peak of a period marginal among `rows`, refined between grid periods by
        a parabola through the log-probabilities (the grid is 2.7 % a step; a weighted mean over the
        rows would lean toward the side with more rows)."""
        an = self._analyser
        j = int(rows[np.argmax(marg[rows])])
        logp = np.log(an.periods)
        if 0 < j < marg.size - 1:
            a, b, c = np.log(marg[j - 1:j + 2] + 1e-12)
            den = a - 2 * b + c
            off = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0
            step = logp[j + 1] - logp[j] if off > 0 else logp[j] - logp[j - 1]
            return float(np.exp(logp[j] + off * step) / an.rate)
        return float(an.periods[j] / an.rate)

    def _follow(self, prob: np.ndarray, t_end: float, now: float, fixed: float | None) -> None:
        """Locked: keep the tempo unless another one's belief clearly leads for SWITCH_AFTER seconds;
        correct the phase from a histogram of where the recent analyses put the beat (in the grid's
        own phase), so that single windows that pick the off-beat (syncopation) are outvoted."""
        an = self._analyser
        cur = self._state
        logp = np.log(an.periods / (cur.period * an.rate))
        near = np.abs(logp) < 0.045
        k = np.convolve(self._belief, np.ones(3), mode="same")
        here = float(k[near].max()) if near.any() else 0.0
        far = np.abs(logp) > 0.08
        # Just after a break the window is mostly break: the period held through it is worth more than
        # the windows' until they hold SETTLE_S of music again (the phase may still be corrected).
        settling = now - self._last_quiet < self.SETTLE_S
        if fixed is None and not settling and far.any() and float(k[far].max()) > self.SWITCH_RATIO * here:
            if self._switch_since is None:
                self._switch_since = now
            # A lead at an octave (or 3:2) of the beat must last: the scorer's evidence there is close.
            # A tempo no such ratio away is the music changing tempo (a jump at a section): take it soon.
            lead = an.periods[int(np.argmax(np.where(far, k, -np.inf)))] / (cur.period * an.rate)
            octave = any(abs(math.log(lead / r)) < 0.05 for r in self.OCTAVE_RATIOS)
            wait = (self.SWITCH_AFTER_EARLY if now - self._locked_at <= self.EARLY_S
                    else self.SWITCH_AFTER if octave else self.JUMP_AFTER)
            if now - self._switch_since >= wait:
                period, beat_time = self._best_of(prob, np.where(far, self._belief, 0.0), t_end)
                self._set(period, beat_time, now)
                self._phase_hist[:] = 0.0
                self._switch_since = None
                return
        else:
            self._switch_since = None
        # Phase: probability mass of the cells near the current period, by grid phase of their beat.
        rows = np.flatnonzero(np.abs(logp) < 0.06)
        if rows.size == 0:
            return
        mass = prob[rows]                                          # (r, Q)
        if float(mass.sum()) < self.MIN_MASS:
            return   # the scorer puts the beat at other tempi now (a break, a fill): hold
        q = np.arange(an.Q)
        psi = (cur.beat_at(t_end) - q / an.rate / cur.period) % 1.0
        bins = self._phase_hist.size
        hist = np.bincount((psi * bins).astype(int) % bins, weights=mass.sum(0), minlength=bins)
        total = hist.sum()
        if total <= 0:
            return
        self._phase_hist = self.PHASE_DECAY * self._phase_hist + hist / total
        smooth = self._phase_hist + 0.5 * (np.roll(self._phase_hist, 1) + np.roll(self._phase_hist, -1))
        j = int(np.argmax(smooth))
        # sub-bin peak (parabola), then the error in beats, wrapped to [-0.5, 0.5)
        a_, b_, c_ = smooth[j - 1], smooth[j], smooth[(j + 1) % bins]
        den = a_ - 2 * b_ + c_
        off = 0.5 * (a_ - c_) / den if den < 0 else 0.0
        err_beats = ((j + 0.5 + off) / bins + 0.5) % 1.0 - 0.5
        if abs(err_beats) > self.NEAR_PHASE:
            # Another phase leads (off-beat lock, or the music shifted): follow only if it persists.
            if self._phase_since is None:
                self._phase_since = now
            measured = self._peak_period(prob.sum(1), rows)
            if now - self._phase_since < self.PHASE_SWITCH_AFTER:
                # Meanwhile the period still follows the windows (a steep ramp also shows up here
                # first), but not the phase error, which may be an off-beat's.
                if fixed is None and not settling:
                    self._set(cur.period + self.PERIOD_GAIN * (measured - cur.period),
                              cur.time_of_beat(round(cur.beat_at(t_end))), now)
                return
            corr = err_beats
            self._phase_since = None
            new_period = cur.period
        else:
            self._phase_since = None
            corr = self.PHASE_GAIN * err_beats
            if fixed is not None or settling:
                new_period = cur.period
            else:
                # The period moves toward this window's (its period marginal's peak among the periods
                # near the current one), and a persistent phase error also says it is off
                # (second-order loop: ramps, drift).
                measured = self._peak_period(prob.sum(1), rows)
                new_period = cur.period + self.PERIOD_GAIN * (measured - cur.period)
                new_period *= 1.0 + self.LOOP_GAIN * err_beats
        anchor = cur.time_of_beat(round(cur.beat_at(t_end)))
        self._set(new_period, anchor + corr * cur.period, now)
        # The histogram is in grid phase: move it with the grid.
        shift = corr * bins
        idx = (np.arange(bins) + shift) % bins
        self._phase_hist = np.interp(idx, np.arange(bins + 1), np.append(self._phase_hist, self._phase_hist[0]))

    def _phase_error(self, beat_time: float, grid: GridState) -> float:
        b = grid.beat_at(beat_time)
        return (b - round(b)) * grid.period

    def _consistent(self, period: float, beat_time: float) -> bool:
        if self._candidate is None:
            return False
        cp, cb = self._candidate
        if abs(period / cp - 1) > 0.05:
            return False
        b = (beat_time - cb) / cp
        return abs(b - round(b)) * cp < 0.08

    def _confirm_lock(self, period: float, beat_time: float, now: float) -> None:
        if self._consistent(period, beat_time):
            self._candidate_count += 1
        else:
            self._candidate = (period, beat_time)
            self._candidate_count = 1
            self._candidate_since = now
        self._candidate = (period, beat_time)
        if self._candidate_count >= self.CONFIRM:
            self._set(period, beat_time, now)
            self.locked = True
            self._audio_locked = True
            if self.source == "default":
                self.source = "audio"
            self._candidate = None
            self._candidate_count = 0


class BeatEmitter:
    """Turns a grid's predictions into a causal stream of beat events: each predicted beat is
    emitted once, when the clock passes it (never twice, never out of order)."""

    def __init__(self, min_gap: float = 0.5):
        self._last: float = -math.inf
        self.min_gap = min_gap  # as a fraction of the period: no two beats closer than this

    def advance(self, grid: BeatGrid, t: float) -> list[float]:
        out: list[float] = []
        start = max(self._last + self.min_gap * grid.period, t - 2 * grid.period) if self._last > -math.inf else t - grid.period
        for b in grid.beats_between(start, t + 1e-9):
            if b > self._last + self.min_gap * grid.period:
                out.append(float(b))
                self._last = float(b)
        return out


def track_beats(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, hints: Iterable[float] | None = None,
                block: int = 256) -> np.ndarray:
    """Run the causal grid over a whole recording; returns the beat times it emits (seconds).

    audio: (n,) float mono at `sample_rate` (15360 Hz). Beats come out exactly as the live engine
    would emit them: a beat is reported when the clock reaches its predicted time, using only the
    audio heard so far. `hints`: optional beat times from another causal tracker, each fed in when
    the clock reaches it.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"track_beats expects {SAMPLE_RATE} Hz audio, got {sample_rate}")
    env = OnsetEnvelope(sample_rate)
    grid = BeatGrid()
    emit = BeatEmitter()
    hint_list = sorted(hints) if hints is not None else []
    hi = 0
    beats: list[float] = []
    for start in range(0, audio.size, block):
        chunk = audio[start:start + block]
        now = (start + chunk.size) / sample_rate
        while hi < len(hint_list) and hint_list[hi] <= now:
            grid.observe_beat(hint_list[hi])
            hi += 1
        times, values = env.process_bands(chunk)
        grid.observe_onsets(times, values, now, spectrum=env.last_spectrum)
        if grid.locked:
            beats.extend(emit.advance(grid, now))
        else:
            emit._last = now  # nothing emitted before the first lock
    return np.asarray(beats)
