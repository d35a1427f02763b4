"""The text console: a line is an edit prompt; `:undo`, `:reset`, `:status`, `:strength X`, `:tempo BPM|auto`,
`:tap`, `:help` are commands (docs/protocol.md section 6). Replies are printed.

Reading a terminal blocks, so a daemon thread reads lines and hands them to the event loop; the
loop side parses them and awaits `engine.handle()`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from typing import IO, Protocol

from liveedit import protocol as proto
from liveedit.core.messages import Command, Reply

log = logging.getLogger(__name__)

MAX_LINE = 4096
MAX_QUEUED_LINES = 64


class Engine(Protocol):
    async def handle(self, cmd: Command) -> Reply: ...


def format_reply(reply: Reply, kind: str) -> str:
    mark = "ok" if reply.ok else "error"
    text = f"[{mark}] {kind}: {reply.message}"
    if kind == "status" and reply.data:
        text += "\n" + json.dumps(proto._jsonable(reply.data), indent=2)
    return text


class ConsoleInput:
    """Reads edit prompts and `:commands` from a text stream (the terminal by default)."""

    def __init__(self, engine: Engine, *, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
                 clock=time.perf_counter) -> None:
        self.engine = engine
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.clock = clock
        self._queue: asyncio.Queue[str | None] | None = None
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None

    def _print(self, text: str) -> None:
        try:
            print(text, file=self.stdout, flush=True)
        except (OSError, ValueError):  # terminal gone
            pass

    async def handle_line(self, line: str) -> str | None:
        """Handle one line; returns (and prints) what the user sees, or None for a blank line."""
        line = line[:MAX_LINE]
        try:
            parsed = proto.parse_console_line(line, received=self.clock())
        except proto.ProtocolError as exc:
            out = f"[error] {exc}"
            self._print(out)
            return out
        if parsed is None:
            return None
        if isinstance(parsed, proto.ConsoleHelp):
            out = proto.CONSOLE_HELP
            self._print(out)
            return out
        try:
            reply = await self.engine.handle(parsed)
        except Exception as exc:
            log.exception("console: engine failed on %s", parsed)
            reply = Reply(False, f"engine error: {exc}")
        out = format_reply(reply, parsed.kind)
        self._print(out)
        return out

    def _read_lines(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        def put(item: str | None) -> None:
            if item is None or queue.qsize() < MAX_QUEUED_LINES:
                queue.put_nowait(item)

        # Read bytes and decode leniently: one invalid UTF-8 byte must not end the console.
        raw = getattr(self.stdin, "buffer", None)
        try:
            if raw is not None:
                for data in iter(raw.readline, b""):
                    loop.call_soon_threadsafe(put, data.decode("utf-8", errors="replace"))
            else:
                for line in iter(self.stdin.readline, ""):
                    loop.call_soon_threadsafe(put, line)
        except (OSError, ValueError, RuntimeError):  # closed stream or loop
            pass
        try:
            loop.call_soon_threadsafe(put, None)  # end of input
        except RuntimeError:
            pass

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            line = await self._queue.get()
            if line is None:
                return
            await self.handle_line(line)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._thread = threading.Thread(target=self._read_lines, args=(loop, self._queue), name="console", daemon=True)
        self._thread.start()
        self._task = loop.create_task(self._consume())
        self._print("console: type an edit (e.g. 'swing arms wider for 2 bars') or :help")

    async def stop(self) -> None:
        # The reader thread may sit in readline(); it is a daemon and ends with the process.
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
