"""Edit types: count, phrasings, held-out flags, and that each one really moves the attributes it
records (in the recorded direction) while keeping those it promises to keep."""
import numpy as np
import pytest

from training.corpus import attributes as A
from training.corpus import edits as E
from training.corpus import moves as M
from training.corpus.chains import edit_ok

BEATS = np.arange(0.0, 30.0, 60 / 110)  # 110 BPM


def test_at_least_40_types_with_10_phrasings_three_levels_all_categories():
    assert len(E.EDIT_TYPES) >= 40
    for et in E.EDIT_TYPES.values():
        assert len(et.phrasings) >= 10, et.name
        assert len(set(et.phrasings)) == len(et.phrasings), et.name
        assert et.level in E.LEVELS and et.category in E.CATEGORIES
        assert et.changes and set(et.changes) <= set(A.ATTRIBUTES) and set(et.keeps) <= set(A.ATTRIBUTES)
        assert not set(et.changes) & set(et.keeps)
    assert {et.level for et in E.EDIT_TYPES.values()} == set(E.LEVELS)
    assert {et.category for et in E.EDIT_TYPES.values()} == set(E.CATEGORIES)


def test_heldout_phrasings_and_combos():
    rng = np.random.default_rng(0)
    et = E.EDIT_TYPES["arms_wider"]
    train = {et.phrase(rng, heldout=False)[1] for _ in range(200)}
    held = {et.phrase(rng, heldout=True)[1] for _ in range(50)}
    n = len(et.phrasings)
    assert held == set(range(n - E.HELDOUT_PHRASINGS, n)) and not train & held
    assert E.is_heldout_combo("arms_wider", {"circle"})
    flags = [E.is_heldout_combo(e, {m}) for e in E.EDIT_TYPES for m in M.VOCABULARY]
    assert 0.03 < np.mean(flags) < 0.25


def test_fine_edits_fill_their_slots():
    rng = np.random.default_rng(1)
    et = E.EDIT_TYPES["steps_wider_cm"]
    p = E.example_program(et, rng)
    _, info = et.apply(p, rng)
    text, _ = et.phrase(rng, info["slots"])
    assert str(info["slots"]["cm"]) in text and "{" not in text


def test_edit_refuses_a_program_it_does_not_apply_to():
    p = M.Program([M.Block(0, 4, M.layer_spec("bounce"), M.layer_spec("swing"), M.layer_spec("idle_torso"))])
    assert not E.EDIT_TYPES["stop_kicks"].applies(p)
    with pytest.raises(ValueError):
        E.EDIT_TYPES["stop_kicks"].apply(p, np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(E.EDIT_TYPES))
def test_edit_moves_what_it_records_and_keeps_the_rest(name):
    et = E.EDIT_TYPES[name]
    ok = 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        p = E.example_program(et, rng)
        p2, _ = et.apply(p, rng)
        assert p.to_dict() != p2.to_dict()
        a = A.measure(M.synthesize(p, BEATS, 200).joints, BEATS)
        b = A.measure(M.synthesize(p2, BEATS, 200).joints, BEATS)
        ok += edit_ok(et, a, b)
    assert ok >= 3, f"{name}: only {ok}/4 sample dances changed as recorded"
