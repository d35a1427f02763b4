"""The OSC facts clients/touchdesigner/README.md gives, checked against the engine's real OSC
adapters over UDP on 127.0.0.1: the pose channel numbers, and edits sent the way TouchDesigner and
Max send them, with their replies."""
from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from liveedit.core.messages import PoseFrame
from liveedit.io.osc import OscControlServer, PoseOscSink

# README "Handy channels": name -> 1-based channel numbers.
HANDY = {"phase": [5], "root": [6, 7, 8], "head": [150, 151, 152], "left wrist": [165, 166, 167],
         "right wrist": [168, 169, 170], "left ankle": [126, 127, 128], "right ankle": [129, 130, 131]}
JOINT = {"head": 15, "left wrist": 20, "right wrist": 21, "left ankle": 7, "right ankle": 8}


def udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


async def recv(sock: socket.socket, timeout: float = 5.0) -> OscMessage:
    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 65536), timeout)
    return OscMessage(data)


async def test_pose_channel_numbers_in_the_readme():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(24, 4))
    frame = PoseFrame(time=2.0, frame=60, bpm=128.0, beat_phase=0.25, beat=4.25, root=np.array([0.1, 0.95, -0.2]),
                      rotations=q / np.linalg.norm(q, axis=1, keepdims=True), joints=rng.normal(size=(24, 3)))
    sock = udp_socket()
    sink = PoseOscSink("127.0.0.1", sock.getsockname()[1])
    await sink.start()
    try:
        sink.offer(frame)
        msg = await recv(sock)
    finally:
        await sink.stop()
        sock.close()
    assert msg.address == "/liveedit/pose" and len(msg.params) == 176
    channel = lambda n: msg.params[n - 1]  # noqa: E731  (TouchDesigner's 1-based channel n)
    assert channel(1) == 60 and channel(3) == pytest.approx(128.0) and channel(5) == pytest.approx(0.25)
    assert [channel(n) for n in HANDY["root"]] == pytest.approx(frame.root, abs=1e-6)
    for name, j in JOINT.items():
        assert [channel(n) for n in HANDY[name]] == pytest.approx(frame.joints[j], abs=1e-6), name
    for j in (0, 16, 23):  # rotations at 9 + 4j
        assert [channel(9 + 4 * j + k) for k in range(4)] == pytest.approx(frame.rotations[j], abs=1e-6)


async def test_edits_sent_like_touchdesigner_and_max_are_answered(fake_engine):
    server = OscControlServer(fake_engine, "127.0.0.1", 0)
    await server.start()
    client = udp_socket()
    loop = asyncio.get_running_loop()
    target = server.address

    async def send(address, *args):
        b = OscMessageBuilder(address)
        for a in args:
            b.add_arg(a)
        await loop.sock_sendto(client, b.build().dgram, target)
        return await recv(client)

    try:
        # TouchDesigner: sendOSC('/edit', ['jump higher', 8])
        reply = await send("/edit", "jump higher", 8)
        assert reply.address == "/liveedit/reply" and reply.params[:2] == ["edit", 1]
        # Max message box `/edit swing arms wider`: three strings, joined
        assert (await send("/edit", "swing", "arms", "wider")).params[1] == 1
        # Max message box `/edit "turn 2 times" 8`: a quoted prompt holding a number
        assert (await send("/edit", "turn 2 times", 8)).params[1] == 1
        # ...and unquoted, the two numbers are refused (only one, the duration, is allowed)
        assert (await send("/edit", "turn", 2, "times", 8)).params[1] == 0
        assert (await send("/undo")).params[:2] == ["undo", 1]
    finally:
        client.close()
        await server.stop()
    edits = [(c.text, c.value) for c in fake_engine.commands if c.kind == "edit"]
    assert edits == [("jump higher", 8.0), ("swing arms wider", None), ("turn 2 times", 8.0)]
