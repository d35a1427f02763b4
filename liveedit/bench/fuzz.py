"""Seeded fuzz of the live control inputs: random OSC datagrams and WebSocket messages against a running engine.

`liveedit bench fuzz` runs `liveedit serve` in its own process, an attacker process and a viewer
process (`liveedit.bench.fuzzserve`, `liveedit.bench.fuzzpeers`): the stream figures are then the
server's alone. The attacker sends malformed and valid OSC datagrams from one UDP peer and malformed
and valid JSON messages on one WebSocket (rate limits lifted so that every message is processed),
each group of 8 answered before the next, and the viewer records when each frame arrives.
Reported: control messages sent and answered (each should be answered exactly once), frame rate and
longest and 99th-percentile gap at the viewer, log growth, tracebacks, and how long one Ctrl-C takes
to stop the server. Targets (issue 16): 0 unanswered, 0 tracebacks, >= 28 fps, max gap <= 150 ms,
log growth <= 100 KB a minute, stop within 2 s.

`--edit-stream RATE` sends valid edits at RATE a second from one sender against serve with its
default rate limits and reports what the dance did (frames held for want of a model window).
`--in-process` (and `run_fuzz`, which the test suite runs with a few hundred messages) puts the
engine (fake model, no audio), the peers and the viewer in one process and one event loop.
The generators (`osc_datagrams`, `ws_messages`) and peers (`send_osc`, `send_ws`, `view`) serve both.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import struct
import time
from pathlib import Path
from typing import Any

from liveedit import protocol as proto
from liveedit.core import oscwire

TARGETS = {"fps": 28.0, "max_gap_ms": 150.0, "log_kb_per_min": 100.0, "stop_s": 2.0}

_BUNDLE_NOW = b"#bundle\x00" + b"\x00" * 7 + b"\x01"


def _osc_string(raw: bytes) -> bytes:
    raw += b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def _base_datagrams(rng: random.Random) -> list[bytes]:
    msg = proto.encode_osc_message
    words = ["swing arms wider", "jump", "x" * 250, "arms \u00e9 up", ""]
    valid = [
        msg("/edit", [rng.choice(words)]), msg("/edit", [rng.choice(words), rng.choice([4, 8.0, 1e-45, -3, 2000])]),
        msg("/liveedit/edit", ["spin", "around", 2]), msg("/undo", []), msg("/reset", []), msg("/tap", []),
        msg("/status", []), msg("/strength", [rng.choice([0.0, 2.5, 11.0, -1, 1e-45])]),
        msg("/tempo", [rng.choice([120, 0, 19.0, 301, 1e30])]), msg("/auth", ["nope"]), msg("/dance", ["x"]),
        msg("/*", []), msg("/edit", []),
    ]
    raw = [
        _BUNDLE_NOW + struct.pack(">i", -4),                                   # issue 16: hung python-osc
        b"/status\x00," + b"x" * 4080 + b"\x00" * 3,                          # issue 16: warning per tag
        b"/edit\x00\x00\x00,s\x00\x00\xff\xfe\x00\x00",                         # invalid UTF-8
        b"/tempo\x00\x00,h\x00\x00" + struct.pack(">q", rng.choice([2 ** 63 - 1, -(2 ** 63)])),
        b"/strength\x00\x00\x00,d\x00\x00" + struct.pack(">d", rng.choice([float("nan"), float("inf"), 5e-324])),
        b"/edit\x00\x00\x00,sb\x00" + _osc_string(b"blob") + struct.pack(">i", 2 ** 31 - 1),
        _osc_string(b"/edit") + _osc_string(b",s") + _osc_string("arms \ud800 up".encode("utf-8", "surrogatepass")),
        rng.randbytes(rng.choice([4, 16, 64, 512])),
    ]
    bundles = [proto.encode_osc_bundle(rng.sample(valid, k=rng.randint(1, 4))) for _ in range(3)]
    nested = valid[5]
    for _ in range(rng.randint(1, 7)):
        nested = _BUNDLE_NOW + struct.pack(">i", len(nested)) + nested
    return valid + raw + bundles + [nested, proto.encode_osc_bundle([valid[5]] * 20)]


def mutate_datagram(rng: random.Random, data: bytes) -> bytes:
    """1-4 random edits of a datagram: a byte changed, bytes inserted or deleted, or a 32-bit field
    (a size or count) set to 0, negative, huge or off by a few."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(b) + 1)
        if op < 0.35 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op < 0.55:
            b[pos:pos] = rng.randbytes(rng.choice([1, 4, 8]))
        elif op < 0.75:
            del b[pos:pos + rng.choice([1, 4, 8])]
        elif len(b) >= 4:  # a random 32-bit field (sizes, counts): 0, negative, huge, off by a few
            pos = min(pos, len(b) - 4) // 4 * 4
            b[pos:pos + 4] = struct.pack(">i", rng.choice([0, -4, -1, 3, 2 ** 31 - 1, len(b), len(b) + 4]))
    return bytes(b[: proto.MAX_OSC_PACKET + 64])


def osc_datagrams(seed: int, n: int) -> list[bytes]:
    """`n` datagrams: about a third valid or known-bad shapes as they are, the rest mutated."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        base = _base_datagrams(rng)
        for data in rng.sample(base, k=min(len(base), n - len(out))):
            data = data if rng.random() < 0.35 else mutate_datagram(rng, data)
            out.append(data or b"\x00" * 4)  # asyncio does not send an empty datagram at all
    return out


def expected_osc_replies(data: bytes, max_messages: int = 16) -> int:
    """Replies the server owes a datagram: one per message it holds, or one for the whole datagram."""
    if len(data) > proto.MAX_OSC_PACKET:
        return 1
    try:
        return len(oscwire.decode_packet(data, max_messages=max_messages))
    except oscwire.OscDecodeError:
        return 1


_WS_VALUES: list[str] = [
    "0", "-1", "2.5", "1e-45", "5e-324", "1e308", "1e400", "-0.0", "1" + "0" * 400, "1" + "0" * 5000,
    "9" * 60, "NaN", "-Infinity", "true", "null", '""', '"x"', '"arms \\ud800 up"', '"\\udfff"', '"\\u0000\\u202e"',
    '"' + "y" * 300 + '"', "[]", "{}", "[1,[2,[3]]]", '{"a":{"b":1}}', '"auto"',
]
_WS_TYPES = ["edit", "undo", "reset", "strength", "tempo", "tap", "status", "subscribe", "unsubscribe", "auth",
             "dance", "", "EDIT"]
_WS_FIELDS = ["text", "duration", "value", "bpm", "strength", "format", "joints", "token", "id", "type"]


def ws_messages(seed: int, n: int) -> list[str | bytes]:
    """`n` WebSocket messages: JSON objects with random types and field values, broken JSON, binary."""
    rng = random.Random(seed)
    out: list[str | bytes] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.75:
            parts = [f'"type":{json.dumps(rng.choice(_WS_TYPES))}']
            for _ in range(rng.randint(0, 3)):
                parts.append(f'{json.dumps(rng.choice(_WS_FIELDS))}:{rng.choice(_WS_VALUES)}')
            if rng.random() < 0.5:
                parts.append(f'"text":{rng.choice(_WS_VALUES[16:21])}')
            rng.shuffle(parts)
            out.append("{" + ",".join(parts) + "}")
        elif r < 0.85:
            text = json.dumps({"type": rng.choice(_WS_TYPES[:7]), "text": "spin", "value": 2})
            out.append(text[: rng.randrange(len(text))])
        elif r < 0.9:
            out.append(rng.choice(["[" * 5000, "{" * 3000, '"just a string"', "42", "null", "\u00e9\u00e9"]))
        elif r < 0.95:
            out.append(rng.randbytes(rng.randint(0, 64)))
        else:
            out.append(json.dumps({"type": "tap", "id": rng.choice([1, "abc", None, 1.5, [1], True])}))
    return out


class _LogMeter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = 0
        self.bytes = 0
        self.tracebacks = 0
        self.errors = 0
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        self.bytes += len(self.format(record)) + 1
        self.tracebacks += record.exc_info is not None
        self.errors += record.levelno >= logging.ERROR


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies = 0
        self.event = asyncio.Event()

    def datagram_received(self, data, addr) -> None:
        self.replies += 1
        self.event.set()


async def _wait_for(cond, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.002)
    return True


async def send_osc(host: str, port: int, datagrams: list[bytes], *, group: int = 8,
                   timeout: float = 5.0) -> dict[str, Any]:
    """Send `datagrams` from one UDP peer in groups of `group`, waiting until each group is answered
    (at most `timeout` s); -> replies owed, extra replies and groups left unanswered."""
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(_Udp, local_addr=(host, 0), remote_addr=(host, port))
    expected = 0
    unanswered_groups = unanswered = 0
    try:
        for i in range(0, len(datagrams), group):
            for d in datagrams[i:i + group]:
                transport.sendto(d)
                expected += expected_osc_replies(d)
            if not await _wait_for(lambda: peer.replies >= expected, timeout):
                unanswered_groups += 1
                unanswered += expected - peer.replies
                peer.replies = expected  # count the shortfall once, carry on
        await asyncio.sleep(0.3)
    finally:
        transport.close()
    return {"osc_sent": len(datagrams), "osc_replies_expected": expected,
            "osc_replies_extra": max(0, peer.replies - expected), "osc_unanswered_groups": unanswered_groups,
            "osc_unanswered": unanswered}


async def send_ws(url: str, messages: list[str | bytes], *, group: int = 8, timeout: float = 5.0) -> dict[str, Any]:
    """Send `messages` on one WebSocket connection (unsubscribed from frames) in groups of `group`,
    waiting for each group's replies; -> replies counted and how the connection ended."""
    from websockets.asyncio.client import connect  # noqa: PLC0415

    replies = 0
    closed = None
    async with connect(url, max_size=2 ** 22) as c:
        await c.send('{"type":"unsubscribe"}')

        async def reader() -> None:
            nonlocal replies
            async for m in c:
                if isinstance(m, str) and m.startswith('{"type":"reply"'):
                    replies += 1

        rt = asyncio.create_task(reader())
        try:
            for i in range(0, len(messages), group):
                for m in messages[i:i + group]:
                    await c.send(m)
                if not await _wait_for(lambda: replies >= min(i + group, len(messages)) + 1, timeout):
                    break
            await asyncio.sleep(0.3)
        finally:
            rt.cancel()
            try:
                await rt
            except (asyncio.CancelledError, Exception) as exc:
                closed = None if isinstance(exc, asyncio.CancelledError) else repr(exc)
    return {"ws_sent": len(messages), "ws_replies": replies - 1, "ws_closed": closed}


async def view(url: str, ready: asyncio.Event, done: asyncio.Event, clock=time.monotonic) -> list[float]:
    """A viewer: receive the pose stream until `done`; -> each frame's arrival time (`clock`)."""
    from websockets.asyncio.client import connect  # noqa: PLC0415

    times: list[float] = []
    async with connect(url, max_size=2 ** 22) as c:
        ready.set()
        while not done.is_set():
            try:
                msg = await asyncio.wait_for(c.recv(), 0.5)
            except asyncio.TimeoutError:
                continue
            if isinstance(msg, bytes) or msg.startswith('{"type":"frame"'):
                times.append(clock())
    return times


def stream_figures(times: list[float], t0: float, t1: float) -> dict[str, Any]:
    """Frames that arrived between `t0` and `t1` -> frames, fps, longest and 99th-percentile gap, and
    each gap over 100 ms as (seconds after `t0` when it ended, its length in ms)."""
    ft = [t for t in times if t0 <= t <= t1]
    gaps = sorted(b - a for a, b in zip(ft, ft[1:]))
    if not gaps:
        return {"frames": len(ft), "fps": 0.0, "max_gap_ms": None, "p99_gap_ms": None}
    p99 = gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))]
    late = [(round(b - t0, 3), round(1000 * (b - a), 1)) for a, b in zip(ft, ft[1:]) if b - a > 0.1]
    return {"frames": len(ft), "fps": round((len(ft) - 1) / (ft[-1] - ft[0]), 2),
            "max_gap_ms": round(1000 * gaps[-1], 1), "p99_gap_ms": round(1000 * p99, 1),
            "gaps_over_100ms": late}


async def server_status(url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The server's answer to a WebSocket `status` request, or None if none came within `timeout` s."""
    from websockets.asyncio.client import connect  # noqa: PLC0415

    try:
        async with connect(url, max_size=2 ** 22) as c:
            await c.send('{"type":"status","id":"after"}')
            while True:
                m = json.loads(await asyncio.wait_for(c.recv(), timeout))
                if m.get("type") == "reply":
                    return (m.get("data") or {}) if m["ok"] and m["id"] == "after" else None
    except (OSError, asyncio.TimeoutError, Exception):
        return None


async def run_fuzz(seed: int = 16, n_osc: int = 300, n_ws: int = 300, *,
                   log_level: int = logging.INFO) -> dict[str, Any]:
    """Start an engine with both control servers in this process, fuzz them, stop it; -> the figures
    (see the module doc). The peers share this process and its event loop with the engine, so the
    stream figures include their load; `liveedit.bench.fuzzserve` measures a separate server."""
    from liveedit.core.fakemodel import FakeModel  # noqa: PLC0415
    from liveedit.engine import Engine, EngineConfig  # noqa: PLC0415
    from liveedit.io.osc import OscControlServer  # noqa: PLC0415
    from liveedit.io.ws import WebSocketServer  # noqa: PLC0415

    meter = _LogMeter()
    root = logging.getLogger("liveedit")
    old_level = root.level
    root.addHandler(meter)
    root.setLevel(log_level)
    engine = Engine(FakeModel(delay_s=0.02), None, [], EngineConfig(initial_latency_s=0.2))
    ws = WebSocketServer(engine, "127.0.0.1", 0, rate=1e9, burst=1e9, global_rate=1e9, global_burst=1e9)
    engine.add_sink(ws)
    osc = OscControlServer(engine, "127.0.0.1", 0, rate=1e9, burst=1e9, global_rate=1e9, global_burst=1e9)
    out: dict[str, Any] = {"seed": seed}
    try:
        await engine.start()
        await osc.start()
        host, port = ws.address
        url = f"ws://{host}:{port}/ws"
        ready, done = asyncio.Event(), asyncio.Event()
        viewer_task = asyncio.create_task(view(url, ready, done))
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(0.5)
        t_start = time.monotonic()
        out.update(await send_osc(*osc.address, osc_datagrams(seed, n_osc)))
        out.update(await send_ws(url, ws_messages(seed, n_ws)))
        t_end = time.monotonic()
        done.set()
        out.update(stream_figures(await viewer_task, t_start, t_end), seconds=round(t_end - t_start, 2))
        out["status_after"] = await server_status(url) is not None   # the server still answers after the fuzz
    finally:
        t0 = time.perf_counter()
        await osc.stop()
        await engine.stop()
        out["stop_s"] = round(time.perf_counter() - t0, 2)
        root.removeHandler(meter)
        root.setLevel(old_level)
    minutes = max(out.get("seconds", 0.0), 1e-9) / 60
    out.update(log_lines=meter.lines, log_kb_per_min=round(meter.bytes / 1024 / minutes, 1),
               tracebacks=meter.tracebacks, log_errors=meter.errors)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--osc", type=int, default=5000, help="OSC datagrams to send")
    p.add_argument("--ws", type=int, default=5000, help="WebSocket messages to send")
    p.add_argument("--model", choices=("tiny", "shipped"), default="tiny",
                   help="the server's model: the tiny random one (--random-model) or the shipped checkpoint")
    p.add_argument("--audio-in", default="demo", help="the server's --audio-in ('none': no audio analysis)")
    p.add_argument("--seconds", type=float, default=0.0,
                   help="keep attacking, with the next seeds, until this many seconds have passed (a sustained "
                        "attack; the default is one round of --osc and --ws)")
    p.add_argument("--quiet", type=float, default=5.0, help="seconds of stream measured before the attack")
    p.add_argument("--attacker-nice", type=int, default=10,
                   help="CPU niceness of the attacker process (it stands for other machines; 0: same priority)")
    p.add_argument("--log", default=None, help="keep the server's log in this file")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--edit-stream", type=float, default=0.0, metavar="RATE",
                   help="instead of the fuzz: valid /edit messages at RATE a second from one OSC sender for "
                        "--seconds (20 if not given) against serve with its default rate limits; prints the "
                        "frames held for want of a model window")
    p.add_argument("--in-process", action="store_true",
                   help="run engine (fake model, no audio), attackers and viewer in this one process and event "
                        "loop, as the test suite does; the stream figures then include the peers' load")


def _rows(r: dict[str, Any]) -> list[tuple[str, Any, str]]:
    quiet = r.get("quiet")
    rows = [
        ("OSC datagrams sent", r["osc_sent"], f"in {r['rounds']} round(s)" if "rounds" in r else ""),
        ("OSC replies owed / extra", f"{r['osc_replies_expected']} / {r['osc_replies_extra']}", "extra 0"),
        ("OSC replies missing", r["osc_unanswered"], "0"),
        ("WebSocket messages / replies", f"{r['ws_sent']} / {r['ws_replies']}", "equal"),
    ]
    if quiet is not None:
        rows.append(("before: fps / max / p99 gap (ms)",
                     f"{quiet['fps']} / {quiet['max_gap_ms']} / {quiet['p99_gap_ms']}", ""))
    rows += [
        ("viewer fps", r["fps"], f">= {TARGETS['fps']:g}"),
        ("viewer max gap (ms)", r["max_gap_ms"], f"<= {TARGETS['max_gap_ms']:g}"),
        ("viewer p99 gap (ms)", r["p99_gap_ms"], ""),
        ("log (KB a minute)", r["log_kb_per_min"], f"<= {TARGETS['log_kb_per_min']:g}"),
        ("tracebacks / errors in the log", f"{r['tracebacks']} / {r['log_errors']}", "0 / 0"),
        ("answers after the fuzz", r.get("status_after"), "True"),
    ]
    if "rebinding_refused" in r:
        rows += [("dance: windows made / frames held", f"{r.get('windows')} / {r.get('held_frames')}", ""),
                 ("DNS-rebinding handshake refused", r["rebinding_refused"], "True"),
                 ("server crashed", r["crashed"], "False")]
    rows += [("stop on one Ctrl-C (s)", r["stop_s"], f"<= {TARGETS['stop_s']:g}"),
             ("fuzz time (s)", r["seconds"], "")]
    return rows


def targets_met(r: dict[str, Any]) -> bool:
    return bool(r["osc_unanswered"] == 0 and r["osc_replies_extra"] == 0 and r["ws_replies"] == r["ws_sent"]
                and r["tracebacks"] == 0 and r["log_errors"] == 0 and r.get("status_after")
                and r.get("rebinding_refused", True) and not r.get("crashed", False)
                and r["fps"] >= TARGETS["fps"] and (r["max_gap_ms"] or 1e9) <= TARGETS["max_gap_ms"]
                and r["log_kb_per_min"] <= TARGETS["log_kb_per_min"]
                and r["stop_s"] is not None and r["stop_s"] <= TARGETS["stop_s"])


def _run_edit_stream(args) -> int:
    from liveedit.bench.fuzzserve import run_edit_stream  # noqa: PLC0415
    r = run_edit_stream(args.edit_stream, args.seconds or 20.0, model=args.model, audio=args.audio_in)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"liveedit bench fuzz --edit-stream {r['rate']:g} ({r['model']} model, default rate limits)")
        print(f"  /edit messages sent {r['sent']} in {r['seconds']:g} s; frames played {r['frames']}, held "
              f"{r['held_frames']} (no window ready); windows made {r['windows']}, last {r['window_ms']} ms")
    return 0   # no target in issue 16 for this one: a figure to watch


def run(args) -> int:
    if args.edit_stream:
        return _run_edit_stream(args)
    if args.in_process:
        r = asyncio.run(run_fuzz(args.seed, args.osc, args.ws))
        where = "engine, attackers and viewer in one process"
    else:
        from liveedit.bench.fuzzserve import run_separate  # noqa: PLC0415
        r = run_separate(args.seed, args.osc, args.ws, model=args.model, audio=args.audio_in, seconds=args.seconds,
                         quiet_s=args.quiet, attacker_nice=args.attacker_nice,
                         log_path=Path(args.log) if args.log else None)
        where = f"liveedit serve ({args.model} model, --audio-in {args.audio_in}), attacker and viewer processes"
    ok = targets_met(r)
    if args.json:
        print(json.dumps(dict(r, targets_met=ok)))
        return 0 if ok else 1
    print(f"liveedit bench fuzz (seed {r['seed']}; {where})")
    for name, value, goal in _rows(r):
        print(f"  {name:34s} {str(value):>20s}   {goal}")
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1
