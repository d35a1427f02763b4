"""An edit whose model pass raises is dropped and the dance goes on (issue 16: one edit froze the stream)."""
from __future__ import annotations

import asyncio

import pytest

from liveedit.core.fakemodel import FakeModel
from liveedit.core.messages import Command
from liveedit.engine import Engine, EngineConfig

pytestmark = pytest.mark.timeout(60)


class PickyModel(FakeModel):
    """A text encoder that cannot take one prompt (as a lone surrogate once could not be encoded)."""

    def edit(self, music, initial, current, prompt, **kw):
        if "boom" in prompt:
            raise UnicodeEncodeError("utf-8", prompt, 0, 1, "surrogates not allowed")
        return super().edit(music, initial, current, prompt, **kw)

    def edit_stack(self, music, initial, prompts, **kw):   # stacked edits run in one composed pass
        if any("boom" in p for p in prompts):
            raise UnicodeEncodeError("utf-8", prompts[-1], 0, 1, "surrogates not allowed")
        return super().edit_stack(music, initial, prompts, **kw)


class MemorySink:
    name = "memory"

    def __init__(self):
        self.frames = []

    def offer(self, frame):
        self.frames.append(frame)


async def _until(cond, timeout=20.0):
    """Wait for a condition (bounded: a failure shows as a timeout, never as a hang)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.05)


async def test_failing_edit_is_dropped_and_later_edits_apply():
    sink = MemorySink()
    engine = Engine(PickyModel(delay_s=0.02), None, [sink], EngineConfig(initial_latency_s=0.2))
    await engine.start()
    try:
        await _until(lambda: engine.core.windows_committed >= 1)
        assert (await engine.handle(Command("edit", "swing arms wider", source="test"))).ok
        assert (await engine.handle(Command("edit", "boom boom", source="test"))).ok
        await _until(lambda: engine.core.edits_failed == 1)
        status = engine.status()
        assert [e["text"] for e in status["edits"]] == ["swing arms wider"]   # the good edit stays
        assert status["edit_errors"][0]["text"] == "boom boom"
        assert "UnicodeEncodeError" in status["edit_errors"][0]["error"]
        committed = engine.core.windows_committed
        assert (await engine.handle(Command("edit", "jump higher", source="test"))).ok
        await _until(lambda: engine.core.windows_committed > committed + 1)
        await _until(lambda: [e.text for e in sink.frames[-1].edits] == ["swing arms wider", "jump higher"])
        assert engine.core.edits_failed == 1
        idx = [f.frame for f in sink.frames]
        assert all(b > a for a, b in zip(idx, idx[1:]))   # the stream kept going
    finally:
        await engine.stop()
