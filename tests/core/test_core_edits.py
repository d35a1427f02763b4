"""Edit stack: order, bounded depth, undo/reset, durations in beats and bars, expiry on the grid."""
import pytest

from liveedit.core.edits import EditStack, parse_duration


def test_push_undo_reset_keep_order_and_bump_version():
    st = EditStack()
    v0 = st.version
    a, _ = st.push("swing arms wider", beat=1.2)
    b, _ = st.push("jump higher", beat=2.0)
    assert st.prompts == ("swing arms wider", "jump higher")
    assert (a.id, b.id) == (1, 2)
    assert st.version == v0 + 2
    assert st.undo().id == 2
    assert st.prompts == ("swing arms wider",)
    assert st.reset() == 1 and len(st) == 0
    assert st.undo() is None
    v = st.version
    assert st.reset() == 0 and st.version == v  # nothing changed: no recompute


def test_full_stack_drops_the_oldest():
    st = EditStack(max_depth=3)
    for i in range(3):
        st.push(f"edit {i}", beat=i)
    new, dropped = st.push("edit 3", beat=4)
    assert dropped.text == "edit 0"
    assert st.prompts == ("edit 1", "edit 2", "edit 3")


def test_duration_expires_on_beat_boundaries():
    st = EditStack()
    e, _ = st.push("spin", beat=10.3, duration_beats=4)
    # four whole beats after the beat it arrived in: beats 11, 12, 13, 14 -> expires at beat 15
    assert e.until_beat == 15.0
    assert st.expire(14.99) == []
    gone = st.expire(15.0)
    assert [g.id for g in gone] == [e.id] and len(st) == 0


def test_bars_in_the_prompt_become_beats():
    assert parse_duration("swing arms wider for 2 bars") == ("swing arms wider", 8.0)
    assert parse_duration("kick (3 beats)") == ("kick", 3.0)
    assert parse_duration("raise the bar") == ("raise the bar", None)
    assert parse_duration("4 bars") == ("4 bars", None)  # nothing left: not a duration
    st = EditStack()
    e, _ = st.push("lean back for 1 bar", beat=0.0)
    assert e.text == "lean back" and e.until_beat == 5.0


@pytest.mark.parametrize("text,dur", [("", None), ("   ", None), ("x" * 500, None), ("ok", -1.0), ("ok", float("nan"))])
def test_bad_edits_are_refused(text, dur):
    st = EditStack()
    with pytest.raises(ValueError):
        st.push(text, beat=0.0, duration_beats=dur)
    assert len(st) == 0


def test_active_edits_carry_expiry():
    st = EditStack()
    st.push("a", beat=0.0, duration_beats=2)
    st.push("b", beat=0.0)
    act = st.active()
    assert [a.text for a in act] == ["a", "b"]
    assert act[0].until_beat == 3.0 and act[1].until_beat is None
