"""Continuation windows: music extrapolation, known frames and mask, the paper's iterations."""
import numpy as np
import pytest

from liveedit.core.beats import GridState
from liveedit.core.continuation import (BEAT, EditLevelError, WindowRequest, extrapolate_music, music_window, run_window,
                                        window_plan)
from liveedit.core.fakemodel import EDIT_CHANNEL, FakeModel


def song_features(n, bar_frames=60):
    """(n, 35): channel c holds a bar-periodic pattern; beat channel every 15 frames."""
    f = np.arange(n)
    x = np.zeros((n, 35), np.float32)
    for c in range(34):
        x[:, c] = np.sin(2 * np.pi * (f % bar_frames) / bar_frames * (1 + c % 3) + c)
    x[:, BEAT] = (f % 15 == 0)
    return x


def test_extrapolation_repeats_the_last_bar_and_predicts_beats():
    grid = GridState(period=0.5, anchor=0.0)  # 120 BPM: beat every 15 frames, bar 60 frames
    full = song_features(300)
    heard = full[:200]
    ext = extrapolate_music(heard, grid, 100, first_frame=0)
    assert ext.shape == (100, 35) and ext.dtype == np.float32
    # a bar-periodic song is continued exactly
    assert np.allclose(ext[:, :34], full[200:, :34], atol=1e-5)
    assert np.array_equal(np.flatnonzero(ext[:, BEAT]), np.flatnonzero(full[200:, BEAT]))


def test_extrapolation_uses_absolute_frames_and_short_history():
    grid = GridState(period=0.5, anchor=0.1)  # beats at 0.1 + 0.5 k s -> frames 3, 18, 33, ...
    ext = extrapolate_music(np.ones((10, 35), np.float32), grid, 40, first_frame=100)
    # frames 110..149: beats at frames 123, 138
    assert np.flatnonzero(ext[:, BEAT]).tolist() == [13, 28]
    assert np.all(ext[:, 0] == 1.0)        # less than a beat heard: last frame held
    empty = extrapolate_music(np.zeros((0, 35)), grid, 5)
    assert empty.shape == (5, 35)
    assert extrapolate_music(np.ones((3, 35)), grid, 0).shape == (0, 35)


def test_music_window_mixes_heard_and_extrapolated():
    grid = GridState(period=0.5, anchor=0.0)
    full = song_features(400)
    heard = full[100:250]
    music, n_real = music_window(heard, 100, grid, start=200, n=150)
    assert n_real == 50
    assert np.allclose(music[:50], full[200:250])
    assert np.allclose(music[50:, :34], full[250:350, :34], atol=1e-5)


def test_window_plan_known_frames_end_at_the_commit_point():
    assert window_plan(playhead=300, committed_end=400, lead=20, context=60) == (260, 60)
    assert window_plan(playhead=10, committed_end=12, lead=20, context=60) == (0, 12)


def make_request(prompts=(), n_known=40, strength=2.0):
    known = np.zeros((150, 151), np.float32)
    known[:n_known] = np.linspace(0, 1, n_known)[:, None]
    init = known.copy()
    init[:n_known, EDIT_CHANNEL] -= 1.0  # the unedited stream differs from what was shown
    return WindowRequest(id=1, start=500, n_known=n_known, music=np.zeros((150, 35), np.float32), known=known,
                         known_initial=init, prompts=tuple(prompts), strength=strength, steps=4,
                         edits_version=0, reason="hop", created=0.0, seed=3)


def test_mask_and_known_frames_are_passed_and_kept():
    req = make_request()
    assert req.known_mask.sum() == 40 and req.known_mask[:40].all()
    res = run_window(FakeModel(), req)
    # no edits: the shown stream is the initial stream, which continues itself
    assert np.array_equal(res.shown[:40], req.known_initial[:40])
    # continues its last known frame without a jump
    assert np.abs(res.shown[40, 6:] - res.shown[39, 6:]).max() < 0.05


class PassPerEditModel(FakeModel):
    """A model without `edit_stack`: one editing pass per active edit."""
    edit_stack = None


def test_stacked_edits_run_in_one_composed_pass():
    m = FakeModel()
    req = make_request(prompts=("arms wider", "jump", "lean back"), strength=2.0)
    res = run_window(m, req)
    assert m.calls == [("generate", ""), ("edit_stack", "arms wider | jump | lean back")]
    assert np.array_equal(res.shown[:40], req.known[:40])
    assert res.shown[100, EDIT_CHANNEL] - res.initial[100, EDIT_CHANNEL] == pytest.approx(1.5)


def test_a_single_edit_is_one_plain_pass():
    m = FakeModel()
    run_window(m, make_request(prompts=("jump",)))
    assert m.calls == [("generate", ""), ("edit", "jump")]


def test_a_failing_composed_pass_blames_the_newest_edit():
    class Broken(FakeModel):
        def edit_stack(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(EditLevelError) as err:
        run_window(Broken(), make_request(prompts=("arms wider", "jump")))
    assert err.value.level == 1 and err.value.prompt == "jump"


def test_edits_run_in_order_on_top_of_the_initial_prediction():
    m = PassPerEditModel()
    req = make_request(prompts=("arms wider", "jump"), strength=2.0)
    res = run_window(m, req)
    assert m.calls == [("generate", ""), ("edit", "arms wider"), ("edit", "jump")]
    # initial continues the unedited stream; the shown stream keeps the shown known frames
    assert np.array_equal(res.initial[:40], req.known_initial[:40])
    assert np.array_equal(res.shown[:40], req.known[:40])
    # two edit levels, each +0.25 * strength on the edit channel
    assert res.shown[100, EDIT_CHANNEL] - res.initial[100, EDIT_CHANNEL] == pytest.approx(1.0)


def test_first_window_has_no_known_frames():
    req = make_request(n_known=0)
    res = run_window(FakeModel(), req)
    assert res.shown.shape == (150, 151)
