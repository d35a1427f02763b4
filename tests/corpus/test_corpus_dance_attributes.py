"""Each kinematic attribute is monotone in the move attribute that drives it."""
import numpy as np
import pytest

from training.corpus import attributes as A
from training.corpus import moves as M

BEATS = np.arange(0.0, 30.0, 60 / 90)  # 90 BPM, so double time stays within human limb speeds

# attribute -> (layer, move, move attribute, values, extra attrs, other layers' speed follows)
CASES = {
    "energy": ("legs", "jog", "amplitude", [0.4, 0.9, 1.5], {}),
    "arm_energy": ("arms", "swing", "amplitude", [0.4, 0.9, 1.5], {}),
    "leg_energy": ("legs", "jog", "speed", [0.5, 1.0, 2.0], {}),
    "tempo": ("all", None, "speed", [0.5, 1.0, 2.0], {}),
    "arm_span": ("arms", "swing", "spread", [-0.4, 0.0, 0.4], {}),
    "wrist_height_l": ("arms", "raise", "height", [-0.4, 0.0, 0.4], {"side": 1.0}),
    "wrist_height_r": ("arms", "raise", "height", [-0.4, 0.0, 0.4], {"side": -1.0}),
    "hand_forward": ("arms", "punch", "reach", [0.5, 0.75, 1.0], {}),
    "clap_rate": ("arms", "clap", "speed", [0.5, 1.0, 2.0], {}),
    "knee_lift": ("legs", "knee_lift", "height", [0.15, 0.3, 0.45], {}),
    "kick_height": ("legs", "kick", "height", [0.15, 0.35, 0.55], {}),
    "kick_rate": ("legs", "kick", "speed", [0.5, 1.0, 2.0], {}),
    "step_width": ("legs", "bounce", "width", [0.15, 0.3, 0.45], {}),
    "feet_cross": ("legs", "cross_step", "amplitude", [0.4, 0.9, 1.5], {}),
    "step_depth": ("legs", "rock_step", "reach", [0.15, 0.3, 0.45], {}),
    "lean_forward": ("torso", "lean", "lean", [-0.2, 0.0, 0.2, 0.4], {}),
    "lean_side": ("torso", "idle_torso", "side_lean", [-0.2, 0.0, 0.2], {}),
    "torso_motion": ("torso", "roll", "depth", [0.1, 0.2, 0.3], {}),
    "shoulder_shake": ("torso", "shimmy", "shake", [0.08, 0.16, 0.26], {}),
    "hip_sway": ("torso", "sway", "hips", [0.0, 0.04, 0.09], {}),
    "turn": ("legs", "turn", "amount", [0.5, 0.75, 1.0], {}),
    "jump_height": ("legs", "jump", "height", [0.05, 0.12, 0.22], {}),
    "bounce": ("legs", "bounce", "bounce", [0.0, 0.035, 0.07], {}),
    "crouch": ("legs", "bounce", "bend", [0.0, 0.08, 0.16], {}),
    "travel": ("legs", "side_step", "amplitude", [0.4, 0.9, 1.5], {}),
}


def measure_with(layer, move, attr, value, extra):
    layers = {"legs": M.layer_spec("bounce", amplitude=0.5), "arms": M.layer_spec("idle_arms"),
              "torso": M.layer_spec("idle_torso")}
    if layer == "all":
        layers = {"legs": M.layer_spec("bounce", speed=value), "arms": M.layer_spec("swing", speed=value),
                  "torso": M.layer_spec("idle_torso", speed=value)}
    else:
        layers[layer] = M.layer_spec(move, **{attr: value, **extra})
    d = M.synthesize(M.Program([M.Block(0, 32, **layers)]), BEATS, 180)
    return A.measure(d.joints, BEATS)


def test_every_attribute_has_a_case_and_a_tolerance():
    assert set(CASES) == set(A.ATTRIBUTES) == set(A.TOLERANCE)


@pytest.mark.parametrize("name", list(CASES))
def test_attribute_is_monotone(name):
    layer, move, attr, values, extra = CASES[name]
    got = [measure_with(layer, move, attr, v, extra)[name] for v in values]
    assert all(np.isfinite(got))
    steps = np.diff(got)
    assert (steps > 0).all(), f"{name} over {attr}={values}: {np.round(got, 4)}"


def test_measure_rejects_bad_shapes_and_is_translation_invariant():
    with pytest.raises(ValueError):
        A.measure(np.zeros((10, 22, 3)), BEATS)
    d = M.synthesize(M.Program([M.Block(0, 16, M.layer_spec("side_step"), M.layer_spec("clap"),
                                        M.layer_spec("sway"))]), BEATS, 150)
    a = A.measure(d.joints, BEATS)
    moved = d.joints + np.array([3.0, 0.0, -2.0], dtype=np.float32)
    b = A.measure(moved, BEATS)
    for k in a:
        assert abs(a[k] - b[k]) < 1e-3, k
