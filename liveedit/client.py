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
replies resolve the requests in the order they were sent (the engine answers each connection's
messages in order). With `reconnect=True` a dropped connection is re-opened with exponential
backoff and `frames()` carries on; requests in flight when it dropped fail with ConnectionError.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection, connect

from liveedit.core.messages import ActiveEdit, PoseFrame

log = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8765/ws"


class LiveEditError(RuntimeError):
    """The engine answered a request with ok=false (raised only when `check=True`)."""

    def __init__(self, reply: dict[str, Any]):
        super().__init__(reply.get("message", "request failed"))
        self.reply = reply


def parse_frame(msg: dict[str, Any]) -> PoseFrame:
    """A `PoseFrame` from one JSON frame message; raises ValueError on a malformed message."""
    try:
        rotations = np.asarray(msg["rotations"], dtype=np.float32)  # (24, 4) xyzw
        root = np.asarray(msg["root"], dtype=np.float32)            # (3,)
        joints = msg.get("joints")
        contacts = msg.get("contacts")
        edits = tuple(
            ActiveEdit(id=int(e["id"]), text=str(e["text"]),
                       until_beat=None if e.get("until_beat") is None else float(e["until_beat"]))
            for e in msg.get("edits") or ()
        )
        frame = PoseFrame(
            time=float(msg["time"]), frame=int(msg["frame"]), bpm=float(msg.get("bpm") or 0.0),
            beat_phase=float(msg.get("beat_phase") or 0.0), beat=float(msg.get("beat") or 0.0),
            root=root, rotations=rotations,
            joints=None if joints is None else np.asarray(joints, dtype=np.float32),  # (24, 3)
            edits=edits,
            contacts=None if contacts is None else np.asarray(contacts, dtype=np.float32),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed frame message: {exc!r}") from exc
    if rotations.ndim != 2 or rotations.shape[1] != 4 or root.shape != (3,):
        raise ValueError(f"malformed frame message: rotations {rotations.shape}, root {root.shape}")
    return frame


class LiveEditClient:
    """Subscribe to poses and send edits.

    url:          the engine's WebSocket address (`liveedit serve` listens on ws://127.0.0.1:8765/ws).
    reconnect:    re-open a dropped connection (backoff from `min_delay` doubling to `max_delay` seconds).
    reply_timeout: seconds to wait for the reply to a request.
    queue_size:   frames kept for a slow consumer of `frames()`; older ones are dropped.
    check:        raise LiveEditError when a reply has ok=false (default: return the reply).
    """

    def __init__(self, url: str = DEFAULT_URL, *, reconnect: bool = False, min_delay: float = 0.25,
                 max_delay: float = 5.0, reply_timeout: float = 10.0, queue_size: int = 8,
                 check: bool = False) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.url = url
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
        self._pending: deque[asyncio.Future[dict[str, Any]]] = deque()
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
        if first.get("type") == "hello":
            self.hello = first
        else:  # a server without hello: treat the first message like any other
            self._dispatch(first)
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
                    if isinstance(raw, bytes):
                        continue  # binary frames are only sent on request; this client uses JSON
                    try:
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

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "frame":
            if len(self._frames) == self._frames.maxlen:
                self.frames_dropped += 1
            self._frames.append(parse_frame(msg))
            self._frame_event.set()
        elif kind in ("reply", "error"):
            while self._pending:
                fut = self._pending.popleft()
                if not fut.done():  # skip requests whose caller gave up waiting
                    fut.set_result(msg)
                    break
            else:
                log.info("reply with no request waiting: %s", msg)
        elif kind == "hello":
            self.hello = msg

    def _fail_pending(self, exc: BaseException) -> None:
        while self._pending:
            fut = self._pending.popleft()
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
        """Send one control message and return the engine's reply (a dict with ok and message)."""
        if self._ws is None:
            if not self.reconnect or self._closed:
                raise ConnectionError(f"not connected to {self.url}")
            await asyncio.wait_for(self._connected.wait(), self.reply_timeout)
        assert self._ws is not None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(fut)
        try:
            await self._ws.send(json.dumps(msg))
            reply = await asyncio.wait_for(fut, self.reply_timeout)
        except websockets.ConnectionClosed as exc:
            raise ConnectionError(f"connection to {self.url} lost: {exc}") from exc
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

    async def tempo(self, bpm: float) -> dict[str, Any]:
        """Set the tempo in beats per minute (when no live audio or MIDI clock drives it)."""
        return await self.request({"type": "tempo", "value": float(bpm)})

    async def tap(self) -> dict[str, Any]:
        """One tap of tap-tempo."""
        return await self.request({"type": "tap"})

    async def status(self) -> dict[str, Any]:
        """The engine's state: tempo, strength, edit stack, clients (see docs/protocol.md)."""
        return await self.request({"type": "status"})
