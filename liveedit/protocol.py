"""The wire protocol, sans-I/O: parse control input into `Command`s and encode `PoseFrame`s.

No sockets, no asyncio, no clock reads: every function takes bytes/values and returns values, so the
adapters in `liveedit.io` stay thin and everything here is unit-testable. docs/protocol.md is the
human-readable twin of this module; keep them in step (PROTOCOL_VERSION bumps on a breaking change).
"""
from __future__ import annotations

import ipaddress
import json
import math
import re
import struct
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from liveedit.core.beats import TEMPO_RANGE
from liveedit.core.messages import PROTOCOL_VERSION, ActiveEdit, Command, PoseFrame, Reply
from model.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS

# ---- limits shared by every control channel (docs/protocol.md section 1) ----
MAX_PROMPT_CHARS = 200
MAX_DURATION_BEATS = 1024.0
MIN_DURATION_BEATS = 0.25      # shorter edits end before any window could show them
MAX_JSON_NUMBER_CHARS = 64     # digits of a number in a WebSocket message (Python's int() is quadratic)
STRENGTH_RANGE = (0.0, 10.0)
# TEMPO_RANGE (20-300 BPM) comes from liveedit.core.beats, which enforces it for tap tempo and MIDI clock too.
TEMPO_RELEASE_WORDS = ("auto", "release", "off")   # `/tempo auto` = `/tempo 0`: back to tracking
MAX_OSC_PACKET = 4096          # bytes
MAX_WS_MESSAGE = 64 * 1024     # bytes
BEATS_PER_BAR = 4

FPS = 30
SERVER_NAME = "liveedit 0.1.0"



class ProtocolError(ValueError):
    """Input that does not follow the protocol. `kind` is the request kind when it was understood."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.id: str | int | None = None   # a WebSocket request's "id", when it was read


# ---- validation: one place, so every channel applies the same rules ----

def _finite_number(value: Any, what: str, kind: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{what} must be a number, got {type(value).__name__}", kind)
    try:
        x = float(value)
    except OverflowError:  # an int with hundreds of digits
        raise ProtocolError(f"{what} is out of range (an integer too large for a float)", kind) from None
    if not math.isfinite(x):
        raise ProtocolError(f"{what} must be finite, got {x}", kind)
    return x


# Characters that end up as a space (whitespace, controls, line/paragraph separators) or are removed
# (format characters: zero-width spaces, bidirectional overrides); surrogates, private-use and
# unassigned code points are refused.
_SPACE_CATEGORIES = {"Cc", "Zs", "Zl", "Zp"}
_REFUSED_CATEGORIES = {"Cs": "a lone surrogate", "Co": "a private-use character", "Cn": "an unassigned code point"}


def clean_prompt(text: Any) -> str:
    """The one normalisation of edit text before it can reach the model: NFC, whitespace and control
    characters become single spaces, format characters are dropped, and the result is printable,
    encodable UTF-8 of 1 to MAX_PROMPT_CHARS characters (else ProtocolError)."""
    if not isinstance(text, str):
        raise ProtocolError(f"edit text must be a string, got {type(text).__name__}", "edit")
    if len(text) > 8 * MAX_PROMPT_CHARS:  # no need to normalise kilobytes to refuse them
        raise ProtocolError(f"edit text is {len(text)} characters; at most {MAX_PROMPT_CHARS}", "edit")
    out = []
    for c in unicodedata.normalize("NFC", text):
        if c.isprintable():
            out.append(c)
            continue
        cat = unicodedata.category(c)
        if cat in _SPACE_CATEGORIES:
            out.append(" ")
        elif cat in _REFUSED_CATEGORIES:
            raise ProtocolError(f"edit text holds {_REFUSED_CATEGORIES[cat]} (U+{ord(c):04X}); send plain Unicode text", "edit")
        # other categories (Cf) are dropped
    text = " ".join("".join(out).split())
    if not text:
        raise ProtocolError("edit text is empty", "edit")
    if len(text) > MAX_PROMPT_CHARS:
        raise ProtocolError(f"edit text is {len(text)} characters; at most {MAX_PROMPT_CHARS}", "edit")
    return text


def make_command(kind: str, *, text: str = "", value: Any = None, source: str = "", received: float = 0.0) -> Command:
    """A validated `Command` (raises ProtocolError with a message a user can act on)."""
    if kind == "edit":
        text = clean_prompt(text)
        if value is not None:
            value = _finite_number(value, "edit duration (beats)", kind)
            if not MIN_DURATION_BEATS <= value <= MAX_DURATION_BEATS:
                raise ProtocolError(f"edit duration must be between {MIN_DURATION_BEATS:g} and {MAX_DURATION_BEATS:g} "
                                    f"beats, got {value:.6g}", kind)
        return Command("edit", text=text, value=value, source=source, received=received)
    if kind == "strength":
        if value is None:
            raise ProtocolError("strength needs a value", kind)
        x = _finite_number(value, "strength", kind)
        lo, hi = STRENGTH_RANGE
        if not lo <= x <= hi:
            raise ProtocolError(f"strength must be between {lo:g} and {hi:g}, got {x:g}", kind)
        return Command("strength", value=x, source=source, received=received)
    if kind == "tempo":
        if value is None:
            raise ProtocolError("tempo needs a bpm value (or 0 / \"auto\" to release it)", kind)
        if isinstance(value, str) and value.strip().lower() in TEMPO_RELEASE_WORDS:
            value = 0.0
        x = _finite_number(value, "tempo (bpm)", kind)
        lo, hi = TEMPO_RANGE
        if x != 0 and not lo <= x <= hi:
            raise ProtocolError(f"tempo must be between {lo:g} and {hi:g} bpm, or 0 / \"auto\" to release "
                                f"it, got {x:g}", kind)
        return Command("tempo", value=x, source=source, received=received)
    if kind in ("undo", "reset", "tap", "status"):
        return Command(kind, source=source, received=received)  # type: ignore[arg-type]
    raise ProtocolError(f"unknown command {kind!r}")


# ---- OSC control ----

OSC_COMMANDS = ("edit", "undo", "reset", "strength", "tempo", "tap", "status")
OSC_PREFIX = "/liveedit"
OSC_REPLY_ADDRESS = "/liveedit/reply"


def osc_kind(address: str) -> str | None:
    """`/edit` or `/liveedit/edit` -> "edit"; `/auth` -> "auth"; anything else -> None."""
    if address.startswith(OSC_PREFIX + "/"):
        address = address[len(OSC_PREFIX):]
    name = address[1:] if address.startswith("/") else ""
    return name if name in OSC_COMMANDS or name == "auth" else None


def parse_osc(address: str, args: Sequence[Any], *, source: str = "", received: float = 0.0) -> Command:
    """One OSC message -> Command. String args of /edit are joined with spaces; one number = duration."""
    kind = osc_kind(address)
    if kind is None or kind == "auth":
        raise ProtocolError(f"unknown OSC address {address!r}; known: " + ", ".join("/" + k for k in OSC_COMMANDS))
    if kind == "edit":
        words = [a for a in args if isinstance(a, str)]
        numbers = [a for a in args if not isinstance(a, str)]
        if not words:
            raise ProtocolError("/edit needs a prompt string, e.g. /edit \"swing arms wider\" [beats]", kind)
        if len(numbers) > 1:
            raise ProtocolError(f"/edit takes at most one number (duration in beats), got {len(numbers)}", kind)
        duration = numbers[0] if numbers else None
        return make_command("edit", text=" ".join(words), value=duration, source=source, received=received)
    if kind in ("strength", "tempo"):
        if len(args) != 1:
            raise ProtocolError(f"/{kind} takes exactly one number, got {len(args)} arguments", kind)
        return make_command(kind, value=args[0], source=source, received=received)
    if args:
        raise ProtocolError(f"/{kind} takes no arguments, got {len(args)}", kind)
    return make_command(kind, source=source, received=received)


def osc_reply_args(kind: str, reply: Reply) -> list[Any]:
    """Arguments of `/liveedit/reply`: kind, ok (1/0), message, data as JSON text."""
    return [kind, 1 if reply.ok else 0, reply.message, json.dumps(_jsonable(reply.data), separators=(",", ":"))]


# ---- WebSocket control ----

@dataclass(frozen=True)
class Subscribe:
    format: str = "json"   # "json" | "binary"
    joints: bool = True


@dataclass(frozen=True)
class Unsubscribe:
    pass


@dataclass(frozen=True)
class Auth:
    token: str


WsMessage = Command | Subscribe | Unsubscribe | Auth


@dataclass(frozen=True)
class WsRequest:
    """A parsed client message: what it asks, its echo id, and a token it carried (if any)."""

    message: WsMessage
    id: str | int | None = None
    token: str | None = None


def _json_int(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise ProtocolError(f"a number of {len(text)} digits is out of range; at most {MAX_JSON_NUMBER_CHARS}")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise ProtocolError(f"a number of {len(text)} characters is out of range; at most {MAX_JSON_NUMBER_CHARS}")
    return float(text)


def _json_constant(name: str) -> float:
    raise ProtocolError(f"{name} is not a JSON number; send a finite number")


def parse_ws_message(data: str | bytes, *, source: str = "", received: float = 0.0) -> WsRequest:
    """One WebSocket message (JSON text) -> WsRequest; raises ProtocolError for anything else."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError("binary messages are not accepted; send JSON text")
    try:
        obj = json.loads(data, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a message must be a JSON object with a \"type\"")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("missing \"type\" (edit, undo, reset, strength, tempo, tap, status, subscribe, unsubscribe, auth)")
    req_id = obj.get("id")
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (str, int))):
        req_id = None
    if isinstance(req_id, str):
        req_id = req_id[:64]
    token = obj.get("token") if isinstance(obj.get("token"), str) else None

    def field(name: str, *alts: str) -> Any:
        for key in (name, *alts):
            if key in obj:
                return obj[key]
        return None

    try:
        if kind == "subscribe":
            fmt = obj.get("format", "json")
            if fmt not in ("json", "binary"):
                raise ProtocolError(f"format must be \"json\" or \"binary\", got {fmt!r}", kind)
            joints = obj.get("joints", True)
            if not isinstance(joints, bool):
                raise ProtocolError("joints must be true or false", kind)
            msg: WsMessage = Subscribe(fmt, joints)
        elif kind == "unsubscribe":
            msg = Unsubscribe()
        elif kind == "auth":
            if not isinstance(obj.get("token"), str):
                raise ProtocolError("auth needs a \"token\" string", kind)
            msg = Auth(obj["token"])
        elif kind == "edit":
            text = obj.get("text")
            if not isinstance(text, str):
                raise ProtocolError("edit needs a \"text\" string", kind)
            msg = make_command("edit", text=text, value=field("duration"), source=source, received=received)
        elif kind in ("strength", "tempo"):
            msg = make_command(kind, value=field("value", "bpm") if kind == "tempo" else field("value", "strength"),
                               source=source, received=received)
        elif kind in ("undo", "reset", "tap", "status"):
            msg = make_command(kind, source=source, received=received)
        else:
            raise ProtocolError(f"unknown message type {kind!r}")
    except ProtocolError as exc:
        exc.id = req_id  # the reply echoes the id whenever it could be read
        raise
    return WsRequest(msg, req_id, token)


def json_dumps(obj: Any) -> str:
    """Compact JSON text of a protocol message."""
    return json.dumps(_jsonable(obj), separators=(",", ":"))


def reply_json(reply: Reply, request: str | None, req_id: str | int | None = None) -> str:
    return json.dumps({"type": "reply", "request": request, "id": req_id, "ok": bool(reply.ok),
                       "message": reply.message, "data": _jsonable(reply.data)}, separators=(",", ":"))


def hello_message(*, control_needs_token: bool, authenticated: bool, subscription: Subscribe | None,
                  control_refused: bool = False, insecure: bool = False) -> dict:
    """The first WebSocket message: everything a client needs to build the skeleton."""
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "server": SERVER_NAME,
        "fps": FPS,
        "joint_names": list(JOINT_NAMES),
        "parents": list(PARENTS),
        "rest_offsets": np.round(REST_OFFSETS.astype(np.float64), 6).tolist(),
        "frame": {"up": "+y", "handedness": "right", "units": "m", "facing": "+z", "quaternion": "xyzw"},
        "formats": ["json", "binary"],
        "subscription": None if subscription is None else {"format": subscription.format, "joints": subscription.joints},
        "control": "refused" if control_refused else "token" if control_needs_token else "open",
        "authenticated": authenticated,
        **({"warning": "control is open to the network without a token (--insecure-no-token)"} if insecure else {}),
    }


# ---- console ----

@dataclass(frozen=True)
class ConsoleHelp:
    pass


CONSOLE_HELP = ("a line is an edit (end it with 'for N beats' or 'for N bars' to time-box it); "
                "commands: :undo  :reset  :status  :strength X  :tempo BPM|auto  :tap  :help")
_DURATION_SUFFIX = re.compile(r"\s+for\s+(\d+(?:\.\d+)?)\s+(beat|beats|bar|bars)\s*$", re.IGNORECASE)


def parse_console_line(line: str, *, received: float = 0.0) -> Command | ConsoleHelp | None:
    """A console line -> Command, ConsoleHelp, or None for a blank line."""
    line = line.strip()
    if not line:
        return None
    if line.startswith(":"):
        parts = line[1:].split()
        if not parts:
            raise ProtocolError("empty command; " + CONSOLE_HELP)
        name, rest = parts[0].lower(), parts[1:]
        if name == "help":
            return ConsoleHelp()
        if name in ("strength", "tempo"):
            if len(rest) != 1:
                raise ProtocolError(f":{name} takes one number, e.g. :{name} {'2.5' if name == 'strength' else '120'}", name)
            if name == "tempo" and rest[0].lower() in TEMPO_RELEASE_WORDS:
                return make_command(name, value=rest[0], source="console", received=received)
            try:
                value = float(rest[0])
            except ValueError:
                raise ProtocolError(f":{name} needs a number, got {rest[0]!r}", name) from None
            return make_command(name, value=value, source="console", received=received)
        if name in ("undo", "reset", "tap", "status"):
            if rest:
                raise ProtocolError(f":{name} takes no arguments", name)
            return make_command(name, source="console", received=received)
        raise ProtocolError(f"unknown command :{name}; " + CONSOLE_HELP)
    duration = None
    m = _DURATION_SUFFIX.search(line)
    if m:
        n = float(m.group(1))
        duration = n * (BEATS_PER_BAR if m.group(2).lower().startswith("bar") else 1)
        line = line[: m.start()]
    return make_command("edit", text=line, value=duration, source="console", received=received)


# ---- pose frames ----

def _edits_list(edits: Sequence[ActiveEdit]) -> list[dict]:
    return [{"id": int(e.id), "text": e.text, "until_beat": None if e.until_beat is None else float(e.until_beat)}
            for e in edits]


def _round(a: np.ndarray, decimals: int = 5) -> list[float]:
    return np.round(np.asarray(a, dtype=np.float64).reshape(-1), decimals).tolist()


def frame_to_dict(frame: PoseFrame, joints: bool = True) -> dict:
    """The JSON pose frame as a dict (docs/protocol.md section 3.1)."""
    out: dict[str, Any] = {
        "type": "frame", "v": PROTOCOL_VERSION, "frame": int(frame.frame), "t": round(float(frame.time), 4),
        "bpm": round(float(frame.bpm), 3), "beat": round(float(frame.beat), 4), "phase": round(float(frame.beat_phase), 4),
        "root": _round(frame.root), "rot": _round(frame.rotations),
    }
    if joints and frame.joints is not None:
        out["joints"] = _round(frame.joints)
    if frame.contacts is not None:
        out["contacts"] = _round(frame.contacts, 3)
    out["edits"] = _edits_list(frame.edits)
    return out


def encode_frame_json(frame: PoseFrame, joints: bool = True) -> str:
    return json.dumps(frame_to_dict(frame, joints), separators=(",", ":"))


BINARY_MAGIC = b"LEPF"
_HEADER = struct.Struct("<4sHHI4f3f")  # magic, version, flags, frame, t, bpm, beat, phase, root xyz
FLAG_JOINTS = 1
FLAG_CONTACTS = 2
BINARY_HEADER_BYTES = _HEADER.size  # 40


def encode_frame_binary(frame: PoseFrame, joints: bool = True) -> bytes:
    """Compact little-endian float32 layout (docs/protocol.md section 3.3)."""
    flags = 0
    parts = [np.asarray(frame.rotations, dtype="<f4").reshape(NUM_JOINTS * 4)]
    if joints and frame.joints is not None:
        flags |= FLAG_JOINTS
        parts.append(np.asarray(frame.joints, dtype="<f4").reshape(NUM_JOINTS * 3))
    if frame.contacts is not None:
        flags |= FLAG_CONTACTS
        parts.append(np.asarray(frame.contacts, dtype="<f4").reshape(4))
    root = np.asarray(frame.root, dtype=np.float64).reshape(3)
    head = _HEADER.pack(BINARY_MAGIC, PROTOCOL_VERSION, flags, int(frame.frame) & 0xFFFFFFFF,
                        float(frame.time), float(frame.bpm), float(frame.beat), float(frame.beat_phase), *root)
    return head + b"".join(p.tobytes() for p in parts)


def decode_binary_frame(data: bytes) -> dict:
    """Inverse of `encode_frame_binary`, for clients and tests: a dict of numpy arrays and numbers."""
    if len(data) < BINARY_HEADER_BYTES + NUM_JOINTS * 16:
        raise ProtocolError(f"binary frame too short: {len(data)} bytes")
    magic, version, flags, frame, t, bpm, beat, phase, rx, ry, rz = _HEADER.unpack_from(data, 0)
    if magic != BINARY_MAGIC:
        raise ProtocolError(f"bad magic {magic!r}, expected {BINARY_MAGIC!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"binary frame version {version}, this decoder reads {PROTOCOL_VERSION}")
    floats = np.frombuffer(data, dtype="<f4", offset=BINARY_HEADER_BYTES)
    expected = NUM_JOINTS * 4 + (NUM_JOINTS * 3 if flags & FLAG_JOINTS else 0) + (4 if flags & FLAG_CONTACTS else 0)
    if floats.size != expected:
        raise ProtocolError(f"binary frame has {floats.size} floats after the header, flags say {expected}")
    out: dict[str, Any] = {"version": version, "flags": flags, "frame": frame, "t": t, "bpm": bpm, "beat": beat,
                           "phase": phase, "root": np.array([rx, ry, rz], np.float32)}
    out["rotations"] = floats[: NUM_JOINTS * 4].reshape(NUM_JOINTS, 4)
    pos = NUM_JOINTS * 4
    out["joints"] = None
    if flags & FLAG_JOINTS:
        out["joints"] = floats[pos: pos + NUM_JOINTS * 3].reshape(NUM_JOINTS, 3)
        pos += NUM_JOINTS * 3
    out["contacts"] = floats[pos: pos + 4].copy() if flags & FLAG_CONTACTS else None
    return out


def edits_message(frame: PoseFrame) -> str:
    return json.dumps({"type": "edits", "frame": int(frame.frame), "edits": _edits_list(frame.edits)},
                      separators=(",", ":"))


# ---- flat OSC pose ----

POSE_ADDRESS = "/liveedit/pose"
BEAT_ADDRESS = "/liveedit/beat"


def pose_osc_args(frame: PoseFrame) -> list[Any]:
    """Arguments of `/liveedit/pose`: frame, t, bpm, beat, phase, root(3), rot(96)[, joints(72)]."""
    args: list[Any] = [int(frame.frame), float(frame.time), float(frame.bpm), float(frame.beat), float(frame.beat_phase)]
    args += np.asarray(frame.root, dtype=np.float32).reshape(3).tolist()
    args += np.asarray(frame.rotations, dtype=np.float32).reshape(-1).tolist()
    if frame.joints is not None:
        args += np.asarray(frame.joints, dtype=np.float32).reshape(-1).tolist()
    return args


# ---- VMC protocol (docs/protocol.md section 5) ----

VMC_DEFAULT_PORT = 39539
# SMPL joint index -> Unity HumanBodyBones name; 22/23 (hand ends) have none.
SMPL_TO_HUMAN_BONES: dict[int, str] = {
    0: "Hips", 1: "LeftUpperLeg", 2: "RightUpperLeg", 3: "Spine", 4: "LeftLowerLeg", 5: "RightLowerLeg",
    6: "Chest", 7: "LeftFoot", 8: "RightFoot", 9: "UpperChest", 10: "LeftToes", 11: "RightToes",
    12: "Neck", 13: "LeftShoulder", 14: "RightShoulder", 15: "Head", 16: "LeftUpperArm", 17: "RightUpperArm",
    18: "LeftLowerArm", 19: "RightLowerArm", 20: "LeftHand", 21: "RightHand",
}


def smpl_to_unity_position(p: np.ndarray) -> np.ndarray:
    """(..., 3) right-handed y-up -> Unity left-handed y-up: mirror x."""
    p = np.asarray(p, dtype=np.float32)
    return p * np.array([-1.0, 1.0, 1.0], dtype=np.float32)


def smpl_to_unity_quaternion(q: np.ndarray) -> np.ndarray:
    """(..., 4) (x, y, z, w) under the same x mirror: (qx, -qy, -qz, qw)."""
    q = np.asarray(q, dtype=np.float32)
    return q * np.array([1.0, -1.0, -1.0, 1.0], dtype=np.float32)


_UNITY_REST = smpl_to_unity_position(REST_OFFSETS)


def vmc_messages(frame: PoseFrame) -> list[tuple[str, list[Any]]]:
    """The messages of one VMC bundle, in order: OK, T, Root/Pos, then Bone/Pos per mapped bone."""
    rots = smpl_to_unity_quaternion(np.asarray(frame.rotations, dtype=np.float32).reshape(NUM_JOINTS, 4))
    root = np.asarray(frame.root, dtype=np.float32).reshape(3)
    root_u = smpl_to_unity_position(np.array([root[0], 0.0, root[2]], np.float32))
    msgs: list[tuple[str, list[Any]]] = [
        ("/VMC/Ext/OK", [1]),
        ("/VMC/Ext/T", [float(frame.time)]),
        ("/VMC/Ext/Root/Pos", ["root", *root_u.tolist(), 0.0, 0.0, 0.0, 1.0]),
    ]
    for j, name in SMPL_TO_HUMAN_BONES.items():
        pos = [0.0, float(root[1]), 0.0] if j == 0 else _UNITY_REST[j].tolist()
        msgs.append(("/VMC/Ext/Bone/Pos", [name, *pos, *rots[j].tolist()]))
    return msgs


# ---- OSC encoding (fast path for per-frame output; python-osc's builders cost ~1 ms a VMC bundle) ----

def _osc_string(text: str) -> bytes:
    data = text.encode("utf-8") + b"\x00"
    return data + b"\x00" * (-len(data) % 4)


def encode_osc_message(address: str, args: Sequence[Any]) -> bytes:
    """One OSC 1.0 message with int32 (`i`), float32 (`f`) and string (`s`) arguments."""
    tags = [","]
    chunks: list[bytes] = []
    run_fmt: list[str] = []   # consecutive numbers are packed with one struct call
    run_vals: list[Any] = []

    def flush() -> None:
        if run_vals:
            chunks.append(struct.pack(">" + "".join(run_fmt), *run_vals))
            run_fmt.clear()
            run_vals.clear()

    for a in args:
        if isinstance(a, str):
            flush()
            tags.append("s")
            chunks.append(_osc_string(a))
        elif isinstance(a, (bool, np.bool_)):
            raise TypeError("booleans are not sent as OSC arguments")
        elif isinstance(a, (int, np.integer)):
            tags.append("i")
            run_fmt.append("i")
            run_vals.append(int(a))
        else:
            tags.append("f")
            run_fmt.append("f")
            run_vals.append(float(a))
    flush()
    return _osc_string(address) + _osc_string("".join(tags)) + b"".join(chunks)


OSC_IMMEDIATELY = b"\x00\x00\x00\x00\x00\x00\x00\x01"


def encode_osc_bundle(messages: Sequence[bytes]) -> bytes:
    """An OSC bundle (time tag: immediately) of already encoded messages."""
    parts = [b"#bundle\x00", OSC_IMMEDIATELY]
    for m in messages:
        parts.append(struct.pack(">i", len(m)))
        parts.append(m)
    return b"".join(parts)


def encode_vmc_bundle(frame: PoseFrame) -> bytes:
    """The datagram of one VMC bundle (docs/protocol.md section 5)."""
    return encode_osc_bundle([encode_osc_message(a, args) for a, args in vmc_messages(frame)])


# ---- rate limiting (time passed in) ----

class TokenBucket:
    """`rate` events a second with bursts of `burst`; `allow(now)` says whether one more may pass."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = float(rate), float(burst)
        self.tokens = float(burst)
        self.last: float | None = None

    def allow(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# ---- which Host and Origin names the HTTP/WebSocket server answers (docs/protocol.md section 3) ----

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def host_name(value: str | None) -> str | None:
    """A Host header or an address -> its host name, lowercased, without port, brackets or a final
    dot; None when it is missing or malformed."""
    if value is None:
        return None
    value = value.strip().lower()
    if not value or len(value) > 255 or any(c in value for c in "/@\\ \t?#"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1:] and not value[end + 1:].startswith(":")):
            return None
        name = value[1:end]
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
        if port and not port.isdigit():
            return None
    elif value.count(":") > 1:
        name = value  # a bare IPv6 address (not valid in a Host header, fine as a bound address)
    else:
        name = value
    name = name.rstrip(".")
    return name or None


def is_loopback(name: str | None) -> bool:
    """`localhost`, `*.localhost` and loopback IP addresses."""
    if not name:
        return False
    name = name.lower().rstrip(".").strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """The names this server answers to: loopback names, the address it is bound to, the address a
    connection arrived at, and `--allow-host` names (".example.com" allows it and its subdomains,
    "*" allows any name). A request whose Host is anything else is refused: a DNS-rebinding page
    (attacker.example resolving to 127.0.0.1) sends its own name as Host. A browser's Origin is
    checked against the same list, never against the Host header the page itself chose."""

    def __init__(self, bound: str = "127.0.0.1", extra: Sequence[str] = ()) -> None:
        self.bound = host_name(bound) if bound not in WILDCARD_HOSTS else None
        self.any = False
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        for item in extra:
            for part in str(item).split(","):
                part = part.strip().lower()
                if part == "*":
                    self.any = True
                elif part.startswith("."):
                    self.suffixes.append(part.rstrip("."))
                elif host_name(part):
                    self.names.add(host_name(part))  # type: ignore[arg-type]

    def allows(self, name: str | None, local_ip: str | None = None) -> bool:
        """Whether host name `name` (from host_name()) is one this server answers to."""
        if not name:
            return False
        if self.any or is_loopback(name) or name == self.bound or name in self.names:
            return True
        if local_ip and name in (local_ip.lower(), local_ip.lower().removeprefix("::ffff:")):
            return True
        return any(name.endswith(suffix) or name == suffix[1:] for suffix in self.suffixes)

    def host_ok(self, header: str | None, local_ip: str | None = None) -> bool:
        return self.allows(host_name(header), local_ip)

    def origin_ok(self, origin: str | None, local_ip: str | None = None) -> bool:
        """True for no Origin (not a browser) and for an http(s) origin whose host is allowed."""
        if origin is None:
            return True
        try:
            parts = urllib.parse.urlsplit(origin.strip())
            name = parts.hostname
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not name:
            return False  # "null" (a file or sandboxed page), other schemes
        return self.allows(name.rstrip("."), local_ip)


class LogLimiter:
    """At most `burst` log lines per key (e.g. a sender's IP) every `interval` seconds.

    `check(key, now)` -> None to stay quiet, or the number of lines left out for that key since its
    last line (0 usually). At most `max_keys` keys are remembered (the oldest are forgotten first).
    """

    def __init__(self, interval: float = 10.0, max_keys: int = 1024, burst: int = 1) -> None:
        self.interval = float(interval)
        self.max_keys = int(max_keys)
        self.burst = max(1, int(burst))
        self._seen: dict[Any, list] = {}   # key -> [window start, lines in the window, lines left out]

    def check(self, key: Any, now: float) -> int | None:
        entry = self._seen.get(key)
        if entry is None:
            if len(self._seen) >= self.max_keys:
                self._seen.pop(next(iter(self._seen)))
            entry = self._seen[key] = [now, 0, 0]
        elif now - entry[0] >= self.interval:
            entry[0], entry[1] = now, 0
        if entry[1] >= self.burst:
            entry[2] += 1
            return None
        entry[1] += 1
        left_out, entry[2] = entry[2], 0
        return left_out


# ---- helpers ----

def _jsonable(x: Any) -> Any:
    """Reply data may hold numpy values or dataclasses; make it JSON-safe."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, ActiveEdit):
        return {"id": x.id, "text": x.text, "until_beat": x.until_beat}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (x, y, z, w), normalised here -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))
