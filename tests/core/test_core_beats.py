"""Beat grid: locking, tempo octaves, breakdowns, MIDI clock, tap and manual tempo (fake clock)."""
import math

import mir_eval
import numpy as np
import pytest

from liveedit.core.beats import TEMPO_RANGE, BeatEmitter, BeatGrid, GridState, OnsetEnvelope, track_beats
from liveedit.core.testaudio import drum_song


def f_measure(ref, est):
    return mir_eval.beat.f_measure(mir_eval.beat.trim_beats(np.asarray(ref)), mir_eval.beat.trim_beats(np.asarray(est)))


def grid_after(audio, seconds):
    env, grid = OnsetEnvelope(), BeatGrid()
    n = int(seconds * 15360)
    for s in range(0, n, 512):
        t, v = env.process(audio[s:s + 512])
        grid.observe_onsets(t, v, (s + 512) / 15360)
    return grid


def phase_error(grid, ref_beats, t):
    """Distance (s) from the grid's nearest predicted beat to the true beat just before t."""
    b = ref_beats[ref_beats < t][-1]
    x = grid.beat_at(b)
    return abs(x - round(x)) * grid.period


@pytest.mark.parametrize("bpm", [96.0, 120.0])
def test_grid_locks_to_a_steady_beat(bpm):
    audio, ref = drum_song(bpm=bpm, seconds=12)
    grid = grid_after(audio, 12)
    assert grid.locked and grid.source == "audio"
    assert grid.bpm == pytest.approx(bpm, rel=0.02)
    assert phase_error(grid, ref, 12) < 0.05


def test_fast_music_is_not_tracked_at_half_tempo():
    audio, ref = drum_song(bpm=150, seconds=12)
    grid = grid_after(audio, 12)
    assert grid.bpm == pytest.approx(150, rel=0.02)


def test_track_beats_matches_known_beats():
    audio, ref = drum_song(bpm=110, seconds=15)
    est = track_beats(audio)
    assert f_measure(ref, est) > 0.9
    assert np.all(np.diff(est) > 0.3)  # causal emission never repeats or reorders beats


def test_grid_holds_tempo_and_phase_through_a_drumless_breakdown():
    audio, ref = drum_song(bpm=110, seconds=30, breakdowns=((10.0, 22.0),))
    est = track_beats(audio)
    in_break = ref[(ref > 10.5) & (ref < 22.0)]
    est_break = est[(est > 10.0) & (est < 22.5)]
    # every true beat in the breakdown still has a predicted beat within 70 ms
    dist = np.abs(in_break[:, None] - est_break[None, :]).min(axis=1)
    assert np.all(dist < 0.07), dist.max()
    assert f_measure(ref, est) > 0.85  # the first ~3 s (lock-in) have no beats


def test_midi_clock_overrides_audio_and_falls_back_after_stop():
    audio, _ = drum_song(bpm=120, seconds=8)
    grid = grid_after(audio, 8)
    assert grid.bpm == pytest.approx(120, rel=0.02)
    grid.midi_start(8.0)
    period = 60.0 / 100.0
    ticks = 8.0 + np.arange(24 * 4) * period / 24
    for t in ticks:
        grid.midi_clock_tick(float(t))
    assert grid.source == "midi"
    assert grid.bpm == pytest.approx(100, rel=1e-3)
    # MIDI beat 0 was the first pulse after Start: the grid's beats fall on every 24th pulse
    x = grid.beat_at(8.0 + 2 * period)
    assert abs(x - round(x)) < 1e-3
    # audio analysis does not move the grid while MIDI clock runs
    env_t = np.arange(0, 2, 1 / 60) + 9.0
    grid.observe_onsets(env_t, np.random.default_rng(0).random(env_t.size), float(env_t[-1]))
    assert grid.bpm == pytest.approx(100, rel=1e-3)
    grid.midi_stop(ticks[-1] + 0.01)
    assert grid.source != "midi"
    assert not grid.midi_active(ticks[-1] + 2.0)


def test_tap_tempo_sets_tempo_and_phase():
    grid = BeatGrid()
    for t in (10.0, 10.5, 11.0, 11.5):
        grid.tap(t)
    assert grid.source == "tap"
    assert grid.bpm == pytest.approx(120)
    assert grid.phase(12.0) == pytest.approx(0.0, abs=1e-9)
    # a long pause starts a new tap sequence
    grid.tap(20.0)
    grid.tap(20.6)
    assert grid.bpm == pytest.approx(100)


def test_manual_tempo_pins_the_period_and_rejects_nonsense():
    grid = BeatGrid()
    grid.set_tempo(90, 3.0)
    assert grid.bpm == pytest.approx(90) and grid.source == "manual"
    with pytest.raises(ValueError):
        grid.set_tempo(5000, 3.0)
    grid.set_tempo(0, 4.0)
    assert grid.source != "manual"


def test_manual_and_tapped_tempo_release_back_to_the_audio_lock():
    audio, ref = drum_song(bpm=120.0, seconds=12)
    grid = grid_after(audio, 12)
    assert grid.source == "audio"
    grid.set_tempo(90, 12.0)
    assert grid.source == "manual" and grid.manual and grid.bpm == pytest.approx(90)
    before = grid.beat_at(12.0)
    grid.set_tempo(0, 12.0)              # release: source back to audio, no jump in the beat count
    assert grid.source == "audio" and not grid.manual and grid.locked
    assert grid.beat_at(12.0) == pytest.approx(before)
    for t in (13.0, 13.4, 13.8):
        grid.tap(t)
    assert grid.source == "tap" and grid.manual and grid.bpm == pytest.approx(150)
    grid.release_tempo(14.0)
    assert grid.source == "audio" and not grid.manual


def test_release_without_audio_waits_for_a_new_lock():
    grid = BeatGrid()
    grid.tap(1.0)
    grid.tap(1.5)
    assert grid.source == "tap" and grid.locked
    grid.set_tempo(0, 2.0)
    assert grid.source == "default" and not grid.locked and grid.bpm == pytest.approx(120)
    # the audio analysis now locks from scratch, to the music's tempo
    audio, _ = drum_song(bpm=100.0, seconds=10)
    env = OnsetEnvelope()
    for s in range(0, audio.size, 512):
        t, v = env.process(audio[s:s + 512])
        grid.observe_onsets(t + 2.0, v, 2.0 + (s + 512) / 15360)
    assert grid.source == "audio" and grid.bpm == pytest.approx(100, rel=0.02)


def test_one_tempo_range_for_manual_tap_and_midi_clock():
    lo, hi = TEMPO_RANGE
    grid = BeatGrid()
    grid.set_tempo(lo, 1.0)
    assert grid.bpm == pytest.approx(lo)
    grid.set_tempo(hi, 1.0)
    assert grid.bpm == pytest.approx(hi)
    for bad in (lo - 1, hi + 1, -120.0, math.nan):
        with pytest.raises(ValueError, match="between 20 and 300"):
            grid.set_tempo(bad, 1.0)
    with pytest.raises(ValueError, match="between 20 and 300"):   # taps 0.1 s apart = 600 BPM
        grid.tap(5.0)
        grid.tap(5.1)
    grid = BeatGrid()
    for t in (1.0, 3.9):                 # 2.9 s apart = 20.7 BPM: inside the range, one sequence
        grid.tap(t)
    assert grid.source == "tap" and grid.bpm == pytest.approx(60 / 2.9)
    grid = BeatGrid()
    grid.midi_start(0.0)
    for k in range(48):                  # a 400 BPM clock is outside the range: ignored
        grid.midi_clock_tick(k * 0.15 / 24)
    assert grid.source != "midi" and grid.bpm == pytest.approx(120)


def test_beat_count_stays_continuous_when_the_grid_changes():
    grid = BeatGrid()
    before = grid.beat_at(10.0)
    grid.set_tempo(140, 10.0)
    assert abs(grid.beat_at(10.0) - before) < 0.5


def test_grid_state_from_beats_and_beats_between():
    beats = 1.0 + 0.5 * np.arange(8)
    st = GridState.from_beats(beats)
    assert st.bpm == pytest.approx(120)
    assert np.allclose(st.beats_between(4.9, 6.1), [5.0, 5.5, 6.0])
    with pytest.raises(ValueError):
        GridState.from_beats([3.0, 2.0, 1.0])


def test_emitter_emits_each_beat_once_in_order():
    grid = BeatGrid(bpm=120)
    em = BeatEmitter()
    out = []
    for k in range(1, 200):
        out += em.advance(grid, k / 60)
    assert np.allclose(np.diff(out), 0.5)
    assert len(out) == len(set(out))


def test_onset_envelope_peaks_at_clicks():
    x = np.zeros(15360 * 2, np.float32)
    clicks = [0.5, 1.0, 1.5]
    for c in clicks:
        i = int(c * 15360)
        x[i:i + 200] = np.random.default_rng(1).standard_normal(200)
    env = OnsetEnvelope()
    t, v = env.process(x)
    peaks = t[np.argsort(v)[-3:]]
    assert np.allclose(np.sort(peaks), clicks, atol=0.03)
