"""The continuation rule's two implementations agree: the batched torch one (training's, on the
device) gives every window exactly what the numpy one (the engine's) gives it."""
import numpy as np
import pytest
import torch

from model import music as music_features
from model.continuation import (BEAT, FPS, MUSIC_DIM, GridState, extrapolate_batch, extrapolate_music,
                                extrapolate_window)


def test_the_constants_are_the_feature_extractors():
    assert (FPS, MUSIC_DIM, BEAT) == (music_features.FPS, music_features.FEATURE_DIM, music_features.BEAT)


def random_windows(rng: np.random.Generator, B: int, T: int, H: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, H + T, 35) features whose beat channels range from none to dense and irregular."""
    x = rng.normal(size=(B, H + T, MUSIC_DIM)).astype(np.float32)
    x[..., BEAT] = 0.0
    for b in range(B):
        kind = b % 6
        if kind == 0:
            continue                                                  # no beats: the default grid
        if kind == 1:
            x[b, rng.integers(0, H + T), BEAT] = 1.0                  # a single beat
            continue
        period = rng.uniform(1.0, 40.0) if kind == 2 else rng.uniform(8.0, 25.0)
        t = np.arange(rng.uniform(0, period), H + T, period)
        if kind >= 4:                                                 # a tracker's beats: jitter, gaps
            t = t + rng.normal(0, 1.0, size=len(t))
            t = t[rng.random(len(t)) > 0.1]
        f = np.clip(np.round(t).astype(int), 0, H + T - 1)
        x[b, f, BEAT] = 1.0
        if kind == 5:
            x[b, rng.integers(0, H + T, size=3), BEAT] = 1.0          # spurious beats
    return x[:, H:], x[:, :H]


@pytest.mark.parametrize("H", [0, 120])
def test_the_batched_extrapolation_is_the_engines_rule_window_by_window(H):
    rng = np.random.default_rng(H)
    T, B = 150, 240
    music, history = random_windows(rng, B, T, H)
    heard = rng.integers(-2, T + 2, size=B)
    heard[:6] = [0, 1, 2, T - 1, T, 60]                               # the edges, and a typical one
    out = extrapolate_batch(torch.from_numpy(music), torch.from_numpy(heard),
                            torch.from_numpy(history) if H else None).numpy()
    changed = 0
    for b in range(B):
        ref = extrapolate_window(music[b], int(heard[b]), history[b] if H else None)
        np.testing.assert_array_equal(out[b], ref, err_msg=f"window {b}, heard {heard[b]}")
        changed += not np.array_equal(ref, music[b])
    assert changed > B // 2                                           # the comparison is not vacuous


def test_beats_come_from_the_heard_frames_only():
    """Beats after the playhead must not steer the grid (the engine has not heard them)."""
    music = np.zeros((1, 150, MUSIC_DIM), np.float32)
    music[0, ::15, BEAT] = 1.0                                        # steady 120 BPM
    music[0, 100:, BEAT] = 0.0
    music[0, 100::7, BEAT] = 1.0                                      # a faster pattern, not heard yet
    out = extrapolate_batch(torch.from_numpy(music), torch.tensor([90]))[0].numpy()
    assert np.flatnonzero(out[90:, BEAT]).tolist() == [0, 15, 30, 45]  # frames 90, 105, 120, 135


def test_the_engine_imports_the_same_rule():
    from liveedit.core import beats, continuation
    assert continuation.extrapolate_music is extrapolate_music and beats.GridState is GridState
