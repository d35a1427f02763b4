"""The two peer processes of `liveedit bench fuzz`: the attacker and the viewer.

    python -m liveedit.bench.fuzzpeers attack --host H --port P --osc-port Q [--seed S --osc N --ws N]
    python -m liveedit.bench.fuzzpeers view --url ws://H:P/ws

`attack` prints `start` when its first message leaves, then one JSON line of figures: the seeded OSC
datagrams and WebSocket messages of `liveedit.bench.fuzz`, sent at the same time from one UDP peer
and one WebSocket connection, each group answered before the next (with `--seconds`, again with the
next seeds until that long has passed); the named cases of issue 16 that
are not single messages (a DNS-rebinding handshake, a client that never reads); whether the server
still answers afterwards, and what its status says of the dance meanwhile (frames held for want of
a model window, windows made). `view` receives the pose stream until SIGTERM or SIGINT and prints
one JSON line with each frame's arrival time. Times are `time.monotonic()`, one clock for every
process on the machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from liveedit.bench.fuzz import osc_datagrams, send_osc, send_ws, server_status, view, ws_messages

REBIND_HOST = "rebind.attacker.example"


async def rebinding_refused(host: str, port: int) -> bool:
    """A handshake that names another site in Host and Origin (DNS rebinding) is refused."""
    from websockets.asyncio.client import connect  # noqa: PLC0415
    from websockets.exceptions import InvalidStatus  # noqa: PLC0415

    name = f"{REBIND_HOST}:{port}"
    try:
        async with connect(f"ws://{name}/ws", host=host, port=port, open_timeout=10,
                           additional_headers={"Origin": f"http://{name}"}):
            return False
    except InvalidStatus as exc:
        return exc.response.status_code == 403


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Counts are summed over rounds; anything else keeps its first value that is set."""
    for k, v in part.items():
        if isinstance(v, int) and not isinstance(v, bool):
            total[k] = total.get(k, 0) + v
        else:
            total[k] = total.get(k) or v


async def attack(host: str, port: int, osc_port: int, seed: int, n_osc: int, n_ws: int,
                 seconds: float = 0.0) -> dict[str, Any]:
    """Fuzz both control inputs at once while a client that never reads stays connected; rounds
    with seeds `seed`, `seed + 1`, ... until `seconds` have passed (one round at least)."""
    from websockets.asyncio.client import connect  # noqa: PLC0415

    url = f"ws://{host}:{port}/ws"
    out: dict[str, Any] = {"seed": seed, "rounds": 0}
    before = await server_status(url) or {}
    # subscribed to frames, never reads them: the server must drop frames for it, not stall
    async with connect(url, max_queue=1, max_size=2 ** 22, close_timeout=1):
        out["t_start"] = time.monotonic()
        print("start", flush=True)
        while out["rounds"] == 0 or time.monotonic() - out["t_start"] < seconds:
            s = seed + out["rounds"]
            osc, ws = await asyncio.gather(send_osc(host, osc_port, osc_datagrams(s, n_osc)),
                                           send_ws(url, ws_messages(s, n_ws)))
            _add(out, osc)
            _add(out, ws)
            out["rounds"] += 1
        out["t_end"] = time.monotonic()
    out["rebinding_refused"] = await rebinding_refused(host, port)
    after = await server_status(url)
    out["status_after"] = after is not None
    if after is not None:   # the dance during the attack: frames held for want of a window, windows made
        for key in ("held_frames", "windows"):
            out[key] = after.get(key, 0) - before.get(key, 0)
        out.update(window_ms=after.get("window_ms"), edit_latency_ms=after.get("edit_latency_ms"))
    return out


async def watch(url: str) -> list[float]:
    """Frame arrival times from connecting until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    ready, done = asyncio.Event(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    return await view(url, ready, done)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m liveedit.bench.fuzzpeers", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="role", required=True)
    a = sub.add_parser("attack", help="fuzz the OSC and WebSocket control inputs; print the figures as JSON")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, required=True, help="the server's HTTP/WebSocket port")
    a.add_argument("--osc-port", type=int, required=True, help="the server's OSC control port")
    a.add_argument("--seed", type=int, default=16)
    a.add_argument("--osc", type=int, default=5000, help="OSC datagrams to send")
    a.add_argument("--ws", type=int, default=5000, help="WebSocket messages to send")
    a.add_argument("--seconds", type=float, default=0.0,
                   help="repeat the attack with the next seeds until this many seconds have passed")
    v = sub.add_parser("view", help="receive the pose stream until SIGTERM; print frame arrival times as JSON")
    v.add_argument("--url", required=True, help="ws://HOST:PORT/ws")
    args = p.parse_args(argv)
    if args.role == "attack":
        result: Any = asyncio.run(attack(args.host, args.port, args.osc_port, args.seed, args.osc, args.ws,
                                          args.seconds))
    else:
        result = {"times": asyncio.run(watch(args.url))}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
