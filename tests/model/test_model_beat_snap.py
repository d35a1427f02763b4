"""Beat snapping: accents move onto beats, known frames and poses stay, the warp stays gentle."""
import numpy as np

from model import rotations as rot
from model.beat_snap import beat_warp, kinematic_beats, retime, snap_to_beats
from model.motion import ROOT, ROT6D

T = 150


def travelling_body(accents: list[int]) -> np.ndarray:
    """(T, 151): a standing skeleton gliding along x that slows to a stop at each accent frame."""
    t = np.arange(T - 1)
    speed = 0.02 * np.ones(T - 1)
    for a in accents:
        speed *= 1 - np.exp(-((t - a) ** 2) / (2 * 2.0**2))
    motion = np.zeros((T, 151), dtype=np.float32)
    motion[:, ROT6D] = np.tile(rot.np_matrix_to_rot6d(np.eye(3)[None]).reshape(-1), 24)
    motion[1:, ROOT.start] = np.cumsum(speed)
    motion[:, ROOT.start + 1] = 0.95
    return motion


def test_kinematic_beats_find_the_stops():
    accents = [20, 50, 80, 110]
    found = kinematic_beats(travelling_body(accents))
    assert len(found) == 4 and np.abs(found - accents).max() <= 1


def test_late_accents_are_pulled_onto_the_beats():
    beats = np.array([20, 50, 80, 110])
    motion = travelling_body(list(beats + 3))                   # every accent 3 frames late
    out = snap_to_beats(motion, beats, reach=5)
    assert np.abs(kinematic_beats(out) - beats).max() <= 1
    # only the timing changed: the path covered is the same
    assert np.isclose(out[-1, ROOT.start], motion[-1, ROOT.start])
    assert np.all(np.diff(out[:, ROOT.start]) >= -1e-7)


def test_accents_out_of_reach_and_known_frames_stay_put():
    beats = np.array([20, 50, 80, 110])
    motion = travelling_body([30, 53, 83, 113])                 # the first accent is 10 frames off
    known = np.zeros(T, dtype=bool)
    known[:40] = True                                           # already streamed
    out = snap_to_beats(motion, beats, known, reach=5)
    assert np.array_equal(out[known], motion[known])
    found = kinematic_beats(out)
    assert np.any(np.abs(found - 30) <= 1)                      # out of reach: not moved
    off = np.abs(found[found > 40] - beats[1:])                 # 3 frames each before
    assert off.max() <= 2 and off.sum() <= 4


def test_warp_respects_the_rate_limit_and_ends():
    known = np.zeros(T, dtype=bool)
    known[:10] = True
    warp = beat_warp(np.array([14, 60]), np.array([12, 56]), known, reach=4, max_rate=1.5)
    rate = np.diff(warp)
    assert warp[0] == 0 and warp[-1] == T - 1 and np.array_equal(warp[:10], np.arange(10))
    assert rate.min() >= 1 / 1.5 - 1e-9 and rate.max() <= 1.5 + 1e-9
    assert warp[56] == 60                                       # within reach and the rate limit
    assert warp[12] != 14                                       # 2 frames after a known frame: too steep


def test_no_beats_or_identity_warp_change_nothing():
    motion = travelling_body([20, 50])
    assert snap_to_beats(motion, np.array([], dtype=int)) is not None
    assert np.array_equal(snap_to_beats(motion, np.array([], dtype=int)), motion)
    assert np.allclose(retime(motion, np.arange(T, dtype=float)), motion)


def test_the_beat_pulse_slows_into_every_beat_without_drifting():
    from model.beat_snap import beat_pulse_time

    beats = np.arange(10, 150, 20)
    known = np.zeros(T, bool)
    known[:16] = True
    src = beat_pulse_time(beats, known, depth=0.4)
    np.testing.assert_allclose(src[beats], beats)                     # every beat plays itself
    np.testing.assert_array_equal(src[:16], np.arange(16))            # known frames play themselves
    rate = np.gradient(src)
    late = beats[beats > 40]                                          # past the fade-in after known frames
    assert np.all(rate[late[:-1]] < 0.7) and np.all(rate[late[:-1] + 10] > 1.3)
    assert np.all(rate > 0)                                           # never plays backwards
    # A body gliding at a constant speed now stops-and-goes on the beat: its accents are the beats.
    glide = travelling_body([])
    out = snap_to_beats(glide, beats, known, pulse=0.4)
    found = kinematic_beats(out)
    assert all(np.abs(found - b).min() <= 2 for b in late[:-1])
    np.testing.assert_array_equal(out[:16], glide[:16])
