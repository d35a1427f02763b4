"""Every move of the vocabulary: finite valid rotations, feet on the floor, planted feet do not
slide, contacts labelled, joint limits, tempo following."""
import numpy as np
import pytest

from model.motion import decode, joints_from_motion
from training.corpus import moves as M

BEATS = np.arange(0.0, 20.0, 0.5)  # 120 BPM
FOOT = [7, 8, 10, 11]


def dance_of(name, beats=BEATS, n=180, **attrs):
    spec = M.MOVES[name]
    layers = {lay: M.layer_spec({"legs": "bounce", "arms": "idle_arms", "torso": "idle_torso"}[lay]) for lay in M.LAYERS}
    layers[spec.layer] = M.layer_spec(name, **attrs)
    return M.synthesize(M.Program([M.Block(0, 32, **layers)]), beats, n)


def test_vocabulary_covers_the_body():
    assert len(M.VOCABULARY) >= 24
    need = {"side_step", "behind_step", "step_touch", "cross_step", "jog", "lunge", "kick", "knee_lift", "bounce",
            "jump", "turn", "twist", "swing", "wave", "punch", "clap", "raise", "circle", "reach", "lean", "sway",
            "roll", "shimmy"}
    assert need <= set(M.VOCABULARY)
    for name in M.VOCABULARY:
        spec = M.MOVES[name]
        continuous = [k for k, (lo, _, hi) in spec.attrs.items() if hi > lo and k not in ("side", "direction")]
        assert len(continuous) >= 3, name


@pytest.mark.parametrize("name", M.VOCABULARY)
def test_move_is_physically_sane(name):
    d = dance_of(name)
    R = d.rotmats.astype(np.float64)
    assert np.isfinite(R).all() and np.isfinite(d.root).all()
    # valid rotations
    eye = np.broadcast_to(np.eye(3), R.shape)
    assert np.abs(R @ np.swapaxes(R, -1, -2) - eye).max() < 1e-4
    assert np.abs(np.linalg.det(R) - 1).max() < 1e-4
    J = d.joints
    foot_y = J[:, FOOT, 1]
    # never through the floor; some foot on the floor unless jumping
    assert foot_y.min() > -0.005
    grounded = foot_y.min(axis=1) < 0.03
    if name != "jump":
        assert grounded.all(), f"{name}: feet leave the floor in {np.sum(~grounded)} frames"
    else:
        assert (~grounded).sum() > 0 and grounded.mean() > 0.4
    # stance: a foot joint on the floor in two consecutive frames must not slide (bounded slip)
    for k, j in enumerate(FOOT):
        y = J[:, j, 1] - (0.06 if j in (7, 8) else 0.0)
        v = np.linalg.norm(np.diff(J[:, j][:, [0, 2]], axis=0), axis=-1)
        stance = (y[:-1] < 0.025) & (y[1:] < 0.025)
        if stance.any():
            assert v[stance].max() < 0.006, f"{name}: joint {j} slides {v[stance].max():.4f} m/frame"
    # contacts: labelled, and a planted foot is labelled in contact
    assert d.contacts.shape == (len(J), 4) and set(np.unique(d.contacts)) <= {0.0, 1.0}
    assert d.contacts.mean() > 0.3
    # joint limits: knees only bend forward and not past 2.4 rad; elbows in range; no joint over 2.9 rad
    from model.rotations import np_matrix_to_axis_angle
    aa = np_matrix_to_axis_angle(R[:, 1:]).reshape(len(J), 23, 3)
    assert np.linalg.norm(aa, axis=-1).max() < 2.95
    knee = np_matrix_to_axis_angle(R[:, [4, 5]])
    assert knee[..., 0].min() > 0.0 and knee[..., 0].max() < 2.45
    # smooth: no joint moves more than 25 cm between frames (30 fps)
    assert np.linalg.norm(np.diff(J, axis=0), axis=-1).max() < 0.25  # 7.5 m/s, a fast punch


def test_motion_encoding_round_trip():
    d = dance_of("side_step", n=150)
    m = d.motion()
    assert m.shape == (150, 151) and m.dtype == np.float32
    J = joints_from_motion(m).numpy()
    assert np.abs(J - d.joints).max() < 1e-3
    assert np.array_equal(decode(m).contacts.numpy(), d.contacts)


def test_blocks_blend_smoothly_and_follow_tempo_changes():
    # tempo jumps from 100 to 140 BPM at beat 8
    beats = np.concatenate([np.arange(0, 8) * 0.6, 8 * 0.6 + np.arange(0, 24) * 60 / 140])
    blocks = [M.Block(0, 4, M.layer_spec("side_step"), M.layer_spec("clap"), M.layer_spec("idle_torso")),
              M.Block(4, 4, M.layer_spec("kick"), M.layer_spec("raise"), M.layer_spec("roll")),
              M.Block(8, 8, M.layer_spec("turn"), M.layer_spec("punch"), M.layer_spec("sway"))]
    d = M.synthesize(M.Program(blocks), beats, 240)
    step = np.linalg.norm(np.diff(d.joints, axis=0), axis=-1)
    assert step[:, :20].max() < 0.25 and step.max() < 0.32  # hands may be faster: a punch while turning
    # claps in the first block land on the beats: hands closest at the beat frames
    wd = np.linalg.norm(d.joints[:, 20] - d.joints[:, 21], axis=-1)
    for b in beats[1:3]:
        f = int(round(b * 30))
        assert wd[f] < 0.1 and wd[f] < wd[f - 8]


def test_music_decides_the_program():
    rng = np.random.default_rng(0)
    beats = np.arange(0, 30, 0.5)
    calm = [{"start": 0.0, "end": 30.0, "kind": "breakdown", "energy": 0.15, "has_drums": False}]
    loud = [{"start": 0.0, "end": 30.0, "kind": "chorus", "energy": 0.95, "has_drums": True}]
    e_calm = np.mean([M.MOVES[b.legs["move"]].energy for _ in range(5)
                      for b in M.make_program(rng, beats, 0, 32, "house", calm).blocks])
    e_loud = np.mean([M.MOVES[b.legs["move"]].energy for _ in range(5)
                      for b in M.make_program(rng, beats, 0, 32, "house", loud).blocks])
    assert e_calm < e_loud


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        M.synthesize(M.Program([]), BEATS, 30)
    with pytest.raises(ValueError):
        M.beat_coordinate(np.zeros(3), np.array([1.0]))
    with pytest.raises(KeyError):
        M.layer_spec("moonwalk")
