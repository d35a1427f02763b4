"""OSC control server, pose and VMC output, with real UDP sockets on 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import AsyncIOOSCUDPServer

from liveedit.io.osc import OscControlServer, PoseOscSink, build_message
from liveedit.io.vmc import VmcSink
from model.skeleton import REST_OFFSETS

pytestmark = pytest.mark.timeout(60)


class UdpPeer(asyncio.DatagramProtocol):
    """A test OSC sender that collects the replies sent back to its own port."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue[OscMessage] = asyncio.Queue()
        self.raw: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data, addr) -> None:
        self.raw.put_nowait(data)
        try:
            self.replies.put_nowait(OscMessage(data))
        except Exception:
            pass

    @classmethod
    async def open(cls, target=None):
        """A socket sending to `target` (and hearing only it), or, with no target, a plain listener."""
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0), remote_addr=target)
        peer.transport = transport
        return peer

    def send(self, address: str, *args) -> None:
        self.transport.sendto(build_message(address, list(args)))

    async def reply(self, timeout: float = 5.0) -> list:
        msg = await asyncio.wait_for(self.replies.get(), timeout)
        assert msg.address == "/liveedit/reply"
        return list(msg.params)


def _bundle(addresses: list[str]) -> bytes:
    b = OscBundleBuilder(0)
    for a in addresses:
        b.add_content(OscMessageBuilder(a).build())
    return b.build().dgram


@pytest.fixture
async def server(engine):
    srv = OscControlServer(engine, "127.0.0.1", 0)
    await srv.start()
    yield srv
    await srv.stop()


async def test_commands_reach_engine_and_reply(server, engine):
    peer = await UdpPeer.open(server.address)
    peer.send("/edit", "swing", "arms", "wider", 8.0)
    kind, ok, message, data = await peer.reply()
    assert (kind, ok) == ("edit", 1) and "edit done" in message and json.loads(data)["bpm"] == 120.0
    cmd = engine.commands[-1]
    assert cmd.kind == "edit" and cmd.text == "swing arms wider" and cmd.value == 8.0
    assert cmd.source == f"osc:127.0.0.1:{peer.transport.get_extra_info('sockname')[1]}"
    for address, args, kind in [("/undo", (), "undo"), ("/reset", (), "reset"), ("/strength", (2.5,), "strength"),
                                ("/tempo", (128,), "tempo"), ("/tap", (), "tap"), ("/liveedit/status", (), "status")]:
        peer.send(address, *args)
        r = await peer.reply()
        assert r[0] == kind and r[1] == 1
    assert [c.kind for c in engine.commands] == ["edit", "undo", "reset", "strength", "tempo", "tap", "status"]
    assert engine.commands[3].value == 2.5 and engine.commands[4].value == 128.0
    peer.send("/edit", "reject")
    assert (await peer.reply())[:2] == ["edit", 0]


async def test_bundle_with_future_time_tag_does_not_block(server, engine):
    """python-osc's default Dispatcher sleeps until a bundle's time tag; ours must answer at once."""
    peer = await UdpPeer.open(server.address)
    bundle = OscBundleBuilder(time.time() + 3600)  # an hour ahead
    m = OscMessageBuilder("/edit")
    m.add_arg("later")
    bundle.add_content(m.build())
    peer.transport.sendto(bundle.build().dgram)
    r = await peer.reply(timeout=10)
    assert r[:2] == ["edit", 1] and engine.commands[-1].text == "later"


async def test_bad_input_gets_error_replies_and_server_survives(server, engine):
    peer = await UdpPeer.open(server.address)
    cases = [
        b"\x00" * 5000,                                  # oversized
        b"hello, not osc",                               # garbage
        b"/edit\x00\x00\x00,s\x00\x00\xff\xfe\x00\x00",  # invalid UTF-8 in the string argument
        build_message("/dance", ["x"]),                  # unknown address
        build_message("/strength", ["loud"]),            # wrong type
        build_message("/tempo", []),                     # missing argument
        build_message("/*", []),                         # a pattern would fan out to every command
        b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x40",  # truncated bundle
        _bundle(["/tap"] * 40),                          # too many messages in one packet
    ]
    for data in cases:
        peer.transport.sendto(data)
        kind, ok, message, _ = await peer.reply()
        assert ok == 0 and message, (data[:20], message)
    assert engine.commands == []
    assert server.errors == len(cases)
    peer.send("/undo")  # still serving
    assert (await peer.reply())[:2] == ["undo", 1]


async def test_rate_limit_per_sender(engine):
    srv = OscControlServer(engine, "127.0.0.1", 0, rate=5, burst=5)
    await srv.start()
    try:
        peer = await UdpPeer.open(srv.address)
        for _ in range(40):
            peer.send("/tap")
        replies = []
        try:
            while True:
                replies.append(await peer.reply(timeout=1.0))
        except asyncio.TimeoutError:
            pass
        ok = [r for r in replies if r[1] == 1]
        limited = [r for r in replies if "rate limit" in r[2]]
        assert 5 <= len(ok) < 40 and len(limited) >= 1 and srv.dropped > 0
        assert len(engine.commands) == len(ok)
    finally:
        await srv.stop()


async def test_token_required_for_control(engine):
    srv = OscControlServer(engine, "127.0.0.1", 0, token="s3cret")
    await srv.start()
    try:
        peer = await UdpPeer.open(srv.address)
        peer.send("/edit", "spin")
        r = await peer.reply()
        assert r[1] == 0 and "auth" in r[2]
        peer.send("/auth", "wrong")
        assert (await peer.reply())[:2] == ["auth", 0]
        peer.send("/auth", "s3cret")
        assert (await peer.reply())[:2] == ["auth", 1]
        peer.send("/edit", "spin")
        assert (await peer.reply())[:2] == ["edit", 1]
        assert [c.text for c in engine.commands] == ["spin"]
    finally:
        await srv.stop()


async def _osc_listener(handler_map):
    disp = Dispatcher(strict_timing=False)
    for address, fn in handler_map.items():
        disp.map(address, fn)
    srv = AsyncIOOSCUDPServer(("127.0.0.1", 0), disp, asyncio.get_running_loop())
    transport, _ = await srv.create_serve_endpoint()
    return transport, transport.get_extra_info("sockname")[1]


async def test_pose_sink_sends_flat_pose_and_beats(frames):
    got: list = []
    beats: list = []
    transport, port = await _osc_listener({"/liveedit/pose": lambda a, *args: got.append(args),
                                            "/liveedit/beat": lambda a, *args: beats.append(args)})
    sink = PoseOscSink("127.0.0.1", port)
    await sink.start()
    try:
        sent = [frames(i) for i in range(40)]
        for f in sent:
            sink.offer(f)
        for _ in range(100):
            if len(got) == 40:
                break
            await asyncio.sleep(0.02)
        assert len(got) == 40
        args = got[7]
        assert args[0] == 7 and len(args) == 176
        np.testing.assert_allclose(args[8:104], sent[7].rotations.reshape(-1), atol=1e-6)
        assert [b[0] for b in beats] == [1, 2]  # beat = i / 15 crosses 1 and 2 within 40 frames
    finally:
        await sink.stop()
        transport.close()


async def test_pose_sink_never_raises_without_receiver(frames):
    sink = PoseOscSink("127.0.0.1", 9)  # discard port, nobody listening
    for i in range(5):
        sink.offer(frames(i))
    sink.offer(None)  # a broken frame is skipped, not raised
    await sink.stop()


async def test_vmc_bundle_received_by_real_osc_server(frames):
    got: list = []
    transport, port = await _osc_listener({"/VMC/Ext/*": lambda a, *args: got.append((a, args))})
    sink = VmcSink("127.0.0.1", port)
    await sink.start()
    try:
        f = frames(5)
        sink.offer(f)
        for _ in range(100):
            if len(got) >= 25:
                break
            await asyncio.sleep(0.02)
        addresses = [a for a, _ in got]
        assert addresses[:3] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
        assert addresses.count("/VMC/Ext/Bone/Pos") == 22 and len(got) == 25
        assert got[0][1] == (1,) and got[1][1][0] == pytest.approx(f.time)
        root = got[2][1]
        assert root[0] == "root" and root[1:4] == pytest.approx((-f.root[0], 0.0, f.root[2]), abs=1e-6)
        bones = {args[0]: args[1:] for a, args in got if a == "/VMC/Ext/Bone/Pos"}
        q = f.rotations[17]  # right shoulder joint -> RightUpperArm
        assert bones["RightUpperArm"][3:] == pytest.approx((q[0], -q[1], -q[2], q[3]), abs=1e-6)
        assert bones["RightUpperArm"][:3] == pytest.approx(tuple(REST_OFFSETS[17] * [-1, 1, 1]), abs=1e-6)
        assert bones["Hips"][:3] == pytest.approx((0.0, 0.95, 0.0), abs=1e-6)
    finally:
        await sink.stop()
        transport.close()


async def test_replies_to_a_fixed_port(engine):
    listener = await UdpPeer.open()
    port = listener.transport.get_extra_info("sockname")[1]
    srv = OscControlServer(engine, "127.0.0.1", 0, reply_port=port)
    await srv.start()
    try:
        sender = await UdpPeer.open(srv.address)
        sender.send("/tap")
        assert (await listener.reply())[:2] == ["tap", 1]
        assert sender.replies.empty()
    finally:
        await srv.stop()
