"""AIST++ loader on tiny files written here in the dataset's exact layout."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

from model.motion import decode
from model.rotations import axis_angle_to_matrix
from model.skeleton import SMPL_TEMPLATE_PELVIS
from training.loaders import MotionClip, MotionFormatError, iter_aistpp, load_aistpp_motion, music_id_from_name

SEQ = "gBR_sBM_cAll_d04_mBR0_ch01"
SEQ_IGNORED = "gPO_sBM_cAll_d10_mPO1_ch02"
SEQ_NO_WAV = "gHO_sFM_cAll_d20_mHO5_ch13"


def _random_poses(rng: np.random.Generator, t: int) -> np.ndarray:
    axis = rng.normal(size=(t, 24, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(0.05, 2.5, size=(t, 24, 1))  # below pi: one axis-angle per rotation
    return (axis * angle).reshape(t, 72)


def _write_seq(root, name, rng, t=21, scaling=93.5):
    poses = _random_poses(rng, t)
    pelvis = np.stack([np.linspace(0, 0.5, t), np.full(t, 0.95), np.linspace(0, -0.3, t)], axis=1)
    trans = (pelvis - SMPL_TEMPLATE_PELVIS) * scaling  # AIST++ stores scaled SMPL transl
    (root / "motions").mkdir(parents=True, exist_ok=True)
    with open(root / "motions" / f"{name}.pkl", "wb") as f:
        pickle.dump({"smpl_loss": 1.0, "smpl_poses": poses.astype(np.float32),
                     "smpl_trans": trans.astype(np.float32), "smpl_scaling": np.array([scaling], np.float32)}, f)
    return poses, pelvis


@pytest.fixture()
def aist_root(tmp_path):
    rng = np.random.default_rng(0)
    data = {n: _write_seq(tmp_path, n, rng) for n in (SEQ, SEQ_IGNORED, SEQ_NO_WAV)}
    (tmp_path / "wavs").mkdir()
    for mid in ("mBR0", "mPO1"):
        sf.write(tmp_path / "wavs" / f"{mid}.wav", np.zeros(1600, np.float32), 16000)
    # the official list names sequences; one entry written as a camera video name
    (tmp_path / "ignore_list.txt").write_text("gPO_sBM_c01_d10_mPO1_ch02\n")
    return tmp_path, data


def test_round_trip_rotations_root_and_fps_halving(aist_root):
    root, data = aist_root
    clips = {c.name: c for c in iter_aistpp(root)}
    clip = clips[SEQ]
    assert isinstance(clip, MotionClip) and clip.fps == 30
    poses, pelvis = data[SEQ]
    assert clip.motion.shape == (11, 151) and clip.motion.dtype == np.float32  # 21 frames at 60 fps -> 11
    dec = decode(clip.motion)
    want = axis_angle_to_matrix(torch.as_tensor(poses[::2].reshape(-1, 24, 3), dtype=torch.float32))
    torch.testing.assert_close(dec.rotmats, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(dec.root.numpy(), pelvis[::2], atol=1e-4)
    assert set(np.unique(clip.motion[:, :4])) <= {0.0, 1.0}


def test_music_path_and_ignore_list(aist_root):
    root, _ = aist_root
    clips = {c.name: c for c in iter_aistpp(root)}
    assert set(clips) == {SEQ, SEQ_NO_WAV}
    assert clips[SEQ].audio_path == root / "wavs" / "mBR0.wav"
    assert clips[SEQ_NO_WAV].audio_path is None
    everything = {c.name for c in iter_aistpp(root, use_ignore_list=False)}
    assert SEQ_IGNORED in everything
    with pytest.raises(FileNotFoundError, match="mHO5.wav"):
        list(iter_aistpp(root, names=[SEQ_NO_WAV], require_music=True))


def test_music_id_from_name():
    assert music_id_from_name(SEQ) == "mBR0"
    assert music_id_from_name("gJB_sFM_cAll_d09_mJB3_ch10") == "mJB3"
    with pytest.raises(ValueError, match="music field"):
        music_id_from_name("gBR_sBM_cAll_d04_ch01")


def test_scaling_may_be_a_plain_float_and_poses_24x3(tmp_path):
    rng = np.random.default_rng(1)
    poses = _random_poses(rng, 4)
    path = tmp_path / "x.pkl"
    with open(path, "wb") as f:
        pickle.dump({"smpl_poses": poses.reshape(4, 24, 3), "smpl_trans": np.zeros((4, 3)), "smpl_scaling": 2.0}, f)
    motion = load_aistpp_motion(path)
    assert motion.shape == (2, 151)
    np.testing.assert_allclose(motion[:, 4:7], np.tile(SMPL_TEMPLATE_PELVIS, (2, 1)), atol=1e-6)


@pytest.mark.parametrize("content, message", [
    ({"smpl_trans": np.zeros((4, 3)), "smpl_scaling": [1.0]}, "missing smpl_poses"),
    ({"smpl_poses": np.zeros((4, 69)), "smpl_trans": np.zeros((4, 3)), "smpl_scaling": [1.0]}, r"\(T, 72\)"),
    ({"smpl_poses": np.zeros((4, 72)), "smpl_trans": np.zeros((5, 3)), "smpl_scaling": [1.0]}, "smpl_trans"),
    ({"smpl_poses": np.zeros((4, 72)), "smpl_trans": np.zeros((4, 3)), "smpl_scaling": [0.0]}, "smpl_scaling"),
    ({"smpl_poses": np.full((4, 72), np.nan), "smpl_trans": np.zeros((4, 3)), "smpl_scaling": [1.0]}, "NaN"),
    ([1, 2, 3], "expected a dict"),
])
def test_malformed_file_gives_clear_error_naming_it(tmp_path, content, message):
    path = tmp_path / "broken_seq.pkl"
    with open(path, "wb") as f:
        pickle.dump(content, f)
    with pytest.raises(MotionFormatError, match=message) as info:
        load_aistpp_motion(path)
    assert "broken_seq.pkl" in str(info.value)


def test_unreadable_pickle_names_the_file(tmp_path):
    path = tmp_path / "garbage.pkl"
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(MotionFormatError, match="garbage.pkl"):
        load_aistpp_motion(path)


def test_missing_layout_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="motions"):
        list(iter_aistpp(tmp_path))
