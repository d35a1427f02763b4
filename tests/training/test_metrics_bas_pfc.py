"""Known-answer tests for BAS (both variants) and PFC."""
import numpy as np
import pytest

from model.skeleton import STANDING_PELVIS_HEIGHT, rest_joint_positions
from training.metrics import bas, bas_motion_beats, bas_music_beats, motion_beats, pfc, pfc_clip, split_clips

FPS = 30
PERIOD = 15  # frames per beat: 120 BPM


def _standing(T: int) -> np.ndarray:
    pose = rest_joint_positions() + np.array([0.0, STANDING_PELVIS_HEIGHT, 0.0], np.float32)
    return np.repeat(pose[None], T, axis=0).astype(np.float64)


def _pulsing(T: int, beat_frames: np.ndarray) -> np.ndarray:
    """A body whose per-frame speed is 1 - cos(2 pi (k - b) / PERIOD): zero exactly at each beat."""
    k = np.arange(T - 1)
    phase = 2 * np.pi * (k - beat_frames[0]) / PERIOD
    step = 0.01 * (1.0 - np.cos(phase))  # metres moved between frame k and k+1
    x = np.concatenate([[0.0], np.cumsum(step)])
    p = _standing(T)
    p[:, :, 0] += x[:, None]
    return p


def test_motion_beats_land_on_the_speed_minima():
    beats = 7 + PERIOD * np.arange(9)
    mb = motion_beats(_pulsing(150, beats))
    assert set(beats[(beats > 0) & (beats < 148)]) <= set(mb.tolist())


def test_bas_is_one_on_the_beat_and_lower_half_a_beat_off():
    # 151 frames: the speed curve (150 values) then starts and ends half a beat from a beat, so the
    # smoothing's mirror at the edges adds no spurious minimum.
    beat_frames = 7 + PERIOD * np.arange(10)  # 7 .. 142
    joints = _pulsing(151, beat_frames)
    on = beat_frames / FPS
    off = (beat_frames + PERIOD / 2) / FPS
    assert bas_music_beats(joints, on) == pytest.approx(1.0)
    assert bas_motion_beats(joints, on) == pytest.approx(1.0)
    assert bas_music_beats(joints, off) < 0.1  # 7-8 frames off: exp(-49/18) ~ 0.07
    assert bas_motion_beats(joints, off) < 0.1


def test_the_two_variants_differ_when_the_dance_has_extra_beats():
    # Motion beats every half beat; music beats every beat: every music beat is hit (Bailando's BAS
    # = 1) but half the motion beats are off the music (motion-averaged BAS about 0.5).
    beat_frames = 7 + PERIOD * np.arange(9)
    k = np.arange(149)
    step = 0.01 * (1.0 - np.cos(2 * np.pi * (k - 7) / (PERIOD / 2)))
    joints = _standing(150)
    joints[:, :, 0] += np.concatenate([[0.0], np.cumsum(step)])[:, None]
    out = bas([joints], [beat_frames / FPS])
    assert out["bas_music"] == pytest.approx(1.0, abs=0.02)
    assert 0.4 < out["bas_motion"] < 0.65


def test_pfc_static_standing_is_zero_and_floating_slide_is_large():
    assert pfc_clip(_standing(150)) == 0.0
    # Floating slide: the whole body glides with an oscillating horizontal velocity (feet sliding
    # while the root accelerates), plus a planted-feet dancer that only bobs the pelvis.
    t = np.arange(150) / FPS
    slide = _standing(150)
    slide[:, :, 0] += 0.3 * np.sin(2 * np.pi * 1.0 * t)[:, None]
    bob = _standing(150)
    bob[:, :7, 1] += 0.05 * np.sin(2 * np.pi * 2.0 * t)[:, None]  # hips/knees bob, feet stay put
    bob[:, 9:, 1] += 0.05 * np.sin(2 * np.pi * 2.0 * t)[:, None]
    assert pfc([bob]) == pytest.approx(0.0, abs=1e-9)
    assert pfc([slide]) > 5.0  # AIST++ ground truth scores about 1.3


def test_split_clips_keeps_whole_five_second_clips():
    clips = split_clips(np.zeros((400, 24, 3)), 150)
    assert [len(c) for c in clips] == [150, 150]
    assert len(split_clips(np.zeros((90, 24, 3)), 150)[0]) == 90
