"""liveedit.client against a real WebSocket server (the stand-in engine in conftest.py)."""
from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

from liveedit.client import LiveEditClient, LiveEditError, parse_frame
from model.skeleton import JOINT_NAMES


async def test_frames_arrive_with_the_documented_shapes(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        assert c.hello is not None and c.hello["joint_names"] == list(JOINT_NAMES)
        f1 = await c.next_frame()
        f2 = await c.next_frame()
    assert f1.rotations.shape == (24, 4) and f1.root.shape == (3,) and f1.joints.shape == (24, 3)
    assert np.allclose(np.linalg.norm(f1.rotations, axis=1), 1.0, atol=1e-3)
    assert f2.frame > f1.frame and f2.time > f1.time
    assert f1.bpm == pytest.approx(120.0)


async def test_edit_reaches_the_engine_and_shows_in_the_stream(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        reply = await c.edit("swing arms wider", duration=8)
        assert reply["ok"] is True
        assert fake_engine.commands[-1] == {"type": "edit", "text": "swing arms wider", "duration": 8.0}
        frame = await c.next_frame()
        assert [e.text for e in frame.edits] == ["swing arms wider"]
        assert frame.edits[0].until_beat == pytest.approx(frame.beat + 8, abs=1.0)

        assert (await c.edit("jump higher"))["ok"]
        assert (await c.undo())["message"] == "undid: jump higher"
        assert (await c.reset())["ok"]
        assert (await c.next_frame()).edits == ()
        assert (await c.strength(3.5))["strength"] == 3.5
        assert (await c.tempo(128))["ok"] and fake_engine.bpm == 128
        assert (await c.tap())["ok"]
        status = await c.status()
        assert status["strength"] == 3.5 and status["bpm"] == 128
        # ok=false replies come back as they are, or raise with check=True
        assert (await c.undo())["ok"] is False
        c.check = True
        with pytest.raises(LiveEditError, match="nothing to undo"):
            await c.undo()


async def test_concurrent_requests_get_their_own_replies(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        replies = await asyncio.gather(*(c.edit(f"move {i}") for i in range(5)))
    assert [r["message"].split(": ")[1] for r in replies] == [f"move {i}" for i in range(5)]


async def test_bad_input_is_refused_before_sending(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        with pytest.raises(ValueError, match="non-empty"):
            await c.edit("   ")
    assert fake_engine.commands == []
    with pytest.raises(ValueError, match="malformed frame"):
        parse_frame({"type": "frame", "time": 0, "frame": 0, "root": [0, 0], "rotations": [[0, 0, 0, 1]] * 24})


async def test_slow_consumer_sees_recent_frames_not_a_backlog(fake_engine):
    async with LiveEditClient(fake_engine.url, queue_size=2) as c:
        await c.next_frame()
        await asyncio.sleep(0.5)  # about 15 frames arrive meanwhile
        newest = [f.frame async for f in _take(c.frames(), 2)]
    assert c.frames_dropped >= 5
    assert newest[1] == newest[0] + 1


async def _take(agen, n):
    async for item in agen:
        yield item
        n -= 1
        if n == 0:
            break


async def test_without_reconnect_frames_end_when_the_server_goes(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        await c.next_frame()
        await fake_engine.stop()
        got = [f async for f in c.frames()]  # drains what was queued, then ends
        assert len(got) <= 8
        with pytest.raises(ConnectionError):
            await c.status()


async def test_reconnects_after_the_server_restarts(fake_engine):
    async with LiveEditClient(fake_engine.url, reconnect=True, min_delay=0.05, max_delay=0.2) as c:
        before = await c.next_frame()
        await fake_engine.stop()
        await asyncio.sleep(0.4)  # a few failed attempts while the server is down
        assert not c.connected
        await fake_engine.start()  # same port
        after = await c.next_frame(timeout=5)
        assert c.connections == 2
        assert after.frame < before.frame + 30  # a new stream started from frame 0
        assert (await c.edit("after the restart"))["ok"]


async def test_unreachable_server_raises_oserror():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        async with LiveEditClient(f"ws://127.0.0.1:{port}/ws", reply_timeout=2):
            pass
