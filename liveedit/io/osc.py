"""OSC over UDP: control in (with a reply to each sender) and the flat `/liveedit/pose` stream out.

The server is a plain asyncio DatagramProtocol: it checks the packet size, the per-sender rate and
a budget shared by all senders, then decodes the datagram with the bounded decoder in
`liveedit.core.oscwire` (linear in the packet size; malformed bundles, deep nesting, long or unknown
type tags are refused with one reason). python-osc is not on this path: its parser loops forever on
a negative bundle element size and logs a warning per unknown type tag, and its dispatcher sleeps
until a bundle's time tag. Messages are routed by address (no patterns) to `protocol.parse_osc`;
valid commands are scheduled as `engine.handle()` tasks. Every refusal gets a reply; the log gets at
most one line per sender every LOG_INTERVAL seconds, with a count of what it left out.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import time
from collections import OrderedDict
from typing import Any, Iterator, Protocol

from liveedit import protocol as proto
from liveedit.core import oscwire
from liveedit.core.messages import Command, PoseFrame, Reply

log = logging.getLogger(__name__)

AUTH_SECONDS = 600.0
MAX_PENDING = 64          # commands waiting for the engine; more get a "busy" reply
MAX_SENDERS = 1024        # per-sender rate state kept for this many addresses
MAX_BUNDLE_MESSAGES = 16  # messages in one packet (a 4 KiB bundle could otherwise hold hundreds)
LOG_INTERVAL = 10.0       # seconds between log lines about one sender's bad input


class Engine(Protocol):
    async def handle(self, cmd: Command) -> Reply: ...


def build_message(address: str, args: list[Any]) -> bytes:
    """One OSC message (int, float and str arguments) as a datagram."""
    return proto.encode_osc_message(address, args)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: "OscControlServer") -> None:
        self.server = server

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.server._transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        try:
            self.server._packet(data, addr)
        except Exception:  # never let one packet take the server down
            log.exception("osc: unexpected error on a packet from %s", addr)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable after a reply
        log.debug("osc: socket error %s", exc)


class OscControlServer:
    """OSC control in on UDP (`/edit s [beats]`, `/undo`, `/reset`, `/strength f`, `/tempo f`, `/tap`,
    `/status`; docs/protocol.md section 2); answers every message with `/liveedit/reply`."""

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 9000, *, token: str | None = None,
                 rate: float = 30.0, burst: float = 60.0, global_rate: float | None = None,
                 global_burst: float | None = None, reply_port: int | None = None,
                 clock=time.perf_counter) -> None:
        self.engine = engine
        # Some senders (e.g. TouchDesigner's OSC Out) send from a random port they do not listen on:
        # `reply_port` sends replies to the sender's IP at this fixed port instead.
        self.reply_port = reply_port
        self.host, self.port = host, port
        self.token = token or None
        self.rate, self.burst = rate, burst
        self.clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._buckets: OrderedDict[str, proto.TokenBucket] = OrderedDict()
        self._last_limit_reply: dict[str, float] = {}
        self._authorised: dict[tuple[str, int], float] = {}
        self._pending: set[asyncio.Task] = set()
        self.errors = 0
        self.dropped = 0
        # One budget shared by every sender: many source addresses (a spoofed or a busy network)
        # cannot multiply the per-sender rate.
        self.global_rate = global_rate if global_rate is not None else 2 * rate
        self.global_burst = global_burst if global_burst is not None else 2 * burst
        self._global = proto.TokenBucket(self.global_rate, self.global_burst)
        self._log_limit = proto.LogLimiter(LOG_INTERVAL, MAX_SENDERS)
        self._log_all = proto.LogLimiter(LOG_INTERVAL, 1, burst=20)   # and 20 lines for all senders

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 asks the OS for a free one)."""
        if self._transport is None:
            return self.host, self.port
        return self._transport.get_extra_info("sockname")[:2]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(self.host, self.port))
        log.info("OSC control on udp://%s:%d", *self.address)

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(self._pending, timeout=1.0)

    # ---- receive path (all synchronous, on the loop; nothing slow here) ----

    def _packet(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > proto.MAX_OSC_PACKET:
            self._error(addr, "error", f"packet of {len(data)} bytes refused; at most {proto.MAX_OSC_PACKET}")
            return
        if not self._rate_ok(addr):  # the first message's token; each further one in a bundle costs one more
            return
        try:
            messages = oscwire.decode_packet(data, max_messages=MAX_BUNDLE_MESSAGES)
        except oscwire.OscDecodeError as exc:
            self._error(addr, "error", f"not a valid OSC packet: {exc}")
            return
        for n, msg in enumerate(messages):
            if n and not self._rate_ok(addr):
                return
            if any(c in msg.address for c in "*?[]{}!,#"):
                # OSC patterns would fan one message out to several commands (/* = undo+reset+...).
                self._error(addr, "error", f"OSC address patterns are not accepted: {msg.address[:64]!r}")
                continue
            if proto.osc_kind(msg.address) is None:
                self._on_unknown(addr, msg.address)
                continue
            self._on_message(addr, msg.address, *msg.args)

    def _rate_ok(self, addr: tuple[str, int]) -> bool:
        ip = addr[0]
        bucket = self._buckets.get(ip)
        if bucket is None:
            bucket = self._buckets[ip] = proto.TokenBucket(self.rate, self.burst)
            if len(self._buckets) > MAX_SENDERS:
                old, _ = self._buckets.popitem(last=False)
                self._last_limit_reply.pop(old, None)
        else:
            self._buckets.move_to_end(ip)
        now = self.clock()
        if bucket.allow(now):
            if self._global.allow(now):
                return True
            reason = f"server busy: at most {self.global_rate:g} control messages a second from all senders; messages dropped"
        else:
            reason = f"rate limit: at most {self.rate:g} messages a second; messages dropped"
        self.dropped += 1
        if now - self._last_limit_reply.get(ip, -1e9) >= 1.0:
            self._last_limit_reply[ip] = now
            self._error(addr, "error", reason)
        return False

    def _on_unknown(self, client: tuple[str, int], address: str) -> None:
        self._error(client, "error", f"unknown OSC address {address[:64]!r}; known: "
                    + ", ".join("/" + k for k in proto.OSC_COMMANDS))

    def _on_message(self, client: tuple[str, int], address: str, *args: Any) -> None:
        kind = proto.osc_kind(address) or "error"
        source = f"osc:{client[0]}:{client[1]}"
        if kind == "auth":
            self._auth(client, args)
            return
        if self.token is not None and self._authorised.get(client, 0.0) < self.clock():
            self._error(client, kind, "not authorised: send /auth <token> first (the server runs with --token)")
            return
        try:
            cmd = proto.parse_osc(address, args, source=source, received=self.clock())
        except proto.ProtocolError as exc:
            self._error(client, exc.kind or kind, str(exc))
            return
        if len(self._pending) >= MAX_PENDING:
            self._error(client, kind, "busy: too many commands waiting; try again")
            return
        task = asyncio.get_running_loop().create_task(self._run(cmd, client))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _auth(self, client: tuple[str, int], args: tuple) -> None:
        if self.token is None:
            self._send_reply(client, "auth", Reply(True, "no token needed on this server"))
        elif len(args) == 1 and isinstance(args[0], str) and hmac.compare_digest(args[0].encode(), self.token.encode()):
            self._authorised[client] = self.clock() + AUTH_SECONDS
            if len(self._authorised) > MAX_SENDERS:
                now = self.clock()
                self._authorised = {k: v for k, v in self._authorised.items() if v > now}
            self._send_reply(client, "auth", Reply(True, f"authorised for {AUTH_SECONDS / 60:.0f} minutes"))
        else:
            self._error(client, "auth", "wrong token")

    async def _run(self, cmd: Command, client: tuple[str, int]) -> None:
        try:
            reply = await self.engine.handle(cmd)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("osc: engine failed on %s", cmd)
            reply = Reply(False, f"engine error: {exc}")
        self._send_reply(client, cmd.kind, reply)

    # ---- send path ----

    def _error(self, client: tuple[str, int], kind: str, message: str) -> None:
        self.errors += 1
        now = self.clock()
        left_out = self._log_limit.check(client[0], now)
        if left_out is not None and self._log_all.check("*", now) is not None:
            more = f" ({left_out} more from this address not logged)" if left_out else ""
            log.warning("osc from %s:%s: %s%s", client[0], client[1], message[:300], more)
        self._send_reply(client, kind, Reply(False, message))

    def _send_reply(self, client: tuple[str, int], kind: str, reply: Reply) -> None:
        if self._transport is None:
            return
        if self.reply_port:
            client = (client[0], self.reply_port)
        try:
            data = build_message(proto.OSC_REPLY_ADDRESS, proto.osc_reply_args(kind, reply))
            if len(data) > 60000:  # keep a reply inside one UDP datagram
                data = build_message(proto.OSC_REPLY_ADDRESS, proto.osc_reply_args(kind, Reply(reply.ok, reply.message[:2000])))
            self._transport.sendto(data, client)
        except Exception as exc:
            log.warning("osc: cannot reply to %s: %s", client, exc)


class UdpSender:
    """A non-blocking UDP socket: `send()` never blocks or raises (a full buffer drops the packet)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, int(port))
        self.sent = 0
        self.dropped = 0
        self._sock: socket.socket | None = None

    def open(self) -> None:
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self.target[0] else socket.AF_INET
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._sock.setblocking(False)

    def send(self, data: bytes) -> None:
        if self._sock is None:
            self.open()
        try:
            self._sock.sendto(data, self.target)  # type: ignore[union-attr]
            self.sent += 1
        except OSError:  # buffer full, nobody listening (ICMP), network down: skip this frame
            self.dropped += 1

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class UdpFrameSink:
    """FrameSink base for UDP outputs: each frame becomes datagrams, sent without blocking; a frame
    that fails to encode or send is counted as dropped and never raises into the engine."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self._udp = UdpSender(host, port)

    @property
    def sent(self) -> int:
        return self._udp.sent

    async def start(self) -> None:
        self._udp.open()

    async def stop(self) -> None:
        self._udp.close()

    def datagrams(self, frame: PoseFrame) -> Iterator[bytes]:
        raise NotImplementedError

    def offer(self, frame: PoseFrame) -> None:
        try:
            for datagram in self.datagrams(frame):
                self._udp.send(datagram)
        except Exception as exc:  # a bad frame must not reach the engine as an exception
            self._udp.dropped += 1
            log.debug("%s: frame skipped: %s", self.name, exc)


class PoseOscSink(UdpFrameSink):
    """FrameSink: one flat `/liveedit/pose` message per frame, and `/liveedit/beat` on each beat."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9001, *, beats: bool = True) -> None:
        super().__init__(f"osc-pose:{host}:{port}", host, port)
        self.beats = beats
        self._last_beat: int | None = None

    def datagrams(self, frame: PoseFrame) -> Iterator[bytes]:
        yield build_message(proto.POSE_ADDRESS, proto.pose_osc_args(frame))
        beat = int(frame.beat) if frame.beat == frame.beat else None  # NaN-safe
        if self.beats and beat is not None and beat != self._last_beat:
            if self._last_beat is not None:
                yield build_message(proto.BEAT_ADDRESS, [beat, float(frame.bpm)])
            self._last_beat = beat
