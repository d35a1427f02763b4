"""Generation over a whole song by continuation: length, seams, beats sources, the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from liveedit.cli import main
from liveedit.offline import dancefile, rolling
from liveedit.offline.generate import generate_motion, load_song
from liveedit.offline.testing import FakeDanceModel, write_test_midi, write_test_song
from model.motion import joints_from_motion
from model.music import num_frames


def music_for(T: int) -> tuple[np.ndarray, np.ndarray]:
    music = np.zeros((T, 35), np.float32)
    music[::15, -1] = 1.0  # a beat every 0.5 s
    return music, np.arange(0, T / 30, 0.5)


def frame_jumps(motion: np.ndarray) -> np.ndarray:
    """(T-1,) largest joint displacement between consecutive frames, metres."""
    j = joints_from_motion(motion).numpy()
    return np.linalg.norm(np.diff(j, axis=0), axis=-1).max(axis=1)


def seam_frames(T: int, beats: np.ndarray) -> list[int]:
    """Frames where a window's new frames start after its known ones (other than the first window)."""
    return [s.cursor for s in rolling.plan(0, T, rolling.beat_frames(beats, 30))][1:]


def test_plan_follows_the_live_engine():
    beats = np.arange(0, 20, 0.5)
    steps = rolling.plan(0, 437, rolling.beat_frames(beats, 30), hop=30, context=60)
    assert steps[0] == rolling.Step(0, 0, 150)
    assert steps[-1].end >= 437 and steps[-2].end < 437
    for prev, s in zip(steps, steps[1:]):
        assert s.end - s.start == 150
        assert s.known == min(60, s.cursor)  # the engine's 2 s of context
        assert 30 <= s.cursor - prev.cursor <= 45  # a hop, moved onto the next beat
        assert s.cursor % 15 == 0  # beats every 0.5 s = 15 frames
    # The edit case: starting mid-song keeps the 2 s before as known context.
    first = rolling.plan(200, 300, hop=30, context=60)[0]
    assert (first.start, first.cursor, first.end) == (140, 200, 290)
    # No beats: plain hops.
    assert [s.cursor for s in rolling.plan(0, 300, hop=30, context=60)][:4] == [0, 30, 60, 90]
    # The defaults are the live engine's.
    from liveedit.core.scheduler import SchedulerConfig

    assert (rolling.HOP, rolling.CONTEXT) == (SchedulerConfig().hop, SchedulerConfig().context)


@pytest.mark.parametrize("T", [61, 150, 437])
def test_length_and_no_seams(T):
    music, beats = music_for(T)
    model = FakeDanceModel()
    motion = generate_motion(model, music, beats, steps=3, seed=1, progress=False)
    assert motion.shape == (T, 151)
    calls = model.calls
    assert calls[0]["known"] is None and all(c["known"] == rolling.CONTEXT for c in calls[1:])
    jumps = frame_jumps(motion)
    seams = seam_frames(T, beats)
    assert len(seams) == len(calls) - 1
    normal = np.percentile(jumps, 99)
    for s in seams:
        assert jumps[s - 1] <= 1.5 * normal, (s, jumps[s - 1], normal)


def test_seam_check_catches_a_model_that_ignores_known_frames():
    """The seam test above can fail: without known frames each window starts somewhere else."""
    class Forgetful(FakeDanceModel):
        def generate(self, music, known=None, known_mask=None, **kw):
            return super().generate(music, None, None, **kw)

    music, beats = music_for(300)
    motion = generate_motion(Forgetful(), music, beats, steps=3, seed=1, progress=False)
    jumps = frame_jumps(motion)
    normal = np.median(jumps)
    assert max(jumps[s - 1] for s in seam_frames(300, beats)) > 5 * normal


def test_same_seed_same_dance():
    music, beats = music_for(200)
    a = generate_motion(FakeDanceModel(), music, beats, seed=4, progress=False)
    b = generate_motion(FakeDanceModel(), music, beats, seed=4, progress=False)
    c = generate_motion(FakeDanceModel(), music, beats, seed=5, progress=False)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_beat_sources(tmp_path):
    beats = write_test_song(tmp_path / "side.wav", seconds=3.0)
    song = load_song(tmp_path / "side.wav")
    assert song.beat_source == "sidecar"
    np.testing.assert_allclose(song.beat_times, beats)
    write_test_song(tmp_path / "plain.wav", seconds=3.0, sidecar=False)
    assert load_song(tmp_path / "plain.wav").beat_source == "tracker"
    write_test_midi(tmp_path / "song.mid", seconds=3.0, bpm=120)
    midi = load_song(tmp_path / "song.mid")
    assert midi.beat_source == "midi"
    np.testing.assert_allclose(midi.beat_times[:6], np.arange(6) * 0.5)
    assert midi.duration >= 3.0 and np.abs(midi.audio).max() > 0.1


def test_cli_generate_with_the_tiny_model(tmp_path, capsys):
    write_test_song(tmp_path / "song.wav", seconds=6.0)
    out = tmp_path / "dance.npz"
    rc = main(["generate", str(tmp_path / "song.wav"), "-o", str(out), "--checkpoint", "random",
               "--steps", "2", "--seed", "7", "-q"])
    assert rc == 0
    d = dancefile.load(out)
    assert d.num_frames == num_frames(int(6.0 * 15360))
    assert d.meta["seed"] == 7 and d.meta["steps"] == 2 and d.meta["beat_source"] == "sidecar"
    assert d.meta["checkpoint"].startswith("tiny-random")
    assert d.meta["sampler"] == ("DPM-Solver++(2M), steps even in log-SNR; "
                                 "history fading to 0 from 15 to 60 frames past the known ones")
    assert len(d.meta["song_sha256"]) == 64
    assert np.isfinite(d.current).all()
    assert "wrote" in capsys.readouterr().out
    assert main(["generate", str(tmp_path / "song.wav"), "-o", str(out), "--checkpoint", "random",
                 "--steps", "2", "--seed", "7", "-q", "--sampler", "ddim"]) == 0
    assert dancefile.load(out).meta["sampler"].startswith("DDIM; history fading")
    assert d.meta["dynamics"] == 0.0          # the tiny random model has no energy envelope
    assert main(["generate", str(tmp_path / "song.wav"), "-o", str(out), "--checkpoint", "random",
                 "--dynamics", "3", "-q"]) == 2
    assert "--dynamics must be 0..2" in capsys.readouterr().err


def test_cli_generate_from_midi(tmp_path):
    write_test_midi(tmp_path / "song.mid", seconds=3.0)
    out = tmp_path / "dance.npz"
    assert main(["generate", str(tmp_path / "song.mid"), "-o", str(out), "--checkpoint", "random",
                 "--steps", "1", "-q"]) == 0
    d = dancefile.load(out)
    assert d.meta["beat_source"] == "midi" and d.duration >= 3.0


@pytest.mark.parametrize("ext", ["flac", "mp3", "ogg"])
def test_compressed_formats_read(tmp_path, ext):
    write_test_song(tmp_path / f"song.{ext}", seconds=2.0)
    song = load_song(tmp_path / f"song.{ext}")
    assert abs(song.duration - 2.0) < 0.1 and np.abs(song.audio).max() > 0.3
