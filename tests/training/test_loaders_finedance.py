"""FineDance loader on tiny files written here in the dataset's exact layout."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from model.motion import decode, joints_from_motion
from model.rotations import axis_angle_to_matrix
from model.skeleton import FOOT_JOINTS, SOLE_THICKNESS
from training.loaders import MotionFormatError, iter_finedance, load_finedance_motion


def _pytorch3d_6d(mats: np.ndarray) -> np.ndarray:
    """What FineDance stores: pytorch3d's matrix_to_rotation_6d, the first two ROWS."""
    return mats[..., :2, :].reshape(*mats.shape[:-2], 6)


def _write_motion(root, name, t=12, seed=0):
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=(t, 52, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    aa = axis * rng.uniform(0.05, 1.5, size=(t, 52, 1))
    mats = axis_angle_to_matrix(torch.as_tensor(aa, dtype=torch.float64)).numpy()  # (t, 52, 3, 3)
    transl = np.stack([np.linspace(0, 1, t), np.full(t, -0.4), np.zeros(t)], axis=1)
    data = np.concatenate([transl, _pytorch3d_6d(mats).reshape(t, 312)], axis=1).astype(np.float32)
    (root / "motion").mkdir(parents=True, exist_ok=True)
    np.save(root / "motion" / f"{name}.npy", data)
    return mats, transl


@pytest.fixture()
def fd_root(tmp_path):
    data = {"001": _write_motion(tmp_path, "001", seed=1), "002": _write_motion(tmp_path, "002", seed=2)}
    (tmp_path / "music_wav").mkdir()
    sf.write(tmp_path / "music_wav" / "001.wav", np.zeros(800, np.float32), 16000)
    return tmp_path, data


def test_rotations_round_trip_with_row_6d_and_hand_mapping(fd_root):
    root, data = fd_root
    clip = next(iter_finedance(root, names=["001"], ground=False))
    mats, transl = data["001"]
    assert clip.fps == 30 and clip.motion.shape == (12, 151) and clip.motion.dtype == np.float32
    got = decode(clip.motion).rotmats.numpy()
    np.testing.assert_allclose(got[:, :22], mats[:, :22], atol=1e-5)
    np.testing.assert_allclose(got[:, 22], mats[:, 22], atol=1e-5)  # left_index1 -> SMPL left_hand
    np.testing.assert_allclose(got[:, 23], mats[:, 37], atol=1e-5)  # right_index1 -> SMPL right_hand
    np.testing.assert_allclose(clip.motion[:, 4:7], transl, atol=1e-6)  # no template, no grounding


def test_music_paths_and_sorted_names(fd_root):
    root, _ = fd_root
    clips = list(iter_finedance(root))
    assert [c.name for c in clips] == ["001", "002"]
    assert clips[0].audio_path == root / "music_wav" / "001.wav"
    assert clips[1].audio_path is None
    with pytest.raises(FileNotFoundError, match="002.wav"):
        list(iter_finedance(root, require_music=True))


def test_grounding_puts_the_feet_on_the_floor_and_keeps_the_template_offset(fd_root):
    root, data = fd_root
    _, transl = data["002"]
    offset = np.array([0.01, -0.35, 0.02], np.float32)
    np.save(root / "smplx_neu_J_1.npy", np.vstack([offset, np.ones((54, 3), np.float32)]))
    clip = {c.name: c for c in iter_finedance(root)}["002"]
    joints = joints_from_motion(clip.motion).numpy()
    lowest = joints[:, list(FOOT_JOINTS), 1].min(axis=1)
    assert np.quantile(lowest, 0.02) == pytest.approx(SOLE_THICKNESS, abs=1e-4)
    # horizontal position: transl + template pelvis; vertical motion shape is kept
    np.testing.assert_allclose(clip.motion[:, [4, 6]], transl[:, [0, 2]] + offset[[0, 2]], atol=1e-5)
    assert np.ptp(clip.motion[:, 5]) == pytest.approx(np.ptp(transl[:, 1]), abs=1e-5)


def test_preprocessed_319_files_are_read_too(tmp_path):
    mats, transl = _write_motion(tmp_path, "010", t=5)
    raw = np.load(tmp_path / "motion" / "010.npy")
    np.save(tmp_path / "motion" / "010.npy", np.concatenate([np.zeros((5, 4), np.float32), raw], axis=1))
    motion = load_finedance_motion(tmp_path / "motion" / "010.npy", ground=False)
    np.testing.assert_allclose(decode(motion).rotmats.numpy()[:, 5], mats[:, 5], atol=1e-5)


def test_malformed_files_give_clear_errors_naming_them(tmp_path):
    (tmp_path / "motion").mkdir()
    bad_shape = tmp_path / "motion" / "bad_shape.npy"
    np.save(bad_shape, np.zeros((10, 100), np.float32))
    with pytest.raises(MotionFormatError, match=r"bad_shape.npy: shape \(10, 100\)"):
        load_finedance_motion(bad_shape)
    garbage = tmp_path / "motion" / "garbage.npy"
    garbage.write_bytes(b"not numpy")
    with pytest.raises(MotionFormatError, match="garbage.npy"):
        load_finedance_motion(garbage)
    nans = tmp_path / "motion" / "nans.npy"
    np.save(nans, np.full((4, 315), np.nan, np.float32))
    with pytest.raises(MotionFormatError, match="nans.npy.*NaN"):
        load_finedance_motion(nans)
    with pytest.raises(FileNotFoundError, match="motion"):
        list(iter_finedance(tmp_path / "nowhere"))
