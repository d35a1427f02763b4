"""Rendering: a playable mp4 with video and audio of the right length, a GIF, bad audio."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from liveedit.cli import main
from liveedit.offline import dancefile
from liveedit.offline.render import Frames, render
from liveedit.offline.testing import FakeDanceModel, write_test_song
from liveedit.offline.generate import generate_motion


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height:format=duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def small_dance(tmp_path, seconds: float = 2.0):
    beats = write_test_song(tmp_path / "song.wav", seconds=seconds)
    T = int(seconds * 30)
    music = np.zeros((T, 35), np.float32)
    music[::15, -1] = 1
    motion = generate_motion(FakeDanceModel(), music, beats, progress=False)
    meta = {"song": str((tmp_path / "song.wav").resolve())}
    return dancefile.save(dancefile.Dance.new(motion, beats, music, meta, seed=0, steps=1), tmp_path / "d.npz")


def test_cli_render_mp4_with_audio_and_gif(tmp_path):
    src = small_dance(tmp_path, 2.0)
    out = tmp_path / "d.mp4"
    assert main(["render", str(src), "--audio", str(tmp_path / "song.wav"), "-o", str(out), "--gif",
                 "--size", "160", "-q"]) == 0
    info = probe(out)
    kinds = sorted(s["codec_type"] for s in info["streams"])
    assert kinds == ["audio", "video"]
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (160, 160)
    assert abs(float(info["format"]["duration"]) - 2.0) < 0.15
    gif = probe(tmp_path / "d.gif")
    assert [s["codec_type"] for s in gif["streams"]] == ["video"]
    # The whole file decodes (playable), frame count as expected.
    n = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=nb_read_frames", "-of", "csv=p=0", str(out)], capture_output=True, text=True, check=True)
    assert int(n.stdout.strip()) == 60


def test_render_defaults_to_the_dances_song(tmp_path):
    src = small_dance(tmp_path, 1.0)
    assert main(["render", str(src), "-o", str(tmp_path / "d.mp4"), "--size", "96", "-q"]) == 0
    assert sorted(s["codec_type"] for s in probe(tmp_path / "d.mp4")["streams"]) == ["audio", "video"]


def test_beat_flash_shows_on_beats(tmp_path):
    T = 60
    motion = generate_motion(FakeDanceModel(), np.zeros((T, 35), np.float32), np.array([1.0]), progress=False)
    from model.motion import joints_from_motion

    # Beats between frames too (1.01 s is a third of a frame after frame 30).
    frames = Frames(joints_from_motion(motion).numpy(), 30, np.array([1.01, 1.5]), size=96)
    try:
        alphas = []
        for t in range(T):
            frames.draw(t)
            alphas.append(frames.flash.get_alpha())
    finally:
        frames.close()
    alphas = np.array(alphas)
    assert alphas[30] == pytest.approx(1.0) and alphas[45] == pytest.approx(1.0)
    assert (alphas[:30] == 0).all() and 0 < alphas[32] < 1 and alphas[40] == 0


def test_unreadable_audio_is_an_error_and_writes_nothing(tmp_path):
    src = small_dance(tmp_path, 1.0)
    bad = tmp_path / "bad.wav"
    bad.write_text("this is not audio")
    out = tmp_path / "d.mp4"
    out.write_bytes(b"previous video")
    assert main(["render", str(src), "--audio", str(bad), "-o", str(out), "-q"]) == 2
    assert out.read_bytes() == b"previous video"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bad.wav", "d.mp4", "d.npz", "song.json", "song.wav"])
    with pytest.raises(Exception, match="mp4 or .gif"):
        render(np.zeros((5, 151), np.float32), 30, np.array([]), tmp_path / "x.avi")
