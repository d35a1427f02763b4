"""Edit success and preservation, scored on kinematic attributes measured from joint positions.

An edit records which attributes it should change and which way (`expected`: attribute -> signed
change; only the sign and non-zero-ness are used here). Given the dance before and after the edit:

* success: every requested attribute moved the requested way by at least `margin` x that attribute's
  spread in the corpus (its standard deviation over ground-truth dances);
* preservation: the fraction of the attributes it promises to keep (`keep`; by default all the
  others) whose change stays within `tolerance` x spread (`preserved` is True when all of them do).

Attributes are measured by `training.corpus.attributes.measure(joints, beat_times, fps)` by default
(any function with that signature can be passed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

DEFAULT_MARGIN = 0.25  # x spread: the least movement that counts as "moved"
DEFAULT_TOLERANCE = 0.5  # x spread: the most drift that still counts as "kept"

MeasureFn = Callable[..., Mapping[str, float]]


@dataclass
class EditOutcome:
    success: bool                 # all requested attributes moved the right way by the margin
    requested: int                # how many attributes the edit asked to change (0: success not scored)
    preservation: float           # fraction of other attributes kept within tolerance (1.0 if none)
    preserved: bool               # all other attributes kept
    moved: dict[str, float] = field(default_factory=dict)   # requested attr -> signed change / spread
    drift: dict[str, float] = field(default_factory=dict)   # other attr -> |change| / spread


def _default_measure() -> MeasureFn:
    from training.corpus.attributes import measure  # noqa: PLC0415  (owned by the corpus package)

    return measure


def score_attributes(
    before: Mapping[str, float],
    after: Mapping[str, float],
    expected: Mapping[str, float],
    spread: Mapping[str, float],
    margin: float = DEFAULT_MARGIN,
    tolerance: float = DEFAULT_TOLERANCE,
    keep: Sequence[str] | None = None,
) -> EditOutcome:
    """Score one edit from attribute values measured before and after it.

    keep: the attributes the edit promises to leave alone (the corpus records them); None means
    every attribute it does not request.
    """
    unknown = [k for k in expected if k not in before or k not in after]
    if unknown:
        raise KeyError(f"expected changes name attributes that were not measured: {unknown}")
    requested = {k: float(np.sign(v)) for k, v in expected.items() if v != 0}
    moved: dict[str, float] = {}
    drift: dict[str, float] = {}
    for name in before:
        if name not in after:
            continue
        s = max(float(spread.get(name, 0.0)), 1e-6)
        delta = (float(after[name]) - float(before[name])) / s
        if name in requested:
            moved[name] = delta * requested[name]
        elif keep is None or name in keep:
            drift[name] = abs(delta)
    success = bool(requested) and all(m >= margin for m in moved.values())
    kept = [d <= tolerance for d in drift.values()]
    return EditOutcome(
        success=success,
        requested=len(requested),
        preservation=float(np.mean(kept)) if kept else 1.0,
        preserved=all(kept),
        moved=moved,
        drift=drift,
    )


def score_edit(
    before_joints: np.ndarray,
    after_joints: np.ndarray,
    beat_times: np.ndarray,
    expected: Mapping[str, float],
    spread: Mapping[str, float],
    fps: float = 30.0,
    margin: float = DEFAULT_MARGIN,
    tolerance: float = DEFAULT_TOLERANCE,
    measure: MeasureFn | None = None,
    keep: Sequence[str] | None = None,
) -> EditOutcome:
    """Score one edit from joint positions (T, 24, 3) before and after it."""
    measure = measure or _default_measure()
    before = measure(np.asarray(before_joints), np.asarray(beat_times), fps=fps)
    after = measure(np.asarray(after_joints), np.asarray(beat_times), fps=fps)
    return score_attributes(before, after, expected, spread, margin, tolerance, keep)


def attribute_spread(attribute_rows: list[Mapping[str, float]]) -> dict[str, float]:
    """Per-attribute standard deviation over measured dances (the unit for margin and tolerance)."""
    if not attribute_rows:
        raise ValueError("attribute_spread needs at least one measured dance")
    names = sorted(set().union(*[r.keys() for r in attribute_rows]))
    return {n: float(np.std([r[n] for r in attribute_rows if n in r])) for n in names}


def summarize(outcomes: list[EditOutcome]) -> dict[str, float]:
    """Success rate (over edits that request a change), mean preservation, and the rate of edits
    that kept everything else."""
    if not outcomes:
        return {"edit_success": float("nan"), "preservation": float("nan"), "all_kept": float("nan")}
    scored = [o.success for o in outcomes if o.requested]
    return {
        "edit_success": float(np.mean(scored)) if scored else float("nan"),
        "preservation": float(np.mean([o.preservation for o in outcomes])),
        "all_kept": float(np.mean([o.preserved for o in outcomes])),
    }
