"""liveedit.client against a real WebSocket server (the stand-in engine in conftest.py)."""
from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

from liveedit import protocol as proto
from liveedit.client import LiveEditClient, LiveEditError, parse_binary_frame, parse_frame
from liveedit.core.messages import ActiveEdit, PoseFrame
from model.skeleton import JOINT_NAMES, PARENTS


async def test_frames_arrive_with_the_documented_shapes(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        assert c.hello["protocol"] == 1 and c.hello["joint_names"] == list(JOINT_NAMES)
        assert c.hello["parents"] == list(PARENTS)
        f1 = await c.next_frame()
        f2 = await c.next_frame()
    assert f1.rotations.shape == (24, 4) and f1.root.shape == (3,) and f1.joints.shape == (24, 3)
    assert np.allclose(np.linalg.norm(f1.rotations, axis=1), 1.0, atol=1e-3)
    assert f2.frame > f1.frame and f2.time > f1.time
    assert f1.bpm == pytest.approx(120.0)


async def test_edit_reaches_the_engine_and_shows_in_the_stream(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        reply = await c.edit("swing arms wider", duration=8)
        assert reply["ok"] is True and reply["request"] == "edit" and reply["data"]["text"] == "swing arms wider"
        cmd = fake_engine.commands[-1]
        assert (cmd.kind, cmd.text, cmd.value) == ("edit", "swing arms wider", 8.0)
        frame = await c.next_frame()
        assert [e.text for e in frame.edits] == ["swing arms wider"]
        assert frame.edits[0].until_beat == pytest.approx(frame.beat + 8, abs=1.0)

        assert (await c.edit("jump higher"))["ok"]
        assert "jump higher" in (await c.undo())["message"]
        assert (await c.reset())["ok"]
        assert (await c.next_frame()).edits == ()
        assert (await c.strength(3.5))["data"]["strength"] == 3.5
        assert (await c.tempo(128))["ok"] and fake_engine.bpm == 128
        assert (await c.tap())["ok"]
        status = await c.status()
        assert status["data"]["strength"] == 3.5 and status["data"]["bpm"] == 128
        # the server's own checks (docs/protocol.md limits) come back as ok=false replies
        assert (await c.strength(99))["ok"] is False
        assert (await c.tempo(5))["ok"] is False
        assert (await c.tempo("auto"))["ok"] and fake_engine.bpm == 0   # release reaches the engine as 0
        # ok=false replies come back as they are, or raise with check=True
        assert (await c.undo())["ok"] is False
        c.check = True
        with pytest.raises(LiveEditError, match="nothing to undo"):
            await c.undo()


async def test_concurrent_requests_get_their_own_replies(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        replies = await asyncio.gather(*(c.edit(f"move {i}") for i in range(5)))
    assert [r["data"]["text"] for r in replies] == [f"move {i}" for i in range(5)]


async def test_bad_input_is_refused_before_sending(fake_engine):
    async with LiveEditClient(fake_engine.url) as c:
        with pytest.raises(ValueError, match="non-empty"):
            await c.edit("   ")
    assert fake_engine.commands == []
    assert (await _raw_bad_message(fake_engine.url))["ok"] is False


async def _raw_bad_message(url):
    async with LiveEditClient(url) as c:
        return await c.request({"type": "dance faster"})
    with pytest.raises(ValueError, match="malformed frame"):
        parse_frame({"type": "frame", "t": 0, "frame": 0, "root": [0, 0], "rot": [0, 0, 0, 1] * 24})
    with pytest.raises(ValueError, match="binary"):
        parse_binary_frame(b"LEPF" + bytes(100))


def test_client_decoders_agree_with_the_server_encoders():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(24, 4)).astype(np.float32)
    frame = PoseFrame(time=1.5, frame=45, bpm=124.0, beat_phase=0.25, beat=3.1, root=np.array([0.1, 0.9, -0.2]),
                      rotations=q / np.linalg.norm(q, axis=1, keepdims=True), joints=rng.normal(size=(24, 3)),
                      edits=(ActiveEdit(3, "swing arms wider", 16.0),), contacts=np.array([1, 0, 1, 0.5]))
    for got in (parse_frame(proto.frame_to_dict(frame)),
                parse_binary_frame(proto.encode_frame_binary(frame), frame.edits)):
        assert (got.frame, got.edits) == (45, frame.edits)
        assert got.time == pytest.approx(1.5) and got.beat_phase == pytest.approx(0.25)
        assert np.allclose(got.rotations, frame.rotations, atol=1e-5)
        assert np.allclose(got.joints, frame.joints, atol=1e-5)
        assert np.allclose(got.root, frame.root, atol=1e-5) and np.allclose(got.contacts, frame.contacts, atol=1e-3)


async def test_binary_subscription_without_joints(fake_engine):
    async with LiveEditClient(fake_engine.url, binary=True, joints=False) as c:
        await c.edit("spin")
        for _ in range(30):
            frame = await c.next_frame()
            if frame.edits:
                break
    assert frame.joints is None and frame.rotations.shape == (24, 4)
    assert [e.text for e in frame.edits] == ["spin"]


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
