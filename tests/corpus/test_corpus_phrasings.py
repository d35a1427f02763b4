"""The training-time phrasing generator (training/corpus/phrasings.py): deterministic, varied, and
disjoint from every held-out phrasing (the corpus's own and the user phrasing set)."""
import json
import re

import pytest

from training.corpus import phrasings as P
from training.corpus.edits import EDIT_TYPES, HELDOUT_PHRASINGS


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("'", "")))


def test_enumeration_is_deterministic_and_sized_for_the_text_cache():
    a = P.all_generated_prompts()
    P._phrasings.cache_clear()
    b = P.all_generated_prompts()
    assert a == b == sorted(set(a))
    # a few thousand prompts: enough variety, still encoded in well under a minute
    assert 1000 <= len(a) <= 6000
    assert all(t and t == t.strip() and "{" not in t and "  " not in t for t in a)


def test_every_edit_type_and_slot_filling_gets_phrasings():
    for name in EDIT_TYPES:
        for slots in P.slot_combinations(name):
            ph = P.phrasings_for(name, slots or None)
            assert len(ph) >= 10, (name, slots)
            for v in slots.values():
                assert all(str(v) in t for t in ph), (name, slots)


def test_specs_cover_negation_intensity_and_synonyms():
    arms = P.phrasings_for("arms_wider")
    assert any(t.startswith("don't") or " don't " in t for t in arms)           # negated opposite
    assert any(re.search(r"\b(way|a bit|a little|much)\b", t) for t in arms)     # intensifiers
    assert any("hands" in t or "wrists" in t for t in arms)                     # body-part synonyms
    knees = P.phrasings_for("knees_higher")
    assert any("legs" in t for t in knees)
    # the opposite edit's phrasing negated: "don't tuck ... in" asks for wider arms, never narrower
    assert not any(t.startswith("don't") and "wider" in t for t in P.phrasings_for("arms_closer"))
    assert set(P.OPPOSITE) <= set(P.SPECS) and all(P.OPPOSITE[P.OPPOSITE[k]] == k for k in P.OPPOSITE)
    assert set(P.SPECS) <= set(EDIT_TYPES)


def test_no_held_out_phrasing_is_generated():
    generated = {_norm(t) for t in P.all_generated_prompts()}
    generated_keys = {P._key(t) for t in P.all_generated_prompts()}
    held = [p for et in EDIT_TYPES.values() for p in et.phrasings[len(et.phrasings) - HELDOUT_PHRASINGS:]]
    held = [f for p in held for f in P._fill_slots(p)]
    users = [e["text"] for e in json.loads(P.USER_PHRASINGS.read_text())["entries"]]
    assert len(users) >= 120
    for text in held + users:
        assert _norm(text) not in generated, text
        assert P._key(text) not in generated_keys, text  # not even with fillers added or removed


def test_user_phrasings_are_tagged_and_not_corpus_phrasings():
    data = json.loads(P.USER_PHRASINGS.read_text())
    corpus = {_norm(p) for et in EDIT_TYPES.values() for p in et.phrasings}
    cats = set(data["categories"])
    assert cats == {"plain", "negation", "intensity", "synonym"}
    texts = [e["text"] for e in data["entries"]]
    assert len(set(texts)) == len(texts)
    for e in data["entries"]:
        assert e["category"] in cats
        assert ("edit_type" in e) != ("expected" in e), e
        assert e.get("edit_type", "more_energy") in EDIT_TYPES
        assert _norm(e["text"]) not in corpus, e["text"]
    for c in cats:
        assert sum(e["category"] == c for e in data["entries"]) >= 20, c


@pytest.mark.parametrize("edit", ["arms_wider", "steps_wider_cm"])
def test_phrasings_for_accepts_slots_as_dict(edit):
    slots = P.slot_combinations(edit)[0]
    assert P.phrasings_for(edit, slots) == P.phrasings_for(edit, dict(slots))
