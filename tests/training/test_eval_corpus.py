"""The harness reads a corpus directory in the documented layout and scores with the corpus's
own attribute measures."""
import json

import numpy as np

from model.pipeline import DanceModel
from training import eval as ev
from training.corpus import format as fmt


def _write_corpus(root, n_train=3, n_test=3):
    chains = ev.synthetic_chains(n_train + n_test, seed=5, frames=180)
    records = []
    for c, ch in enumerate(chains):
        split = "train" if c < n_train else "test"
        song = f"song{c}"
        (root / "songs").mkdir(parents=True, exist_ok=True)
        (root / "features").mkdir(parents=True, exist_ok=True)
        # the song is 2 s longer than the chain, which starts 1 s in
        (root / "songs" / f"{song}.json").write_text(json.dumps({"beat_times": (ch.beat_times + 1.0).tolist()}))
        music = np.concatenate([np.zeros((30, 35)), ch.music, np.zeros((30, 35))]).astype(np.float32)
        np.save(root / "features" / f"{song}.npy", music)
        ids = [f"c{c}_0"] + [f"c{c}_{k + 1}" for k in range(len(ch.edits))]
        fmt.save_motion(root, ids[0], ch.seed)
        records.append({"motion_id": ids[0], "song_id": song, "start_time": 1.0, "split": split, "chain_id": f"c{c}"})
        for k, e in enumerate(ch.edits):
            fmt.save_motion(root, ids[k + 1], e.motion)
            records.append({"motion_id": ids[k + 1], "song_id": song, "start_time": 1.0, "split": split,
                            "parent_id": ids[k], "text": e.prompt, "step": k + 1, "chain_id": f"c{c}",
                            "expected": {"arm_span" if "arm" in e.prompt else "bounce": int(np.sign(list(e.expected.values())[0]))},
                            "keep": ["jump_height"], "heldout_phrasing": k == 2})
    fmt.write_manifest(root, records)
    return chains


def test_corpus_windows_follow_chains_music_offsets_and_flags(tmp_path):
    chains = _write_corpus(tmp_path)
    windows, n = ev.load_corpus_windows(tmp_path, "test")
    assert n == 3 and len(windows) == 3
    w = next(w for w in windows if w.chain == "c3")
    ch = chains[3]
    np.testing.assert_allclose(w.music, ch.music[:150], atol=1e-6)  # start_time 1 s skips 30 frames
    np.testing.assert_allclose(w.beats, ch.beat_times[ch.beat_times < 5.0], atol=1e-9)
    assert [e.prompt for e in w.edits] == [e.prompt for e in ch.edits]
    assert [e.held_out for e in w.edits] == [False, False, True] and w.edits[0].keep == ["jump_height"]
    np.testing.assert_allclose(w.gt[2], ch.edits[1].motion[:150], atol=2e-3)  # stored as float16
    limited, n2 = ev.load_corpus_windows(tmp_path, "test", max_windows=2)
    assert len(limited) == 2 and n2 == 2


def test_harness_on_a_corpus_directory_with_the_corpus_measures(tmp_path, evalkit):
    _write_corpus(tmp_path / "corpus")
    enc = evalkit.HashTextEncoder()
    args = evalkit.args(tmp_path, synthetic=0, corpus=str(tmp_path / "corpus"), no_alignment=True)
    res = ev.run(args, dm=DanceModel.tiny_random(seed=0, text_encoder=enc), embed=evalkit.embed)
    assert res["meta"]["test_windows"] == 3 and "table3" in res
    assert "arm_span" in res["meta"]["spread"] and "jump_height" in res["meta"]["spread"]  # corpus attributes
    assert all(0.0 <= r["preservation"] <= 1.0 for r in res["table3"][1:])
    assert "corpus" in (tmp_path / "RESULTS.md").read_text()
