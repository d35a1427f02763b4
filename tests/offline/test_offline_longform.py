"""The long-form evaluation: its measures on known answers, the whole section on a tiny model, and
the promise that the rolling path and training build continuation inputs the same way."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from liveedit.offline import longform, rolling
from liveedit.offline.generate import SAMPLE_RATE
from model.motion import FPS, joints_from_motion
from training.corpus.dataset import MUSIC_HISTORY
from training.data import extrapolate_after
from training.data import TRAINED_CONTEXT, random_known_masks


def corpus_dance(seconds: float = 12.0, bpm: float = 120.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A corpus dance (T, 151) on a steady beat, and its beats."""
    from training.corpus.moves import make_program, synthesize

    beats = np.arange(0.25, seconds, 60.0 / bpm)
    T = int(seconds * FPS)
    prog = make_program(np.random.default_rng(seed), beats, 0, len(beats), style="pop")
    return synthesize(prog, beats, T).motion(), beats


def joints(motion: np.ndarray) -> np.ndarray:
    return joints_from_motion(torch.as_tensor(motion)).numpy()


def test_speed_ratio_is_one_for_the_data_half_for_half_speed_and_zero_frozen():
    motion, beats = corpus_dance(12.0)
    j = joints(motion)
    half = j[np.arange(len(j)) // 2]            # every pose held two frames: half the speed
    frozen = np.repeat(j[:1], len(j), axis=0)
    assert longform.stretch_ratios(j, j) == pytest.approx(np.ones(2))
    assert longform.joint_speed(half).mean() / longform.joint_speed(j).mean() == pytest.approx(0.5, abs=0.05)
    assert longform.stretch_ratios(frozen, j).max() == 0.0


def test_seam_spikes_see_jumps_at_window_seams_that_the_data_does_not_have():
    motion, _ = corpus_dance(12.0)
    j = joints(motion)
    jumped = j.copy()
    for k, seam in enumerate(range(30, len(j), 30)):   # a seam every second, as windows are committed
        jumped[seam:] += np.array([0.1 * (-1) ** k, 0.0, 0.0])   # the body jumps 10 cm sideways
    assert longform.seam_spikes(jumped) > 2 * longform.seam_spikes(j)


def test_breakdown_calm_compares_a_breakdown_with_the_sections_around_it():
    motion, _ = corpus_dance(12.0)
    j = joints(motion)
    calm = j.copy()
    calm[120:240] = j[120][None] + 0.25 * (j[120:240] - j[120][None])   # a quarter of the motion
    sections = [{"start": 0.0, "end": 4.0, "kind": "verse"}, {"start": 4.0, "end": 8.0, "kind": "breakdown"},
                {"start": 8.0, "end": 12.0, "kind": "chorus"}]
    assert longform.breakdown_calm(calm, sections) > longform.breakdown_calm(j, sections) + 0.3
    assert longform.breakdown_calm(j, sections[:1]) is None


def tiny_songs(n: int = 2, seconds: float = 11.0) -> list[longform.HeldOutSong]:
    """Held-out songs made as the evaluation makes them, but short and without audio rendering."""
    from training.corpus.songs import make_song

    out = []
    for i in range(n):
        song = make_song(longform.CORPUS_SEED0 + i, style="pop", duration=seconds, render=False)
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        clicks = np.zeros_like(t, dtype=np.float32)
        for b in song.beat_times:   # an audible click on every beat, so the tracker has a beat to find
            k = int(b * SAMPLE_RATE)
            clicks[k:k + 400] += np.sin(2 * np.pi * 1000 * t[:400]).astype(np.float32) * np.exp(-np.arange(400) / 80)
        gt, alt = longform._corpus_dances(song, 1 + len(clicks) // 512, longform.CORPUS_SEED0 + i)
        out.append(longform.HeldOutSong(f"pop_{i}", "corpus soundfont", "pop", song.bpm, clicks,
                                        song.beat_times, song.sections, gt, alt))
    return out


@pytest.mark.slow
def test_the_long_form_section_on_a_tiny_model_scores_every_condition_and_draws(tmp_path):
    from model.pipeline import DanceModel
    from training.metrics.report import longform_section

    songs = tiny_songs()
    cfg = longform.LongformConfig(steps=2, progress=False)
    result = longform.evaluate(DanceModel.tiny_random(seed=0), cfg, songs=songs, img_dir=tmp_path, log=lambda *a: None)
    sets = {r["set"] for r in result["pooled"]}
    assert set(longform.CONDITIONS) <= sets and "ground truth" in sets
    for r in result["pooled"]:
        assert r["clips"] == 2 * (songs[0].frames // longform.CLIP)
        if r["set"] != "ground truth":
            assert np.isfinite(r["fid_k"]) and r["fid_k"] >= 0
    gt = next(r for r in result["pooled"] if r["set"] == "ground truth" and r["family"] == "all")
    assert gt["speed_ratio"] == 1.0
    # a random network is no dancer: it misses the speed target, and the goals say so
    assert any(g["pass"] is False for g in result["goals"])
    assert {r["condition"] for r in result["rows"]} == {"generate", "serve"}
    for path in result["images"].values():
        assert (tmp_path / path.split("/")[-1]).stat().st_size > 1000
    md = "\n".join(longform_section(json.loads(json.dumps(result, default=float)), lambda p: p.name))
    assert "Whole songs through the rolling path" in md and "pop_1" in md


def steady_music(T: int, period: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    music = rng.normal(size=(T, 35)).astype(np.float32)
    music[:, -1] = 0.0
    music[::period, -1] = 1.0
    return music, np.arange(0, T, period) / FPS


@pytest.mark.parametrize("heard_in_window", [60, 95, 140])
def test_training_and_the_rolling_path_extrapolate_unheard_music_the_same_way(heard_in_window):
    """Training's live-style windows (training.data) and the engine's (rolling.live_music, what
    `serve` feeds the model) give the model the same features."""
    music, beats = steady_music(600)
    start = 240
    assert MUSIC_HISTORY == rolling.LIVE_HISTORY
    history = music[start - MUSIC_HISTORY:start]   # what the corpus dataset hands training with a window
    trained = extrapolate_after(music[start:start + 150], heard_in_window, history)
    live = rolling.live_music(music, beats, start + heard_in_window, start, 150, FPS)
    np.testing.assert_allclose(live, trained, atol=1e-6)


def test_the_rolling_context_is_a_prefix_length_training_draws():
    """Windows of `generate` / `serve` know `rolling.CONTEXT` frames: a prefix length the training
    masks cover (a model never trained on it would be extrapolating)."""
    masks = random_known_masks(4000, 150, np.random.default_rng(0)).numpy()
    prefix = masks[:, 0] & ~masks.all(1)
    lengths = np.argmin(masks[prefix], axis=1)
    assert lengths.min() <= rolling.CONTEXT <= lengths.max()
    assert (lengths == rolling.CONTEXT).mean() > 0.05  # and often: the length the engine uses
    assert TRAINED_CONTEXT[0] <= rolling.CONTEXT <= TRAINED_CONTEXT[1]
