"""Edit success / preservation on edits whose answer is known."""
import numpy as np
import pytest

from training.metrics import attribute_spread, score_attributes, score_edit, summarize


def _measure(joints, beat_times, fps=30):
    """A stand-in attribute measure: arm span and wrist height from the joints."""
    return {
        "arm_span": float(np.abs(joints[:, 20, 0] - joints[:, 21, 0]).mean()),
        "wrist_height": float(joints[:, 20:22, 1].mean()),
        "pelvis_height": float(joints[:, 0, 1].mean()),
    }


def _dance(span: float, wrist: float, pelvis: float = 1.0) -> np.ndarray:
    j = np.zeros((30, 24, 3))
    j[:, 20, 0], j[:, 21, 0] = span / 2, -span / 2
    j[:, 20:22, 1] = wrist
    j[:, 0, 1] = pelvis
    return j


SPREAD = {"arm_span": 0.2, "wrist_height": 0.1, "pelvis_height": 0.05}


def test_wider_arms_succeeds_and_keeps_the_rest():
    out = score_edit(_dance(1.0, 1.2), _dance(1.3, 1.2), np.array([0.5]), {"arm_span": +0.3}, SPREAD, measure=_measure)
    assert out.success and out.preserved and out.preservation == 1.0
    assert out.moved["arm_span"] == pytest.approx(1.5)


def test_wrong_direction_or_too_small_fails():
    wrong = score_edit(_dance(1.0, 1.2), _dance(0.8, 1.2), np.array([]), {"arm_span": +0.3}, SPREAD, measure=_measure)
    tiny = score_edit(_dance(1.0, 1.2), _dance(1.02, 1.2), np.array([]), {"arm_span": +0.3}, SPREAD, measure=_measure)
    assert not wrong.success and not tiny.success  # 0.02 / 0.2 = 0.1 spread < 0.25 margin


def test_collateral_change_breaks_preservation():
    out = score_edit(_dance(1.0, 1.2), _dance(1.3, 1.5, pelvis=0.98), np.array([]), {"arm_span": 1}, SPREAD, measure=_measure)
    assert out.success and not out.preserved
    assert out.preservation == pytest.approx(0.5)  # wrist moved 3 spreads; pelvis 0.4 spread (kept)


def test_lower_is_scored_by_sign_and_summary_rates():
    a = score_attributes({"x": 1.0, "y": 0.0}, {"x": 0.5, "y": 0.0}, {"x": -1.0}, {"x": 1.0, "y": 1.0})
    b = score_attributes({"x": 1.0, "y": 0.0}, {"x": 1.5, "y": 2.0}, {"x": -1.0}, {"x": 1.0, "y": 1.0})
    assert a.success and not b.success
    s = summarize([a, b])
    assert s["edit_success"] == 0.5 and s["preservation"] == 0.5 and s["all_kept"] == 0.5
    with pytest.raises(KeyError, match="not measured"):
        score_attributes({"x": 1.0}, {"x": 1.0}, {"z": 1.0}, {})


def test_attribute_spread_is_the_standard_deviation():
    s = attribute_spread([{"a": 0.0}, {"a": 2.0}])
    assert s == {"a": 1.0}


def test_preservation_only_counts_the_attributes_the_edit_promises_to_keep():
    before, after = {"x": 0.0, "y": 0.0, "z": 0.0}, {"x": 1.0, "y": 5.0, "z": 0.0}
    spread = {"x": 1.0, "y": 1.0, "z": 1.0}
    assert score_attributes(before, after, {"x": 1}, spread).preservation == 0.5
    kept = score_attributes(before, after, {"x": 1}, spread, keep=["z"])
    assert kept.preservation == 1.0 and set(kept.drift) == {"z"}
