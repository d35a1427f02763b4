"""MIDI in (mido + python-rtmidi): clock, start/continue/stop, and notes/CCs mapped to commands by a
user file (JSON or TOML; docs/protocol.md section 7).

rtmidi calls back on its own thread. The callback only stamps `time.perf_counter()` (as close to the
arrival as Python gets) and hands the message to the event loop with `call_soon_threadsafe`; the loop
side calls `engine.midi_clock_tick(t)` / `midi_start(t)` / `midi_stop(t)` or turns a mapped note/CC
into a `Command` for `engine.handle()`.

Backend: ALSA (rtmidi's default on Linux) first, then JACK (`mido.backends.rtmidi/UNIX_JACK`), which is
the one that works on machines with no ALSA sequencer but a JACK server (as in CI).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from liveedit import protocol as proto
from liveedit.core.messages import Command, Reply

log = logging.getLogger(__name__)

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
DEFAULT_BACKEND = "mido.backends.rtmidi"
MAX_PENDING = 32


class MidiError(RuntimeError):
    pass


class Engine(Protocol):
    async def handle(self, cmd: Command) -> Reply: ...
    def midi_clock_tick(self, t: float) -> None: ...
    def midi_start(self, t: float) -> None: ...
    def midi_stop(self, t: float) -> None: ...


@dataclass(frozen=True)
class MidiAction:
    """What a note or controller does. kind: edit | undo | reset | tap | status | strength."""

    kind: str
    text: str = ""
    duration: float | None = None
    threshold: int = 64                      # CC: fires when the value crosses this upwards
    strength_range: tuple[float, float] = (0.0, 6.0)


@dataclass
class MidiMap:
    port: str = "liveedit"
    channel: int | None = None               # 1-16, None = all
    notes: dict[int, MidiAction] = field(default_factory=dict)
    cc: dict[int, MidiAction] = field(default_factory=dict)


def _action(spec: Any, where: str, is_cc: bool) -> MidiAction:
    if isinstance(spec, str):
        proto.clean_prompt(spec)
        return MidiAction("edit", text=spec)
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a prompt string or a table, got {spec!r}")
    known = {"edit", "duration", "command", "strength", "threshold"}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; use {sorted(known)}")
    threshold = spec.get("threshold", 64)
    if not isinstance(threshold, int) or not 1 <= threshold <= 127:
        raise ValueError(f"{where}: threshold must be an integer 1..127")
    if "edit" in spec:
        cmd = proto.make_command("edit", text=str(spec["edit"]), value=spec.get("duration"))
        return MidiAction("edit", text=cmd.text, duration=cmd.value, threshold=threshold)
    if "command" in spec:
        name = spec["command"]
        if name not in ("undo", "reset", "tap", "status"):
            raise ValueError(f"{where}: command must be undo, reset, tap or status, got {name!r}")
        return MidiAction(name, threshold=threshold)
    if "strength" in spec:
        if not is_cc:
            raise ValueError(f"{where}: strength mapping needs a controller (cc), not a note")
        rng = spec["strength"]
        if (not isinstance(rng, (list, tuple)) or len(rng) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)):
            raise ValueError(f"{where}: strength must be [low, high], got {rng!r}")
        for v in rng:
            proto.make_command("strength", value=v)
        return MidiAction("strength", strength_range=(float(rng[0]), float(rng[1])))
    raise ValueError(f"{where}: needs one of 'edit', 'command', 'strength'")


def parse_midi_map(obj: dict, where: str = "midi map") -> MidiMap:
    """A MidiMap from the parsed JSON/TOML document; ValueError names the bad entry."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: the top level must be a table/object")
    unknown = set(obj) - {"port", "channel", "notes", "cc"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; use port, channel, notes, cc")
    out = MidiMap()
    if "port" in obj:
        if not isinstance(obj["port"], str) or not obj["port"]:
            raise ValueError(f"{where}: port must be a non-empty string")
        out.port = obj["port"]
    if "channel" in obj:
        ch = obj["channel"]
        if not isinstance(ch, int) or isinstance(ch, bool) or not 1 <= ch <= 16:
            raise ValueError(f"{where}: channel must be 1..16, got {ch!r}")
        out.channel = ch
    for section, target in (("notes", out.notes), ("cc", out.cc)):
        table = obj.get(section, {})
        if not isinstance(table, dict):
            raise ValueError(f"{where}: [{section}] must be a table")
        for key, spec in table.items():
            try:
                number = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: {section} key {key!r} is not a number 0..127") from None
            if not 0 <= number <= 127:
                raise ValueError(f"{where}: {section} number {number} is outside 0..127")
            try:
                target[number] = _action(spec, f"{where}: {section}.{key}", section == "cc")
            except proto.ProtocolError as exc:
                raise ValueError(f"{where}: {section}.{key}: {exc}") from None
    return out


def load_midi_map(path: str | Path) -> MidiMap:
    """Read a mapping file (.toml, or JSON for any other suffix)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read MIDI map {path}: {exc}") from exc
    is_toml = path.suffix.lower() == ".toml"
    if is_toml:
        try:
            import tomllib  # noqa: PLC0415  (Python 3.11+)
        except ModuleNotFoundError:
            try:
                import tomli as tomllib  # type: ignore[no-redef]  # noqa: PLC0415
            except ModuleNotFoundError:
                raise ValueError(f"reading {path} needs Python 3.11+ or the 'tomli' package; "
                                 "or write the map as JSON") from None
    try:
        obj = tomllib.loads(text) if is_toml else json.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:  # TOMLDecodeError is a ValueError
        raise ValueError(f"MIDI map {path} is not valid {'TOML' if is_toml else 'JSON'}: {exc}") from exc
    return parse_midi_map(obj, str(path))


def command_for(midi_map: MidiMap, msg: Any, cc_state: dict[int, int], *, received: float = 0.0) -> Command | None:
    """The Command a note-on or control change maps to (None if unmapped). `cc_state` keeps the last
    value per controller so threshold actions fire once per upward crossing."""
    channel = getattr(msg, "channel", None)
    if midi_map.channel is not None and channel is not None and channel + 1 != midi_map.channel:
        return None
    action: MidiAction | None = None
    if msg.type == "note_on" and msg.velocity > 0:
        action = midi_map.notes.get(msg.note)
    elif msg.type == "control_change":
        action = midi_map.cc.get(msg.control)
        prev = cc_state.get(msg.control, 0)
        cc_state[msg.control] = msg.value
        if action is not None and action.kind == "strength":
            lo, hi = action.strength_range
            return proto.make_command("strength", value=lo + (hi - lo) * msg.value / 127.0, source="midi", received=received)
        if action is not None and not (prev < action.threshold <= msg.value):
            return None
    if action is None:
        return None
    if action.kind == "edit":
        return proto.make_command("edit", text=action.text, value=action.duration, source="midi", received=received)
    return proto.make_command(action.kind, source="midi", received=received)


def _open_backend_input(name: str, callback, backend: str | None):
    import mido  # noqa: PLC0415

    names = [backend] if backend else [os.environ.get("LIVEEDIT_MIDI_BACKEND") or DEFAULT_BACKEND, JACK_BACKEND]
    errors = []
    for backend_name in dict.fromkeys(names):
        try:
            be = mido.Backend(backend_name, load=True)
            existing = [n for n in be.get_input_names() if name in n]
            if existing:
                return be.open_input(existing[0], callback=callback), backend_name, existing[0]
            port = be.open_input(name, virtual=True, callback=callback, client_name="liveedit")
            return port, backend_name, f"{name} (virtual)"
        except Exception as exc:  # rtmidi raises SystemError subclasses when an API is unusable
            errors.append(f"{backend_name}: {exc}")
    raise MidiError("cannot open a MIDI input: " + "; ".join(errors)
                    + ". On Linux without an ALSA sequencer start a JACK server (jackd -d dummy) first.")


class MidiInput:
    """MIDI clock/start/stop to the engine's beat grid, mapped notes/CCs to commands."""

    name = "midi"

    def __init__(self, engine: Engine, midi_map: MidiMap | None = None, *, port: str | None = None,
                 backend: str | None = None, clock=time.perf_counter) -> None:
        self.engine = engine
        self.map = midi_map or MidiMap()
        self.port_name = port or self.map.port
        self.backend = backend
        self.clock = clock
        self._port = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cc_state: dict[int, int] = {}
        self._pending: set[asyncio.Task] = set()
        self.opened_as: str = ""
        self.backend_used: str = ""
        self.clock_ticks = 0
        self.messages = 0

    def _callback(self, msg) -> None:
        # rtmidi's thread: stamp the time first, then hand over to the loop.
        t = time.perf_counter()
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, msg, t)
        except RuntimeError:  # loop closed during shutdown
            pass

    def _dispatch(self, msg, t: float) -> None:
        self.messages += 1
        try:
            if msg.type == "clock":
                self.clock_ticks += 1
                self.engine.midi_clock_tick(t)
            elif msg.type == "start":
                self.engine.midi_start(t)
            elif msg.type == "continue":
                getattr(self.engine, "midi_continue", self.engine.midi_start)(t)
            elif msg.type == "stop":
                self.engine.midi_stop(t)
            elif msg.type in ("note_on", "control_change"):
                cmd = command_for(self.map, msg, self._cc_state, received=self.clock())
                if cmd is not None:
                    if len(self._pending) >= MAX_PENDING:
                        log.warning("midi: too many commands waiting; %s dropped", cmd.kind)
                        return
                    task = asyncio.get_running_loop().create_task(self._run(cmd))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)
        except Exception:
            log.exception("midi: cannot handle %s", msg)

    async def _run(self, cmd: Command) -> None:
        try:
            reply = await self.engine.handle(cmd)
        except Exception as exc:
            log.exception("midi: engine failed on %s", cmd)
            reply = Reply(False, f"engine error: {exc}")
        (log.info if reply.ok else log.warning)("midi %s: %s", cmd.kind, reply.message)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._port, self.backend_used, self.opened_as = _open_backend_input(self.port_name, self._callback, self.backend)
        log.info("MIDI in: %s via %s", self.opened_as, self.backend_used)

    async def stop(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()
        self._loop = None
        for task in list(self._pending):
            task.cancel()
