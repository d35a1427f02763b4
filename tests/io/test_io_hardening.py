"""Issue 16's attacks, replayed with real UDP and WebSocket peers on 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
import logging
import struct

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from liveedit.io.osc import OscControlServer, build_message
from liveedit.io.ws import WebSocketServer

from test_io_osc import UdpPeer
from test_io_ws import recv_json, url

pytestmark = pytest.mark.timeout(60)

NEGATIVE_BUNDLE = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", -4)


@pytest.fixture
async def osc(engine):
    srv = OscControlServer(engine, "127.0.0.1", 0)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def ws_server(engine, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>viewer</title>")
    srv = WebSocketServer(engine, "127.0.0.1", 0, web_root=tmp_path)
    await srv.start()
    yield srv
    await srv.stop()


async def test_negative_bundle_element_size_is_answered_and_the_server_goes_on(osc, engine):
    peer = await UdpPeer.open(osc.address)
    peer.transport.sendto(NEGATIVE_BUNDLE)
    kind, ok, message, _ = await peer.reply()
    assert (kind, ok) == ("error", 0) and "element size -4" in message
    peer.send("/status")
    assert (await peer.reply())[:2] == ["status", 1]


async def test_unknown_type_tags_get_one_reply_each_and_almost_no_log(osc, engine, caplog):
    caplog.set_level(logging.WARNING)
    peer = await UdpPeer.open(osc.address)
    datagram = b"/status\x00," + b"x" * 4080 + b"\x00" * 3
    for _ in range(10):
        peer.transport.sendto(datagram)
    for _ in range(10):
        kind, ok, message, _ = await peer.reply()
        assert ok == 0 and "longer than" in message
    peer.transport.sendto(b"/status\x00,xx\x00")
    assert "unsupported OSC type tag" in (await peer.reply())[2]
    peer.send("/tap")
    assert (await peer.reply())[:2] == ["tap", 1]
    lines = [r for r in caplog.records if r.name.startswith("liveedit.io.osc")]
    assert len(lines) == 1, [r.getMessage() for r in lines]   # one line for this sender per 10 s
    assert not [r for r in caplog.records if r.name.startswith("pythonosc")]


async def test_tiny_and_huge_values_over_osc_are_refused(osc, engine):
    peer = await UdpPeer.open(osc.address)
    peer.send("/edit", "x", 1e-45)
    kind, ok, message, _ = await peer.reply()
    assert (kind, ok) == ("edit", 0) and "between 0.25 and 1024" in message
    peer.transport.sendto(b"/tempo\x00\x00,h\x00\x00" + struct.pack(">q", 2 ** 62))
    assert (await peer.reply())[:2] == ["tempo", 0]
    peer.transport.sendto(b"/strength\x00\x00\x00,d\x00\x00" + struct.pack(">d", float("nan")))
    assert (await peer.reply())[:2] == ["strength", 0]
    assert engine.commands == []


async def test_a_global_budget_caps_many_senders(engine, caplog):
    """50 source addresses, 10 edits each: the per-sender limit alone let all 500 through."""
    srv = OscControlServer(engine, "127.0.0.1", 0, rate=30, burst=60, global_rate=10, global_burst=20)
    await srv.start()
    loop = asyncio.get_running_loop()
    peers = []
    try:
        for i in range(50):
            transport, peer = await loop.create_datagram_endpoint(
                UdpPeer, local_addr=(f"127.0.0.{i + 2}", 0), remote_addr=srv.address)
            peer.transport = transport
            peers.append(peer)
        t0 = loop.time()
        for peer in peers:
            for _ in range(10):
                peer.send("/edit", "spin")
            await asyncio.sleep(0.005)  # let the server read: a full socket buffer drops datagrams
        replies = []
        for peer in peers:
            replies.append(await peer.reply())   # every sender hears at least one answer
        elapsed = loop.time() - t0
        await asyncio.sleep(0.3)
        assert 20 <= len(engine.commands) <= 20 + 10 * (elapsed + 0.5)
        busy = [r for r in replies if r[1] == 0]
        assert busy and all("server busy" in r[2] for r in busy)
        assert srv.dropped >= 500 - len(engine.commands)
        assert len([r for r in caplog.records if r.name == "liveedit.io.osc"]) <= 20   # not one per sender
    finally:
        for peer in peers:
            peer.transport.close()
        await srv.stop()


async def test_every_ws_control_message_gets_exactly_one_reply(ws_server, engine):
    cases = [
        ('{"type":"edit","text":"arms \\ud800 up","id":1}', "lone surrogate"),
        ('{"type":"tempo","bpm":1' + "0" * 400 + ',"id":2}', "out of range"),
        ('{"type":"strength","value":1' + "0" * 400 + ',"id":3}', "out of range"),
        ('{"type":"edit","text":"x","duration":1' + "0" * 400 + ',"id":4}', "out of range"),
        ('{"type":"tempo","bpm":1' + "0" * 5000 + ',"id":5}', "out of range"),
        ('{"type":"strength","value":1e-45,"id":6}', None),     # inside 0..10: accepted
        ('{"type":"edit","text":"x","duration":1e-45,"id":7}', "between 0.25"),
        ('{"type":"strength","value":NaN,"id":8}', "not a JSON number"),
    ]
    async with connect(url(ws_server)) as ws:
        await recv_json(ws, "hello")
        for text, needle in cases:
            await ws.send(text)
        replies = [await recv_json(ws, "reply") for _ in cases]
        await ws.send('{"type":"status","id":"last"}')
        last = await recv_json(ws, "reply")
    assert last["id"] == "last" and last["ok"] is True   # nothing else was queued in between
    for (text, needle), reply in zip(cases, replies):
        if needle is None:
            assert reply["ok"] is True, reply
        else:
            assert reply["ok"] is False and needle in reply["message"], (text[:40], reply)
    # the id is echoed whenever the JSON could be read (a number too long for the parser fails the whole text)
    assert [r["id"] for r in replies] == [1, None, None, None, None, 6, 7, None]
    assert [c.kind for c in engine.commands] == ["strength", "status"]


async def test_a_global_budget_caps_many_websocket_clients(engine, tmp_path):
    """Ten clients, each under its own limit, together over the global one: the excess is answered
    'server busy' and never reaches the engine; subscriptions do not count against it."""
    (tmp_path / "index.html").write_text("<!doctype html><title>viewer</title>")
    srv = WebSocketServer(engine, "127.0.0.1", 0, web_root=tmp_path, rate=20, burst=40,
                          global_rate=5, global_burst=10)
    await srv.start()
    try:
        clients = [await connect(url(srv)) for _ in range(10)]
        for ws in clients:
            await recv_json(ws, "hello")
            await ws.send('{"type":"subscribe","format":"json"}')
            assert (await recv_json(ws, "reply"))["ok"] is True
        for ws in clients:
            for k in range(5):
                await ws.send(json.dumps({"type": "strength", "value": 1.0, "id": k}))
        replies = [[await recv_json(ws, "reply") for _ in range(5)] for ws in clients]
        flat = [r for rs in replies for r in rs]
        accepted = [r for r in flat if r["ok"]]
        busy = [r for r in flat if not r["ok"]]
        assert len(flat) == 50                                   # one reply each
        assert 10 <= len(accepted) <= 20 and len(engine.commands) == len(accepted)
        assert busy and all("server busy" in r["message"] for r in busy)
        for ws in clients:
            await ws.close()
    finally:
        await srv.stop()


async def _raw_http(srv, host_header: str, path: str = "/") -> int:
    host, port = srv.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return int(data.split(b" ", 2)[1])


async def test_dns_rebinding_host_is_refused_for_http_and_websocket(ws_server, engine):
    host, port = ws_server.address
    assert await _raw_http(ws_server, f"{host}:{port}") == 200
    assert await _raw_http(ws_server, f"localhost:{port}") == 200
    assert await _raw_http(ws_server, f"rebind.attacker.example:{port}") == 403
    # the browser resolved rebind.attacker.example to 127.0.0.1: Host and Origin both name it
    with pytest.raises(InvalidStatus) as err:
        async with connect(f"ws://rebind.attacker.example:{port}/ws", host=host, port=port,
                           additional_headers={"Origin": f"http://rebind.attacker.example:{port}"}):
            pass
    assert err.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as err:   # a second Host header is no way around it
        async with connect(url(ws_server), additional_headers={"Host": f"rebind.attacker.example:{port}"}):
            pass
    assert err.value.response.status_code == 403
    assert ws_server.hosts_refused == 3 and engine.commands == []


async def test_allowed_host_names_and_origins(engine, tmp_path):
    (tmp_path / "index.html").write_text("viewer")
    srv = WebSocketServer(engine, "127.0.0.1", 0, web_root=tmp_path, allow_hosts=["stage.example"])
    await srv.start()
    try:
        host, port = srv.address
        assert await _raw_http(srv, f"stage.example:{port}") == 200
        async with connect(f"ws://stage.example:{port}/ws", host=host, port=port,
                           additional_headers={"Origin": f"http://stage.example:{port}"}) as ws:
            assert (await recv_json(ws, "hello"))["control"] == "open"
        # an Origin equal to the Host header is not enough: the Origin must be on the list
        async with connect(url(srv), additional_headers={"Origin": "https://evil.example"}) as ws:
            assert (await recv_json(ws, "hello"))["control"] == "refused"
            await ws.send('{"type":"tap"}')
            assert (await recv_json(ws, "reply"))["ok"] is False
    finally:
        await srv.stop()
    assert engine.commands == []
