"""Plain data passed between the engine core, its inputs and its outputs (stdlib + numpy only).

Inputs (OSC, WebSocket, console, MIDI) turn what they receive into a `Command`; the engine answers
every command with a `Reply`, which the input sends back on the channel the command came from.
The engine publishes one `PoseFrame` per output frame (30 fps) to every output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

PROTOCOL_VERSION = 1

CommandKind = Literal["edit", "undo", "reset", "strength", "tempo", "tap", "status"]


@dataclass(frozen=True)
class Command:
    """One control request, whatever channel it came from.

    kind:      what to do.
    text:      the edit prompt (kind == "edit").
    value:     duration in beats for "edit" (None = until undone), guidance scale for "strength",
               BPM for "tempo".
    source:    the channel, e.g. "osc:127.0.0.1:53211", "ws:3", "console", "midi"; replies go back there.
    received:  when it arrived (for latency measures): the input stamps it with time.perf_counter(),
               Engine.handle turns that into engine seconds before the core sees it.
    """

    kind: CommandKind
    text: str = ""
    value: float | None = None
    source: str = ""
    received: float = 0.0


@dataclass(frozen=True)
class Reply:
    ok: bool
    message: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ActiveEdit:
    id: int
    text: str
    until_beat: float | None  # beat index at which it expires, None = until undone


@dataclass
class PoseFrame:
    """One frame of the output stream (see docs/protocol.md for the wire layouts).

    rotations: (24, 4) local joint rotations as quaternions (x, y, z, w), SMPL joint order, SMPL frame.
    root:      (3,) pelvis position, metres, y-up, right-handed.
    joints:    (24, 3) global joint positions or None.
    """

    time: float          # seconds since the stream started
    frame: int           # frame index at 30 fps
    bpm: float
    beat_phase: float    # in [0, 1): 0 on a beat
    beat: float          # beat count (integer part = beats since start)
    root: np.ndarray
    rotations: np.ndarray
    joints: np.ndarray | None = None
    edits: tuple[ActiveEdit, ...] = ()
    contacts: np.ndarray | None = None  # (4,) foot contacts, optional
