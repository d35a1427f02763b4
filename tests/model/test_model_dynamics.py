"""Dynamics that follow the music (model/dynamics.py): the shipped envelope, the scaling, the seams."""
import json

import numpy as np
import pytest
import torch

from model import rotations as rot
from model.dynamics import (ENERGY_CHECKPOINT, EnergyEnvelope, fade_in_weight, follow_energy,
                            scale_quick_motion, smoothed_speed)
from model.motion import MOTION_DIM, ROOT, ROT6D
from model.music import FEATURE_DIM
from model.skeleton import NUM_JOINTS

ASSETS = __import__("pathlib").Path(__file__).resolve().parents[2] / "liveedit" / "assets"


def swaying_motion(T: int = 150, seed: int = 0) -> np.ndarray:
    """(T, 151): every joint swings quickly (1.5 Hz) about a slowly turning pose, the root bobs."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None] / 30.0
    slow = rng.normal(0, 0.2, (1, NUM_JOINTS, 3)) * np.sin(2 * np.pi * 0.1 * t)
    quick = rng.normal(0, 0.3, (1, NUM_JOINTS, 3)) * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6, (1, NUM_JOINTS, 1)))
    m = np.zeros((T, MOTION_DIM), np.float32)
    m[:, ROT6D] = rot.np_matrix_to_rot6d(rot.np_axis_angle_to_matrix(slow + quick)).reshape(T, -1)
    m[:, ROOT] = [0.0, 0.95, 0.0]
    m[:, 5] += 0.03 * np.sin(2 * np.pi * 1.5 * t[:, 0, 0])
    return m


def test_unit_gain_changes_nothing_and_half_gain_halves_the_quick_motion():
    m = swaying_motion()
    same = scale_quick_motion(m, np.ones(len(m)))
    np.testing.assert_allclose(same, m, atol=2e-4)
    half = scale_quick_motion(m, np.full(len(m), 0.5))
    ratio = smoothed_speed(half)[20:-20].mean() / smoothed_speed(m)[20:-20].mean()
    assert 0.45 < ratio < 0.65, ratio       # the quick swing halves; the slow turn is kept
    double = scale_quick_motion(m, np.full(len(m), 2.0))
    assert smoothed_speed(double)[20:-20].mean() / smoothed_speed(m)[20:-20].mean() > 1.6


class _ConstantEnvelope(EnergyEnvelope):
    """Expects the same speed for any music (a stand-in only for the seam and known-frame checks)."""

    def __init__(self, speed: float):
        super().__init__()
        self._s = speed

    def speed(self, music):
        return np.full(len(music), self._s)


def test_known_frames_come_back_exactly_and_the_gain_fades_in_after_them():
    m = swaying_motion()
    known = np.zeros(len(m), bool)
    known[:16] = True
    music = np.zeros((len(m), FEATURE_DIM), np.float32)
    out = follow_energy(m, music, _ConstantEnvelope(0.2), known, reference=1.0)   # wants it 5x calmer
    np.testing.assert_array_equal(out[:16], m[:16])
    step = np.abs(np.diff(out[14:20], axis=0)).max()
    assert step <= 1.5 * np.abs(np.diff(m[14:20], axis=0)).max() + 1e-6    # no jump at the seam
    assert smoothed_speed(out)[60:-20].mean() < 0.7 * smoothed_speed(m)[60:-20].mean()
    w = fade_in_weight(known)
    assert w[:16].max() == 0 and w[40:].min() == 1 and np.all(np.diff(w) >= 0)
    assert follow_energy(m, music, _ConstantEnvelope(0.2), known, strength=0.0, reference=1.0) is not None
    np.testing.assert_array_equal(follow_energy(m, music, _ConstantEnvelope(0.2), known, strength=0.0, reference=1.0), m)


def test_the_floor_lifts_a_stalled_window():
    m = swaying_motion()
    stalled = scale_quick_motion(m, np.full(len(m), 0.3))
    music = np.zeros((len(m), FEATURE_DIM), np.float32)
    expected = float(smoothed_speed(m).mean())
    lifted = follow_energy(stalled, music, _ConstantEnvelope(expected), reference=expected, floor=0.6)
    plain = follow_energy(stalled, music, _ConstantEnvelope(expected), reference=expected)
    assert smoothed_speed(plain)[20:-20].mean() == pytest.approx(smoothed_speed(stalled)[20:-20].mean(), rel=0.05)
    assert smoothed_speed(lifted)[20:-20].mean() > 0.5 * expected


@pytest.fixture(scope="module")
def demo_music():
    from model.music import extract_features, load_audio
    song = json.loads((ASSETS / "demo.json").read_text())
    return extract_features(load_audio(ASSETS / "demo.flac"), np.asarray(song["beat_times"])), song["sections"]


@pytest.mark.skipif(not ENERGY_CHECKPOINT.is_file(), reason="no shipped energy envelope")
def test_the_shipped_envelope_hears_the_demo_songs_drumless_breakdown(demo_music):
    """The bundled demo song (never in the corpus) has a drumless breakdown between two choruses."""
    music, sections = demo_music
    envelope = EnergyEnvelope.load()
    windows = {}   # what the engine sees: 150-frame windows, one section each
    for sec in sections:
        a = int(sec["start"] * 30)
        windows.setdefault(sec["kind"], []).append(float(envelope.speed(music[a:a + 150]).mean()))
    calm = 1 - np.mean(windows["breakdown"]) / np.mean(windows["chorus"])
    assert calm > 0.2, windows
    from model.music import HOP, extract_features
    silence = envelope.speed(extract_features(np.zeros(150 * HOP, np.float32))).mean()
    assert silence < np.mean(windows["breakdown"])


@pytest.mark.skipif(not ENERGY_CHECKPOINT.is_file(), reason="no shipped energy envelope")
def test_new_dance_follows_the_music_but_edits_are_not_rescaled(demo_music, monkeypatch):
    from model.pipeline import DanceModel
    music, _ = demo_music
    model = DanceModel.tiny_random(seed=0)
    model.energy = EnergyEnvelope.load()
    chorus, breakdown = music[16 * 30:16 * 30 + 150], music[24 * 30:24 * 30 + 150]
    with torch.no_grad():
        model.dynamics = 0.0
        raw = model.generate(chorus, seed=3)
        model.dynamics = 1.0
        lively = model.generate(chorus, seed=3)
        calm = model.generate(breakdown, seed=3)
        model.dynamics = 0.0
        calm_raw = model.generate(breakdown, seed=3)
    lift = smoothed_speed(lively).mean() / smoothed_speed(raw).mean()
    drop = smoothed_speed(calm).mean() / smoothed_speed(calm_raw).mean()
    assert drop < 0.9 * lift, (lift, drop)
    assert not np.allclose(lively, raw)
    model.dynamics = 1.0
    # The editing path never goes through the envelope: switching it off changes nothing there.
    edited = model.edit(chorus, raw, raw, "arms up", seed=5)
    model.dynamics = 0.0
    np.testing.assert_array_equal(model.edit(chorus, raw, raw, "arms up", seed=5), edited)
    # Nor through the beat pulse, which would compound edit after edit.
    import model.pipeline as pipeline
    monkeypatch.setattr(pipeline, "BEAT_PULSE", 0.0)
    np.testing.assert_array_equal(model.edit(chorus, raw, raw, "arms up", seed=5), edited)
    assert not np.allclose(model.generate(chorus, seed=3), raw)     # while new dance does pulse


def test_train_energy_runs_on_a_tiny_corpus(tiny_corpus_for_energy, tmp_path):
    from training.train_energy import main
    out = tmp_path / "energy.pt"
    assert main(["--corpus-dir", str(tiny_corpus_for_energy), "--steps", "5", "--draws", "1", "--quiet",
                 "--out", str(out), "--threads", "1"]) == 0
    net = EnergyEnvelope.load(out)
    assert net.speed(np.zeros((150, FEATURE_DIM), np.float32)).shape == (150,)
    assert torch.load(out, weights_only=True)["meta"]["steps"] == 5


@pytest.fixture(scope="module")
def tiny_corpus_for_energy(tmp_path_factory):
    from training.make_corpus import main as make_corpus
    out = tmp_path_factory.mktemp("corpus")
    assert make_corpus(["--out", str(out), "--songs", "2", "--chains", "4", "--song-seconds", "12",
                        "--frames", "180", "--workers", "1", "--silent", "--no-progress"]) in (0, None)
    return out
