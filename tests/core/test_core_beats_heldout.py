"""The causal tracker on short held-out clips with exact beats and bar lines (liveedit/bench/beatset.py):
syncopation whose loudest hits are off the beat, 3/4 and 6/8, a drumless break, and the pieces underneath
(the learned cell scorer, bar detection). Clips are rendered with FluidSynth (FluidR3_GM when
installed, else the corpus soundfont), 16-24 s each, so the whole module runs in a few seconds."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from liveedit.bench.beatscore import break_phase_ms, f_measure, octave_label, tempo_ratio
from liveedit.core.beats import ENV_RATE, OnsetEnvelope
from liveedit.core.meter import BarTracker
from liveedit.core.tempo import FEATURES, WEIGHTS_PATH, CombAnalyser
from liveedit.core.testaudio import drum_song
from liveedit.tracker import live_beats


def clip(name: str, seconds: float):
    pytest.importorskip("fluidsynth")   # the clips are rendered; the scorer and bar tests need numpy only
    from liveedit.bench.beatset import SEED0, beat_set, render

    for i, spec in enumerate(beat_set()):
        if spec.name == name:
            return render(replace(spec, seconds=seconds), SEED0 + i, cache=False)
    raise KeyError(name)


def track(song):
    out = live_beats(song.audio)
    beats = np.array([b["t"] for b in out])
    downbeats = np.array([b["t"] for b in out if b["downbeat"]])
    return out, beats, downbeats


def test_dembow_is_tracked_on_the_kick_not_on_the_off_beat_rim():
    song = clip("reggaeton dembow 95", 20.0)
    _, beats, _ = track(song)
    assert f_measure(song.beats, beats) >= 0.9
    assert octave_label(tempo_ratio(song.beats, beats)) == "right"


def test_waltz_is_in_three_with_its_bar_lines():
    song = clip("waltz 3/4 150", 20.0)
    out, beats, downbeats = track(song)
    assert f_measure(song.beats, beats) >= 0.9
    assert out[-1]["beats_per_bar"] == 3
    assert f_measure(song.downbeats, downbeats) >= 0.8


def test_drum_and_bass_is_not_tracked_at_half_tempo():
    song = clip("drum and bass 164", 20.0)
    _, beats, _ = track(song)
    assert octave_label(tempo_ratio(song.beats, beats)) == "right"


def test_phase_holds_through_a_sixteen_beat_drumless_break():
    song = clip("hip-hop 90 + break", 24.0)    # drums stop at 11 s, come back at 21.7 s
    _, beats, _ = track(song)
    assert break_phase_ms(song.beats, beats, song.breaks) <= 70.0


def test_the_shipped_scorer_matches_the_features():
    d = json.loads(WEIGHTS_PATH.read_text())
    assert d["features"] == FEATURES
    an = CombAnalyser(ENV_RATE)
    audio, ref = drum_song(bpm=124.0, seconds=8.0, seed=3)
    _, bands = OnsetEnvelope().process_bands(audio)
    s, f = an.scores(bands[-360:])
    assert f.shape == (an.periods.size, an.Q, len(FEATURES)) and np.isfinite(s[an.valid]).all()
    est = an.pick(s, f, 8.0)
    assert 60.0 / est.period == pytest.approx(124.0, rel=0.03)


@pytest.mark.parametrize("meter,division", [(3, 2), (4, 2), (2, 3)])
def test_bar_tracker_finds_the_meter_from_beat_features(meter, division):
    """Bars from the features alone: a bass hit and a chord change on every bar line, hats dividing
    each beat in `division` (in three and two beats a bar: 6/8 at the dotted quarter)."""
    rate, period = 60.0, 0.5
    bars = BarTracker()
    t = np.arange(0, 24, 1 / rate)
    bands = np.full((t.size, 4), 0.2)
    chroma = np.zeros((t.size, 12))
    beat = np.floor(t / period).astype(int)
    on = np.abs(t - np.round(t / period) * period) < 1 / rate
    bands[on & (np.round(t / period).astype(int) % meter == 1), 0] = 3.0   # bass on beat 1 of each bar
    sub = np.round(t / (period / division))
    bands[np.abs(t - sub * period / division) < 1 / rate, 3] = 2.0           # hats on each division
    chroma[np.arange(t.size), ((beat - 1) // meter * 5) % 12] = 1.0       # a new chord each bar

    class Grid:
        period = 0.5

        def beat_at(self, x):
            return x / period

        def time_of_beat(self, n):
            return n * period

    for i in range(0, t.size, 15):          # 0.25 s at a time, as the grid feeds it
        bars.observe(t[i:i + 15], bands[i:i + 15], chroma[i:i + 15])
        bars.update(Grid(), float(t[min(i + 15, t.size - 1)]))
    assert bars.beats_per_bar == meter
    assert bars.is_downbeat(1 + 5 * meter) and not bars.is_downbeat(2 + 5 * meter)


def test_six_eight_is_counted_in_two_with_its_bar_lines():
    song = clip("6/8 ballad 72", 20.0)
    out, beats, downbeats = track(song)
    assert f_measure(song.beats, beats) >= 0.9
    assert out[-1]["beats_per_bar"] == 2
    assert f_measure(song.downbeats, downbeats) >= 0.8
