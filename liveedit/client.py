"""Async Python client for the engine's WebSocket stream (wire format: docs/protocol.md).

```python
import asyncio
from liveedit.client import LiveEditClient

async def main():
    async with LiveEditClient("ws://127.0.0.1:8765/ws") as c:
        print(await c.edit("swing arms wider", duration=8))   # {'type': 'reply', 'ok': True, ...}
        async for frame in c.frames():                          # liveedit.core.messages.PoseFrame
            print(frame.frame, frame.bpm, frame.root, [e.text for e in frame.edits])

asyncio.run(main())
```

One background task reads the socket: frames go into a small queue that drops the oldest frame
when the consumer falls behind (a slow consumer sees the latest pose, never a growing backlog), and
replies resolve their requests by the `id` every request carries (the server echoes it). Frames come
as JSON by default; `binary=True` subscribes to the compact little-endian layout (docs/protocol.md
section 3.3), decoded here with `struct`, with the edit list taken from the `edits` messages. With `reconnect=True` a dropped connection is re-opened with exponential
backoff and `frames()` carries on; requests in flight when it dropped fail with ConnectionError.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import struct
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection, connect

from liveedit.core.messages import ActiveEdit, PoseFrame

log = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8765/ws"
PROTOCOL_VERSION = 1  # the wire protocol this client reads (docs/protocol.md)
NUM_JOINTS = 24

# Binary pose frame header: magic, version, flags, frame, t, bpm, beat, phase, root xyz (40 bytes).
_BINARY_HEADER = struct.Struct("<4sHHI4f3f")
_FLAG_JOINTS, _FLAG_CONTACTS = 1, 2


class LiveEditError(RuntimeError):
    """The engine answered a request with ok=false (raised only when `check=True`)."""

    def __init__(self, reply: dict[str, Any]):
        super().__init__(reply.get("message", "request failed"))
        self.reply = reply


def _edits(items: Any) -> tuple[ActiveEdit, ...]:
    return tuple(
        ActiveEdit(id=int(e["id"]), text=str(e["text"]),
                   until_beat=None if e.get("until_beat") is None else float(e["until_beat"]))
        for e in items or ()
    )


def parse_frame(msg: dict[str, Any]) -> PoseFrame:
    """A `PoseFrame` from one JSON frame message; raises ValueError on a malformed message."""
    try:
        rotations = np.asarray(msg["rot"], dtype=np.float32).reshape(NUM_JOINTS, 4)  # (24, 4) xyzw
        root = np.asarray(msg["root"], dtype=np.float32).reshape(3)                 # (3,)
        joints = msg.get("joints")
        contacts = msg.get("contacts")
        return PoseFrame(
            time=float(msg["t"]), frame=int(msg["frame"]), bpm=float(msg.get("bpm") or 0.0),
            beat_phase=float(msg.get("phase") or 0.0), beat=float(msg.get("beat") or 0.0),
            root=root, rotations=rotations,
            joints=None if joints is None else np.asarray(joints, dtype=np.float32).reshape(NUM_JOINTS, 3),
            edits=_edits(msg.get("edits")),
            contacts=None if contacts is None else np.asarray(contacts, dtype=np.float32).reshape(4),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed frame message: {exc!r}") from exc


def parse_binary_frame(data: bytes, edits: tuple[ActiveEdit, ...] = ()) -> PoseFrame:
    """A `PoseFrame` from one binary pose frame (docs/protocol.md section 3.3); ValueError if malformed."""
    if len(data) < _BINARY_HEADER.size + NUM_JOINTS * 16:
        raise ValueError(f"binary frame too short: {len(data)} bytes")
    magic, version, flags, frame, t, bpm, beat, phase, rx, ry, rz = _BINARY_HEADER.unpack_from(data, 0)
    if magic != b"LEPF" or version != PROTOCOL_VERSION:
        raise ValueError(f"not a version {PROTOCOL_VERSION} binary pose frame (magic {magic!r}, version {version})")
    floats = np.frombuffer(data, dtype="<f4", offset=_BINARY_HEADER.size)
    n_joints = NUM_JOINTS * 3 if flags & _FLAG_JOINTS else 0
    n_contacts = 4 if flags & _FLAG_CONTACTS else 0
    if floats.size != NUM_JOINTS * 4 + n_joints + n_contacts:
        raise ValueError(f"binary frame has {floats.size} floats after the header; flags {flags} disagree")
    rot_end = NUM_JOINTS * 4
    return PoseFrame(
        time=t, frame=frame, bpm=bpm, beat_phase=phase, beat=beat,
        root=np.array([rx, ry, rz], dtype=np.float32),
        rotations=floats[:rot_end].reshape(NUM_JOINTS, 4).copy(),
        joints=floats[rot_end:rot_end + n_joints].reshape(NUM_JOINTS, 3).copy() if n_joints else None,
        edits=edits,
        contacts=floats[rot_end + n_joints:].copy() if n_contacts else None,
    )


class LiveEditClient:
    """Subscribe to poses and send edits.

    url:          the engine's WebSocket address (`liveedit serve` listens on ws://127.0.0.1:8765/ws).
    reconnect:    re-open a dropped connection (backoff from `min_delay` doubling to `max_delay` seconds).
    reply_timeout: seconds to wait for the reply to a request.
    queue_size:   frames kept for a slow consumer of `frames()`; older ones are dropped.
    check:        raise LiveEditError when a reply has ok=false (default: return the reply).
    binary:       receive the compact binary frames instead of JSON (less CPU and bandwidth).
    joints:       also receive the 24 global joint positions (`frame.joints`), when the engine has them.
    token:        the server's shared token (`liveedit serve --token`), needed for control messages.
    """

    def __init__(self, url: str = DEFAULT_URL, *, reconnect: bool = False, min_delay: float = 0.25,
                 max_delay: float = 5.0, reply_timeout: float = 10.0, queue_size: int = 8,
                 check: bool = False, binary: bool = False, joints: bool = True,
                 token: str | None = None) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.url = url
        self.binary = binary
        self.joints = joints
        self.token = token
        self.reconnect = reconnect
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.reply_timeout = reply_timeout
        self.check = check
        self.hello: dict[str, Any] | None = None  # the server's hello message (skeleton, version)
        self.frames_dropped = 0                    # frames dropped because the consumer was slow
        self.connections = 0                       # how many times a connection was opened
        self._frames: deque[PoseFrame] = deque(maxlen=queue_size)
        self._frame_event = asyncio.Event()
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}  # request id -> its reply
        self._ids = itertools.count(1)
        self._edits: tuple[ActiveEdit, ...] = ()  # latest edit list (binary frames do not carry it)
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> LiveEditClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection and wait for the server's hello (raises OSError if unreachable)."""
        await self._open()
        self._reader = asyncio.create_task(self._run(), name="liveedit-client-reader")

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        self._fail_pending(ConnectionError("client closed"))
        self._frame_event.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def _open(self) -> None:
        ws = await connect(self.url, open_timeout=self.reply_timeout, max_size=2**22)
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), self.reply_timeout))
        except BaseException:
            await ws.close()
            raise
        if first.get("type") != "hello":
            await ws.close()
            raise ConnectionError(f"{self.url} did not start with a hello message: {str(first)[:80]}")
        if first.get("protocol") != PROTOCOL_VERSION:
            await ws.close()
            raise ConnectionError(f"{self.url} speaks protocol {first.get('protocol')}; "
                                  f"this client reads version {PROTOCOL_VERSION}")
        self.hello = first
        # Settings that belong to the connection are sent again on every (re)connect; their
        # replies carry ids no request waits for, and are only logged.
        if self.token is not None:
            await ws.send(json.dumps({"type": "auth", "token": self.token, "id": "auth"}))
        if self.binary or not self.joints:
            await ws.send(json.dumps({"type": "subscribe", "format": "binary" if self.binary else "json",
                                      "joints": self.joints, "id": "subscribe"}))
        self._ws = ws
        self.connections += 1
        self._connected.set()

    async def _run(self) -> None:
        delay = self.min_delay
        while True:
            ws = self._ws
            try:
                if ws is None:
                    raise ConnectionError("not connected")
                async for raw in ws:
                    try:
                        if isinstance(raw, bytes):
                            self._push(parse_binary_frame(raw, self._edits))
                        else:
                            self._dispatch(json.loads(raw))
                    except ValueError as exc:
                        log.warning("ignoring a bad message from %s: %s", self.url, exc)
                raise ConnectionError(f"connection to {self.url} closed")
            except (OSError, ConnectionError, websockets.ConnectionClosed) as exc:
                self._connected.clear()
                self._ws = None
                self._fail_pending(ConnectionError(f"connection to {self.url} lost: {exc}"))
                if self._closed or not self.reconnect:
                    self._error = exc
                    self._frame_event.set()
                    return
            # Reconnect with exponential backoff and jitter, so many clients do not retry in step.
            while not self._closed:
                await asyncio.sleep(delay * (0.75 + 0.5 * random.random()))
                try:
                    await self._open()
                    delay = self.min_delay
                    break
                except (OSError, ValueError, asyncio.TimeoutError, websockets.InvalidHandshake,
                        websockets.ConnectionClosed) as exc:
                    log.info("reconnect to %s failed (%s); retrying", self.url, exc)
                    delay = min(self.max_delay, delay * 2)

    def _push(self, frame: PoseFrame) -> None:
        if len(self._frames) == self._frames.maxlen:
            self.frames_dropped += 1  # deque(maxlen) drops the oldest on append
        self._frames.append(frame)
        self._frame_event.set()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "frame":
            self._push(parse_frame(msg))
        elif kind == "edits":
            self._edits = _edits(msg.get("edits"))
        elif kind == "reply":
            fut = self._pending.pop(msg.get("id"), None) if isinstance(msg.get("id"), int) else None
            if fut is None and msg.get("id") is None and self._pending:
                # A reply without id answers a message the server could not read (or dropped by its
                # rate limit); the server answers in order, so it belongs to the oldest request.
                fut = self._pending.pop(next(iter(self._pending)))
            if fut is not None and not fut.done():
                fut.set_result(msg)
            elif not msg.get("ok", True):
                log.warning("%s: %s", self.url, msg.get("message"))
        elif kind == "hello":
            self.hello = msg

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    # ------------------------------------------------------------------ stream
    async def frames(self) -> AsyncIterator[PoseFrame]:
        """Pose frames as they arrive (the latest ones when the consumer is slow).

        Ends when the connection is lost and `reconnect` is off, or when the client is closed.
        """
        while True:
            while self._frames:
                yield self._frames.popleft()
            if self._closed or (self._error is not None and not self.reconnect):
                return
            self._frame_event.clear()
            await self._frame_event.wait()

    async def next_frame(self, timeout: float | None = 5.0) -> PoseFrame:
        """The next frame to arrive (raises asyncio.TimeoutError after `timeout` seconds)."""
        self._frames.clear()
        agen = self.frames()
        try:
            return await asyncio.wait_for(agen.__anext__(), timeout)
        except StopAsyncIteration:
            raise ConnectionError(f"connection to {self.url} closed") from self._error
        finally:
            await agen.aclose()

    # ------------------------------------------------------------------ requests
    async def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one control message and return the server's reply.

        The reply is a dict: `{"type": "reply", "request": "edit", "id": 7, "ok": True,
        "message": "...", "data": {...}}` (docs/protocol.md section 3.1).
        """
        if self._ws is None:
            if not self.reconnect or self._closed:
                raise ConnectionError(f"not connected to {self.url}")
            await asyncio.wait_for(self._connected.wait(), self.reply_timeout)
        assert self._ws is not None
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            await self._ws.send(json.dumps({**msg, "id": req_id}))
            reply = await asyncio.wait_for(fut, self.reply_timeout)
        except websockets.ConnectionClosed as exc:
            raise ConnectionError(f"connection to {self.url} lost: {exc}") from exc
        finally:
            self._pending.pop(req_id, None)
        if self.check and not reply.get("ok", False):
            raise LiveEditError(reply)
        return reply

    async def edit(self, text: str, duration: float | None = None) -> dict[str, Any]:
        """Add an edit on top of the stack; `duration` in beats (None: until undone)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("an edit needs a non-empty text prompt")
        msg: dict[str, Any] = {"type": "edit", "text": text.strip()}
        if duration is not None:
            msg["duration"] = float(duration)
        return await self.request(msg)

    async def undo(self) -> dict[str, Any]:
        """Remove the newest edit."""
        return await self.request({"type": "undo"})

    async def reset(self) -> dict[str, Any]:
        """Remove every edit."""
        return await self.request({"type": "reset"})

    async def strength(self, value: float) -> dict[str, Any]:
        """Set the edit strength (the editing branch's text guidance scale, 0 = no edit)."""
        return await self.request({"type": "strength", "value": float(value)})

    async def tempo(self, bpm: float | str) -> dict[str, Any]:
        """Pin the tempo in beats per minute (20-300); 0 or "auto" releases it back to beat tracking."""
        return await self.request({"type": "tempo", "bpm": bpm if isinstance(bpm, str) else float(bpm)})

    async def tap(self) -> dict[str, Any]:
        """One tap of tap-tempo."""
        return await self.request({"type": "tap"})

    async def status(self) -> dict[str, Any]:
        """The engine's state in the reply's `data`: tempo, beat, strength, edit stack, clients."""
        return await self.request({"type": "status"})
