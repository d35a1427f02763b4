"""Procedural songs: determinism, tempo, exact beats, breakdowns, rendering, save/load."""
from __future__ import annotations

import numpy as np
import pytest

from training.corpus.songs import STYLES, Song, load_song, make_song, save_song

SR = 15360


def test_styles_are_varied():
    assert len(STYLES) >= 6
    assert len(set(STYLES)) == len(STYLES)


def test_same_seed_same_song_and_different_seed_differs():
    a = make_song(5, "house", duration=6.0)
    b = make_song(5, "house", duration=6.0)
    c = make_song(6, "house", duration=6.0)
    np.testing.assert_array_equal(a.audio, b.audio)
    np.testing.assert_array_equal(a.beat_times, b.beat_times)
    assert a.sections == b.sections
    assert not np.array_equal(a.audio, c.audio)


@pytest.mark.parametrize("style", STYLES)
def test_every_style_renders_sound_that_is_neither_clipped_nor_silent(style):
    song = make_song(11, style, duration=4.0)
    assert song.audio.dtype == np.float32
    peak = float(np.abs(song.audio).max())
    rms = float(np.sqrt(np.mean(song.audio.astype(np.float64) ** 2)))
    assert peak < 0.99
    assert rms > 0.01
    assert song.style == style


@pytest.mark.parametrize("duration", [3.3, 8.0])
def test_render_length_matches_duration(duration):
    song = make_song(2, "pop", duration=duration)
    assert song.sample_rate == SR
    assert len(song.audio) == round(duration * SR)
    assert song.duration == pytest.approx(duration, abs=1.0 / SR)
    assert song.beat_times[-1] < duration
    assert song.sections[0]["start"] == 0.0
    assert song.sections[-1]["end"] == pytest.approx(duration)


def test_tempo_stays_in_range_over_many_seeds():
    seen_styles, changed = set(), 0
    for seed in range(60):
        song = make_song(seed, duration=20.0, render=False)
        periods = np.diff(song.beat_times)
        assert np.all(60.0 / periods >= 70.0 - 1e-6) and np.all(60.0 / periods <= 180.0 + 1e-6), song.song_id
        assert 70.0 <= song.bpm <= 180.0
        seen_styles.add(song.style)
        changed += int(np.ptp(periods) > 1e-6)
    assert len(seen_styles) >= 6
    assert 3 <= changed <= 40  # some songs change tempo, most do not


def _tempo_map_beats(song: Song, tmp_path) -> np.ndarray:
    """Beats according to the MIDI file written to disk and read back."""
    import pretty_midi

    save_song(song, tmp_path)
    pm = pretty_midi.PrettyMIDI(str(tmp_path / f"{song.song_id}.mid"))
    return pm.get_beats()


@pytest.mark.parametrize("change", ["jump", "ramp"])
def test_beats_follow_the_tempo_map_of_a_tempo_change_song(change, tmp_path):
    song = make_song(3, "funk", duration=16.0, bpm=100.0, tempo_change=change, render=False)
    periods = np.diff(song.beat_times)
    assert np.ptp(periods) > 0.02, "the tempo should really change"
    midi_beats = _tempo_map_beats(song, tmp_path)
    n = len(song.beat_times)
    np.testing.assert_allclose(midi_beats[:n], song.beat_times, atol=1e-6)
    # the tempo changes recorded in the MIDI match the meta data
    tempo_times, tempi = song.midi.get_tempo_changes()
    assert len(tempo_times) >= 2
    assert song.bpm == pytest.approx(100.0, abs=0.01)
    if change == "jump":
        assert len(np.unique(np.round(periods, 9))) == 2
    np.testing.assert_allclose(song.downbeat_times, song.beat_times[::4])


def test_steady_song_has_even_beats_on_the_downbeat_grid():
    song = make_song(4, "house", duration=8.0, bpm=120.0, tempo_change="none", render=False)
    np.testing.assert_allclose(song.beat_times, np.arange(16) * 0.5, atol=1e-9)
    np.testing.assert_allclose(song.downbeat_times, np.arange(4) * 2.0, atol=1e-9)


def test_drum_notes_start_on_the_beat_grid():
    song = make_song(8, "pop", duration=8.0, bpm=110.0, tempo_change="ramp", render=False)
    drums = [inst for inst in song.midi.instruments if inst.is_drum][0]
    kicks = np.array(sorted(n.start for n in drums.notes if n.pitch == 36))
    dist = np.abs(kicks[:, None] - song.beat_times[None, :]).min(axis=1)
    # pop kicks fall on beats or on 8th/16th positions between them, never elsewhere
    sixteenth = np.diff(song.beat_times).min() / 4
    assert np.all((dist < 1e-6) | (dist > sixteenth * 0.9))
    assert np.mean(dist < 1e-6) > 0.5


def _percussive_share(audio: np.ndarray, start: float, end: float) -> float:
    """Share of a segment's energy in the percussive part of a harmonic/percussive separation."""
    import librosa

    seg = audio[int(start * SR): int(end * SR)]
    perc = librosa.effects.percussive(seg)
    return float(np.sum(perc.astype(np.float64) ** 2) / np.sum(seg.astype(np.float64) ** 2))


def test_drumless_breakdown_has_less_percussive_onset_energy():
    song = make_song(9, "house", duration=8.0, bpm=120.0, breakdown=True, tempo_change="none", peak=0.8)
    kinds = [s["kind"] for s in song.sections]
    assert "breakdown" in kinds
    bd = song.sections[kinds.index("breakdown")]
    loud = next(s for s in song.sections if s["has_drums"])
    assert not bd["has_drums"] and bd["energy"] < loud["energy"]
    drums = [inst for inst in song.midi.instruments if inst.is_drum][0]
    assert not any(bd["start"] <= n.start < bd["end"] for n in drums.notes)
    share_bd = _percussive_share(song.audio, bd["start"], bd["end"])
    share_loud = _percussive_share(song.audio, loud["start"], loud["end"])
    assert share_bd < 0.3 * share_loud, (share_bd, share_loud)


def test_long_song_has_full_structure():
    song = make_song(1, "pop", duration=50.0, bpm=120.0, breakdown=True, render=False)
    kinds = [s["kind"] for s in song.sections]
    assert kinds[0] == "intro" and kinds[-1] == "outro"
    i = kinds.index("breakdown")
    assert kinds[i + 1] == "chorus"
    assert all(a["end"] == pytest.approx(b["start"]) for a, b in zip(song.sections, song.sections[1:]))
    roles = {inst.name for inst in song.midi.instruments}
    assert {"drums", "bass", "comp", "pad", "lead"} <= roles


def test_save_load_round_trip(tmp_path):
    song = make_song(12, "latin", duration=5.0, tempo_change="jump")
    save_song(song, tmp_path)
    for ext in ("flac", "json", "mid"):
        assert (tmp_path / f"{song.song_id}.{ext}").exists()
    back = load_song(tmp_path, song.song_id)
    assert back.song_id == song.song_id and back.style == song.style
    assert back.sample_rate == song.sample_rate
    assert back.bpm == song.bpm
    np.testing.assert_allclose(back.audio, song.audio, atol=1.0 / 32768 + 1e-6)
    np.testing.assert_array_equal(back.beat_times, song.beat_times)
    np.testing.assert_array_equal(back.downbeat_times, song.downbeat_times)
    assert back.sections == song.sections
    assert back.midi is not None
    assert back.meta["tempo_change"] == "jump"


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown style"):
        make_song(0, "polka")
    with pytest.raises(ValueError, match="duration"):
        make_song(0, "pop", duration=0.0)
    with pytest.raises(ValueError, match="bpm"):
        make_song(0, "pop", bpm=900)
    with pytest.raises(FileNotFoundError, match="nosuch"):
        load_song(tmp_path, "nosuch")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        load_song(tmp_path, "broken")


def test_bundled_demo_song_is_complete():
    from pathlib import Path

    assets = Path(__file__).resolve().parents[2] / "liveedit" / "assets"
    assert (assets / "demo.flac").stat().st_size < 1.5e6
    demo = load_song(assets, "demo")
    assert 45.0 <= demo.duration <= 60.0
    np.testing.assert_allclose(np.diff(demo.beat_times), 0.5, atol=1e-9)  # 120 BPM, exact
    kinds = [s["kind"] for s in demo.sections]
    i = kinds.index("breakdown")
    assert not demo.sections[i]["has_drums"] and kinds[i + 1] == "chorus"
    assert demo.sections[-1]["end"] == pytest.approx(demo.duration, abs=1e-3)
    peak = float(np.abs(demo.audio).max())
    assert 0.5 < peak < 0.99
    at_model_rate = load_song(assets, "demo", sample_rate=SR)
    assert at_model_rate.sample_rate == SR
    assert len(at_model_rate.audio) == pytest.approx(demo.duration * SR, abs=2)
