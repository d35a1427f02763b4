"""Ableton Link with real peers, run by test_io_link.py inside a loopback-only network namespace
(Link multicasts on every interface). Prints one JSON object with what it measured.

Peers: a plain aalink peer (standing in for Ableton Live or Resolume) and two liveedit engines, each
with its own LinkClock (its own Link instance and sockets); the engines start on other tempos.
"""
from __future__ import annotations

import asyncio
import json
import time

import aalink

from liveedit.core.fakemodel import FakeModel
from liveedit.core.messages import Command
from liveedit.engine import Engine, EngineConfig
from liveedit.io.link import LinkClock


def phase_error_ms(engine: Engine, peer: aalink.Link) -> float:
    """Beat-phase distance (ms) between the engine's grid and the peer's session, at one moment."""
    p0 = time.perf_counter()
    beat = peer.beat
    p1 = time.perf_counter()
    t = engine.from_perf(0.5 * (p0 + p1))
    d = (beat - engine.grid.beat_at(t) + 0.5) % 1.0 - 0.5
    return abs(d) * 60.0 / peer.tempo * 1000.0


async def wait_for(cond, timeout: float) -> float | None:
    """Seconds until cond() held (polled every 10 ms), or None after timeout."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if cond():
            return time.perf_counter() - t0
        await asyncio.sleep(0.01)
    return None


async def main() -> dict:
    out: dict = {}
    engines = []
    for bpm in (90.0, 140.0):
        e = Engine(FakeModel(), None, [], EngineConfig(torch_threads=None))
        await e.start()
        await e.handle(Command("tempo", value=bpm, source="test"))   # each starts on its own tempo
        clock = LinkClock(e)
        e.add_sink(clock)
        await clock.start()
        engines.append(e)
    peer = aalink.Link(100.0)
    peer.quantum = 4
    peer.enabled = True
    try:
        # The engines pushed their manual tempos into Link; release them so the session's tempo leads.
        for e in engines:
            await e.handle(Command("tempo", value=0.0, source="test"))
        peer.tempo = 100.0
        out["join_s"] = await wait_for(lambda: all(e.status().get("link_peers", 0) >= 2 for e in engines), 20)
        out["source"] = [e.status()["beat_source"] for e in engines]
        # phase within 5 ms of the third peer, on both engines, held for a second
        out["phase_lock_s"] = await wait_for(lambda: all(phase_error_ms(e, peer) < 5.0 for e in engines), 30)
        errs = []
        for _ in range(50):
            await asyncio.sleep(0.02)
            errs.append(max(phase_error_ms(e, peer) for e in engines))
        out["phase_err_ms_max"] = max(errs)
        out["switches"] = [e.status().get("beat_switch") for e in engines]
        # a tempo change from the peer reaches both dances
        peer.tempo = 128.0
        out["tempo_follow_s"] = await wait_for(lambda: all(abs(e.grid.bpm - 128.0) < 0.01 for e in engines), 10)
        out["beat_period_s"] = 60.0 / 128.0
        # a /tempo on one engine becomes the session's tempo: the peer and the other engine follow
        await engines[0].handle(Command("tempo", value=110.0, source="test"))
        out["manual_to_session_s"] = await wait_for(
            lambda: abs(peer.tempo - 110.0) < 0.01 and abs(engines[1].grid.bpm - 110.0) < 0.01, 10)
        out["bpm"] = [round(e.grid.bpm, 3) for e in engines]
        # a beat jump never happens: the grid's beat count only moves forward smoothly
        e = engines[1]
        prev, jumps = e.grid.beat_at(e.clock()), 0
        for _ in range(50):
            await asyncio.sleep(0.02)
            b = e.grid.beat_at(e.clock())
            step = b - prev
            jumps += not (0 < step < 0.2)
            prev = b
        out["count_jumps"] = jumps
    finally:
        peer.enabled = False
        for e in engines:
            await e.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
