"""Bad input gives a clear message and exit status 2; the input file is never overwritten."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from liveedit.cli import main
from liveedit.offline import dancefile, generate
from liveedit.offline.testing import FakeDanceModel


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dance_file(tmp_path):
    T = 200  # two windows and more
    music = np.zeros((T, 35), np.float32)
    music[::15, -1] = 1
    motion = generate.generate_motion(FakeDanceModel(), music, np.arange(0, 6.5, 0.5), progress=False)
    return dancefile.save(dancefile.Dance.new(motion, np.arange(0, 6.5, 0.5), music, {}, seed=0, steps=1),
                          tmp_path / "d.npz")


@pytest.mark.parametrize("content,name", [(b"this is not audio", "song.wav"), (b"", "empty.mp3"),
                                          (b"MThd garbage", "song.mid")])
def test_unreadable_song(tmp_path, capsys, content, name):
    song = tmp_path / name
    song.write_bytes(content)
    out = tmp_path / "d.npz"
    assert main(["generate", str(song), "-o", str(out), "--checkpoint", "random", "-q"]) == 2
    err = capsys.readouterr().err
    assert "liveedit generate: error:" in err and name in err
    assert not out.exists()


def test_missing_song_and_missing_checkpoint(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "d.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "d.npz"),
                 "--checkpoint", str(tmp_path / "x.pt")]) == 2


def test_other_format_version(tmp_path, dance_file, capsys):
    with np.load(dance_file) as z:
        data = {k: z[k] for k in z.files}
    data["format_version"] = np.asarray(2)
    old = tmp_path / "v2.npz"
    np.savez(old, **data)
    before = sha(old)
    for argv in (["edit", str(old), "arms up", "-o", str(tmp_path / "o.npz")], ["history", str(old)],
                 ["export", str(old), "-o", str(tmp_path / "o.bvh")], ["render", str(old), "-o", str(tmp_path / "o.mp4")]):
        assert main(argv) == 2, argv
        assert "format version 2" in capsys.readouterr().err
    assert sha(old) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "v2.npz"]


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt(tmp_path, dance_file, capsys, prompt):
    assert main(["edit", str(dance_file), prompt, "-o", str(tmp_path / "o.npz")]) == 2
    assert "prompt is empty" in capsys.readouterr().err


@pytest.mark.parametrize("span", [["--start", "-1"], ["--end", "7.5"], ["--start", "3", "--end", "2"],
                                  ["--start", "nan"]])
def test_out_of_range_span(tmp_path, dance_file, capsys, span):
    before = sha(dance_file)
    assert main(["edit", str(dance_file), "arms up", *span, "-o", str(dance_file), "--force"]) == 2
    assert "span" in capsys.readouterr().err
    assert sha(dance_file) == before


def test_output_equal_to_input_needs_force(tmp_path, dance_file, capsys, monkeypatch):
    before = sha(dance_file)
    assert main(["edit", str(dance_file), "arms up", "-o", str(dance_file)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["history", str(dance_file), "--restore", "0", "-o", str(dance_file)]) == 2
    assert sha(dance_file) == before

    # A run that crashes half-way through does not damage the input, even with --force...
    class Crashing(FakeDanceModel):
        def edit(self, *a, **kw):
            if sum(c["op"] == "edit" for c in self.calls) >= 1:
                raise RuntimeError("model crashed")
            return super().edit(*a, **kw)

    monkeypatch.setattr(generate, "load_model", lambda ckpt: (Crashing(), "crashing"))
    with pytest.raises(RuntimeError, match="model crashed"):
        main(["edit", str(dance_file), "arms up", "-o", str(dance_file), "--force", "-q"])
    assert sha(dance_file) == before
    assert sorted(p.name for p in dance_file.parent.iterdir()) == ["d.npz"]

    # ...and a run that succeeds replaces it, keeping the history.
    monkeypatch.setattr(generate, "load_model", lambda ckpt: (FakeDanceModel(), "fake"))
    assert main(["edit", str(dance_file), "arms up", "-o", str(dance_file), "--force", "-q"]) == 0
    assert [it.kind for it in dancefile.load(dance_file).history] == ["generate", "edit"]


def test_restore_out_of_range(tmp_path, dance_file, capsys):
    assert main(["history", str(dance_file), "--restore", "3", "-o", str(tmp_path / "o.npz")]) == 2
    assert "iteration 3 does not exist" in capsys.readouterr().err
    assert main(["history", str(dance_file), "--restore", "0"]) == 2
    assert "needs -o" in capsys.readouterr().err


def test_unreadable_song_message_names_the_file_once_and_both_decoders(tmp_path, capsys):
    song = tmp_path / "noise.wav"
    song.write_bytes(np.random.default_rng(0).bytes(3000))
    assert main(["generate", str(song), "-o", str(tmp_path / "d.npz"), "--checkpoint", "random", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("noise.wav") == 1 and "(libsndfile)" in err and "(ffmpeg/audioread)" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("kind", ["random", "pickle"])
def test_a_bad_dance_file_never_gets_advice_to_load_pickles(tmp_path, capsys, kind):
    bad = tmp_path / "bad.npz"
    if kind == "random":
        bad.write_bytes(np.random.default_rng(1).bytes(3000))
    else:
        np.savez(bad, motion=np.array([{"x": 1}], dtype=object))
    before = sha(bad)
    assert main(["edit", str(bad), "arms up", "-o", str(tmp_path / "out.npz"), "--checkpoint", "random"]) == 2
    err = capsys.readouterr().err
    assert "not a readable .npz dance file" in err and "allow_pickle" not in err and "unsafe" not in err
    assert sha(bad) == before
