"""Foot locking (model/cleanup.py) on motions whose answer is known."""
import numpy as np
import torch

from model import rotations as rot
from model.cleanup import lock_feet
from model.motion import encode, joints_from_motion

T = 60
LEFT_ANKLE, RIGHT_ANKLE, LEFT_HIP, LEFT_KNEE = 7, 8, 1, 4


def sliding_dance(speed: float = 0.004) -> np.ndarray:
    """Bent knees, the body gliding along +x at `speed` m a frame: both feet slide; left ankle
    marked in contact for frames 10-39, right never."""
    aa = np.zeros((T, 24, 3), np.float32)
    aa[:, [1, 2], 0] = -0.3   # hips flexed
    aa[:, [4, 5], 0] = 0.6    # knees bent
    aa[:, [7, 8], 0] = -0.3   # ankles flat
    root = np.zeros((T, 3), np.float32)
    root[:, 1] = 0.85
    root[:, 0] = speed * np.arange(T)
    contacts = np.zeros((T, 4), np.float32)
    contacts[10:40, 0] = 1.0
    m = encode(rot.axis_angle_to_matrix(torch.as_tensor(aa)), torch.as_tensor(root), torch.as_tensor(contacts))
    return m.numpy()


def test_a_planted_ankle_stays_where_it_touched_down():
    m = sliding_dance()
    before, after = joints_from_motion(m).numpy(), joints_from_motion(lock_feet(m)).numpy()
    drift_before = np.linalg.norm(before[39, LEFT_ANKLE] - before[10, LEFT_ANKLE])
    drift_after = np.linalg.norm(after[10:40, LEFT_ANKLE] - after[10, LEFT_ANKLE], axis=-1).max()
    assert drift_before > 0.1 and drift_after < 1e-3
    # the free foot, the root and the bone lengths are untouched
    np.testing.assert_allclose(after[:, RIGHT_ANKLE], before[:, RIGHT_ANKLE], atol=1e-5)
    np.testing.assert_array_equal(lock_feet(m)[:, 4:7], m[:, 4:7])
    thigh = lambda j: np.linalg.norm(j[:, LEFT_KNEE] - j[:, LEFT_HIP], axis=-1)  # noqa: E731
    np.testing.assert_allclose(thigh(after), thigh(before), atol=1e-5)


def test_the_pin_is_released_smoothly_after_lift_off():
    m = sliding_dance()
    after = joints_from_motion(lock_feet(m, blend=4)).numpy()
    before = joints_from_motion(m).numpy()
    steps = np.linalg.norm(np.diff(after[:, LEFT_ANKLE], axis=0), axis=-1)
    # catching up 0.12 m of glide over 5 frames: no single-frame jump of the whole distance
    assert steps.max() < 0.5 * np.linalg.norm(before[39, LEFT_ANKLE] - before[10, LEFT_ANKLE])
    np.testing.assert_allclose(after[45:, LEFT_ANKLE], before[45:, LEFT_ANKLE], atol=1e-5)


def test_known_frames_are_never_moved_and_a_contact_from_them_keeps_its_place():
    m = sliding_dance()
    known = np.zeros(T, bool)
    known[:20] = True
    out = lock_feet(m, known)
    np.testing.assert_array_equal(out[:20], m[:20])
    j = joints_from_motion(out).numpy()
    # the contact began at frame 10 (known): generated frames keep the ankle where it was then
    assert np.linalg.norm(j[20:40, LEFT_ANKLE] - j[10, LEFT_ANKLE], axis=-1).max() < 1e-3


def test_pins_fade_out_before_known_frames_that_follow():
    m = sliding_dance()
    known = np.zeros(T, bool)
    known[30:] = True   # an edited span 0-29 rejoins the original dance at frame 30
    out = lock_feet(m, known)
    np.testing.assert_array_equal(out[30:], m[30:])
    before, after = joints_from_motion(m).numpy(), joints_from_motion(out).numpy()
    gap = np.linalg.norm(after[:, LEFT_ANKLE] - before[:, LEFT_ANKLE], axis=-1)
    assert gap[29] < 0.3 * gap[24]  # easing back onto the known dance, not jumping at the seam


def test_no_contacts_no_change():
    m = sliding_dance()
    m[:, :4] = 0.0
    np.testing.assert_array_equal(lock_feet(m), m)
