"""`liveedit beats SONG`: the live tracker's beats printed for songs written to real audio files whose
beats are known exactly (a synthetic drum song and a FluidSynth-rendered corpus song)."""
from __future__ import annotations

import json
import subprocess
import sys

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from liveedit.cli import main
from liveedit.core.testaudio import drum_song


def f_measure(ref, est):
    return mir_eval.beat.f_measure(mir_eval.beat.trim_beats(np.asarray(ref)), mir_eval.beat.trim_beats(np.asarray(est)))


@pytest.fixture(scope="module")
def drum_wav(tmp_path_factory):
    """A 128 BPM drum song at 44.1 kHz stereo (the command resamples, as the engine does)."""
    audio, beats = drum_song(bpm=128.0, seconds=20.0, sr=44100, syncopated=True, seed=7)
    path = tmp_path_factory.mktemp("beats") / "drums 128.wav"
    sf.write(path, np.stack([audio, 0.8 * audio], axis=1), 44100)
    return path, beats


def run_cli(capsys, *argv):
    rc = main(["beats", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def parse_text(out):
    rows = [line.split() for line in out.splitlines() if line and not line.startswith("#")]
    return [(float(t), kind, float(bpm)) for t, kind, bpm in rows]


def test_text_output_is_one_beat_a_line_with_downbeats_and_tempo(capsys, drum_wav):
    path, ref = drum_wav
    rc, out, err = run_cli(capsys, path)
    assert rc == 0, err
    assert out.startswith(f"# {path}")
    rows = parse_text(out)
    times = np.array([t for t, _, _ in rows])
    assert f_measure(ref, times) >= 0.9
    assert np.all(np.diff(times) > 0)
    assert {k for _, k, _ in rows} == {"beat", "DOWNBEAT"}
    down = [i for i, (_, k, _) in enumerate(rows) if k == "DOWNBEAT"]
    # bars found in the audio: once settled, 4 beats a bar (the song is in 4/4)
    assert np.all(np.diff(down)[-4:] == 4)
    assert np.median([bpm for _, _, bpm in rows]) == pytest.approx(128, rel=0.02)


def test_json_output_matches_the_text_and_the_song(capsys, drum_wav):
    path, ref = drum_wav
    rc, out, _ = run_cli(capsys, path, "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["mode"] == "causal" and d["duration"] == pytest.approx(20.0, abs=0.01)
    assert d["tempo"] == pytest.approx(128, rel=0.02)
    est = [b["t"] for b in d["beats"]]
    assert f_measure(ref, est) >= 0.9
    assert d["downbeats"] == [b["t"] for b in d["beats"] if b["downbeat"]]
    assert {b["source"] for b in d["beats"]} == {"audio"}
    rc, text, _ = run_cli(capsys, path)
    assert [t for t, _, _ in parse_text(text)] == pytest.approx(est, abs=1e-3)


def test_offline_uses_the_whole_song(capsys, drum_wav):
    path, ref = drum_wav
    rc, out, _ = run_cli(capsys, path, "--json", "--offline")
    assert rc == 0
    d = json.loads(out)
    assert d["mode"] == "offline"
    assert f_measure(ref, [b["t"] for b in d["beats"]]) >= 0.9


def test_a_rendered_corpus_song(capsys, tmp_path):
    songs = pytest.importorskip("training.corpus.songs")
    song = songs.make_song(104, "house", duration=24.0, tempo_change="none", breakdown=False)
    path = tmp_path / "house.wav"
    sf.write(path, song.audio, 15360)
    rc, out, _ = run_cli(capsys, path, "--json")
    assert rc == 0
    d = json.loads(out)
    assert f_measure(song.beat_times, [b["t"] for b in d["beats"]]) >= 0.85


def test_missing_and_bad_audio_exit_2_with_a_clear_message(capsys, tmp_path):
    rc, out, err = run_cli(capsys, tmp_path / "nope.wav")
    assert rc == 2 and out == "" and "does not exist" in err
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all\n")
    rc, out, err = run_cli(capsys, bad)
    assert rc == 2 and out == "" and "cannot read audio file" in err
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), 44100)
    rc, out, err = run_cli(capsys, empty)
    assert rc == 2 and "no audio samples" in err


def test_the_installed_command_exits_2_on_a_missing_file(tmp_path):
    p = subprocess.run([sys.executable, "-m", "liveedit", "beats", str(tmp_path / "missing.flac")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "liveedit beats: error:" in p.stderr and "missing.flac" in p.stderr
