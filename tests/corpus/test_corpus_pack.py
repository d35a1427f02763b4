"""A pack (corpus.json, songs/*.json, features/*.npy) moved to a machine without audio tools and
rebuilt there gives the same corpus as the full build: same manifest, byte-identical motions."""
import json
import sys

import numpy as np
import pytest

from training.corpus import format as fmt
from training.corpus.chains import SongMeta
from training.corpus.dataset import CorpusDataset
from training.make_corpus import main as make_corpus

AUDIO_MODULES = ("fluidsynth", "librosa", "pretty_midi", "soundfile", "model.music", "training.corpus.songs",
                 "training.corpus.song_render")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    assert make_corpus(["--out", str(out), "--songs", "2", "--chains", "4", "--song-seconds", "10", "--frames", "150",
                        "--silent", "--workers", "1", "--no-progress"]) == 0
    return out


@pytest.fixture
def pack(full, tmp_path, capsys):
    dst = tmp_path / "pack"
    assert make_corpus(["--pack", str(full), "--out", str(dst)]) == 0
    assert "packed 2 songs" in capsys.readouterr().out
    return dst


def test_pack_then_rebuild_without_audio_tools_is_identical(full, pack, monkeypatch):
    names = sorted(p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file())
    songs = sorted(p.stem for p in (full / "songs").glob("*.json"))
    assert names == ["corpus.json"] + [f"features/{s}.npy" for s in songs] + [f"songs/{s}.json" for s in songs]

    for name in AUDIO_MODULES:  # importing any of them now fails, also in the forked workers
        monkeypatch.setitem(sys.modules, name, None)
    assert make_corpus(["--out", str(pack), "--rebuild", "--workers", "2", "--no-progress"]) == 0

    assert fmt.read_manifest(pack) == fmt.read_manifest(full)
    assert (pack / fmt.MANIFEST).read_bytes() == (full / fmt.MANIFEST).read_bytes()
    motions = sorted(p.name for p in (full / fmt.MOTIONS_DIR).iterdir())
    assert len(motions) == 16 and sorted(p.name for p in (pack / fmt.MOTIONS_DIR).iterdir()) == motions
    for name in motions:
        assert (pack / fmt.MOTIONS_DIR / name).read_bytes() == (full / fmt.MOTIONS_DIR / name).read_bytes(), name
    header = json.loads((pack / fmt.HEADER).read_text())
    assert header["motions"] == 16 and header["rebuild"]["workers"] == 2

    ds = CorpusDataset(pack, stage=2, split=None, heldout="include", augment=False, seed=0)
    item = ds[0]
    assert item["target"].shape == (150, 151) and item["music"].shape == (150, 35)


def test_song_meta_from_json_equals_from_song(tmp_path):
    from training.corpus.songs import make_song, save_song

    song = make_song(3, duration=10.0, render=False)
    save_song(song, tmp_path)
    a, b = SongMeta.from_song(song), SongMeta.from_json(tmp_path / f"{song.song_id}.json")
    assert (a.song_id, a.style, a.duration, a.sections) == (b.song_id, b.style, b.duration, b.sections)
    assert np.array_equal(a.beat_times, b.beat_times) and np.array_equal(a.downbeat_times, b.downbeat_times)


@pytest.mark.parametrize("damage, named", [
    (lambda p: next((p / "features").glob("*.npy")).unlink(), "features/song_"),
    (lambda p: next((p / "songs").glob("*.json")).unlink(), "songs/song_"),
    (lambda p: (p / "corpus.json").write_text(json.dumps({**json.loads((p / "corpus.json").read_text()),
                                                          "format_version": 99})), "corpus.json"),
    (lambda p: (p / "corpus.json").unlink(), "corpus.json"),
])
def test_rebuild_of_an_incomplete_pack_names_the_file(pack, capsys, damage, named):
    damage(pack)
    assert make_corpus(["--out", str(pack), "--rebuild", "--workers", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err and str(pack) in err
    assert not (pack / fmt.MANIFEST).exists()


def test_recipe_options_do_not_go_with_rebuild(pack, capsys):
    assert make_corpus(["--out", str(pack), "--rebuild", "--seed", "3"]) == 2
    assert "--seed" in capsys.readouterr().err
