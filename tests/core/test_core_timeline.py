"""Timeline: commits, frozen frames, cross-faded seams, holding when no window arrived."""
import numpy as np
import pytest

from liveedit.core.timeline import FrameRing, Timeline


def tl(margin=2, crossfade=4):
    return Timeline(2, np.zeros(2, np.float32), capacity=100, margin=margin, crossfade=crossfade)


def test_holds_rest_pose_until_a_window_arrives_and_commits_held_frames():
    t = tl()
    for _ in range(3):
        i, f, held = t.play()
        assert held and np.all(f == 0)
    assert t.underruns == 3 and t.committed_end == 3
    assert np.all(t.read(0, 3) == 0)


def test_commit_skips_frozen_frames_and_fades_from_what_would_have_played():
    t = tl(margin=2, crossfade=4)
    t.commit(0, np.ones((20, 2), np.float32))
    for _ in range(5):
        t.play()
    info = t.commit(0, np.full((30, 2), 3.0, np.float32))
    assert info.first == 7 and info.dropped == 7  # playhead 5 + margin 2
    assert np.all(t.read(5, 7) == 1.0)             # frozen frames untouched
    fade = t.read(7, 11)[:, 0]
    assert np.all(np.diff(fade) > 0) and fade[0] > 1.0 and fade[-1] < 3.0
    assert np.all(t.read(11, 30) == 3.0)
    assert t.committed_end == 30


def test_late_window_keeps_the_previous_tail_then_continues_without_a_jump():
    t = tl(margin=1, crossfade=6)
    ramp = np.arange(40, dtype=np.float32)[:, None].repeat(2, 1) * 0.1
    t.commit(0, ramp)
    played = [t.play()[1][0] for _ in range(45)]  # 40 committed, then 5 held
    assert t.underruns == 5
    t.commit(44, np.full((30, 2), 9.0, np.float32))
    played += [t.play()[1][0] for _ in range(20)]
    steps = np.abs(np.diff(played))
    assert steps.max() < (9.0 - 3.9) / 6 + 1e-3  # the jump to 9 is spread over the fade


def test_window_after_a_hole_is_refused():
    t = tl()
    with pytest.raises(ValueError):
        t.commit(10, np.ones((5, 2), np.float32))


def test_frame_ring_wraps_and_reports_missing_frames():
    r = FrameRing(1, 10)
    r.write(0, np.arange(25, dtype=np.float32)[:, None])
    assert r.start == 15 and r.end == 25
    assert r.read(20, 22)[:, 0].tolist() == [20, 21]
    with pytest.raises(IndexError):
        r.read(10, 12)
    with pytest.raises(ValueError):
        r.write(30, np.zeros((1, 1), np.float32))
