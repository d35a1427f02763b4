"""Live, the dance's energy is corrected when each frame is played (liveedit/late_energy.py): a drumless
breakdown calms the dance within a beat or two of being heard, not a bar or more after it."""
import json

import numpy as np
import pytest

from liveedit.core.continuation import SHOWN, STREAMS_DIM
from liveedit.core.live import FrameOut
from liveedit.core.timeline import CommitInfo, FrameRing, Timeline
from liveedit.late_energy import LateEnergyStage
from model import rotations as rot
from model.dynamics import ENERGY_CHECKPOINT, EnergyEnvelope, heard_speed, smoothed_speed
from model.motion import MOTION_DIM, ROOT, ROT6D
from model.skeleton import NUM_JOINTS

ASSETS = __import__("pathlib").Path(__file__).resolve().parents[2] / "liveedit" / "assets"
pytestmark = pytest.mark.skipif(not ENERGY_CHECKPOINT.is_file(), reason="no shipped energy envelope")
# Frames (1.5 s, 3 beats at the demo's 120 BPM) after the breakdown starts being heard. The stage
# takes 28 here; hearing the last bar repeated instead of the last beat, 59.
REACT = 45


def swaying(T: int) -> np.ndarray:
    """(T, 151): every joint swings at 1.5 Hz about a fixed pose, at one steady speed."""
    rng = np.random.default_rng(0)
    t = np.arange(T)[:, None, None] / 30.0
    aa = rng.normal(0, 0.3, (1, NUM_JOINTS, 3)) * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6, (1, NUM_JOINTS, 1)))
    m = np.zeros((T, MOTION_DIM), np.float32)
    m[:, ROT6D] = rot.np_matrix_to_rot6d(rot.np_axis_angle_to_matrix(aa)).reshape(T, -1)
    m[:, ROOT] = [0.0, 0.95, 0.0]
    return m


@pytest.fixture(scope="module")
def demo():
    from model.music import extract_features, load_audio
    song = json.loads((ASSETS / "demo.json").read_text())
    music = extract_features(load_audio(ASSETS / "demo.flac"), np.asarray(song["beat_times"]))
    breakdown = next(s for s in song["sections"] if s["kind"] == "breakdown")
    return music, int(breakdown["start"] * 30), int(breakdown["end"] * 30)


def play_through(music: np.ndarray, first: int, last: int):
    """Commit a steady dance whose windows all aimed at the chorus's energy (what a window generated
    from the chorus heard), then play frames first..last with the audio heard up to the playhead.
    -> (gains (n,), played motion (n, 151), committed motion (n, 151))"""
    envelope = EnergyEnvelope.load()
    T = last + 60
    motion = swaying(T)
    timeline = Timeline(STREAMS_DIM, np.concatenate([motion[0], motion[0]]), capacity=T + 10, margin=0)
    timeline.commit(0, np.concatenate([motion, motion], axis=1))
    stage = LateEnergyStage(envelope, timeline, capacity=T + 10)
    chorus = heard_speed(envelope, music[:first], 15.0)
    stage.committed(CommitInfo(0, T, 0, 0), 0, np.full(T, chorus))
    ring = FrameRing(music.shape[1], T + 10)
    ring.write(0, music[:first])
    timeline.playhead = first
    gains, played = [], []
    for f in range(first, last):
        if stage.due(f):
            stage.hear(ring, 0.5, 30)
        i, frame, held = timeline.play()
        out = FrameOut(i, i / 30, frame[SHOWN].copy(), held, 120.0, 0.0, 0.0, ())
        out = stage.play(out)
        gains.append(stage.gain)
        played.append(out.motion)
        ring.write(f, music[f:f + 1])   # frame f is heard as it is played
    return np.array(gains), np.stack(played), motion[first:last]


def test_a_breakdown_calms_the_played_dance_within_a_few_beats_of_being_heard(demo):
    music, b0, b1 = demo
    first = b0 - 150
    gains, played, committed = play_through(music, first, b1)
    chorus, breakdown = gains[:b0 - first], gains[b0 - first:]
    assert np.all(np.abs(np.log(chorus)) < np.log(1.25)), chorus.round(2)   # no correction where nothing changed
    calm = np.flatnonzero(breakdown < 0.8)
    assert len(calm) and calm[0] <= REACT, (calm[:1], breakdown.round(2)[:90])
    later = slice(b0 - first + REACT, None)
    assert smoothed_speed(played)[later].mean() < 0.85 * smoothed_speed(committed)[later].mean()
    # the gain moves smoothly: no frame's gain differs from the last by more than 1/LATE_SMOOTH of the range
    assert np.abs(np.diff(np.log(gains))).max() < np.log(2.0) / 4



def test_the_engine_plays_committed_windows_through_the_stage():
    """Engine wiring: a window's aimed speed is kept per committed frame, and the played frames are
    scaled by what is heard now; the timeline (what the next window continues from) is untouched."""
    from liveedit.core.continuation import run_window
    from liveedit.core.fakemodel import FakeModel
    from liveedit.engine import Engine

    model = FakeModel()
    model.energy, model.dynamics = EnergyEnvelope.load(), 1.0
    engine = Engine(model)
    assert engine.late is not None
    req = engine.core.make_request(0.0, "start")
    req.music[:] = np.random.default_rng(0).random(req.music.shape)
    result = run_window(model, req)
    engine._result_from_thread(result)          # no loop yet: only the aimed speed is computed
    assert result.expected is not None and result.expected.shape == (req.music.shape[0],)
    engine._on_result(result)
    engine.late.follower.now = 0.5 * float(result.expected.mean())   # a breakdown is heard
    committed = engine.core.timeline.read(0, 60)[:, SHOWN].copy()
    played = np.stack([engine._tick(i / 30).motion for i in range(60)])
    assert engine.late.gain < 0.7
    np.testing.assert_array_equal(engine.core.timeline.read(0, 60)[:, SHOWN], committed)
    assert not np.allclose(played[30:], committed[30:], atol=1e-4)
    assert Engine(FakeModel()).late is None      # a model without an envelope plays as committed
