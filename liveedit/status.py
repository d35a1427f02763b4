"""The one-line status display: bpm, beat, active edits, window compute time, clients."""
from __future__ import annotations

import asyncio
import sys
from typing import Any, TextIO


def format_status(s: dict) -> str:
    """Status dict (Engine.status()) -> one short line."""
    beat = s.get("beat", 0.0) or 0.0
    bar, in_bar = divmod(int(beat), 4)
    edits = s.get("edits") or []
    edit_txt = " > ".join(e["text"] if len(e["text"]) <= 24 else e["text"][:23] + "…" for e in edits) or "-"
    lock = "" if s.get("beat_locked") else "?"
    parts = [
        f"{s.get('bpm', 0):6.1f} bpm{lock} ({s.get('beat_source', '')})",
        f"bar {bar + 1:4d}.{in_bar + 1}",
        f"edits[{len(edits)}]: {edit_txt}",
        f"window {s.get('window_ms', 0):5.0f} ms",
        f"ahead {s.get('ahead_frames', 0) / 30:.1f}s",
        f"clients {s.get('clients', 0)}",
    ]
    if s.get("held_frames"):
        parts.append(f"held {s['held_frames']}")
    if s.get("edits_failed"):
        parts.append(f"edits failed {s['edits_failed']}")
    if s.get("warnings"):
        parts.append("INSECURE: control open to the network, no token")
    return " | ".join(parts)


class StatusPrinter:
    """Rewrites one terminal line (stderr) a few times a second; on a non-terminal, a full line
    every `plain_every` seconds instead (logs stay readable)."""

    def __init__(self, engine: Any, stream: TextIO | None = None, interval: float = 0.25,
                 plain_every: float = 10.0):
        self.engine = engine
        self.stream = stream or sys.stderr
        self.interval = interval
        self.plain_every = plain_every

    async def run(self) -> None:
        tty = getattr(self.stream, "isatty", lambda: False)()
        waited = 0.0
        width = 0
        try:
            while True:
                await asyncio.sleep(self.interval)
                waited += self.interval
                line = format_status(self.engine.status())
                if tty:
                    pad = max(0, width - len(line))
                    self.stream.write("\r" + line + " " * pad)
                    self.stream.flush()
                    width = len(line)
                elif waited >= self.plain_every:
                    waited = 0.0
                    self.stream.write(line + "\n")
                    self.stream.flush()
        finally:
            if tty and width:
                self.stream.write("\n")
                self.stream.flush()
