"""HTTP + WebSocket on one port: the viewer's static files at `/`, the control/pose stream at `/ws`.

Each client gets one writer task fed by two bounded queues: control messages (hello, replies, edit
lists) and pose frames (the newest few; when full the oldest is dropped). A client that never reads
therefore blocks only its own writer; the engine and other clients carry on, and that client skips
frames. Frames are encoded once per format per frame, whatever the number of clients.
docs/protocol.md section 3 describes the messages.
"""
from __future__ import annotations

import asyncio
import email.utils
import hmac
import itertools
import json
import logging
import mimetypes
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from liveedit import protocol as proto
from liveedit.core.messages import Command, PoseFrame, Reply

log = logging.getLogger(__name__)
# websockets logs every connection at INFO; with a hundred viewers that drowns the console.
_ws_log = logging.getLogger(__name__ + ".websockets")
_ws_log.setLevel(logging.WARNING)

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
FRAME_QUEUE = 4          # pose frames held per client; older ones are dropped
CONTROL_QUEUE = 64       # control messages held per client; a client this far behind is closed
MAX_CLIENTS = 512
MAX_STATIC_BYTES = 32 * 1024 * 1024
FLOOD_CLOSE = 200        # messages over the rate limit (in a burst) before the connection is closed
# Kernel send buffer per client. Left to autotuning it grows to megabytes: a slow client would then
# see poses seconds old and cost that much memory each. 64 KiB is about a second of JSON frames.
SEND_BUFFER = 64 * 1024
AVATAR_URL = "/avatar/user"  # where --avatar's file is served (the page reads the file's own format)
MAX_AVATAR_BYTES = 128 * 1024 * 1024  # VRMs with 4K textures pass 32 MB; the page takes up to this

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".map": "application/json",
    ".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".ico": "image/x-icon", ".webp": "image/webp", ".wasm": "application/wasm",
    ".glb": "model/gltf-binary", ".gltf": "model/gltf+json", ".bin": "application/octet-stream",
    ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
}


class Engine(Protocol):
    async def handle(self, cmd: Command) -> Reply: ...


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def resolve_static(root: Path, url_path: str) -> Path | None:
    """The file under `root` that `url_path` names, or None (missing, hidden, or outside `root`)."""
    path = urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0])
    if "\x00" in path or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." or p.startswith(".") for p in parts):
        return None
    root = root.resolve()
    target = (root.joinpath(*parts) if parts else root)
    if target.is_dir():
        target = target / "index.html"
    try:
        target = target.resolve()
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def _local_ip(connection: ServerConnection) -> str | None:
    """The address this connection arrived at (the server's side of it)."""
    try:
        return connection.transport.get_extra_info("sockname")[0]
    except Exception:
        return None


def _http(status: int, reason: str, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> Response:
    headers = Headers()
    headers["Date"] = email.utils.formatdate(usegmt=True)
    headers["Content-Type"] = ctype
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Cache-Control"] = "no-cache"
    for k, v in (extra or {}).items():
        headers[k] = v
    return Response(status, reason, headers, body)


@dataclass(eq=False)
class _Client:
    id: int
    ws: ServerConnection
    authed: bool
    subscription: proto.Subscribe | None = field(default_factory=proto.Subscribe)
    frames: deque = field(default_factory=lambda: deque(maxlen=FRAME_QUEUE))
    control: deque = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    bucket: proto.TokenBucket = field(default_factory=lambda: proto.TokenBucket(20.0, 40.0))
    sent: int = 0
    skipped: int = 0
    # Messages over the rate limit draw on this; when it is empty the client is closed. A burst of
    # FLOOD_CLOSE extra messages, or more than 20 a second over the limit for about 10 s.
    flood_bucket: proto.TokenBucket = field(default_factory=lambda: proto.TokenBucket(20.0, FLOOD_CLOSE))
    last_limit_reply: float = -1e9
    closing: bool = False
    close_after_flush: tuple[int, str] | None = None
    foreign_origin: bool = False


class WebSocketServer:
    """FrameSink + control input: `ws://host:port/ws` and the static viewer at `http://host:port/`."""

    name = "websocket"

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None,
                 web_root: Path | str | None = None, allow_hosts: tuple[str, ...] | list[str] = (),
                 insecure: bool = False, rate: float = 20.0, burst: float = 40.0,
                 global_rate: float | None = None, global_burst: float | None = None,
                 clock=time.perf_counter, avatar: Path | str | None = None) -> None:
        self.engine = engine
        self.host, self.port = host, port
        self.hosts = proto.HostPolicy(host, allow_hosts)
        self.insecure = insecure  # control open to the network without a token (--insecure-no-token)
        self._log_limit = proto.LogLimiter(10.0, 1024)
        self.hosts_refused = 0
        self.rate, self.burst = rate, burst   # control messages a second per client, and its bursts
        # Commands that reach the engine, from all clients together (many clients, each under its own
        # limit, must not add up to a flood): twice one client's budget, as for OSC senders.
        self.global_rate = global_rate if global_rate is not None else 2 * rate
        self.global_burst = global_burst if global_burst is not None else 2 * burst
        self._global = proto.TokenBucket(self.global_rate, self.global_burst)
        self.token = token or None
        self.web_root = Path(web_root) if web_root is not None else WEB_ROOT
        # The avatar file `liveedit serve --avatar` names: the viewer finds it through /avatar.json.
        self.avatar = Path(avatar) if avatar is not None else None
        self.clock = clock
        self._clients: dict[int, _Client] = {}
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_edits: tuple | None = None
        self._last_edits_msg: str | None = None
        self._loop_thread: int | None = None
        self.frames_offered = 0
        self.errors = 0

    # ---- lifecycle ----

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return self.host, self.port
        sock = next(iter(self._server.sockets))
        return sock.getsockname()[:2]

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def stats(self) -> dict[str, Any]:
        return {"clients": len(self._clients), "frames_offered": self.frames_offered,
                "skipped": sum(c.skipped for c in self._clients.values()), "errors": self.errors}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._process_request,
            max_size=proto.MAX_WS_MESSAGE, max_queue=16, compression=None,  # deflate per client costs CPU
            ping_interval=20, ping_timeout=20, close_timeout=2, logger=_ws_log)
        log.info("viewer on http://%s:%d/ , stream on ws://%s:%d/ws", *self.address, *self.address)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), timeout=3.0)
            except asyncio.TimeoutError:
                log.warning("websocket: some connections did not close in time")

    # ---- HTTP ----

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        hosts = request.headers.get_all("Host")
        host = hosts[0] if len(hosts) == 1 else None   # none or several: refused
        if not self.hosts.host_ok(host, _local_ip(connection)):
            # DNS rebinding: a page on attacker.example (resolving to this machine) sends its own name.
            self.hosts_refused += 1
            self._warn(("host", connection.remote_address[0] if connection.remote_address else "?"),
                       "refused a request for Host %r from %s (allowed: loopback names, the bound address; "
                       "more with --allow-host)", ", ".join(hosts)[:100], connection.remote_address)
            return _http(403, "Forbidden", b"this server does not answer to that Host name; "
                         b"start it with --allow-host NAME to allow it\n", "text/plain; charset=utf-8")
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            if len(self._clients) >= MAX_CLIENTS:
                return _http(503, "Service Unavailable", b"too many clients\n", "text/plain; charset=utf-8")
            return None  # go on with the WebSocket handshake
        if "upgrade" in request.headers.get("Connection", "").lower():
            return _http(404, "Not Found", b"the WebSocket endpoint is /ws\n", "text/plain; charset=utf-8")
        if path == "/avatar.json":
            return _http(200, "OK", self._avatar_config(), "application/json")
        target = self.avatar if self.avatar is not None and path == AVATAR_URL else \
            resolve_static(self.web_root, request.path)
        if target is None:
            return _http(404, "Not Found", b"not found\n", "text/plain; charset=utf-8")
        try:
            if target.stat().st_size > (MAX_AVATAR_BYTES if target == self.avatar else MAX_STATIC_BYTES):
                return _http(413, "Content Too Large", b"file too large\n", "text/plain; charset=utf-8")
            body = target.read_bytes()
        except OSError:
            return _http(404, "Not Found", b"not found\n", "text/plain; charset=utf-8")
        return _http(200, "OK", body, content_type(target))

    def _avatar_config(self) -> bytes:
        """/avatar.json: where the viewer finds the avatar to show (null url: its default one)."""
        if self.avatar is None:
            return b'{"url": null}'
        return json.dumps({"url": AVATAR_URL.lstrip("/"), "name": self.avatar.name}).encode()

    # ---- WebSocket connections ----

    def _query_token(self, ws: ServerConnection) -> str | None:
        query = urllib.parse.urlsplit(ws.request.path).query if ws.request else ""
        values = urllib.parse.parse_qs(query).get("token")
        return values[0] if values else None

    def _token_ok(self, token: str | None) -> bool:
        return self.token is None or (token is not None and hmac.compare_digest(token.encode(), self.token.encode()))

    async def _handler(self, ws: ServerConnection) -> None:
        client = _Client(next(self._ids), ws, authed=self._token_ok(self._query_token(ws)),
                         bucket=proto.TokenBucket(self.rate, self.burst))
        origins = ws.request.headers.get_all("Origin") if ws.request is not None else []
        foreign = len(origins) > 1 or (len(origins) == 1 and not self.hosts.origin_ok(origins[0], _local_ip(ws)))
        if self.token is None and foreign:
            # A web page from another site open in the user's browser may connect to a server on
            # 127.0.0.1; it may watch the stream but not steer the engine unless a token is set.
            client.authed = False
            client.foreign_origin = True
        sock = ws.transport.get_extra_info("socket") if ws.transport is not None else None
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            except OSError:
                pass
        self._clients[client.id] = client
        self._queue_control(client, proto.json_dumps(proto.hello_message(
            control_needs_token=self.token is not None, authenticated=client.authed,
            subscription=client.subscription, control_refused=client.foreign_origin, insecure=self.insecure)))
        writer = asyncio.create_task(self._writer(client))
        log.info("websocket client %d connected from %s", client.id, ws.remote_address)
        try:
            async for message in ws:
                if client.closing:  # a client being closed has its messages dropped
                    continue
                try:
                    await self._on_message(client, message)
                except Exception:  # a bug on one message must not end the connection
                    self.errors += 1
                    log.exception("websocket client %d: message not handled", client.id)
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(client.id, None)
            writer.cancel()
            try:
                await writer
            except (asyncio.CancelledError, Exception):
                pass
            log.info("websocket client %d left (%d frames sent, %d skipped)", client.id, client.sent, client.skipped)

    async def _writer(self, client: _Client) -> None:
        ws = client.ws
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                while client.control or client.frames:
                    msg = client.control.popleft() if client.control else client.frames.popleft()
                    await ws.send(msg)
                    client.sent += 1
                if client.close_after_flush is not None:
                    await ws.close(*client.close_after_flush)  # replies first, then the close
                    return
        except ConnectionClosed:
            pass

    def _warn(self, key: Any, fmt: str, *args: Any) -> None:
        """A warning, at most once every 10 s per key (a client, or a peer address)."""
        left_out = self._log_limit.check(key, self.clock())
        if left_out is not None:
            log.warning(fmt + (f" ({left_out} similar lines left out)" if left_out else ""), *args)

    def _queue_control(self, client: _Client, msg: str) -> None:
        if len(client.control) >= CONTROL_QUEUE:
            # A client that does not read its replies: stop serving it rather than buffer forever.
            if not client.closing:
                client.closing = True
                log.warning("websocket client %d is not reading; closing it", client.id)
                asyncio.get_running_loop().create_task(client.ws.close(1008, "not reading"))
            return
        client.control.append(msg)
        client.wake.set()

    def _reply(self, client: _Client, reply: Reply, request: str | None, req_id: Any = None) -> None:
        self._queue_control(client, proto.reply_json(reply, request, req_id))

    async def _on_message(self, client: _Client, message: str | bytes) -> None:
        now = self.clock()
        if not client.bucket.allow(now):
            self.errors += 1
            if not client.flood_bucket.allow(now):  # over the limit for a sustained time
                if not client.closing:
                    log.warning("websocket client %d keeps flooding; closing it", client.id)
                    client.closing = True
                    client.frames.clear()
                    client.close_after_flush = (1008, "rate limit")
                    client.wake.set()
                return
            if now - client.last_limit_reply >= 1.0:
                client.last_limit_reply = now
                log.warning("websocket client %d over the rate limit", client.id)
                self._reply(client, Reply(False, f"rate limit: at most {self.rate:g} messages a second; message dropped"), None)
            return
        try:
            req = proto.parse_ws_message(message, source=f"ws:{client.id}", received=now)
        except proto.ProtocolError as exc:
            self.errors += 1
            self._warn(("client", client.id), "websocket client %d: %s", client.id, str(exc)[:300])
            self._reply(client, Reply(False, str(exc)), exc.kind, exc.id)
            return
        msg = req.message
        if isinstance(msg, proto.Subscribe):
            client.subscription = msg
            client.frames.clear()
            self._reply(client, Reply(True, f"subscribed ({msg.format}{'' if msg.joints else ', no joints'})"), "subscribe", req.id)
            if msg.format == "binary" and self._last_edits_msg is not None:
                self._queue_control(client, self._last_edits_msg)  # binary frames do not carry edits
            return
        if isinstance(msg, proto.Unsubscribe):
            client.subscription = None
            client.frames.clear()
            self._reply(client, Reply(True, "unsubscribed"), "unsubscribe", req.id)
            return
        if isinstance(msg, proto.Auth):
            if self.token is None:
                self._reply(client, Reply(True, "no token needed on this server"), "auth", req.id)
            elif self._token_ok(msg.token):
                client.authed = True
                self._reply(client, Reply(True, "authorised"), "auth", req.id)
            else:
                self._warn(("client", client.id), "websocket client %d: wrong token", client.id)
                self._reply(client, Reply(False, "wrong token"), "auth", req.id)
            return
        if client.foreign_origin:
            self._reply(client, Reply(False, "control from a page on another site is refused; run the server "
                                      "with --token and send it to allow this"), msg.kind, req.id)
            return
        if not (client.authed or self._token_ok(req.token)):
            self._reply(client, Reply(False, "not authorised: send {\"type\":\"auth\",\"token\":...} first "
                                      "(the server runs with --token)"), msg.kind, req.id)
            return
        if not self._global.allow(now):
            self.errors += 1
            self._warn("global", "websocket: over %g commands a second from all clients; dropping", self.global_rate)
            self._reply(client, Reply(False, f"server busy: at most {self.global_rate:g} commands a second from all "
                                      "clients; message dropped"), msg.kind, req.id)
            return
        try:
            reply = await self.engine.handle(msg)
        except Exception as exc:
            log.exception("websocket: engine failed on %s", msg)
            reply = Reply(False, f"engine error: {exc}")
        self._reply(client, reply, msg.kind, req.id)

    # ---- FrameSink ----

    def offer(self, frame: PoseFrame) -> None:
        """Queue `frame` for every subscriber; safe from any thread; never blocks or raises."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if threading.get_ident() == self._loop_thread:
                self._broadcast(frame)
            else:
                loop.call_soon_threadsafe(self._broadcast, frame)
        except Exception as exc:
            log.debug("websocket: frame skipped: %s", exc)

    def _broadcast(self, frame: PoseFrame) -> None:
        try:
            self.frames_offered += 1
            cache: dict[tuple[str, bool], str | bytes] = {}
            edits_changed = frame.edits != self._last_edits
            self._last_edits = frame.edits
            edits_msg = proto.edits_message(frame) if edits_changed else None
            if edits_msg is not None:
                self._last_edits_msg = edits_msg
            for client in list(self._clients.values()):
                sub = client.subscription
                if sub is None or client.closing:
                    continue
                key = (sub.format, sub.joints)
                data = cache.get(key)
                if data is None:
                    data = cache[key] = (proto.encode_frame_binary(frame, sub.joints) if sub.format == "binary"
                                         else proto.encode_frame_json(frame, sub.joints))
                if sub.format == "binary" and edits_msg is not None:
                    self._queue_control(client, edits_msg)
                if len(client.frames) == client.frames.maxlen:
                    client.skipped += 1  # deque(maxlen) drops the oldest frame on append
                client.frames.append(data)
                client.wake.set()
        except Exception as exc:
            log.warning("websocket: cannot broadcast frame %s: %s", getattr(frame, "frame", "?"), exc)
