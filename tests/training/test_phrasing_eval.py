"""Single edits on user phrasings (training/phrasing_eval.py): windows by edit type, scoring against
the dance edited, categories, the confusion table, and the `--phrasings-only` report."""
import json

import numpy as np
import pytest

from model.pipeline import DanceModel
from training import eval as ev
from training import phrasing_eval as pe
from training.corpus import format as fmt

TOY_TYPES = {"swing the arms wider": "arms_wider", "keep the arms closer to the body": "arms_closer",
             "bounce deeper": "more_bounce", "bounce less": "less_bounce"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Synthetic chains in the corpus layout, their edits labelled with corpus edit types."""
    root = tmp_path_factory.mktemp("phr_corpus")
    chains = ev.synthetic_chains(6, seed=3, frames=180)
    records = []
    (root / "songs").mkdir()
    (root / "features").mkdir()
    for c, ch in enumerate(chains):
        split, song = ("train" if c < 2 else "test"), f"song{c}"
        (root / "songs" / f"{song}.json").write_text(json.dumps({"beat_times": ch.beat_times.tolist()}))
        np.save(root / "features" / f"{song}.npy", ch.music)
        ids = [f"c{c}_{k}" for k in range(len(ch.edits) + 1)]
        fmt.save_motion(root, ids[0], ch.seed)
        records.append({"motion_id": ids[0], "song_id": song, "split": split, "chain_id": f"c{c}"})
        for k, e in enumerate(ch.edits):
            fmt.save_motion(root, ids[k + 1], e.motion)
            records.append({"motion_id": ids[k + 1], "song_id": song, "split": split, "parent_id": ids[k],
                            "text": e.prompt, "edit_type": TOY_TYPES[e.prompt], "step": k + 1, "chain_id": f"c{c}"})
    fmt.write_manifest(root, records)
    return root


CASES = [pe.PhrasingCase("open the arms up", "plain", "arms_wider", {"arm_span": 1}, None),
         pe.PhrasingCase("don't tuck the arms in", "negation", "arms_wider", {"arm_span": 1}, None),
         pe.PhrasingCase("a bit less bouncy", "intensity", "less_bounce", {"bounce": -1}, ("arm_span",)),
         pe.PhrasingCase("stay on the spot", "negation", "", {"travel": -1}, None),
         pe.PhrasingCase("kick way up", "synonym", "kick_higher", {"kick_height": 1}, None)]


class Replay:
    """A stand-in model: returns the corpus's edited dance (oracle) or the dance it was given (inert)."""

    can_edit = True

    def __init__(self, windows, oracle: bool):
        self.targets = {w.current.tobytes(): w.target for w in windows}
        self.oracle = oracle
        self.prompts = []

    def edit(self, music, initial, current, prompts, **kw):
        self.prompts += list(prompts)
        return np.stack([self.targets[c.tobytes()] if self.oracle else c for c in current])


def _all_windows(root):
    data = pe.CorpusWindows(root, ("test",))
    return [data.window(r) for r in data.any_edit]


def test_windows_are_shared_by_the_phrasings_of_a_type(corpus):
    data = pe.CorpusWindows(corpus, ("test",))
    a, b = data.for_case(CASES[0], 2), data.for_case(CASES[1], 2)
    assert [w.motion_id for w in a] == [w.motion_id for w in b] and len(a) == 2
    assert all(w.text == "swing the arms wider" for w in a)
    assert all(w.music.shape == (150, 35) and w.current.shape == (150, 151) for w in a)
    assert data.for_case(CASES[4], 2) == []                    # no kick edit in this corpus
    assert len(data.for_case(CASES[3], 2)) == 2                # attribute-only: any edit window
    assert all(data.by_id[w.motion_id]["split"] == "test" for w in a)


def test_an_oracle_scores_like_the_ground_truth_and_an_inert_model_fails_every_edit(corpus):
    windows = _all_windows(corpus)
    cfg = pe.PhrasingEvalConfig(windows=2, splits=("test",), batch=3)
    oracle = pe.evaluate_phrasings(Replay(windows, True), corpus, cfg, cases=CASES)
    assert oracle["edits"] == 8 and oracle["skipped"] == ["kick_higher"]
    by = {r["category"]: r for r in oracle["categories"]}
    assert by["plain"]["n"] == 2 and by["negation"]["n"] == 4 and by["intensity"]["n"] == 2 and "synonym" not in by
    gt = {r["category"]: r for r in oracle["references"]}["ground truth (corpus edit)"]
    arms = [r["success"] for r in oracle["rows"] if r["edit_type"] == "arms_wider"]
    assert gt["n"] == 3 and all(arms)                          # the oracle edits as the corpus did

    inert_model = Replay(windows, False)
    inert = pe.evaluate_phrasings(inert_model, corpus, cfg, cases=CASES)
    allrow = inert["categories"][-1]
    assert allrow["category"] == "all" and allrow["edit_success"] == 0.0 and allrow["preservation"] == 1.0
    assert sum(r["count"] for r in inert["confusion"]) == len(inert["failures"]) == 8
    assert {r["requested"] for r in inert["confusion"]} == {"arm_span +", "bounce -", "travel -"}
    # the user phrasing and, for the reference row, the corpus's own prompt
    assert "don't tuck the arms in" in inert_model.prompts and "swing the arms wider" in inert_model.prompts


class OwnDancer(Replay):
    """A stand-in model with a dance of its own: generate() returns the music's first 151 channels
    tiled; edit() keeps the dance it is given (inert) and records it."""

    def __init__(self):
        super().__init__([], oracle=False)
        self.edited = []

    def generate(self, music, steps=10, music_guidance=2.0, seed=None):
        return np.tile(np.asarray(music)[..., :1], (1, 1, 151)).astype(np.float32)

    def edit(self, music, initial, current, prompts, **kw):
        self.edited += [(np.asarray(i), np.asarray(c)) for i, c in zip(initial, current)]
        return super().edit(music, initial, current, prompts, **kw)


def test_own_dance_mode_edits_what_the_model_generated(corpus):
    cfg = pe.PhrasingEvalConfig(windows=2, splits=("test",), batch=3, dance="own")
    model = OwnDancer()
    res = pe.evaluate_phrasings(model, corpus, cfg, cases=CASES)
    own = {model.generate(w.music[None])[0].tobytes() for w in _all_windows(corpus)}
    assert model.edited and all(c.tobytes() in own and np.array_equal(i, c) for i, c in model.edited)
    assert not any(np.array_equal(c, w.current) for _, c in model.edited for w in _all_windows(corpus))
    # the inert model keeps every attribute of the dance it was given, and moves none
    allrow = res["categories"][-1]
    assert allrow["edit_success"] == 0.0 and allrow["preservation"] == 1.0
    assert [r["category"] for r in res["references"]] == ["corpus phrasing, same windows"]
    assert "on the model's own dance" in "\n".join(pe.markdown(res))
    with pytest.raises(ValueError, match="dance must be one of"):
        pe.evaluate_phrasings(model, corpus, pe.PhrasingEvalConfig(dance="mine"), cases=CASES)


def test_confusion_names_what_moved_instead():
    fails = [{"text": "a", "requested": "arm_span +", "instead": "bounce +"},
             {"text": "b", "requested": "arm_span +", "instead": "bounce +"},
             {"text": "c", "requested": "arm_span +", "instead": "arm_span -"}]
    rows = pe._confusion(fails)
    assert rows[0] == {"requested": "arm_span +", "instead": "bounce +", "count": 2, "example": "a"}
    assert pe._dominant({"x": 0.0, "y": 0.0}, {"x": 0.2, "y": -0.5}, {"x": 0.1, "y": 0.1}) == ("y", pytest.approx(-5.0))


def test_user_phrasing_set_loads_with_its_edit_types():
    cases = pe.load_cases()
    assert len(cases) >= 120
    tucked = next(c for c in cases if c.text.startswith("keep the arms tucked"))
    assert tucked.edit_type == "arms_closer" and tucked.expected == {"arm_span": -1} and tucked.keep
    assert any(c.edit_type == "" and c.expected == {"travel": -1} for c in cases)


def test_phrasings_only_report_with_a_tiny_model(corpus, tmp_path, evalkit):
    enc = evalkit.HashTextEncoder()
    args = evalkit.args(tmp_path, synthetic=0, corpus=str(corpus), phrasings_only=True, phrasing_windows=1,
                    phrasing_splits="test", phrasing_dance="corpus,own")
    res = ev.run(args, dm=DanceModel.tiny_random(seed=0, text_encoder=enc))
    ph = res["phrasings"]
    assert ph["edits"] > 0 and all(0.0 <= r["preservation"] <= 1.0 for r in ph["categories"] if r["n"])
    text = (tmp_path / "RESULTS.md").read_text()
    assert "Edits in users' words" in text and "| negation |" in text and "Moved most instead" in text
    assert "table2" not in res
    assert res["phrasings_own"]["config"]["dance"] == "own" and "on the model's own dance" in text
