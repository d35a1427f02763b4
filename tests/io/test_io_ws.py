"""WebSocket + HTTP server with real `websockets` clients and raw HTTP requests on 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
import socket

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from liveedit import protocol as proto
from liveedit.core.messages import ActiveEdit
from liveedit.io.ws import WEB_ROOT, WebSocketServer, resolve_static

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def web_root(tmp_path):
    root = tmp_path / "web"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>viewer</title>")
    (root / "js" / "app.js").write_text("export const x = 1;")
    (root / "style.css").write_text("body{}")
    (root / ".hidden").write_text("no")
    (tmp_path / "secret.txt").write_text("top secret")
    return root


@pytest.fixture
async def server(engine, web_root):
    srv = WebSocketServer(engine, "127.0.0.1", 0, web_root=web_root)
    await srv.start()
    yield srv
    await srv.stop()


def url(srv, query=""):
    host, port = srv.address
    return f"ws://{host}:{port}/ws{query}"


async def recv_json(ws, type_=None, timeout=5.0):
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if type_ is None or msg["type"] == type_:
            return msg


async def http_get(srv, path: str) -> tuple[int, dict, bytes]:
    host, port = srv.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


async def test_static_files_and_traversal(server):
    status, headers, body = await http_get(server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"viewer" in body
    status, headers, _ = await http_get(server, "/js/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert (await http_get(server, "/style.css"))[1]["content-type"].startswith("text/css")
    for bad in ("/../secret.txt", "/js/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                "/.hidden", "/nope.js", "/js/%00app.js", "//etc/passwd"):
        status, _, body = await http_get(server, bad)
        assert status == 404 and b"secret" not in body, bad


def test_resolve_static_rejects_symlink_escape(tmp_path, web_root):
    (web_root / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert resolve_static(web_root, "/link.txt") is None
    assert resolve_static(web_root, "/js/app.js") == (web_root / "js" / "app.js").resolve()


@pytest.mark.skipif(not (WEB_ROOT / "index.html").is_file(), reason="viewer page not in this checkout")
async def test_serves_the_real_viewer(engine):
    srv = WebSocketServer(engine, "127.0.0.1", 0)
    await srv.start()
    try:
        status, headers, _ = await http_get(srv, "/")
        assert status == 200 and headers["content-type"].startswith("text/html")
    finally:
        await srv.stop()


async def test_hello_frames_and_control(server, engine, frames):
    async with connect(url(server)) as ws:
        hello = await recv_json(ws)
        assert hello["type"] == "hello" and hello["protocol"] == proto.PROTOCOL_VERSION
        assert len(hello["joint_names"]) == 24 and hello["control"] == "open"
        server.offer(frames(1, edits=[ActiveEdit(1, "wider", None)]))
        frame = await recv_json(ws, "frame")
        assert frame["frame"] == 1 and len(frame["rot"]) == 96 and frame["edits"][0]["text"] == "wider"
        await ws.send(json.dumps({"type": "edit", "text": "swing arms wider", "duration": 8, "id": 42}))
        reply = await recv_json(ws, "reply")
        assert reply["ok"] and reply["request"] == "edit" and reply["id"] == 42 and reply["data"]["bpm"] == 120.0
        cmd = engine.commands[-1]
        assert cmd.text == "swing arms wider" and cmd.value == 8.0 and cmd.source.startswith("ws:")
        await ws.send(json.dumps({"type": "edit", "text": "reject"}))
        assert (await recv_json(ws, "reply"))["ok"] is False
        # binary subscription, no joints; binary subscribers get the edit list as JSON
        await ws.send(json.dumps({"type": "subscribe", "format": "binary", "joints": False}))
        assert (await recv_json(ws, "reply"))["ok"]
        server.offer(frames(2, edits=[ActiveEdit(1, "wider", None), ActiveEdit(2, "spin", 12.0)]))
        got_binary, got_edits = None, None
        while got_binary is None or got_edits is None:
            msg = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(msg, bytes):
                assert len(msg) == 424  # no joints, no contacts
                got_binary = proto.decode_binary_frame(msg)
            elif json.loads(msg)["type"] == "edits":
                got_edits = json.loads(msg)
        assert got_binary["frame"] == 2 and got_binary["joints"] is None
        np.testing.assert_allclose(got_binary["rotations"], frames(2).rotations, atol=1e-6)
        assert [e["text"] for e in got_edits["edits"]] == ["wider", "spin"]
        await ws.send(json.dumps({"type": "unsubscribe"}))
        await recv_json(ws, "reply")
        server.offer(frames(3))
        await ws.send(json.dumps({"type": "status"}))
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert msg["type"] == "reply" and msg["request"] == "status"  # no frame came in between


async def test_garbage_messages_get_errors_and_connection_survives(server, engine):
    async with connect(url(server)) as ws:
        await recv_json(ws, "hello")
        for bad in ("nope", "{}", '{"type":"fly"}', '{"type":"strength","value":1e9}', b"\x00\xff", "[" * 50000,
                    '{"type":"edit","text":"' + "x" * 500 + '"}'):
            await ws.send(bad)
            reply = await recv_json(ws, "reply")
            assert reply["ok"] is False and reply["message"]
        await ws.send('{"type":"undo"}')
        assert (await recv_json(ws, "reply"))["ok"]
    assert [c.kind for c in engine.commands] == ["undo"]
    # An oversized message closes that connection (1009), and the server keeps serving others.
    async with connect(url(server), max_size=None) as ws:
        await recv_json(ws, "hello")
        await ws.send("x" * (proto.MAX_WS_MESSAGE + 10))
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(10):
                await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    async with connect(url(server)) as ws:
        assert (await recv_json(ws))["type"] == "hello"


async def test_flood_is_rate_limited_then_closed(server, engine):
    async with connect(url(server)) as ws:
        await recv_json(ws, "hello")
        for _ in range(300):
            await ws.send('{"type":"tap"}')
        replies = []
        with pytest.raises(ConnectionClosed):
            while True:
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    ok = [r for r in replies if r.get("ok")]
    assert 40 <= len(engine.commands) < 300 and len(ok) == len(engine.commands)
    assert any("rate limit" in r.get("message", "") for r in replies)


async def test_token_protects_control_not_subscription(engine, web_root, frames):
    srv = WebSocketServer(engine, "127.0.0.1", 0, token="s3cret", web_root=web_root)
    await srv.start()
    try:
        async with connect(url(srv)) as ws:
            hello = await recv_json(ws, "hello")
            assert hello["control"] == "token" and hello["authenticated"] is False
            srv.offer(frames(1))
            assert (await recv_json(ws, "frame"))["frame"] == 1  # streaming needs no token
            await ws.send('{"type":"undo"}')
            assert (await recv_json(ws, "reply"))["ok"] is False
            await ws.send('{"type":"auth","token":"bad"}')
            assert (await recv_json(ws, "reply"))["ok"] is False
            await ws.send('{"type":"undo","token":"s3cret"}')
            assert (await recv_json(ws, "reply"))["ok"] is True
            await ws.send('{"type":"auth","token":"s3cret"}')
            await recv_json(ws, "reply")
            await ws.send('{"type":"reset"}')
            assert (await recv_json(ws, "reply"))["ok"] is True
        async with connect(url(srv, "?token=s3cret")) as ws:
            assert (await recv_json(ws, "hello"))["authenticated"] is True
            await ws.send('{"type":"tap"}')
            assert (await recv_json(ws, "reply"))["ok"] is True
        assert [c.kind for c in engine.commands] == ["undo", "reset", "tap"]
    finally:
        await srv.stop()


async def test_many_clients_and_one_that_never_reads(server, frames):
    """A client that never reads must not stall the others or the caller of offer()."""
    # The stuck client: a tiny receive buffer and no reads at all.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(server.address)
    stuck = await connect(url(server), sock=sock, max_queue=1, max_size=None, close_timeout=0.5)
    readers = [await connect(url(server)) for _ in range(20)]
    for ws in readers:
        await recv_json(ws, "hello")
    await ws_subscribe_json(readers)

    big = frames(0)
    n = 300
    last_seen = {i: -1 for i in range(len(readers))}

    async def read_all(i, ws):
        while last_seen[i] < n - 1:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg["type"] == "frame":
                assert msg["frame"] > last_seen[i]  # in order, possibly skipping
                last_seen[i] = msg["frame"]

    readers_task = asyncio.gather(*(read_all(i, ws) for i, ws in enumerate(readers)))
    for i in range(n):
        big.frame = i
        server.offer(big)  # returns at once: only queues
        await asyncio.sleep(0.002)
    await asyncio.wait_for(readers_task, 30)
    assert all(v == n - 1 for v in last_seen.values())
    stuck_client = max(server._clients.values(), key=lambda c: c.skipped)
    assert stuck_client.skipped > 0  # the stuck client skipped frames instead of buffering them
    assert len(stuck_client.frames) <= 4
    for ws in readers:
        await ws.close()
    await stuck.close()


async def ws_subscribe_json(clients):
    for ws in clients:
        await ws.send('{"type":"subscribe","format":"json"}')
        await recv_json(ws, "reply")


async def test_offer_from_another_thread(server, frames):
    async with connect(url(server)) as ws:
        await recv_json(ws, "hello")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, server.offer, frames(9))
        assert (await recv_json(ws, "frame"))["frame"] == 9
        server.offer(None)  # a broken frame is logged and skipped, never raised
        server.offer(frames(10))
        assert (await recv_json(ws, "frame"))["frame"] == 10


async def test_pages_from_other_sites_may_watch_but_not_steer(server, engine, frames):
    host, port = server.address
    async with connect(url(server), additional_headers={"Origin": "https://evil.example"}) as ws:
        hello = await recv_json(ws, "hello")
        assert hello["control"] == "refused"
        server.offer(frames(4))
        assert (await recv_json(ws, "frame"))["frame"] == 4
        await ws.send('{"type":"edit","text":"fall over"}')
        reply = await recv_json(ws, "reply")
        assert reply["ok"] is False and "another site" in reply["message"]
    for origin in (f"http://{host}:{port}", "http://localhost:5173", "http://127.0.0.1:8000"):
        async with connect(url(server), additional_headers={"Origin": origin}) as ws:
            assert (await recv_json(ws, "hello"))["control"] == "open"
            await ws.send('{"type":"tap"}')
            assert (await recv_json(ws, "reply"))["ok"] is True, origin
    assert [c.kind for c in engine.commands] == ["tap", "tap", "tap"]
