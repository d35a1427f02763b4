"""The corpus layout: manifest round trip, users' own edit pairs, the dataset's samples, and a tiny
corpus built end to end with parallel workers."""
import json

import numpy as np
import pytest
import soundfile as sf

from training.corpus import format as fmt
from training.corpus.dataset import CorpusDataset
from training.make_corpus import build_corpus


def _motion(T=180, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(T, 151)).astype(np.float32)
    m[:, :4] = rng.integers(0, 2, size=(T, 4))
    return m


def _user_corpus(root, T=180):
    """A user's own edit pair written by hand in the documented layout: one song (wav + beats), a
    dance, and its edited version."""
    sr = 15360
    t = np.arange(int(8.0 * sr)) / sr
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.mod(t, 0.5) < 0.1)).astype(np.float32)
    (root / "songs").mkdir(parents=True)
    sf.write(root / "songs" / "mysong.wav", audio, sr)
    (root / "songs" / "mysong.json").write_text(json.dumps({"beat_times": list(np.arange(0, 8, 0.5)), "audio": "mysong.wav"}))
    fmt.save_motion(root, "dance_a", _motion(T, 1))
    fmt.save_motion(root, "dance_a_wider", _motion(T, 2))
    fmt.write_manifest(root, [
        {"motion_id": "dance_a", "song_id": "mysong"},
        {"motion_id": "dance_a_wider", "song_id": "mysong", "parent_id": "dance_a", "text": "swing arms wider"},
    ])


def test_manifest_round_trip_and_user_pairs(tmp_path):
    _user_corpus(tmp_path)
    recs = fmt.read_manifest(tmp_path)
    assert [r["motion_id"] for r in recs] == ["dance_a", "dance_a_wider"]
    assert recs[1]["seed_id"] == "dance_a" and recs[0]["split"] == "train" and recs[1]["start_time"] == 0.0
    m = fmt.load_motion(tmp_path, "dance_a_wider")
    assert m.shape == (180, 151) and m.dtype == np.float32
    assert np.allclose(m, _motion(180, 2), atol=1e-2)  # float16 on disk
    # stage 2 from a user's pair: music computed from the wav (no features/ cache)
    ds = CorpusDataset(tmp_path, stage=2, split="train", seed=0)
    assert len(ds) == 1
    item = ds[0]
    assert item["music"].shape == (150, 35) and item["target"].shape == (150, 151)
    assert item["text"] == "swing arms wider"
    assert np.allclose(item["initial"], item["current"])  # the seed is the parent here


@pytest.mark.parametrize("bad, msg", [
    ([{"motion_id": "a"}], "missing song_id"),
    ([{"motion_id": "a", "song_id": "s"}, {"motion_id": "a", "song_id": "s"}], "duplicate"),
    ([{"motion_id": "b", "song_id": "s", "parent_id": "zz", "text": "x"}], "not in the manifest"),
    ([{"motion_id": "b", "song_id": "s", "parent_id": "b"}], "needs its edit text"),
    ([{"motion_id": "a", "song_id": "s", "split": "dev"}], "split must be"),
])
def test_manifest_errors_name_the_problem(tmp_path, bad, msg):
    fmt.write_manifest(tmp_path, bad)
    with pytest.raises(ValueError, match=msg):
        fmt.read_manifest(tmp_path)


def test_missing_motion_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        fmt.load_motion(tmp_path, "nope")
    with pytest.raises(ValueError):
        fmt.save_motion(tmp_path, "x", np.zeros((10, 150)))


def test_tiny_corpus_end_to_end(tmp_path):
    s = build_corpus(tmp_path, songs=2, chains=4, song_seconds=6.0, frames=150, workers=2, seed=5, silent=True,
                     progress=False)
    assert s["motions"] == 16 and s["edit_pairs"] == 12 and s["frames"] == 16 * 150
    recs = fmt.read_manifest(tmp_path)
    assert len(recs) == 16 and json.loads((tmp_path / "corpus.json").read_text())["edit_pairs"] == 12
    for r in recs:
        assert (tmp_path / "motions" / f"{r['motion_id']}.npy").exists()
        assert (tmp_path / "songs" / f"{r['song_id']}.flac").exists()
        assert (tmp_path / "features" / f"{r['song_id']}.npy").exists()
        if r["parent_id"]:
            assert r["text"] and r["edit_type"] and r["expected"]
            for k, sgn in r["expected"].items():
                assert np.sign(r["delta"][k]) == sgn  # the recorded change really happened
    # a chain: seed then three edits, each the parent of the next, all on the same window
    chain = sorted((r for r in recs if r["chain_id"] == recs[0]["chain_id"]), key=lambda r: r["step"])
    assert [r["step"] for r in chain] == [0, 1, 2, 3]
    assert all(chain[i]["parent_id"] == chain[i - 1]["motion_id"] for i in range(1, 4))
    assert len({r["start_time"] for r in chain}) == 1
    split = recs[0]["split"]
    ds1 = CorpusDataset(tmp_path, stage=1, split=split, heldout="include", seed=0)
    ds2 = CorpusDataset(tmp_path, stage=2, split=split, heldout="include", seed=0)
    assert len(ds1) >= 4 and len(ds2) >= 3
    a, b = ds1[0], ds2[0]
    assert a["music"].shape == (150, 35) and a["motion"].shape == (150, 151)
    assert all(b[k].shape == (150, 151) for k in ("initial", "current", "target")) and isinstance(b["text"], str)
    assert np.isfinite(a["music"]).all() and np.isfinite(b["target"]).all()
    # the real beats are marked in the beat channel (augmented: jittered, some dropped/added)
    assert 2 <= a["music"][:, 34].sum() <= 20
    # all splits together cover everything
    total = sum(len(CorpusDataset(tmp_path, stage=1, split=sp, heldout="include")) for sp in fmt.SPLITS)
    assert total == 16


def test_liveedit_corpus_command(tmp_path, capsys):
    from liveedit.cli import main
    rc = main(["corpus", "--out", str(tmp_path), "--songs", "1", "--chains", "1", "--song-seconds", "6",
               "--frames", "150", "--workers", "1", "--silent", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "1 chains, 4 motions, 3 edit pairs" in out and "GB on disk" in out
    assert len(fmt.read_manifest(tmp_path)) == 4
