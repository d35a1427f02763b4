"""Edit types: text instructions that transform a dance *program*, with objective labels.

An edit never touches motion directly: it rewrites the program (moves, attributes, overlays), and the
edited dance is re-synthesised on the same beats. Each type records

  * `changes`: measured attributes (training.corpus.attributes) that must move, +1 up / -1 down;
  * `keeps`:   measured attributes that must stay within their tolerance;
  * a level of detail (coarse / medium / fine) and a category (modify, add, delete, temporal,
    spatial, substitute);
  * >= 10 phrasings; the last two of every type are held out for evaluation (`HELDOUT_PHRASINGS`).

    et = EDIT_TYPES["arms_wider"]
    if et.applies(program):
        new_program, info = et.apply(program, rng)    # info: slots, parameter changes
        text = et.phrase(rng, info["slots"])

Held-out move/edit combinations (`is_heldout_combo`) pair an edit type with a move it acts on; chains
that contain one go to their own evaluation split.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from training.corpus.moves import MOVES, Overlay, Program, clip_layer, layer_spec, random_layer

LEVELS = ("coarse", "medium", "fine")
CATEGORIES = ("modify", "add", "delete", "temporal", "spatial", "substitute")
HELDOUT_PHRASINGS = 2  # the last N phrasings of every type are held out

LEG_ATTRS = ("step_width", "knee_lift", "kick_height", "kick_rate", "feet_cross", "jump_height", "turn")
ARM_ATTRS = ("arm_span", "wrist_height_l", "wrist_height_r", "clap_rate", "hand_forward")
LEAN_ATTRS = ("lean_forward",)


@dataclass(frozen=True)
class EditType:
    name: str
    level: str
    category: str
    layer: str                                   # "legs" | "arms" | "torso" | "all"
    changes: dict[str, int]
    keeps: tuple[str, ...]
    phrasings: tuple[str, ...]
    fn: Callable[[Program, np.random.Generator], tuple[Program, dict]]
    pre: Callable[[Program], bool] = lambda p: True
    needs: dict[str, str] = field(default_factory=dict)  # layer -> move an example program must have

    def applies(self, program: Program) -> bool:
        return bool(self.pre(program))

    def apply(self, program: Program, rng: np.random.Generator) -> tuple[Program, dict]:
        """A new program (the input is not modified) and info {slots, params}."""
        if not self.applies(program):
            raise ValueError(f"edit {self.name!r} does not apply to this program")
        new = program.copy()
        slots = self.fn(new, rng) or {}
        for blk in new.blocks:
            for lay in ("legs", "arms", "torso"):
                clip_layer(blk.layer(lay))
        return new, {"slots": slots}

    def phrase(self, rng: np.random.Generator, slots: dict | None = None, heldout: bool | None = None) -> tuple[str, int]:
        """(text, phrasing index). heldout=True picks from the held-out phrasings, False from the
        training ones, None from all."""
        n = len(self.phrasings)
        pool = range(n) if heldout is None else (range(n - HELDOUT_PHRASINGS, n) if heldout else range(n - HELDOUT_PHRASINGS))
        i = int(rng.choice(list(pool)))
        return self.phrasings[i].format(**(slots or {})), i

    def acted_moves(self, program: Program) -> set[str]:
        """Moves of the layer this edit acts on (for held-out combinations)."""
        lays = ("legs", "arms", "torso") if self.layer == "all" else (self.layer,)
        return {b.layer(lay)["move"] for b in program.blocks for lay in lays}


EDIT_TYPES: dict[str, EditType] = {}


def _edit(name, level, category, layer, changes, keeps, phrasings, pre=None, needs=None):
    def deco(fn):
        if len(phrasings) < 10:
            raise ValueError(f"edit {name} has {len(phrasings)} phrasings; need at least 10")
        EDIT_TYPES[name] = EditType(name, level, category, layer, dict(changes), tuple(keeps), tuple(phrasings), fn,
                                    pre or (lambda p: True), dict(needs or {}))
        return fn
    return deco


# ---- program helpers ------------------------------------------------------------------------------

def _layers(p: Program, layer: str, moves: tuple[str, ...] | None = None):
    for b in p.blocks:
        ent = b.layer(layer)
        if moves is None or ent["move"] in moves:
            yield ent


def _has(p: Program, layer: str, moves: tuple[str, ...]) -> bool:
    return any(True for _ in _layers(p, layer, moves))


def _all(p: Program, layer: str, attr: str, pred) -> bool:
    """pred holds for the attribute (or, with attr="move", the move name) of every block's layer
    whose move has that attribute (blocks without it do not count)."""
    return all(pred(e.get(attr, MOVES[e["move"]].defaults().get(attr))) for e in _layers(p, layer)
               if attr == "move" or attr in MOVES[e["move"]].attrs)


def _mean(p: Program, layer: str, attr: str) -> float:
    """Mean of an attribute over the blocks whose move has it (0 if none)."""
    v = [e[attr] for e in _layers(p, layer) if attr in e]
    return float(np.mean(v)) if v else 0.0


def _mul(p: Program, layer: str, attr: str, f: float, moves=None) -> None:
    for e in _layers(p, layer, moves):
        if attr in e:
            e[attr] *= f


def _add(p: Program, layer: str, attr: str, d: float, moves=None) -> None:
    for e in _layers(p, layer, moves):
        if attr in e:
            e[attr] += d


def _set(p: Program, layer: str, attr: str, v: float, moves=None) -> None:
    for e in _layers(p, layer, moves):
        if attr in e:
            e[attr] = v


def _replace(p: Program, layer: str, new: str, old: tuple[str, ...] | None = None, every: int = 1, **attrs) -> None:
    """Swap the move of matching blocks, keeping the layer's common attributes (amplitude, speed...)."""
    for i, b in enumerate(p.blocks):
        e = b.layer(layer)
        if (old is not None and e["move"] not in old) or i % every:
            continue
        common = {k: v for k, v in e.items() if k != "move" and k in MOVES[new].attrs}
        ent = layer_spec(new, **{**common, **attrs})
        setattr(b, layer, ent)


def _no(moves: tuple[str, ...], layer: str):
    return lambda p: not _has(p, layer, moves)


def _yes(moves: tuple[str, ...], layer: str):
    return lambda p: _has(p, layer, moves)


def _overlay(p: Program, ov: Overlay) -> None:
    for b in p.blocks:
        b.overlays.append(Overlay(ov.kind, ov.beats, dict(ov.params)))


CALM_LEGS = ("bounce", "step_touch", "rock_step", "side_step")
ENERGETIC_LEGS = ("jog", "jump", "kick", "knee_lift")
MOVING_ARMS = ("swing", "wave", "punch", "clap", "raise", "circle", "reach", "point", "arm_roll")
BOTH_ARMS = lambda p: _all(p, "arms", "side", lambda v: abs(v) < 0.5)  # noqa: E731

# ==================================================================================================
# COARSE: whole-dance changes
# ==================================================================================================


@_edit("more_energy", "coarse", "modify", "all", {"energy": +1}, (), [
    "more energy", "give it more energy", "dance with more energy", "put more power into it",
    "more intensity please", "make it more energetic", "go harder", "pump it up",
    "bring more energy to the moves", "dance like you mean it, more energy",
    "crank up the energy", "let's see more power in every move"],
    pre=lambda p: _mean(p, "legs", "amplitude") < 1.2)
def _more_energy(p, rng):
    for lay in ("legs", "arms", "torso"):
        _mul(p, lay, "amplitude", 1.3)
    _add(p, "legs", "bounce", 0.02)
    _replace(p, "arms", "swing", ("idle_arms",), amplitude=1.2)


@_edit("less_energy", "coarse", "modify", "all", {"energy": -1}, (), [
    "less energy", "tone it down", "calm it down a bit", "dance more gently", "less intense please",
    "make it softer", "take it easy", "bring the energy down", "relax the moves", "more laid back",
    "ease off a little", "dial the intensity down"],
    pre=lambda p: _mean(p, "legs", "amplitude") > 0.65)
def _less_energy(p, rng):
    for lay in ("legs", "arms", "torso"):
        _mul(p, lay, "amplitude", 0.65)
    _mul(p, "legs", "bounce", 0.4)


@_edit("double_time", "coarse", "temporal", "all", {"tempo": +1, "energy": +1}, (), [
    "double time", "twice as fast", "dance at double speed", "go double time", "move twice as fast",
    "speed everything up to double time", "faster, double the tempo", "double the speed of the moves",
    "make every move twice as quick", "switch to double time", "dance in double time now",
    "go twice the speed"],
    pre=lambda p: all(_all(p, lay, "speed", lambda v: v <= 1.0) for lay in ("legs", "arms")))
def _double_time(p, rng):
    for lay in ("legs", "arms", "torso"):
        _mul(p, lay, "speed", 2.0)


@_edit("half_time", "coarse", "temporal", "all", {"tempo": -1, "energy": -1}, (), [
    "half time", "half as fast", "slow everything down by half", "go half time", "dance at half speed",
    "move half as fast", "half the tempo of the moves", "switch to half time", "take it to half time",
    "make every move half as quick", "slow it down to half time", "half speed please"],
    pre=lambda p: all(_all(p, lay, "speed", lambda v: v >= 1.0) for lay in ("legs", "arms")))
def _half_time(p, rng):
    for lay in ("legs", "arms", "torso"):
        _mul(p, lay, "speed", 0.5)


@_edit("get_lower", "coarse", "spatial", "legs", {"crouch": +1}, ARM_ATTRS + ("turn",), [
    "get lower", "bend your knees more", "go lower", "dance lower to the ground", "sink down more",
    "lower your body", "stay low", "get down lower", "deeper knees", "crouch a bit more",
    "drop your hips lower", "keep it low"],
    pre=lambda p: _mean(p, "legs", "bend") < 0.09)
def _get_lower(p, rng):
    _add(p, "legs", "bend", 0.08)


@_edit("stand_taller", "coarse", "spatial", "legs", {"crouch": -1}, ARM_ATTRS + ("turn",), [
    "stand taller", "straighten your legs", "stand up straighter", "less knee bend", "dance taller",
    "get up higher", "don't crouch so much", "rise up", "straighter knees", "stay tall",
    "lift yourself up taller", "less crouching"],
    pre=lambda p: _mean(p, "legs", "bend") > 0.04 and not _has(p, "legs", ("lunge", "jump")))
def _stand_taller(p, rng):
    _set(p, "legs", "bend", 0.0)
    _mul(p, "legs", "bounce", 0.5)


@_edit("bigger_moves", "coarse", "spatial", "all", {"energy": +1}, (), [
    "bigger", "make the moves bigger", "bigger movements", "go bigger", "larger moves", "exaggerate the moves",
    "make everything bigger", "more range in the moves", "dance bigger", "use more space with every move",
    "supersize the moves", "bolder, bigger movements"],
    pre=lambda p: all(_mean(p, lay, "amplitude") < 1.15 for lay in ("legs", "arms")))
def _bigger(p, rng):
    for lay in ("legs", "arms", "torso"):
        _mul(p, lay, "amplitude", 1.35)


@_edit("smaller_moves", "coarse", "spatial", "all", {"energy": -1}, (), [
    "smaller", "make the moves smaller", "smaller movements", "go smaller", "tighter moves",
    "keep the moves small", "less range", "dance smaller", "subtler movements", "scale the moves down",
    "make everything more compact", "minimal, small moves"],
    pre=lambda p: all(_mean(p, lay, "amplitude") > 0.65 for lay in ("legs", "arms")))
def _smaller(p, rng):
    for lay in ("legs", "arms", "torso"):
        _mul(p, lay, "amplitude", 0.65)


@_edit("calm_down", "coarse", "substitute", "all", {"energy": -1}, (), [
    "chill", "calm down", "something more chill", "make it mellow", "dance calmly", "relax and groove",
    "just vibe, nothing crazy", "easy groove", "mellow it out", "settle into a calm groove",
    "cool it down", "laid-back grooving only"],
    pre=lambda p: _has(p, "legs", ENERGETIC_LEGS + ("lunge", "behind_step", "cross_step")))
def _calm_down(p, rng):
    _replace(p, "legs", "bounce", None, bend=0.03, bounce=0.02)
    _replace(p, "arms", "idle_arms", None)
    _replace(p, "torso", "sway", None, amplitude=0.7)


@_edit("go_wild", "coarse", "substitute", "all", {"energy": +1}, (), [
    "go wild", "go crazy", "let loose", "full out", "give it everything", "party mode",
    "go all out", "hype it up", "dance like nobody is watching", "unleash it",
    "maximum hype", "wild and loose now"],
    pre=lambda p: not _has(p, "legs", ("jump", "jog")))
def _go_wild(p, rng):
    _replace(p, "legs", str(rng.choice(["jump", "jog"])), None, amplitude=1.2)
    _replace(p, "arms", "raise", None, amplitude=1.3)

# ==================================================================================================
# MEDIUM: body parts, space, time
# ==================================================================================================


@_edit("arms_wider", "medium", "spatial", "arms", {"arm_span": +1}, LEG_ATTRS + LEAN_ATTRS, [
    "swing arms wider", "arms wider", "open your arms more", "wider arms", "spread your arms out",
    "take the arms out wider", "more space between your arms", "open up the arms", "arms further apart",
    "reach out wider with your arms", "stretch the arms out to the sides", "let the arms go wide"],
    pre=lambda p: _all(p, "arms", "spread", lambda v: v < 0.25) and _all(p, "arms", "amplitude", lambda v: v < 1.3)
    and not _has(p, "arms", ("circle",)))
def _arms_wider(p, rng):
    _add(p, "arms", "spread", 0.4)
    _mul(p, "arms", "amplitude", 1.25)
    _add(p, "arms", "height", 0.15, ("idle_arms",))


@_edit("arms_closer", "medium", "spatial", "arms", {"arm_span": -1}, LEG_ATTRS + LEAN_ATTRS, [
    "arms closer", "keep your arms closer to your body", "narrower arms", "bring the arms in",
    "tuck your arms in", "arms tighter", "less spread in the arms", "hold the arms close",
    "keep the arms in front of you", "pull the arms in", "arms in, not so wide", "close the arms up"],
    pre=lambda p: _all(p, "arms", "spread", lambda v: v > -0.25) and not _has(p, "arms", ("clap", "arm_roll")))
def _arms_closer(p, rng):
    _add(p, "arms", "spread", -0.3)
    _mul(p, "arms", "amplitude", 0.8)


@_edit("raise_arms", "medium", "spatial", "arms", {"wrist_height_l": +1, "wrist_height_r": +1}, LEG_ATTRS, [
    "arms higher", "raise your arms", "hands up higher", "lift the arms up", "higher arms",
    "get your hands up", "bring the arms up", "keep the arms high", "reach higher with your arms",
    "arms up more", "take the arm moves up higher", "lift your hands"],
    pre=lambda p: _all(p, "arms", "height", lambda v: v < 0.3) and not _has(p, "arms", ("point",)))
def _raise_arms(p, rng):
    _set(p, "arms", "side", 0.0)  # both arms
    _add(p, "arms", "height", 0.35)


@_edit("lower_arms", "medium", "spatial", "arms", {"wrist_height_l": -1, "wrist_height_r": -1}, LEG_ATTRS, [
    "arms lower", "lower your arms", "hands down lower", "keep the arms down", "lower arms",
    "bring the arms down", "drop your arms a bit", "arms not so high", "keep your hands low",
    "take the arm moves lower", "less high with the arms", "let the arms sink"],
    pre=lambda p: _all(p, "arms", "height", lambda v: v > -0.3) and not _has(p, "arms", ("point",)))
def _lower_arms(p, rng):
    _set(p, "arms", "side", 0.0)  # both arms
    _add(p, "arms", "height", -0.35)


def _hold_arm(arm: str, elev: float):
    def fn(p, rng):
        _overlay(p, Overlay("arm_raise", (0, 1, 2, 3), {"arm": arm, "elev": elev, "azim": 0.3, "hold": True}))
    return fn


_edit("raise_left_arm", "medium", "add", "arms", {"wrist_height_l": +1}, ("wrist_height_r",) + LEG_ATTRS, [
    "raise your left arm", "left arm up", "put your left hand up", "lift the left arm", "left hand in the air",
    "keep the left arm up high", "hold your left arm up", "get that left arm up", "left arm high",
    "raise the left hand", "stick your left arm up", "up with the left arm"])(_hold_arm("l", 2.6))
_edit("raise_right_arm", "medium", "add", "arms", {"wrist_height_r": +1}, ("wrist_height_l",) + LEG_ATTRS, [
    "raise your right arm", "right arm up", "put your right hand up", "lift the right arm", "right hand in the air",
    "keep the right arm up high", "hold your right arm up", "get that right arm up", "right arm high",
    "raise the right hand", "stick your right arm up", "up with the right arm"])(_hold_arm("r", 2.6))


@_edit("arms_faster", "medium", "temporal", "arms", {"arm_energy": +1}, LEG_ATTRS + ("leg_energy",), [
    "faster arms", "move your arms faster", "speed up the arms", "arms double time", "quicker arms",
    "make the arm moves faster", "arms twice as fast", "hurry the arms up", "faster with the hands",
    "double the speed of your arms", "arms on double time", "pick up the pace with the arms"],
    pre=lambda p: _all(p, "arms", "speed", lambda v: v <= 1.0) and _has(p, "arms", MOVING_ARMS))
def _arms_faster(p, rng):
    _mul(p, "arms", "speed", 2.0)


@_edit("legs_slower", "medium", "temporal", "legs", {"leg_energy": -1}, ARM_ATTRS, [
    "slower feet", "slow down your feet", "legs half time", "slower steps", "step half as fast",
    "take your time with the feet", "relax the footwork", "slow the legs down", "half-time footwork",
    "step on every other beat", "feet slower please", "ease off the footwork speed"],
    pre=lambda p: _all(p, "legs", "speed", lambda v: v >= 1.0) and not _has(p, "legs", ("twist",)))
def _legs_slower(p, rng):
    _mul(p, "legs", "speed", 0.5)


@_edit("bigger_arms", "medium", "spatial", "arms", {"arm_energy": +1}, LEG_ATTRS, [
    "bigger arm moves", "use your arms more", "more arms", "bigger with the arms", "exaggerate the arms",
    "make the arms bigger", "more arm movement", "throw your arms around more", "arms more expressive",
    "larger arm gestures", "go big with the arms", "really use the arms"],
    pre=lambda p: _all(p, "arms", "amplitude", lambda v: v < 1.1) and _has(p, "arms", MOVING_ARMS))
def _bigger_arms(p, rng):
    _mul(p, "arms", "amplitude", 1.45)


@_edit("still_arms", "medium", "delete", "arms", {"arm_energy": -1}, LEG_ATTRS, [
    "stop moving your arms", "keep the arms still", "no arms", "arms relaxed", "let the arms hang",
    "quiet arms", "forget the arms, just feet", "drop the arm moves", "arms down and still",
    "leave the arms out of it", "rest your arms", "calm arms, only legs"],
    pre=lambda p: _has(p, "arms", MOVING_ARMS))
def _still_arms(p, rng):
    _replace(p, "arms", "idle_arms", None, amplitude=0.4)


@_edit("lean_forward", "medium", "spatial", "torso", {"lean_forward": +1}, LEG_ATTRS, [
    "lean forward", "lean in", "tilt forward more", "bend forward a bit", "more forward lean",
    "lean into it", "chest over your toes", "hunch forward", "dance leaning forward", "tip forward",
    "get your weight forward", "lean the upper body forward"],
    pre=lambda p: _all(p, "torso", "lean", lambda v: v < 0.2))
def _lean_forward(p, rng):
    _add(p, "torso", "lean", 0.25)


@_edit("lean_back", "medium", "spatial", "torso", {"lean_forward": -1}, LEG_ATTRS, [
    "lean back", "lean backwards", "tilt back", "sit back", "lay back a little", "lean away",
    "chest up and back", "more backward lean", "pull the upper body back", "dance leaning back",
    "weight back", "lean back a bit"],
    pre=lambda p: _all(p, "torso", "lean", lambda v: v > -0.05))
def _lean_back(p, rng):
    _add(p, "torso", "lean", -0.2)


@_edit("lean_left", "medium", "spatial", "torso", {"lean_side": +1}, LEG_ATTRS, [
    "lean left", "lean to the left", "tilt to your left", "lean your body left", "bend to the left side",
    "lean over to the left", "tip left", "upper body to the left", "put your weight to the left",
    "side lean left", "lean toward your left", "drop the left shoulder"],
    pre=lambda p: _all(p, "torso", "side_lean", lambda v: v < 0.1))
def _lean_left(p, rng):
    _add(p, "torso", "side_lean", 0.2)


@_edit("lean_right", "medium", "spatial", "torso", {"lean_side": -1}, LEG_ATTRS, [
    "lean right", "lean to the right", "tilt to your right", "lean your body right", "bend to the right side",
    "lean over to the right", "tip right", "upper body to the right", "put your weight to the right",
    "side lean right", "lean toward your right", "drop the right shoulder"],
    pre=lambda p: _all(p, "torso", "side_lean", lambda v: v > -0.1))
def _lean_right(p, rng):
    _add(p, "torso", "side_lean", -0.2)


@_edit("wider_stance", "medium", "spatial", "legs", {"step_width": +1}, ARM_ATTRS + LEAN_ATTRS, [
    "wider", "wider stance", "feet wider apart", "spread your feet", "step wider", "open the legs more",
    "take wider steps", "more distance between your feet", "widen your stance", "legs further apart",
    "plant your feet wider", "go wide with the feet"],
    pre=lambda p: _all(p, "legs", "width", lambda v: v < 0.38))
def _wider_stance(p, rng):
    _add(p, "legs", "width", 0.15)
    _mul(p, "legs", "amplitude", 1.15)


@_edit("narrower_stance", "medium", "spatial", "legs", {"step_width": -1}, ARM_ATTRS + LEAN_ATTRS, [
    "narrower", "narrower stance", "feet closer together", "keep your feet together", "smaller steps",
    "tighter footwork", "bring the feet in", "less space between the feet", "narrow your stance",
    "legs closer", "step narrower", "keep the feet close"],
    pre=lambda p: _all(p, "legs", "width", lambda v: v > 0.2) and _all(p, "legs", "amplitude", lambda v: v > 0.5))
def _narrower_stance(p, rng):
    _add(p, "legs", "width", -0.08)
    _mul(p, "legs", "amplitude", 0.7)


@_edit("more_bounce", "medium", "modify", "legs", {"bounce": +1}, ARM_ATTRS, [
    "more bounce", "bounce more", "add some bounce", "bouncier", "bounce on the beat",
    "put a bounce in your knees", "more spring in the knees", "get bouncy", "bounce harder",
    "let the knees bounce", "more up and down", "groove with more bounce"],
    pre=lambda p: _all(p, "legs", "bounce", lambda v: v < 0.035) and not _has(p, "legs", ("jump", "lunge")))
def _more_bounce(p, rng):
    _add(p, "legs", "bounce", 0.035)


@_edit("less_bounce", "medium", "delete", "legs", {"bounce": -1}, ARM_ATTRS, [
    "stop bouncing", "less bounce", "no bounce", "smooth it out, no bouncing", "keep the level steady",
    "don't bounce so much", "flatter, less up and down", "cut the bounce", "steady height",
    "no more bouncing", "stay level", "glide instead of bouncing"],
    pre=lambda p: _all(p, "legs", "bounce", lambda v: v > 0.02) and not _has(p, "legs", ("jump", "lunge")))
def _less_bounce(p, rng):
    _set(p, "legs", "bounce", 0.0)


@_edit("knees_higher", "medium", "spatial", "legs", {"knee_lift": +1}, ARM_ATTRS, [
    "knees higher", "lift your knees higher", "higher knees", "bring the knees up more", "knees up",
    "get those knees up", "more knee lift", "raise the knees higher", "pull the knees up high",
    "knee lifts higher", "high knees", "drive the knees up"],
    pre=lambda p: _has(p, "legs", ("knee_lift",)) and _all(p, "legs", "height", lambda v: v < 0.38), needs={"legs": "knee_lift"})
def _knees_higher(p, rng):
    _add(p, "legs", "height", 0.14, ("knee_lift",))


@_edit("kick_higher", "medium", "spatial", "legs", {"kick_height": +1}, ARM_ATTRS, [
    "kick higher", "higher kicks", "bigger kicks", "kick up higher", "lift the kicks",
    "get those kicks up", "kick it higher", "more height on the kicks", "stronger, higher kicks",
    "raise your kicks", "kick way up", "higher with the kicks"],
    pre=lambda p: _has(p, "legs", ("kick",)) and _all(p, "legs", "height", lambda v: v < 0.45), needs={"legs": "kick"})
def _kick_higher(p, rng):
    _add(p, "legs", "height", 0.15, ("kick",))


@_edit("kick_lower", "medium", "spatial", "legs", {"kick_height": -1}, ARM_ATTRS, [
    "lower kicks", "kick lower", "smaller kicks", "don't kick so high", "keep the kicks low",
    "softer kicks", "tone down the kicks", "little kicks", "kick low", "less height on the kicks",
    "bring the kicks down", "low, small kicks"],
    pre=lambda p: _has(p, "legs", ("kick",)) and _all(p, "legs", "height", lambda v: v > 0.26), needs={"legs": "kick"})
def _kick_lower(p, rng):
    _add(p, "legs", "height", -0.12, ("kick",))


@_edit("jump_higher", "medium", "spatial", "legs", {"jump_height": +1}, ARM_ATTRS, [
    "jump higher", "higher jumps", "bigger jumps", "more air", "get more height on the jumps",
    "jump up higher", "spring higher", "higher off the ground", "explode up higher", "more hang time",
    "leap higher", "push off harder when you jump"],
    pre=lambda p: _has(p, "legs", ("jump",)) and _all(p, "legs", "height", lambda v: v < 0.17), needs={"legs": "jump"})
def _jump_higher(p, rng):
    _add(p, "legs", "height", 0.07, ("jump",))


@_edit("add_sway", "medium", "add", "torso", {"hip_sway": +1}, ("step_width", "knee_lift", "kick_rate"), [
    "add some sway", "sway side to side", "sway your hips", "sway with the music", "rock side to side",
    "let your body sway", "more sway", "swing the hips", "move your hips side to side",
    "put some sway in it", "loosen up and sway", "hip sway please"],
    pre=_no(("sway",), "torso"))
def _add_sway(p, rng):
    _replace(p, "torso", "sway", None, amplitude=1.2, hips=0.06)


@_edit("add_body_roll", "medium", "add", "torso", {"torso_motion": +1}, ("step_width", "knee_lift", "kick_rate"), [
    "add a body roll", "body roll", "roll your body", "do body rolls", "roll the torso",
    "wave through your body", "add some body waves", "chest roll", "roll it through the spine",
    "throw in body rolls", "body wave", "ripple the torso"],
    pre=_no(("roll",), "torso"))
def _add_body_roll(p, rng):
    _replace(p, "torso", "roll", None, amplitude=1.2)


@_edit("add_shimmy", "medium", "add", "torso", {"shoulder_shake": +1}, ("step_width", "knee_lift", "kick_rate"), [
    "add a shimmy", "shimmy", "shake your shoulders", "shoulder shimmy", "shimmy the shoulders",
    "do a shimmy", "shake it with the shoulders", "add shoulder shakes", "little shoulder shake",
    "shimmy while you dance", "jiggle the shoulders", "quick shoulder shakes"],
    pre=_no(("shimmy",), "torso"))
def _add_shimmy(p, rng):
    _replace(p, "torso", "shimmy", None, amplitude=1.2)


@_edit("still_torso", "medium", "delete", "torso", {"torso_motion": -1}, LEG_ATTRS, [
    "keep your upper body still", "stop swaying", "no body rolls", "still torso", "hold the chest still",
    "steady upper body", "no torso movement", "stop rolling the body", "keep your back straight and still",
    "quiet torso", "freeze the upper body", "no more swaying or rolling"],
    pre=_yes(("sway", "roll"), "torso"), needs={"torso": "roll"})
def _still_torso(p, rng):
    _replace(p, "torso", "idle_torso", None)

# ---- additions and deletions of moves ----


@_edit("add_claps", "medium", "add", "arms", {"clap_rate": +1}, LEG_ATTRS, [
    "add a clap on every beat", "clap on the beat", "clap along", "add claps", "clap your hands",
    "start clapping", "clap every beat", "put claps in", "clap with the music", "hands clapping on each beat",
    "clap to the beat", "give me claps on every beat"],
    pre=lambda p: not _has(p, "arms", ("clap",)) and _all(p, "arms", "speed", lambda v: True))
def _add_claps(p, rng):
    _replace(p, "arms", "clap", None, speed=1.0, height=0.0, spread=0.0, side=0.0, amplitude=1.0)


@_edit("stop_clapping", "medium", "delete", "arms", {"clap_rate": -1}, LEG_ATTRS, [
    "stop clapping", "no more claps", "no claps", "drop the claps", "quit clapping", "lose the claps",
    "stop the claps", "hands apart, no clapping", "forget the clapping", "cut the claps",
    "enough clapping", "take the claps out"],
    pre=_yes(("clap",), "arms"), needs={"arms": "clap"})
def _stop_clapping(p, rng):
    _replace(p, "arms", "swing", ("clap",), amplitude=0.8)


@_edit("add_kicks", "medium", "add", "legs", {"kick_rate": +1}, ARM_ATTRS, [
    "add kicks", "kick", "throw in some kicks", "start kicking", "kick your legs", "do some kicks",
    "kick on the beat", "put kicks in", "kick forward", "add front kicks", "kicks please", "let's see some kicks"],
    pre=_no(("kick",), "legs"))
def _add_kicks(p, rng):
    _replace(p, "legs", "kick", None, height=0.4, amplitude=1.0)


@_edit("stop_kicks", "medium", "delete", "legs", {"kick_rate": -1}, ARM_ATTRS, [
    "stop the kicks", "no kicks", "no more kicking", "drop the kicks", "stop kicking", "lose the kicks",
    "cut the kicks", "forget the kicks", "no kicking please", "take the kicks out", "enough kicks",
    "kicks out"],
    pre=_yes(("kick",), "legs"), needs={"legs": "kick"})
def _stop_kicks(p, rng):
    _replace(p, "legs", "step_touch", ("kick",))


@_edit("add_jumps", "medium", "add", "legs", {"jump_height": +1}, ARM_ATTRS, [
    "add jumps", "jump", "jump on the beat", "start jumping", "throw in some jumps", "jump around",
    "put jumps in", "hop up and down", "jumps please", "jump to the music", "add some jumping", "get jumping"],
    pre=_no(("jump",), "legs"))
def _add_jumps(p, rng):
    _replace(p, "legs", "jump", None, height=0.14, amplitude=1.0)


@_edit("stop_jumping", "medium", "delete", "legs", {"jump_height": -1}, ARM_ATTRS, [
    "stop jumping", "no jumps", "no more jumping", "drop the jumps", "keep your feet on the ground",
    "stay grounded", "no hopping", "cut the jumps", "forget the jumps", "take the jumps out",
    "enough jumping", "feet on the floor, no jumping"],
    pre=_yes(("jump",), "legs"), needs={"legs": "jump"})
def _stop_jumping(p, rng):
    _replace(p, "legs", "bounce", ("jump",))


@_edit("add_turn", "medium", "add", "legs", {"turn": +1}, ARM_ATTRS, [
    "add a turn", "turn around", "spin", "do a turn", "throw in a spin", "turn on the spot",
    "add a spin", "spin around", "do a full turn", "turn around once", "put a turn in", "give me a spin"],
    pre=_no(("turn",), "legs"))
def _add_turn(p, rng):
    _replace(p, "legs", "turn", None, every=2, amount=1.0)


@_edit("stop_turning", "medium", "delete", "legs", {"turn": -1}, ARM_ATTRS, [
    "stop turning", "no turns", "no spinning", "face the front", "no more spins", "stop spinning",
    "drop the turns", "stay facing forward", "cut the spins", "forget the turns", "keep facing me",
    "enough turning"],
    pre=_yes(("turn",), "legs"), needs={"legs": "turn"})
def _stop_turning(p, rng):
    _replace(p, "legs", "step_touch", ("turn",))


@_edit("add_punches", "medium", "add", "arms", {"hand_forward": +1}, LEG_ATTRS, [
    "add punches", "punch", "throw punches", "punch forward", "punch on the beat", "start punching",
    "box the air", "add some punches", "punch it out", "throw some jabs", "punches please", "jab forward"],
    pre=_no(("punch", "arm_roll", "clap"), "arms"))
def _add_punches(p, rng):
    _replace(p, "arms", "punch", None, reach=1.0, height=0.0, spread=0.0, side=0.0)

# ---- substitutions ----


@_edit("side_to_behind", "medium", "substitute", "legs", {"feet_cross": +1}, ARM_ATTRS, [
    "replace the side steps with behind steps", "grapevine instead of side steps",
    "cross behind instead of stepping side", "turn the side steps into grapevines", "behind steps, not side steps",
    "swap the side steps for behind steps", "do grapevines instead", "step behind instead of to the side",
    "change the side steps to cross-behind steps", "side steps out, grapevines in",
    "make those side steps behind steps", "instead of side stepping, cross behind"],
    pre=_yes(("side_step",), "legs"), needs={"legs": "side_step"})
def _side_to_behind(p, rng):
    _replace(p, "legs", "behind_step", ("side_step",))


@_edit("behind_to_side", "medium", "substitute", "legs", {"feet_cross": -1}, ARM_ATTRS, [
    "replace the behind steps with side steps", "side steps instead of grapevines",
    "no crossing, just step side to side", "turn the grapevines into side steps", "side steps, not behind steps",
    "swap the grapevines for side steps", "do plain side steps instead", "step to the side instead of behind",
    "change the behind steps to side steps", "grapevines out, side steps in",
    "make those behind steps simple side steps", "instead of crossing behind, just step side"],
    pre=_yes(("behind_step",), "legs"), needs={"legs": "behind_step"})
def _behind_to_side(p, rng):
    _replace(p, "legs", "side_step", ("behind_step",))


@_edit("steps_to_cross", "medium", "substitute", "legs", {"feet_cross": +1}, ARM_ATTRS, [
    "cross your feet", "replace the steps with cross steps", "cross steps instead", "step across in front",
    "cross over your feet", "turn the steps into cross steps", "cross step instead of step touch",
    "cross one foot over the other", "swap to cross steps", "crossing steps please",
    "make the steps cross in front", "step over and cross"],
    pre=_yes(("step_touch", "side_step", "bounce", "rock_step"), "legs"), needs={"legs": "step_touch"})
def _steps_to_cross(p, rng):
    _replace(p, "legs", "cross_step", ("step_touch", "side_step", "bounce", "rock_step"))


@_edit("jog_to_knee_lift", "medium", "substitute", "legs", {"knee_lift": +1}, ARM_ATTRS, [
    "replace the jogging with knee lifts", "knee lifts instead of jogging", "turn the jog into high knees",
    "high knees instead of the jog", "swap the jog for knee lifts", "lift the knees instead of jogging",
    "change the jog to knee raises", "jog out, knee lifts in", "no jogging, knee lifts",
    "make the jog a knee lift", "knee raises instead of running", "instead of jogging, lift your knees"],
    pre=_yes(("jog",), "legs"), needs={"legs": "jog"})
def _jog_to_knee(p, rng):
    _replace(p, "legs", "knee_lift", ("jog",), height=0.35)


@_edit("swing_to_wave", "medium", "substitute", "arms", {"wrist_height_l": +1, "wrist_height_r": +1}, LEG_ATTRS, [
    "replace the arm swings with waves", "wave instead of swinging", "wave your hands instead",
    "turn the swings into waves", "swap the swings for waves", "hands up and wave instead",
    "change the arm swing to a wave", "swings out, waves in", "no swinging, wave",
    "make the swinging arms wave", "waves instead of arm swings", "instead of swinging, wave"],
    pre=lambda p: _has(p, "arms", ("swing", "idle_arms")) and BOTH_ARMS(p), needs={"arms": "swing"})
def _swing_to_wave(p, rng):
    _replace(p, "arms", "wave", ("swing", "idle_arms"), height=0.0)


@_edit("swing_to_punch", "medium", "substitute", "arms", {"hand_forward": +1}, LEG_ATTRS, [
    "replace the arm swings with punches", "punch instead of swinging", "turn the swings into punches",
    "swap the swings for punches", "punches instead of arm swings", "change the swing to a punch",
    "swings out, punches in", "no swinging, punch", "make the swinging arms punch",
    "throw punches instead of swinging", "instead of swinging, punch forward", "box instead of swinging"],
    pre=_yes(("swing", "idle_arms"), "arms"), needs={"arms": "swing"})
def _swing_to_punch(p, rng):
    _replace(p, "arms", "punch", ("swing", "idle_arms"), reach=1.0, side=0.0, height=0.0, spread=0.0)

# ==================================================================================================
# FINE: specific body parts, beats and amounts
# ==================================================================================================


@_edit("right_arm_shoulder_2_4", "fine", "add", "arms", {"wrist_height_r": +1}, ("wrist_height_l",) + LEG_ATTRS, [
    "raise the right arm to shoulder height on beats 2 and 4", "right arm out at shoulder height on 2 and 4",
    "on beats two and four, lift your right arm to shoulder level", "right arm to the shoulder on the backbeat",
    "shoulder-high right arm on 2 and 4", "on 2 and 4, right arm up to shoulder height",
    "lift the right arm level with the shoulder on beats 2 and 4", "right arm horizontal on every 2 and 4",
    "on the two and the four, right arm to shoulder height", "backbeat: right arm up to the shoulder",
    "bring the right arm up level with your shoulder on beats two and four",
    "right arm shoulder height, beats 2 and 4 only"],
    pre=lambda p: _all(p, "arms", "move", lambda m: m in ("swing", "idle_arms")) and _all(p, "arms", "height", lambda v: v < 0.15),
    needs={"arms": "swing"})
def _right_arm_24(p, rng):
    _overlay(p, Overlay("arm_raise", (1, 3), {"arm": "r", "elev": 1.6, "azim": 0.2}))


@_edit("left_arm_up_downbeat", "fine", "add", "arms", {"wrist_height_l": +1}, ("wrist_height_r",) + LEG_ATTRS, [
    "throw your left arm up on every downbeat", "left arm up on beat 1", "on the one, left hand in the air",
    "left arm straight up on the first beat of every bar", "raise the left arm on each downbeat",
    "every bar, left arm up on one", "left hand up high on the one", "on each downbeat shoot the left arm up",
    "left arm to the sky on beat one", "beat one of every bar: left arm up",
    "punch the left arm up on the one", "lift the left hand high on every downbeat"],
    pre=lambda p: not _has(p, "arms", ("raise", "reach", "wave", "point")) and _all(p, "arms", "height", lambda v: v < 0.3))
def _left_arm_down(p, rng):
    _overlay(p, Overlay("arm_raise", (0,), {"arm": "l", "elev": 2.8, "azim": 0.3}))


@_edit("clap_2_4", "fine", "add", "arms", {"clap_rate": +1}, LEG_ATTRS, [
    "clap on beats 2 and 4", "clap on the backbeat", "clap on two and four", "add claps on 2 and 4",
    "backbeat claps", "clap every 2 and 4", "on two and four, clap", "hands together on beats 2 and 4",
    "clap the backbeat", "claps on the two and the four", "give me claps on 2 and 4 only",
    "clap on the even beats"],
    pre=_no(("clap", "arm_roll"), "arms"))
def _clap_24(p, rng):
    _overlay(p, Overlay("clap", (1, 3), {}))


@_edit("kick_downbeat", "fine", "add", "legs", {"kick_rate": +1}, ARM_ATTRS, [
    "kick with the right foot on every downbeat", "right kick on the one", "kick on beat 1 of every bar",
    "on each downbeat, kick the right leg", "right foot kick on the first beat", "every bar, kick on one",
    "add a right kick on every downbeat", "kick out the right leg on beat one", "beat one: right kick",
    "on the one, kick forward with your right", "one right kick per bar, on the downbeat",
    "right leg kicks on the one"],
    pre=_no(("kick", "jump", "knee_lift", "jog", "lunge", "turn", "twist"), "legs"))
def _kick_down(p, rng):
    _overlay(p, Overlay("kick", (0,), {"foot": "r", "height": 0.45}))


@_edit("punch_left_every_beat", "fine", "add", "arms", {"hand_forward": +1}, ("wrist_height_r",) + LEG_ATTRS, [
    "punch with the left arm on every beat", "left punches on each beat", "left jab on every beat",
    "throw a left punch on every beat", "every beat, punch forward with your left", "left hand punches on the beat",
    "jab with the left on each beat", "left arm punches forward every beat", "on every beat, left punch",
    "keep jabbing with the left hand on the beat", "left punch, every single beat", "beat by beat, punch with your left"],
    pre=_no(("punch", "clap", "arm_roll", "point"), "arms"))
def _punch_left(p, rng):
    _overlay(p, Overlay("punch", (0, 1, 2, 3), {"arm": "l"}))


@_edit("dip_downbeat", "fine", "add", "legs", {"crouch": +1, "bounce": +1}, ARM_ATTRS, [
    "dip down on every downbeat", "sink low on beat 1", "drop down on the one", "deep knee bend on each downbeat",
    "on the first beat of each bar, dip", "every bar, drop low on one", "hit the one with a deep dip",
    "bend down on beat one", "dip on the one", "crouch on every downbeat",
    "get low on the first beat of the bar", "on each downbeat, sink your hips"],
    pre=_no(("jump", "lunge"), "legs"))
def _dip(p, rng):
    _overlay(p, Overlay("dip", (0,), {"depth": 0.12}))


@_edit("steps_wider_cm", "fine", "spatial", "legs", {"step_width": +1}, ARM_ATTRS + LEAN_ATTRS, [
    "make your stance {cm} centimetres wider", "feet {cm} cm further apart", "widen the stance by {cm} cm",
    "step {cm} centimetres wider", "{cm} cm wider between the feet", "put another {cm} cm between your feet",
    "spread the feet by {cm} more centimetres", "stance wider by about {cm} cm",
    "add {cm} centimetres to your stance width", "open the feet {cm} cm wider",
    "feet apart by an extra {cm} centimetres", "{cm} centimetres wider stance please"],
    pre=lambda p: _all(p, "legs", "width", lambda v: v < 0.36))
def _wider_cm(p, rng):
    cm = int(rng.choice([10, 15, 20]))
    _add(p, "legs", "width", cm / 100.0)
    return {"cm": cm}


@_edit("lean_forward_deg", "fine", "spatial", "torso", {"lean_forward": +1}, LEG_ATTRS, [
    "lean forward about {deg} degrees", "tilt forward {deg} degrees", "lean in by {deg} degrees",
    "bend forward around {deg} degrees", "{deg} degrees of forward lean", "forward lean, {deg} degrees",
    "tip the torso {deg} degrees forward", "lean your upper body forward by {deg} degrees",
    "about {deg} degrees forward with the chest", "get a {deg} degree forward lean",
    "angle your body {deg} degrees forward", "upper body forward, roughly {deg} degrees"],
    pre=lambda p: _all(p, "torso", "lean", lambda v: v < 0.05) and not _has(p, "torso", ("lean",)))
def _lean_deg(p, rng):
    deg = int(rng.choice([15, 20, 25]))
    _set(p, "torso", "lean", float(np.radians(deg)))
    return {"deg": deg}


@_edit("turn_every_two_bars", "fine", "add", "legs", {"turn": +1}, ARM_ATTRS, [
    "turn once every two bars to the {dir}", "spin to the {dir} every other bar", "a full turn to the {dir} every 2 bars",
    "every two bars, turn {dir}", "turn {dir} on every second bar", "one {dir} spin every two bars",
    "spin {dir} every other bar", "do a {dir} turn every 2 bars", "every second bar, a turn to the {dir}",
    "turn around to the {dir} once every two bars", "alternate bars: turn {dir}", "full circle to the {dir} every two bars"],
    pre=_no(("turn",), "legs"))
def _turn_2bars(p, rng):
    d = str(rng.choice(["left", "right"]))
    # turning to the dancer's left is counter-clockwise seen from above: +yaw about y
    _replace(p, "legs", "turn", None, every=2, amount=1.0, direction=1.0 if d == "left" else -1.0)
    return {"dir": d}


@_edit("kick_waist_height", "fine", "spatial", "legs", {"kick_height": +1}, ARM_ATTRS, [
    "kick to waist height", "kicks up to the waist", "kick as high as your hips", "waist-high kicks",
    "get the kicks to waist level", "kick up to hip height", "make the kicks reach your waist",
    "kick at waist height", "hip-high kicks", "bring the kicks up to the waist",
    "kicks level with the waist", "kick all the way to waist height"],
    pre=lambda p: _has(p, "legs", ("kick",)) and _all(p, "legs", "height", lambda v: v < 0.4), needs={"legs": "kick"})
def _kick_waist(p, rng):
    _set(p, "legs", "height", 0.55, ("kick",))


@_edit("arms_half_time", "fine", "temporal", "arms", {"arm_energy": -1}, LEG_ATTRS, [
    "arms on every other beat", "move the arms half as often", "arms half time", "slow the arms to every other beat",
    "arms only on every second beat", "half-time arms", "arms at half speed", "let the arms move on every other beat",
    "arms slower, every other beat", "one arm move every two beats", "arms twice as slow", "half the arm speed"],
    pre=lambda p: _all(p, "arms", "speed", lambda v: v >= 1.0) and _has(p, "arms", MOVING_ARMS))
def _arms_half(p, rng):
    _mul(p, "arms", "speed", 0.5)


# Held-out move/edit combinations: a deterministic ~1 in 9 of (edit type, move) pairs, plus a few
# chosen by hand so that every level has some.
HELDOUT_COMBOS: frozenset[tuple[str, str]] = frozenset({
    ("arms_wider", "circle"), ("wider_stance", "jog"), ("double_time", "twist"), ("add_claps", "point"),
    ("lean_forward", "roll"), ("kick_higher", "kick"), ("steps_wider_cm", "side_step"),
    ("right_arm_shoulder_2_4", "swing"),
})


def is_heldout_combo(edit: str, moves: set[str] | list[str]) -> bool:
    """True when the edit acts on a move it is never trained with."""
    for m in moves:
        if (edit, m) in HELDOUT_COMBOS or zlib.crc32(f"{edit}|{m}".encode()) % 9 == 0:
            return True
    return False


def example_program(edit: EditType, rng: np.random.Generator, n_blocks: int = 3, start: int = 0) -> Program:
    """A small program this edit applies to (for tests and documentation)."""
    from training.corpus.moves import Block, MOVES_BY_LAYER  # noqa: PLC0415
    for _ in range(200):
        blocks = []
        for i in range(n_blocks):
            lay = {}
            for layer in ("legs", "arms", "torso"):
                mv = edit.needs.get(layer) or str(rng.choice(MOVES_BY_LAYER[layer]))
                lay[layer] = random_layer(rng, mv)
                lay[layer]["speed"] = 1.0
                if layer == "arms":
                    lay[layer]["side"] = 0.0
            blocks.append(Block(start + 4 * i, 4, **lay))
        p = Program(blocks)
        if edit.applies(p):
            return p
    raise RuntimeError(f"could not build a program for edit {edit.name}")
