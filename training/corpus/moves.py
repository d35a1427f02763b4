"""Beat-aligned procedural dance moves and the synthesiser that turns a dance program into motion.

A dance is a *program*: a list of blocks (one or two bars each), and every block has three layers
that combine, each naming one move and its continuous attributes:

    legs   stepping / jumping / turning, drives feet, pelvis and heading
    arms   both arms (direction in the torso frame, twist, elbow bend)
    torso  spine lean / sway / roll / shimmy, collars and head

Moves are functions of the *beat coordinate* (beats since the block started, read off the song's
real beat times), so a dance follows tempo changes. Every move outputs a few named channels; blocks
are cross-faded over a fraction of a beat, then the synthesiser builds a physically sane body:

  * feet: the legs layer gives each foot a wished-for position, lift and yaw; a foot whose lift is
    zero is *planted* and held exactly where it landed (no sliding by construction); while it swings,
    a smooth correction carries it from where it really is to where it must land;
  * pelvis: above the midpoint of the real feet plus the move's offset, shifted toward the stance
    foot, and never higher than the planted legs can reach, so planted feet stay on the floor (y=0);
  * legs: analytic two-bone IK on SMPL's real thigh/shin offsets, knees bending forward;
  * arms / spine / head: direct joint rotations with clamped ranges (joint limits).

Everything is vectorised over frames with numpy; one 8 s dance takes a few milliseconds.
Output: local rotations (T, 24, 3, 3) and root (T, 3) at 30 fps, which `Dance.motion()` encodes to
the 151-d representation of `model.motion`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from model.skeleton import REST_OFFSETS, SOLE_THICKNESS, STANDING_PELVIS_HEIGHT, forward_kinematics_np

FPS = 30
LAYERS = ("legs", "arms", "torso")

# --------------------------------------------------------------------------------------------------
# Small maths helpers (all broadcast over leading axes)
# --------------------------------------------------------------------------------------------------


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _rot(axis: int, a: np.ndarray) -> np.ndarray:
    """Rotation matrices about a coordinate axis, a: (...) radians -> (..., 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def rot_x(a):
    return _rot(0, a)


def rot_y(a):
    return _rot(1, a)


def rot_z(a):
    return _rot(2, a)


def _normalize(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def _swing_from_x(d: np.ndarray) -> np.ndarray:
    """Shortest rotation taking +x to the unit vector d (..., 3) -> (..., 3, 3). Needs d_x > -1."""
    d = _normalize(d)
    k = np.stack([np.zeros_like(d[..., 0]), -d[..., 2], d[..., 1]], axis=-1)  # x cross d
    c = d[..., 0]
    kx = np.zeros(d.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2] = -k[..., 2], k[..., 1]
    kx[..., 1, 0], kx[..., 1, 2] = k[..., 2], -k[..., 0]
    kx[..., 2, 0], kx[..., 2, 1] = -k[..., 1], k[..., 0]
    return np.eye(3) + kx + (kx @ kx) / np.maximum(1.0 + c, 1e-6)[..., None, None]


MIRROR = np.diag([-1.0, 1.0, 1.0])

# --------------------------------------------------------------------------------------------------
# Channels and attributes
# --------------------------------------------------------------------------------------------------

# Per-layer channels (all float arrays over frames) and their neutral values.
CHANNELS: dict[str, dict[str, float]] = {
    "legs": {
        # feet in the dance frame: x to the dancer's left, z forward, lift = ankle height above its
        # floor height (0 = planted), pitch > 0 points the toes down, yaw turns the foot out.
        "lx": 0.12, "lz": 0.0, "llift": 0.0, "lpitch": 0.0, "lyaw": 0.15,
        "rx": -0.12, "rz": 0.0, "rlift": 0.0, "rpitch": 0.0, "ryaw": -0.15,
        "px": 0.0, "pz": 0.0,   # pelvis offset from the feet midpoint (m)
        "drop": 0.03,           # pelvis lowered by this much (knee bend), m
        "jump": 0.0,            # pelvis raised by this much (flight), m
        "pyaw": 0.0, "proll": 0.0,
        "heading": 0.0,         # turn of the whole dance frame since the block started (rad)
    },
    "arms": {
        # arm direction in the torso frame as angles (blended linearly, so a raise between opposite
        # directions keeps an even speed): elev 0 = hanging .. pi = straight up; azim 0 = to the side,
        # pi/2 = forward, more = across the body.
        "l_elev": 0.25, "l_azim": 0.4, "l_twist": 0.0, "l_elbow": 0.25, "l_wrist": 0.0,
        "r_elev": 0.25, "r_azim": 0.4, "r_twist": 0.0, "r_elbow": 0.25, "r_wrist": 0.0,
    },
    "torso": {
        "fwd1": 0.0, "fwd2": 0.0, "fwd3": 0.0,  # spine1/2/3 forward bend (rad)
        "side": 0.0, "twist": 0.0,               # whole-spine side lean (+ = to the left), twist
        "shrug": 0.0, "shimmy": 0.0,             # collar raise, collar forward/back alternation
        "nod": 0.0, "tilt": 0.0,                 # head
        "hip_x": 0.0,                            # added to the pelvis side offset (sway)
    },
}

# Attributes every move of a layer has: name -> (low, default, high).
COMMON_ATTRS: dict[str, dict[str, tuple[float, float, float]]] = {
    "legs": {
        "amplitude": (0.3, 1.0, 1.6),   # size of the steps / kicks / jumps
        "speed": (0.5, 1.0, 2.0),       # cycles per period (0.5 = half time, 2 = double time)
        "width": (0.14, 0.26, 0.55),    # stance width between the ankles, m
        "bend": (0.0, 0.03, 0.16),      # knee bend as pelvis drop, m
        "bounce": (0.0, 0.025, 0.07),   # pelvis dip on every beat, m
    },
    "arms": {
        "amplitude": (0.3, 1.0, 1.6),
        "speed": (0.5, 1.0, 2.0),
        "height": (-0.6, 0.0, 0.6),     # raises the whole gesture (rad of elevation)
        "spread": (-0.5, 0.0, 0.5),     # + more to the side, - more to the front
        "side": (-1.0, 0.0, 1.0),       # +1 left arm only, -1 right arm only, 0 both
    },
    "torso": {
        "amplitude": (0.3, 1.0, 1.6),
        "speed": (0.5, 1.0, 2.0),
        "lean": (-0.25, 0.0, 0.45),     # forward lean of the spine (rad), - leans back
        "side_lean": (-0.3, 0.0, 0.3),  # + leans to the left (rad)
    },
}


@dataclass(frozen=True)
class MoveSpec:
    name: str
    layer: str
    fn: Callable[[np.ndarray, dict[str, float]], dict[str, np.ndarray]]
    period: float                      # beats per cycle at speed 1
    energy: float                      # 0 calm .. 1 energetic
    extra: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    description: str = ""

    @property
    def attrs(self) -> dict[str, tuple[float, float, float]]:
        return {**COMMON_ATTRS[self.layer], **self.extra}

    def defaults(self) -> dict[str, float]:
        return {k: v[1] for k, v in self.attrs.items()}


MOVES: dict[str, MoveSpec] = {}


def _move(name: str, layer: str, period: float, energy: float, description: str, **extra):
    def deco(fn):
        MOVES[name] = MoveSpec(name, layer, fn, period, energy, extra, description)
        return fn
    return deco


def _phase(u: np.ndarray, a: dict, period: float) -> np.ndarray:
    """Cycle coordinate in [0, period) beats for beat offset u, sped up by the speed attribute."""
    return np.mod(u * a["speed"], period)


def _pulse(x: np.ndarray, width: float = 0.5) -> np.ndarray:
    """Raised-cosine bump at 0 on a periodic coordinate x in beats (x already wrapped around 0)."""
    return np.where(np.abs(x) < width, 0.5 + 0.5 * np.cos(np.pi * x / width), 0.0)


def _beat_pulse(u: np.ndarray, a: dict, width: float = 0.45) -> np.ndarray:
    x = np.mod(u * a["speed"] + 0.5, 1.0) - 0.5
    return _pulse(x, width)


# ---- foot step engine ------------------------------------------------------------------------------

def _steps(ph: np.ndarray, period: float, home: tuple[float, float], events: list[tuple[float, float, float, float, float]]):
    """One foot's trajectory from step events inside a cycle.

    events: (start, end, x, z, lift) in cycle beats: the foot travels to (x, z) between start and
    end with an arc of height `lift`. The last target should be `home` so the cycle closes.
    Returns x, z, lift arrays.
    """
    x = np.full_like(ph, home[0])
    z = np.full_like(ph, home[1])
    lift = np.zeros_like(ph)
    px, pz = home
    for s, e, tx, tz, h in events:
        f = np.clip((ph - s) / (e - s), 0.0, 1.0)
        g = smoothstep(f)
        x += (tx - px) * g
        z += (tz - pz) * g
        lift += h * np.sin(np.pi * f)
        px, pz = tx, tz
    return x, z, lift


def _legs_out(a: dict, lx, lz, ll, rx, rz, rl, **kw) -> dict[str, np.ndarray]:
    out = {"lx": lx, "lz": lz, "llift": ll, "rx": rx, "rz": rz, "rlift": rl}
    out.update(kw)
    return out


def _bounce_drop(u, a, extra=0.0):
    return a["bend"] + a["bounce"] * _beat_pulse(u, a) + extra


# --------------------------------------------------------------------------------------------------
# Leg moves (13)
# --------------------------------------------------------------------------------------------------

@_move("bounce", "legs", 4.0, 0.3, "knees bounce on the beat with a small weight change every two beats")
def _bounce(u, a):
    ph = _phase(u, a, 4.0)
    w = a["width"] / 2
    h = 0.04 * a["amplitude"]
    lx, lz, ll = _steps(ph, 4.0, (w, 0.0), [(1.4, 1.9, w, 0.0, h)])
    rx, rz, rl = _steps(ph, 4.0, (-w, 0.0), [(3.4, 3.9, -w, 0.0, h)])
    drop = a["bend"] + (a["bounce"] + 0.02 * a["amplitude"]) * _beat_pulse(u, a)
    return _legs_out(a, lx, lz, ll, rx, rz, rl, drop=drop)


@_move("side_step", "legs", 4.0, 0.45, "step out to the right, close, step back to the left, close",
       lift=(0.04, 0.08, 0.16))
def _side_step(u, a):
    ph = _phase(u, a, 4.0)
    w, s, h = a["width"] / 2, 0.28 * a["amplitude"], a["lift"]
    rx, rz, rl = _steps(ph, 4.0, (-w, 0.0), [(0.0, 0.6, -w - s, 0.0, h), (3.0, 3.6, -w, 0.0, h)])
    lx, lz, ll = _steps(ph, 4.0, (w, 0.0), [(1.0, 1.6, w - s, 0.0, h), (2.0, 2.6, w, 0.0, h)])
    return _legs_out(a, lx, lz, ll, rx, rz, rl, drop=_bounce_drop(u, a))


@_move("behind_step", "legs", 8.0, 0.55, "grapevine: step side, cross behind, step side, close; then back",
       lift=(0.04, 0.08, 0.16))
def _behind_step(u, a):
    ph = _phase(u, a, 8.0)
    w, s, h = a["width"] / 2, 0.26 * a["amplitude"], a["lift"]
    # to the right: R out, L behind R, R out again, L closes; then mirror back to the left
    rx, rz, rl = _steps(ph, 8.0, (-w, 0.0), [
        (0.0, 0.6, -w - s, 0.0, h), (2.0, 2.6, -w - 2 * s, 0.0, h),
        (4.0, 4.6, -w - s, 0.0, h), (6.0, 6.6, -w, 0.0, h)])
    lx, lz, ll = _steps(ph, 8.0, (w, 0.0), [
        (1.0, 1.6, -w - s - 0.06, -0.16, h), (3.0, 3.6, w - 2 * s, 0.0, h),
        (5.0, 5.6, w - s + 0.06, -0.16, h), (7.0, 7.6, w, 0.0, h)])
    # the crossing foot sits behind the other one; turn it out a little more
    return _legs_out(a, lx, lz, ll, rx, rz, rl, drop=_bounce_drop(u, a))


@_move("step_touch", "legs", 4.0, 0.3, "step to the side and touch the other foot beside it",
       lift=(0.03, 0.06, 0.12))
def _step_touch(u, a):
    ph = _phase(u, a, 4.0)
    w, s, h = a["width"] / 2, 0.22 * a["amplitude"], a["lift"]
    rx, rz, rl = _steps(ph, 4.0, (-w, 0.0), [(0.0, 0.5, -w - s, 0.0, h), (3.0, 3.5, -w, 0.0, h)])
    lx, lz, ll = _steps(ph, 4.0, (w, 0.0), [(1.0, 1.5, w - s - 0.05, 0.02, h), (2.0, 2.5, w, 0.0, h)])
    return _legs_out(a, lx, lz, ll, rx, rz, rl, drop=_bounce_drop(u, a))


@_move("cross_step", "legs", 4.0, 0.5, "cross one foot in front of the other, then back; alternate",
       lift=(0.04, 0.08, 0.16))
def _cross_step(u, a):
    ph = _phase(u, a, 4.0)
    w, s, h = a["width"] / 2, 0.2 * a["amplitude"], a["lift"]
    rx, rz, rl = _steps(ph, 4.0, (-w, 0.0), [(0.0, 0.6, w + 0.06 + 0.2 * s, 0.18 + 0.1 * s, h), (1.0, 1.6, -w, 0.0, h)])
    lx, lz, ll = _steps(ph, 4.0, (w, 0.0), [(2.0, 2.6, -w - 0.06 - 0.2 * s, 0.18 + 0.1 * s, h), (3.0, 3.6, w, 0.0, h)])
    return _legs_out(a, lx, lz, ll, rx, rz, rl, drop=_bounce_drop(u, a))


@_move("jog", "legs", 2.0, 0.7, "jog in place, heels kicking back", lift=(0.08, 0.14, 0.26))
def _jog(u, a):
    ph = _phase(u, a, 2.0)
    w, h = a["width"] / 2, a["lift"] * a["amplitude"]
    lx, lz, ll = _steps(ph, 2.0, (w, 0.0), [(0.05, 0.45, w, -0.08, h), (0.45, 0.85, w, 0.0, 0.05)])
    rx, rz, rl = _steps(ph, 2.0, (-w, 0.0), [(1.05, 1.45, -w, -0.08, h), (1.45, 1.85, -w, 0.0, 0.05)])
    lpitch, rpitch = 3.0 * ll, 3.0 * rl  # the toes leave the floor with the heel
    return _legs_out(a, lx, lz, ll, rx, rz, rl, lpitch=lpitch, rpitch=rpitch, drop=_bounce_drop(u, a))


@_move("lunge", "legs", 4.0, 0.55, "deep side lunge, hold, come back; alternate sides", depth=(0.06, 0.14, 0.24))
def _lunge(u, a):
    ph = _phase(u, a, 4.0)
    w, s = a["width"] / 2, 0.3 * a["amplitude"]
    rx, rz, rl = _steps(ph, 4.0, (-w, 0.0), [(0.0, 0.5, -w - s, 0.0, 0.07), (1.4, 1.9, -w, 0.0, 0.07)])
    lx, lz, ll = _steps(ph, 4.0, (w, 0.0), [(2.0, 2.5, w + s, 0.0, 0.07), (3.4, 3.9, w, 0.0, 0.07)])
    deep = a["depth"] * (np.sin(np.pi * np.clip((ph - 0.3) / 1.5, 0, 1)) + np.sin(np.pi * np.clip((ph - 2.3) / 1.5, 0, 1)))
    return _legs_out(a, lx, lz, ll, rx, rz, rl, drop=a["bend"] + deep)


@_move("kick", "legs", 2.0, 0.75, "kick forward, left then right", height=(0.15, 0.35, 0.6))
def _kick(u, a):
    ph = _phase(u, a, 2.0)
    w, hgt = a["width"] / 2, a["height"] * a["amplitude"]
    reach = 0.25 + 0.4 * a["height"] * a["amplitude"]
    def kick(start):
        f = np.clip((ph - start) / 0.8, 0, 1)
        b = np.sin(np.pi * f)
        return b ** 2 * reach, b * hgt, b  # the foot leaves the floor before it travels
    lz, ll, lb = kick(0.1)
    rz, rl, rb = kick(1.1)
    return _legs_out(a, np.full_like(ph, w), lz, ll, np.full_like(ph, -w), rz, rl,
                     lpitch=0.8 * lb, rpitch=0.8 * rb, drop=_bounce_drop(u, a))


@_move("knee_lift", "legs", 2.0, 0.6, "lift one knee up high, alternate", height=(0.15, 0.3, 0.5))
def _knee_lift(u, a):
    ph = _phase(u, a, 2.0)
    w, hgt = a["width"] / 2, a["height"] * a["amplitude"]
    def lift(start):
        return np.sin(np.pi * np.clip((ph - start) / 0.8, 0, 1))
    lb, rb = lift(0.1), lift(1.1)
    return _legs_out(a, np.full_like(ph, w), 0.06 * lb, hgt * lb, np.full_like(ph, -w), 0.06 * rb, hgt * rb,
                     lpitch=0.5 * lb, rpitch=0.5 * rb, drop=_bounce_drop(u, a))


@_move("jump", "legs", 2.0, 0.9, "crouch and jump on the beat, land softly", height=(0.05, 0.12, 0.22))
def _jump(u, a):
    ph = _phase(u, a, 2.0)
    w = a["width"] / 2
    h = a["height"] * a["amplitude"]
    f = np.clip((ph - 0.7) / 0.6, 0, 1)  # flight from 0.7 to 1.3 beats of the cycle
    air = np.sin(np.pi * f) * (f > 0) * (f < 1)
    crouch = 0.09 * a["amplitude"] * (np.sin(np.pi * np.clip((ph - 0.15) / 0.6, 0, 1))
                                      + np.sin(np.pi * np.clip((ph - 1.25) / 0.6, 0, 1)))
    return _legs_out(a, np.full_like(ph, w), np.zeros_like(ph), h * air, np.full_like(ph, -w), np.zeros_like(ph), h * air,
                     lpitch=0.5 * air, rpitch=0.5 * air, drop=a["bend"] + crouch, jump=h * air)


@_move("turn", "legs", 4.0, 0.6, "stepping turn on the spot, then settle", amount=(0.5, 1.0, 1.0), direction=(-1.0, 1.0, 1.0))
def _turn(u, a):
    ph = _phase(u, a, 4.0)
    w = a["width"] / 2
    # small alternating steps through the turn (first three beats), so planted feet never twist
    ll = 0.1 * a["amplitude"] * sum(np.sin(np.pi * np.clip((ph - s) / 0.4, 0, 1)) for s in (0.0, 1.0, 2.0))
    rl = 0.1 * a["amplitude"] * sum(np.sin(np.pi * np.clip((ph - s) / 0.4, 0, 1)) for s in (0.5, 1.5, 2.5))
    cycles = np.floor(u * a["speed"] / 4.0)
    turn_dir = 1.0 if a["direction"] >= 0 else -1.0
    total = 2 * np.pi * a["amount"] * turn_dir
    heading = total * (cycles + smoothstep(ph / 3.0))
    return _legs_out(a, np.full_like(ph, w), np.zeros_like(ph), ll, np.full_like(ph, -w), np.zeros_like(ph), rl,
                     heading=heading, drop=_bounce_drop(u, a))


@_move("twist", "legs", 1.0, 0.55, "swivel both feet and hips on the balls of the feet", angle=(0.2, 0.45, 0.7))
def _twist(u, a):
    ph = _phase(u, a, 1.0)
    w = a["width"] / 2
    sw = a["angle"] * a["amplitude"] * np.sin(2 * np.pi * ph)
    heel = np.full_like(ph, 0.03)  # heels just off the floor: the feet turn on their balls
    out = {}
    for f, x0, yaw0 in (("l", w, 0.15), ("r", -w, -0.15)):
        # pivot about the ball of the foot: keep the toe joint where it is and swing the heel
        tx, tz = float(REST_OFFSETS[_TOE[f], 0]), float(REST_OFFSETS[_TOE[f], 2])
        yaw = yaw0 + sw
        toe_x = x0 + np.cos(yaw0) * tx + np.sin(yaw0) * tz
        toe_z = -np.sin(yaw0) * tx + np.cos(yaw0) * tz
        out[f + "x"] = toe_x - (np.cos(yaw) * tx + np.sin(yaw) * tz)
        out[f + "z"] = toe_z - (-np.sin(yaw) * tx + np.cos(yaw) * tz)
        out[f + "yaw"] = yaw
    return _legs_out(a, out["lx"], out["lz"], heel, out["rx"], out["rz"], heel,
                     lpitch=np.full_like(ph, 0.25), rpitch=np.full_like(ph, 0.25), lyaw=out["lyaw"], ryaw=out["ryaw"],
                     pyaw=0.6 * sw, drop=a["bend"] + 0.04 + a["bounce"] * _beat_pulse(u, a))


@_move("rock_step", "legs", 4.0, 0.4, "rock forward onto one foot and back, alternate", reach=(0.15, 0.3, 0.45))
def _rock_step(u, a):
    ph = _phase(u, a, 4.0)
    w, r, h = a["width"] / 2, a["reach"] * a["amplitude"], 0.06
    lx, lz, ll = _steps(ph, 4.0, (w, 0.0), [(0.0, 0.5, w, r, h), (1.0, 1.5, w, 0.0, h)])
    rx, rz, rl = _steps(ph, 4.0, (-w, 0.0), [(2.0, 2.5, -w, -r * 0.8, h), (3.0, 3.5, -w, 0.0, h)])
    pz = 0.3 * (lz + rz)
    return _legs_out(a, lx, lz, ll, rx, rz, rl, pz=pz, drop=_bounce_drop(u, a))


# --------------------------------------------------------------------------------------------------
# Arm moves (9). Arm direction helpers: elevation from hanging (0) to straight up (pi); azimuth from
# lateral (0) to forward (pi/2) and across the body (> pi/2).
# --------------------------------------------------------------------------------------------------

def _dir(elev, azim):
    s = np.sin(elev)
    return s * np.cos(azim), -np.cos(elev), s * np.sin(azim)


def _arms_out(left: tuple, right: tuple, a: dict) -> dict[str, np.ndarray]:
    """left/right: (elev, azim, twist, elbow). Applies the common height/spread/side attributes."""
    out = {}
    side = a["side"]
    for pre, (elev, azim, twist, elbow), active in (("l_", left, side > -0.5), ("r_", right, side < 0.5)):
        elev = np.asarray(elev, dtype=np.float64)
        if active:
            elev = np.clip(elev + a["height"], 0.05, 2.95)
            azim = np.clip(np.asarray(azim) - a["spread"], -0.6, 2.3)
        else:  # this arm rests while the other one dances
            elev, azim, twist, elbow = np.full_like(elev, 0.25), np.full_like(elev, 0.4), 0.0, 0.25
        out[pre + "elev"] = elev
        out[pre + "azim"] = np.broadcast_to(np.asarray(azim, dtype=np.float64), elev.shape).copy()
        out[pre + "twist"] = np.broadcast_to(np.asarray(twist, dtype=np.float64), elev.shape).copy()
        out[pre + "elbow"] = np.broadcast_to(np.clip(np.asarray(elbow, dtype=np.float64), 0.0, 2.4), elev.shape).copy()
    return out


@_move("swing", "arms", 2.0, 0.45, "arms swing forward and back in opposition", bend=(0.1, 0.4, 1.0))
def _swing(u, a):
    ph = _phase(u, a, 2.0)
    s = 0.7 * a["amplitude"] * np.sin(np.pi * ph)
    # sagittal swing: positive = forward; keep a little lateral component so the swing is continuous
    def arm(sign):
        ang = sign * s
        return _dir_sag(ang)
    (le, la), (re, ra) = arm(1.0), arm(-1.0)
    return _arms_out((le, la, 0.0, a["bend"] + 0.3 * np.maximum(s, 0)), (re, ra, 0.0, a["bend"] + 0.3 * np.maximum(-s, 0)), a)


def _dir_sag(ang):
    """Elevation/azimuth of an arm swung by `ang` in the sagittal plane (+ forward), 0.25 rad out."""
    elev = np.sqrt(ang ** 2 + 0.25 ** 2)
    azim = np.arctan2(ang, 0.25)
    return elev, azim


@_move("wave", "arms", 1.0, 0.35, "raised forearm waves side to side", reach=(0.0, 0.3, 0.8))
def _wave(u, a):
    ph = _phase(u, a, 1.0)
    osc = 0.5 * a["amplitude"] * np.sin(2 * np.pi * ph)
    elev = np.full_like(ph, 1.45 + 0.3 * a["reach"])
    left = (elev, 0.35, -1.5 + osc, 1.5 - 0.6 * a["reach"])
    right = (elev, 0.35, -1.5 - osc, 1.5 - 0.6 * a["reach"])
    return _arms_out(left, right, a)


@_move("punch", "arms", 2.0, 0.8, "alternating punches forward on the beat", reach=(0.5, 0.9, 1.0))
def _punch(u, a):
    ph = _phase(u, a, 2.0)
    def p(start):
        f = np.mod(ph - start - 0.25 + 1.0, 2.0) - 1.0  # wrapped distance to the punch, beats
        return np.exp(-(f / 0.25) ** 2)
    lp, rp = p(0.0), p(1.0)
    def arm(pw):
        elev = 0.7 + (0.85 * a["amplitude"]) * pw
        azim = 1.3 + 0.2 * pw
        elbow = 2.0 - 2.0 * a["reach"] * pw
        return elev, azim, 0.0, elbow
    return _arms_out(arm(lp), arm(rp), a)


@_move("clap", "arms", 1.0, 0.5, "hands clap in front of the chest on the beat", hands=(0.6, 1.0, 1.4))
def _clap(u, a):
    ph = _phase(u, a, 1.0)
    meet = _pulse(np.mod(ph + 0.5, 1.0) - 0.5, 0.45)  # 1 on the beat
    open_ = 1.0 - meet
    elev = np.full_like(ph, 0.95) * a["hands"]
    azim = 1.72 - 0.55 * a["amplitude"] * open_
    elbow = 1.15 + 0.25 * open_
    return _arms_out((elev, azim, 0.0, elbow), (elev, azim, 0.0, elbow), a)


@_move("raise", "arms", 2.0, 0.4, "raise the arms up on the beat and lower them", top=(1.6, 2.4, 2.9))
def _raise(u, a):
    ph = _phase(u, a, 2.0)
    up = 0.5 - 0.5 * np.cos(np.pi * ph)  # 0 at cycle start, 1 at beat 1
    elev = 0.35 + (a["top"] - 0.35) * (0.4 + 0.6 * a["amplitude"] * up) * (0.35 + 0.65 * up)
    return _arms_out((elev, 0.5, 0.0, 0.3), (elev, 0.5, 0.0, 0.3), a)


@_move("circle", "arms", 2.0, 0.5, "arms circle forward at the sides", radius=(0.2, 0.5, 0.8))
def _circle(u, a):
    ph = _phase(u, a, 2.0)
    r = a["radius"] * a["amplitude"]
    ang = np.pi * ph
    elev = 1.2 + r * np.cos(ang)
    azim = 0.3 + r * np.sin(ang)
    return _arms_out((elev, azim, 0.0, 0.2), (elev, azim, 0.0, 0.2), a)


@_move("reach", "arms", 2.0, 0.45, "reach one arm up and out, then the other", top=(1.8, 2.5, 2.9))
def _reach(u, a):
    ph = _phase(u, a, 2.0)
    lr = 0.5 - 0.5 * np.cos(np.pi * ph)  # left arm up on beat 1 of the cycle, right arm up on beat 2
    rr = 1.0 - lr
    def arm(k):
        return 0.3 + (a["top"] - 0.3) * k * min(a["amplitude"], 1.2) / 1.2, 0.3, 0.0, 0.8 - 0.7 * k
    return _arms_out(arm(lr), arm(rr), a)


@_move("point", "arms", 2.0, 0.55, "disco point: up to the side, then down across the body", top=(1.8, 2.5, 2.9))
def _point(u, a):
    ph = _phase(u, a, 2.0)
    up = 0.5 - 0.5 * np.cos(np.pi * ph)
    # pointing arm (right by default, unless only the left is active)
    elev = 0.6 + (a["top"] - 0.6) * up * min(a["amplitude"], 1.3) / 1.3
    azim = 1.9 - 1.8 * up
    rest = (np.full_like(ph, 0.6), 1.5, 0.0, 1.7)  # other hand on the hip
    pointing = (elev, azim, 0.0, 0.1)
    if a["side"] > 0.5:
        return _arms_out(pointing, rest, a)
    return _arms_out(rest, pointing, a)


@_move("arm_roll", "arms", 1.0, 0.5, "forearms roll around each other in front of the chest", size=(0.1, 0.25, 0.4))
def _arm_roll(u, a):
    ph = _phase(u, a, 1.0)
    r = a["size"] * a["amplitude"]
    ang = 2 * np.pi * ph
    left = (0.9 + r * np.cos(ang), 1.5 + r * np.sin(ang), 0.0, 1.6)
    right = (0.9 - r * np.cos(ang), 1.5 - r * np.sin(ang), 0.0, 1.6)
    return _arms_out(left, right, a)


# --------------------------------------------------------------------------------------------------
# Torso moves (5)
# --------------------------------------------------------------------------------------------------

def _torso_out(a, fwd=0.0, side=0.0, **kw):
    """Spreads a forward bend and a side lean over the three spine joints and adds the attributes."""
    z = np.zeros_like(np.asarray(kw.pop("like")))
    lean = a["lean"] + fwd
    out = {"fwd1": z + lean / 3, "fwd2": z + lean / 3, "fwd3": z + lean / 3, "side": z + a["side_lean"] + side,
           "nod": z - 0.4 * lean}
    for k, v in kw.items():
        out[k] = out.get(k, z) + v
    return out


@_move("lean", "torso", 2.0, 0.25, "hold a lean, pulse it a little on the beat", pulse=(0.0, 0.08, 0.2))
def _lean(u, a):
    p = _beat_pulse(u, a)
    return _torso_out(a, fwd=0.15 * a["amplitude"] + a["pulse"] * p, like=u)


@_move("sway", "torso", 4.0, 0.3, "sway the hips and upper body side to side", hips=(0.0, 0.04, 0.09))
def _sway(u, a):
    ph = _phase(u, a, 4.0)
    s = np.sin(np.pi * ph / 2.0 * 2.0)  # one side per two beats
    return _torso_out(a, side=0.14 * a["amplitude"] * s, hip_x=-a["hips"] * a["amplitude"] * s,
                      tilt=0.08 * a["amplitude"] * s, like=u)


@_move("roll", "torso", 2.0, 0.55, "body roll: a wave from the chest down through the spine", depth=(0.1, 0.2, 0.3))
def _roll(u, a):
    ph = _phase(u, a, 2.0)
    d = a["depth"] * a["amplitude"]
    ang = np.pi * ph
    out = _torso_out(a, like=u)
    out["fwd3"] += d * np.sin(ang)
    out["fwd2"] += d * np.sin(ang - 0.9)
    out["fwd1"] += d * np.sin(ang - 1.8)
    out["nod"] -= 0.6 * d * np.sin(ang + 0.5)
    return out


@_move("shimmy", "torso", 0.5, 0.7, "quick shoulder shimmy, two shakes a beat", shake=(0.08, 0.16, 0.26))
def _shimmy(u, a):
    ph = _phase(u, a, 0.5)
    s = a["shake"] * a["amplitude"] * np.sin(2 * np.pi * ph / 0.5)
    return _torso_out(a, twist=0.6 * s, shimmy=s, like=u)


@_move("chest_pop", "torso", 1.0, 0.6, "chest pops forward on the beat", pop=(0.08, 0.18, 0.3))
def _chest_pop(u, a):
    p = _beat_pulse(u, a, 0.3)
    return _torso_out(a, fwd3=a["pop"] * a["amplitude"] * p, shrug=0.05 * p, like=u)


# Resting layer "moves" used when a layer is idle; they are not part of the counted vocabulary.
@_move("idle_arms", "arms", 2.0, 0.1, "arms relaxed, small swing with the beat")
def _idle_arms(u, a):
    ph = _phase(u, a, 2.0)
    s = 0.12 * a["amplitude"] * np.sin(np.pi * ph)
    elev = 0.25 + 0.5 * a["height"] + np.zeros_like(ph)
    return _arms_out((elev, 0.4 + s, 0.0, 0.35), (elev, 0.4 - s, 0.0, 0.35), {**a, "height": 0.0})


@_move("idle_torso", "torso", 1.0, 0.1, "upright, head nods on the beat")
def _idle_torso(u, a):
    return _torso_out(a, nod=0.06 * a["amplitude"] * _beat_pulse(u, a), like=u)


IDLE_MOVES = {"arms": "idle_arms", "torso": "idle_torso"}
VOCABULARY = tuple(n for n in MOVES if not n.startswith("idle_"))
MOVES_BY_LAYER = {lay: tuple(n for n in VOCABULARY if MOVES[n].layer == lay) for lay in LAYERS}


# --------------------------------------------------------------------------------------------------
# Programs
# --------------------------------------------------------------------------------------------------

@dataclass
class Overlay:
    """A pose held briefly on chosen beats of the bar (fine edits: 'right arm up on beats 2 and 4').

    kind: 'arm_raise' (params: arm 'l'|'r'|'both', elev rad), 'clap', 'punch' (arm), 'kick' (foot,
    height), 'dip' (depth). beats: 0-based beat numbers inside the bar.
    """
    kind: str
    beats: tuple[int, ...]
    params: dict[str, float | str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "beats": list(self.beats), "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: dict) -> "Overlay":
        return cls(d["kind"], tuple(int(b) for b in d["beats"]), dict(d.get("params", {})))


@dataclass
class Block:
    start: int          # beat index (into the song's beat times) where the block starts
    beats: int          # length in beats
    legs: dict          # {"move": name, **attrs}
    arms: dict
    torso: dict
    overlays: list[Overlay] = field(default_factory=list)

    def layer(self, name: str) -> dict:
        return getattr(self, name)

    def to_dict(self) -> dict:
        return {"start": self.start, "beats": self.beats, "legs": dict(self.legs), "arms": dict(self.arms),
                "torso": dict(self.torso), "overlays": [o.to_dict() for o in self.overlays]}

    @classmethod
    def from_dict(cls, d: dict) -> "Block":
        return cls(int(d["start"]), int(d["beats"]), dict(d["legs"]), dict(d["arms"]), dict(d["torso"]),
                   [Overlay.from_dict(o) for o in d.get("overlays", [])])


@dataclass
class Program:
    blocks: list[Block]
    style: str = ""

    def to_dict(self) -> dict:
        return {"style": self.style, "blocks": [b.to_dict() for b in self.blocks]}

    @classmethod
    def from_dict(cls, d: dict) -> "Program":
        return cls([Block.from_dict(b) for b in d["blocks"]], d.get("style", ""))

    def copy(self) -> "Program":
        return copy.deepcopy(self)

    def moves(self, layer: str | None = None) -> set[str]:
        lays = LAYERS if layer is None else (layer,)
        return {b.layer(lay)["move"] for b in self.blocks for lay in lays}


def layer_spec(move: str, **attrs: float) -> dict:
    """A layer entry: the move with all its attributes (defaults filled in, values clipped)."""
    if move not in MOVES:
        raise KeyError(f"unknown move {move!r}; known: {', '.join(MOVES)}")
    spec = MOVES[move]
    out = {"move": move, **spec.defaults()}
    for k, v in attrs.items():
        if k in spec.attrs:
            out[k] = float(v)
    return clip_layer(out)


def clip_layer(layer: dict) -> dict:
    spec = MOVES[layer["move"]]
    for k, (lo, _, hi) in spec.attrs.items():
        layer[k] = float(np.clip(layer.get(k, spec.attrs[k][1]), lo, hi))
    return layer


# --------------------------------------------------------------------------------------------------
# The synthesiser
# --------------------------------------------------------------------------------------------------

def beat_coordinate(times: np.ndarray, beat_times: np.ndarray) -> np.ndarray:
    """Continuous beat index for times (s): 0 at the first beat, 1 at the second..., extrapolated
    with the first / last beat period outside the beat list."""
    bt = np.asarray(beat_times, dtype=np.float64)
    if bt.ndim != 1 or len(bt) < 2:
        raise ValueError(f"need at least 2 beat times, got {bt.shape}")
    idx = np.arange(len(bt), dtype=np.float64)
    b = np.interp(times, bt, idx)
    p0, p1 = bt[1] - bt[0], bt[-1] - bt[-2]
    b = np.where(times < bt[0], (times - bt[0]) / p0, b)
    b = np.where(times > bt[-1], len(bt) - 1 + (times - bt[-1]) / p1, b)
    return b


def bar_position(beat_idx: np.ndarray, beat_times: np.ndarray, downbeat_times: np.ndarray | None) -> np.ndarray:
    """Beat number inside the bar (0 = downbeat) of each integer beat index; 4/4 if no downbeats."""
    beat_idx = np.asarray(beat_idx, dtype=np.int64)
    if downbeat_times is None or len(downbeat_times) == 0:
        return np.mod(beat_idx, 4)
    bt = np.asarray(beat_times)
    down_idx = np.unique(np.clip(np.searchsorted(bt, np.asarray(downbeat_times) - 1e-3), 0, len(bt) - 1))
    k = np.searchsorted(down_idx, beat_idx, side="right") - 1
    first = down_idx[0]
    pos = np.where(k >= 0, beat_idx - down_idx[np.maximum(k, 0)], np.mod(beat_idx - first, 4))
    return np.mod(pos, 8)


@dataclass
class Dance:
    """Synthesised motion. rotmats (T,24,3,3) local; root (T,3); joints (T,24,3); contacts (T,4)."""
    rotmats: np.ndarray
    root: np.ndarray
    joints: np.ndarray
    contacts: np.ndarray
    fps: int = FPS

    def motion(self) -> np.ndarray:
        """(T, 151) float32 in the layout of model.motion (contacts, root, 24 x 6D)."""
        import torch  # noqa: PLC0415

        from model.motion import encode  # noqa: PLC0415
        m = encode(torch.as_tensor(self.rotmats, dtype=torch.float32), torch.as_tensor(self.root, dtype=torch.float32),
                   torch.as_tensor(self.contacts, dtype=torch.float32))
        return m.numpy()


BLEND_BEATS = 0.5  # cross-fade half-width between blocks, in beats


# Shortest time one beat of a move may take, seconds (a move at speed 2 on a 170 BPM song would make
# a beat of 0.18 s: faster than a body can do it). Faster requests fall back by halves of the speed.
MIN_MOVE_BEAT = {"legs": 0.28, "arms": 0.22, "torso": 0.2}
MIN_MOVE_BEAT_BY_MOVE = {"turn": 0.42, "jump": 0.36, "kick": 0.32, "lunge": 0.36, "behind_step": 0.3, "twist": 0.4}


def effective_speed(move: str, speed: float, beat_period: float) -> float:
    """The speed a move is really danced at: `speed`, halved until one move beat lasts at least
    MIN_MOVE_BEAT seconds."""
    spec = MOVES[move]
    limit = MIN_MOVE_BEAT_BY_MOVE.get(move, MIN_MOVE_BEAT[spec.layer])
    while speed > 0.5 and beat_period / speed < limit:
        speed /= 2.0
    return speed


def _block_beat_period(beat_times: np.ndarray, start: int, beats: int) -> float:
    bt = np.asarray(beat_times, dtype=np.float64)
    lo, hi = int(np.clip(start, 0, len(bt) - 2)), int(np.clip(start + beats + 1, 2, len(bt)))
    d = np.diff(bt[lo:hi]) if hi - lo >= 2 else np.diff(bt[-2:])
    return float(np.median(d))


def _eval_layers(program: Program, b: np.ndarray, beat_times: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Blend every block's layers into full-length channel arrays. Returns channels, heading."""
    T = len(b)
    chans = {name: np.zeros(T) for lay in LAYERS for name in CHANNELS[lay]}
    blocks = sorted(program.blocks, key=lambda blk: blk.start)
    if not blocks:
        raise ValueError("program has no blocks")
    heading_total = 0.0
    heading = np.zeros(T)
    h = BLEND_BEATS
    for i, blk in enumerate(blocks):
        s0 = -np.inf if i == 0 else blk.start
        s1 = np.inf if i == len(blocks) - 1 else blk.start + blk.beats
        w = (smoothstep((b - s0 + h) / (2 * h)) if np.isfinite(s0) else 1.0) - \
            (smoothstep((b - s1 + h) / (2 * h)) if np.isfinite(s1) else 0.0)
        w = np.broadcast_to(np.asarray(w, dtype=np.float64), (T,))
        idx = np.nonzero(w > 1e-9)[0]
        u_full = b - blk.start
        bp = _block_beat_period(beat_times, blk.start, blk.beats)
        for lay in LAYERS:
            entry = blk.layer(lay)
            spec = MOVES[entry["move"]]
            attrs = {**spec.defaults(), **{k: v for k, v in entry.items() if k != "move"}}
            if "speed" in attrs:
                attrs["speed"] = effective_speed(entry["move"], attrs["speed"], bp)
            if attrs.get("speed", 1.0) > 1.0 and "amplitude" in attrs:
                # faster moves get smaller, as dancers do in double time (keeps limb speeds human)
                attrs["amplitude"] *= attrs["speed"] ** -0.4
            if len(idx) == 0:
                continue
            u = u_full[idx]
            out = spec.fn(u, attrs)
            neutral = CHANNELS[lay]
            if lay == "legs":
                for k in ("lx", "rx"):
                    neutral = {**neutral, k: (1 if k == "lx" else -1) * attrs["width"] / 2}
                # the heading of a block is relative to where the previous block left the dancer
                hd = out.get("heading", None)
                hd = np.zeros(len(idx)) if hd is None else np.asarray(hd)
                # clamp the extrapolated margin before the block start (no turning in the fade-in)
                end_val = 0.0
                if "heading" in out:
                    uend = np.array([blk.beats - 1e-6], dtype=np.float64)
                    end_val = float(np.asarray(spec.fn(uend, attrs)["heading"]).reshape(-1)[0])
                hd = np.where(u < 0, 0.0, np.where(u >= blk.beats, end_val, hd))
                heading[idx] += w[idx] * (heading_total + hd)
                heading_total += end_val
            for name in CHANNELS[lay]:
                if name == "heading":
                    continue
                v = out.get(name, None)
                v = np.full(len(idx), neutral[name]) if v is None else np.broadcast_to(np.asarray(v, dtype=np.float64), (len(idx),))
                chans[name][idx] += w[idx] * v
    return chans, heading


def _apply_overlays(program: Program, chans: dict[str, np.ndarray], b: np.ndarray, beat_times, downbeat_times) -> None:
    """Blend brief poses onto chosen beats of the bar (in place)."""
    for blk in program.blocks:
        for ov in blk.overlays:
            lo, hi = blk.start, blk.start + blk.beats
            beats = np.arange(lo, hi)
            pos = bar_position(beats, beat_times, downbeat_times)
            if ov.params.get("hold"):
                # held for the whole block, faded in and out like a block change
                h = BLEND_BEATS
                w = smoothstep((b - lo + h) / (2 * h)) - smoothstep((b - hi + h) / (2 * h))
            else:
                chosen = beats[np.isin(pos % 4, np.asarray(ov.beats))]
                if len(chosen) == 0:
                    continue
                # weight: raised cosine around each chosen beat, 0.45 beat (and at least 0.25 s) wide
                width = max(0.45, 0.25 / _block_beat_period(beat_times, lo, hi - lo))
                d = b[:, None] - chosen[None, :].astype(np.float64)
                w = np.clip(_pulse(d, width).max(axis=1), 0, 1)
            p = ov.params
            if ov.kind == "arm_raise":
                arms = ("l_", "r_") if p.get("arm", "both") == "both" else (f"{p['arm']}_",)
                for pre in arms:
                    for k, v in (("elev", float(p.get("elev", 1.57))), ("azim", float(p.get("azim", 0.35))),
                                 ("elbow", 0.1), ("twist", 0.0)):
                        chans[pre + k] = (1 - w) * chans[pre + k] + w * v
            elif ov.kind == "clap":
                for pre in ("l_", "r_"):
                    for k, v in (("elev", 0.95), ("azim", 1.72), ("elbow", 1.15), ("twist", 0.0)):
                        chans[pre + k] = (1 - w) * chans[pre + k] + w * v
            elif ov.kind == "punch":
                pre = f"{p.get('arm', 'r')}_"
                for k, v in (("elev", 1.55), ("azim", 1.45), ("elbow", 0.05), ("twist", 0.0)):
                    chans[pre + k] = (1 - w) * chans[pre + k] + w * v
            elif ov.kind == "kick":
                f = str(p.get("foot", "r"))
                hgt = float(p.get("height", 0.35))
                chans[f + "lift"] = np.maximum(chans[f + "lift"], w * hgt)
                chans[f + "z"] = chans[f + "z"] + w * (0.25 + 0.4 * hgt)
                chans[f + "pitch"] = chans[f + "pitch"] + 0.8 * w
            elif ov.kind == "dip":
                chans["drop"] = chans["drop"] + w * float(p.get("depth", 0.08))


# Fastest joint-angle change allowed, rad/s: keeps hands under about 10 m/s (a fast punch) whatever
# blend of moves, overlays and tempo asked for.
MAX_RATE = {"elev": 8.0, "azim": 8.0, "elbow": 12.0, "twist": 10.0}


def _limit_rates(ch: dict[str, np.ndarray], fps: int) -> None:
    """Clamp the frame-to-frame change of the arm angle channels (in place)."""
    names = [p + k for p in ("l_", "r_") for k in MAX_RATE]
    x = np.stack([ch[n] for n in names], axis=1)  # (T, C)
    lim = np.array([MAX_RATE[n[2:]] / fps for n in names])
    out = x.copy()
    for t in range(1, len(x)):
        out[t] = out[t - 1] + np.clip(x[t] - out[t - 1], -lim, lim)
    for i, n in enumerate(names):
        ch[n] = out[:, i]


def _plant(pos: np.ndarray, lift: np.ndarray, yaw: np.ndarray, eps: float = 1e-4):
    """Hold a foot where it landed while it is planted; smoothly correct it while it swings.

    pos (T, 2) wished-for ground position, lift (T,), yaw (T,). Returns pos, lift, yaw actually used:
    a swing that travels gets an arc of at least a quarter of its length (up to 12 cm), so a foot never
    scrapes across the floor, whatever blend of moves asked for the step.
    """
    T = len(lift)
    planted = lift < eps
    if not planted.any():
        return pos, lift, yaw
    t = np.arange(T)
    # index of the first frame of each planted run, forward-filled over the run
    starts = planted & ~np.concatenate([[False], planted[:-1]])
    run_start = np.maximum.accumulate(np.where(starts, t, 0))
    corr = np.zeros((T, 3))
    vals = np.concatenate([pos, yaw[:, None]], axis=1)
    corr[planted] = vals[run_start[planted]] - vals[planted]
    # swing frames: smooth blend between the correction of the previous and the next planted frame
    prev_p = np.maximum.accumulate(np.where(planted, t, -1))
    next_p = np.minimum.accumulate(np.where(planted, t, T)[::-1])[::-1]
    swing = ~planted
    has_prev, has_next = prev_p >= 0, next_p < T
    pp = np.clip(prev_p, 0, T - 1)
    nn = np.clip(next_p, 0, T - 1)
    c_prev = np.where(has_prev[:, None], corr[pp], corr[nn])
    c_next = np.where(has_next[:, None], corr[nn], c_prev)
    alpha = np.where(has_prev & has_next, (t - prev_p) / np.maximum(next_p - prev_p, 1), 0.0)
    alpha = smoothstep(alpha)[:, None]
    corr[swing] = ((1 - alpha) * c_prev + alpha * c_next)[swing]
    out = vals + corr
    both = has_prev & has_next & swing
    dist = np.linalg.norm(out[nn, :2] - out[pp, :2], axis=-1)
    frac = np.where(both, (t - prev_p) / np.maximum(next_p - prev_p, 1), 0.0)
    arc = np.minimum(0.25 * dist, 0.12) * np.sin(np.pi * frac)
    lift = np.where(both, np.maximum(lift, arc), lift)
    return out[:, :2], lift, out[:, 2]


_HIP = {"l": 1, "r": 2}
_KNEE = {"l": 4, "r": 5}
_ANKLE = {"l": 7, "r": 8}
_TOE = {"l": 10, "r": 11}
# Ankle height above the floor when the foot is flat and its toe joint touches the floor.
ANKLE_FLOOR = {s: float(SOLE_THICKNESS - REST_OFFSETS[_TOE[s], 1]) for s in "lr"}


def _knee_solution(s: str):
    a, bb = REST_OFFSETS[_KNEE[s]].astype(np.float64), REST_OFFSETS[_ANKLE[s]].astype(np.float64)
    la2, lb2 = a @ a, bb @ bb
    K = a[0] * bb[0]
    P = a[1] * bb[1] + a[2] * bb[2]
    Q = a[2] * bb[1] - a[1] * bb[2]
    return a, bb, la2, lb2, K, P, Q


_KNEE_SOL = {s: _knee_solution(s) for s in "lr"}
KNEE_MIN, KNEE_MAX = 0.03, 2.4


def _leg_reach(s: str, theta: float) -> float:
    a, bb = REST_OFFSETS[_KNEE[s]].astype(np.float64), REST_OFFSETS[_ANKLE[s]].astype(np.float64)
    return float(np.linalg.norm(a + rot_x(np.array(theta)) @ bb))


LEG_REACH = {s: _leg_reach(s, 0.12) for s in "lr"}  # keep a slight knee bend when "straight"


def _leg_ik(s: str, hip_pos, pelvis_R, target, foot_R):
    """Two-bone IK. hip_pos, target (T,3); pelvis_R, foot_R (T,3,3) world. Returns local hip, knee,
    ankle rotations (T,3,3) each."""
    a, bb, la2, lb2, K, P, Q = _KNEE_SOL[s]
    dvec = target - hip_pos
    dmin = _leg_reach(s, KNEE_MAX)
    d = np.clip(np.linalg.norm(dvec, axis=-1), dmin, _leg_reach(s, KNEE_MIN))
    M, phi = np.hypot(P, Q), np.arctan2(Q, P)
    D = (d * d - la2 - lb2) / 2 - K
    theta = np.clip(phi + np.arccos(np.clip(D / M, -1, 1)), KNEE_MIN, KNEE_MAX)
    knee = rot_x(theta)
    v = a + np.einsum("tij,j->ti", knee, bb)  # hip -> ankle in the hip frame
    u1 = _normalize(v)
    xh = np.array([1.0, 0.0, 0.0])
    u2 = _normalize(xh - (u1 @ xh)[:, None] * u1)
    U = np.stack([u1, u2, np.cross(u1, u2)], axis=-1)
    w1 = _normalize(dvec)
    kax = _normalize(pelvis_R[:, :, 0] + foot_R[:, :, 0])  # knee hinge axis: between pelvis and foot
    w2 = _normalize(kax - np.sum(kax * w1, -1, keepdims=True) * w1)
    W = np.stack([w1, w2, np.cross(w1, w2)], axis=-1)
    G = W @ np.swapaxes(U, -1, -2)
    hip_local = np.swapaxes(pelvis_R, -1, -2) @ G
    ankle_local = np.swapaxes(G @ knee, -1, -2) @ foot_R
    return hip_local, knee, ankle_local


def synthesize(program: Program, beat_times: np.ndarray, n_frames: int, start_time: float = 0.0,
               downbeat_times: np.ndarray | None = None, fps: int = FPS) -> Dance:
    """Render a dance program on a song's beats.

    beat_times: (B,) seconds; frames are at start_time + i / fps for i < n_frames.
    Returns a Dance with rotmats (T,24,3,3), root (T,3), joints (T,24,3), contacts (T,4).
    """
    if n_frames < 2:
        raise ValueError("need at least 2 frames")
    T = int(n_frames)
    times = start_time + np.arange(T) / fps
    b = beat_coordinate(times, beat_times)
    ch, heading = _eval_layers(program, b, beat_times)
    _apply_overlays(program, ch, b, beat_times, downbeat_times)
    _limit_rates(ch, fps)

    # Downbeat accent: a slightly deeper dip on the first beat of each bar.
    bi = np.round(b).astype(np.int64)
    on_down = bar_position(bi, beat_times, downbeat_times) == 0
    ch["drop"] = ch["drop"] + 0.012 * on_down * _pulse(b - bi, 0.35)

    # ---- feet in the world -----------------------------------------------------------------------
    cy, sy = np.cos(heading), np.sin(heading)

    def to_world(x, z):  # dance frame -> world (rotation about +y by heading)
        return np.stack([cy * x + sy * z, -sy * x + cy * z], axis=-1)

    feet = {}
    for s in "lr":
        lift = np.maximum(ch[s + "lift"], 0.0)
        pos, lift, yaw = _plant(to_world(ch[s + "x"], ch[s + "z"]), lift, heading + ch[s + "yaw"])
        feet[s] = (pos, lift, yaw, np.clip(ch[s + "pitch"], -0.3, 1.2))

    # ---- pelvis ---------------------------------------------------------------------------------
    (lp, ll, _, _), (rp, rl, _, _) = feet["l"], feet["r"]
    mid = 0.5 * (lp + rp)
    # shift the weight toward the foot on the floor
    shift = np.clip((rl - ll) / 0.06, -1, 1)[:, None] * 0.3 * 0.5 * (lp - rp)
    poff = to_world(ch["px"] + ch["hip_x"], ch["pz"])
    pel_xz = mid + shift + poff
    pyaw = heading + np.clip(ch["pyaw"], -0.8, 0.8)
    pel_R = rot_y(pyaw) @ rot_z(np.clip(ch["proll"] - 0.8 * ch["hip_x"], -0.3, 0.3))
    want_y = STANDING_PELVIS_HEIGHT - np.clip(ch["drop"], -0.02, 0.35) + np.maximum(ch["jump"], 0.0)
    bound = np.full(T, np.inf)
    targets = {}
    for s in "lr":
        pos, lift, yaw, pitch = feet[s]
        # a pointed foot raises the ankle so the toe never goes through the floor
        toe = REST_OFFSETS[_TOE[s]].astype(np.float64)
        toe_y = toe[1] * np.cos(pitch) - toe[2] * np.sin(pitch)
        ay = np.maximum(ANKLE_FLOOR[s] + lift, SOLE_THICKNESS - toe_y)
        targets[s] = np.stack([pos[:, 0], ay, pos[:, 1]], axis=-1)
        hip_off = np.einsum("tij,j->ti", pel_R, REST_OFFSETS[_HIP[s]].astype(np.float64))
        h2 = np.sum((pel_xz + hip_off[:, [0, 2]] - pos) ** 2, axis=-1)
        reach = LEG_REACH[s] * 0.995
        can = ay + np.sqrt(np.maximum(reach ** 2 - h2, 1e-4)) - hip_off[:, 1]
        # a lifted foot only limits the pelvis while it is nearly on the floor
        bound = np.minimum(bound, can + 8.0 * np.maximum(lift - 0.02, 0.0))
    pel_y = np.minimum(want_y, bound)
    root = np.stack([pel_xz[:, 0], pel_y, pel_xz[:, 1]], axis=-1)

    R = np.tile(np.eye(3), (T, 24, 1, 1))
    R[:, 0] = pel_R
    for s in "lr":
        pos, lift, yaw, pitch = feet[s]
        foot_R = rot_y(yaw) @ rot_x(pitch)
        hip_pos = root + np.einsum("tij,j->ti", pel_R, REST_OFFSETS[_HIP[s]].astype(np.float64))
        tgt = targets[s].copy()
        # joint limit for kicks and knee lifts: the ankle stays 20 cm below the hip (about 100 degrees
        # of hip flexion at most)
        tgt[:, 1] = np.minimum(tgt[:, 1], hip_pos[:, 1] - 0.2)
        R[:, _HIP[s]], R[:, _KNEE[s]], R[:, _ANKLE[s]] = _leg_ik(s, hip_pos, pel_R, tgt, foot_R)
        R[:, _TOE[s]] = rot_x(-0.6 * np.clip(pitch, 0, 1) * (lift < 0.05))  # toes flex when the heel is up

    # ---- spine, head ------------------------------------------------------------------------------
    side = np.clip(ch["side"], -0.45, 0.45)
    twist = np.clip(ch["twist"] - 0.5 * np.clip(ch["pyaw"], -0.8, 0.8), -0.6, 0.6)  # shoulders stay square-ish
    for j, k in ((3, "fwd1"), (6, "fwd2"), (9, "fwd3")):
        R[:, j] = rot_y(twist / 3) @ rot_x(np.clip(ch[k], -0.35, 0.45)) @ rot_z(-side / 3)
    R[:, 12] = rot_x(np.clip(0.5 * ch["nod"], -0.4, 0.4))
    R[:, 15] = rot_x(np.clip(0.5 * ch["nod"], -0.4, 0.4)) @ rot_z(np.clip(ch["tilt"] + 0.4 * side, -0.3, 0.3))
    sh, shm = np.clip(ch["shrug"], 0, 0.3), np.clip(ch["shimmy"], -0.3, 0.3)
    R[:, 13] = rot_z(sh) @ rot_y(shm)
    R[:, 14] = rot_z(-sh) @ rot_y(shm)

    # ---- arms (left computed directly, right through the left-right mirror) --------------------------
    for pre, (sj, ej, wj), mirror in (("l_", (16, 18, 20), False), ("r_", (17, 19, 21), True)):
        d = np.stack(_dir(np.clip(ch[pre + "elev"], 0.02, 3.0), np.clip(ch[pre + "azim"], -0.7, 2.3)), axis=-1)
        sw = _swing_from_x(d) @ rot_x(np.clip(ch[pre + "twist"], -1.6, 1.6))
        el = rot_y(-np.clip(ch[pre + "elbow"], 0.0, 2.4))
        wr = rot_z(np.clip(ch[pre + "wrist"], -0.6, 0.6))
        if mirror:
            sw, el, wr = MIRROR @ sw @ MIRROR, MIRROR @ el @ MIRROR, MIRROR @ wr @ MIRROR
        R[:, sj], R[:, ej], R[:, wj] = sw, el, wr

    joints = forward_kinematics_np(R, root)
    from model.motion import contact_labels  # noqa: PLC0415
    contacts = contact_labels(joints)
    return Dance(rotmats=R.astype(np.float32), root=root.astype(np.float32), joints=joints,
                 contacts=np.asarray(contacts, dtype=np.float32), fps=fps)


# --------------------------------------------------------------------------------------------------
# Choosing a dance for the music
# --------------------------------------------------------------------------------------------------

# Style preferences: a weight multiplier per move (missing = 1).
STYLE_PREFS: dict[str, dict[str, float]] = {
    "house": {"jog": 2.5, "side_step": 2.0, "behind_step": 2.0, "bounce": 1.5, "shimmy": 1.5, "point": 1.5},
    "hiphop": {"bounce": 2.5, "rock_step": 2.0, "lunge": 1.5, "punch": 2.5, "roll": 2.0, "chest_pop": 2.5},
    "hip-hop": {"bounce": 2.5, "rock_step": 2.0, "lunge": 1.5, "punch": 2.5, "roll": 2.0, "chest_pop": 2.5},
    "pop": {"step_touch": 2.5, "side_step": 2.0, "clap": 2.5, "raise": 2.0, "wave": 2.0, "sway": 1.5},
    "funk": {"twist": 2.5, "cross_step": 2.0, "point": 2.5, "arm_roll": 2.0, "shimmy": 2.0},
    "latin": {"cross_step": 2.0, "rock_step": 2.5, "turn": 2.0, "sway": 2.5, "circle": 1.5, "shimmy": 1.5},
    "dnb": {"jog": 2.0, "kick": 2.0, "knee_lift": 2.0, "jump": 2.0, "punch": 1.5},
    "lofi": {"bounce": 3.0, "step_touch": 2.0, "sway": 3.0, "idle_arms": 2.0, "swing": 2.0, "wave": 1.5, "lean": 2.0},
    "rock": {"jump": 2.0, "kick": 2.0, "bounce": 2.0, "raise": 2.5, "punch": 2.0, "lean": 2.0},
}


def _style_key(style: str) -> str:
    s = (style or "").lower().replace("_", "-")
    if s.startswith("dnb") or "drum" in s:
        return "dnb"
    for k in STYLE_PREFS:
        if s and (k in s or s in k):
            return k
    return s


def _pick(rng: np.random.Generator, layer: str, style: str, energy: float, exclude: tuple[str, ...] = ()) -> str:
    names = [n for n in MOVES_BY_LAYER[layer] if n not in exclude]
    prefs = STYLE_PREFS.get(_style_key(style), {})
    w = np.array([prefs.get(n, 1.0) * np.exp(-((MOVES[n].energy - energy) ** 2) / 0.12) for n in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def random_layer(rng: np.random.Generator, move: str, energy: float = 0.6) -> dict:
    """A layer entry for `move` with attributes drawn around their defaults, scaled by energy."""
    spec = MOVES[move]
    out = {"move": move}
    for k, (lo, d, hi) in spec.attrs.items():
        if k == "speed":
            out[k] = 1.0
        elif k == "side":
            out[k] = float(rng.choice([0.0, 0.0, 0.0, 1.0, -1.0]))
        elif k == "direction":
            out[k] = float(rng.choice([-1.0, 1.0]))
        elif k == "amount":  # half or full turns, so the dancer ends facing front or back
            out[k] = float(rng.choice([0.5, 1.0, 1.0]))
        else:
            # stay in the inner part of the range, so that edits have room both ways
            lo2, hi2 = d - 0.45 * (d - lo), d + 0.45 * (hi - d)
            out[k] = float(rng.uniform(lo2, hi2))
    if "amplitude" in out:
        out["amplitude"] = float(np.clip(out["amplitude"] * (0.75 + 0.4 * energy), 0.5, 1.3))
    return clip_layer(out)


def song_energy(sections: list[dict] | None, t: float) -> tuple[float, bool]:
    """(energy 0..1, has_drums) of the song section at time t."""
    for sec in sections or []:
        if sec["start"] <= t < sec["end"]:
            return float(sec.get("energy", 0.6)), bool(sec.get("has_drums", True))
    return 0.6, True


def make_program(rng: np.random.Generator, beat_times: np.ndarray, start_beat: int, n_beats: int,
                 style: str = "", sections: list[dict] | None = None, downbeat_times: np.ndarray | None = None,
                 block_beats: int = 4) -> Program:
    """A seed dance for beats [start_beat, start_beat + n_beats): one block per `block_beats` beats,
    moves picked by style and section energy (breakdowns without drums get calmer, smaller moves),
    phrases repeating like real choreography (A A B A ...)."""
    bt = np.asarray(beat_times)
    # align block starts to a downbeat when we know them
    if downbeat_times is not None and len(downbeat_times):
        pos = bar_position(np.arange(start_beat, start_beat + 4), bt, downbeat_times)
        start_beat += int(np.argmax(pos == 0)) if (pos == 0).any() else 0
    palette: dict[tuple[str, bool], list[dict]] = {}
    blocks = []
    for i, s in enumerate(range(start_beat - block_beats if start_beat >= block_beats else start_beat,
                                start_beat + n_beats + block_beats, block_beats)):
        t = float(bt[min(max(s, 0), len(bt) - 1)])
        energy, drums = song_energy(sections, t)
        if not drums:
            energy = min(energy, 0.3)
        key = ("calm" if energy < 0.4 else "mid" if energy < 0.7 else "high", drums)
        pal = palette.setdefault(key, [])
        if len(pal) < 2 or rng.random() < 0.25:
            layers = {}
            for lay in LAYERS:
                if lay == "torso" and rng.random() < 0.35:
                    mv = "idle_torso"
                elif lay == "arms" and rng.random() < 0.1:
                    mv = "idle_arms"
                else:
                    mv = _pick(rng, lay, style, energy)
                layers[lay] = random_layer(rng, mv, energy)
                if not drums and "speed" in layers[lay] and MOVES[mv].energy > 0.5:
                    layers[lay]["speed"] = 0.5
            pal.append(layers)
        layers = pal[int(rng.integers(len(pal)))] if len(pal) >= 2 and rng.random() < 0.6 else pal[-1]
        blocks.append(Block(int(s), block_beats, **copy.deepcopy(layers)))
    return Program(blocks, style)
