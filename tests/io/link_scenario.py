"""Ableton Link with real peers, run by test_io_link.py inside a loopback-only network namespace
(Link multicasts on every interface). Prints one JSON object with what it measured.

Peers: a plain aalink peer in this process (standing in for Ableton Live or Resolume) and two
liveedit engines, each in a process of its own (`link_scenario.py engine BPM`: an Engine with its
LinkClock, answering JSON lines on stdin/stdout); the engines start on other tempos.

Phase is compared at one moment of the machine's monotonic clock (time.perf_counter, shared by the
processes): an engine reports its grid's beat at a perf_counter time, and the peer's session beat at
that same time follows from the peer's beat now and its tempo (Link's timeline is linear between
tempo changes).
"""
from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time


# ------------------------------------------------------------------------------------------ engine side
async def engine_main(bpm: float) -> None:
    from liveedit.core.fakemodel import FakeModel
    from liveedit.core.messages import Command
    from liveedit.engine import Engine, EngineConfig
    from liveedit.io.link import LinkClock

    e = Engine(FakeModel(), None, [], EngineConfig(torch_threads=None))
    await e.start()
    await e.handle(Command("tempo", value=bpm, source="test"))   # each starts on its own tempo
    clock = LinkClock(e)
    e.add_sink(clock)
    await clock.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    try:
        while line := await reader.readline():
            req = json.loads(line)
            if req["op"] == "tempo":
                await e.handle(Command("tempo", value=float(req["bpm"]), source="test"))
                reply({})
            elif req["op"] == "state":
                st = e.status()
                p = time.perf_counter()
                reply({"perf": p, "beat": e.grid.beat_at(e.from_perf(p)), "bpm": e.grid.bpm,
                       "source": st["beat_source"], "switch": st.get("beat_switch"),
                       "peers": st.get("link_peers", 0)})
            else:
                break
    finally:
        await clock.stop()
        await e.stop()


# -------------------------------------------------------------------------------------------- peer side
class EngineProcess:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc

    @classmethod
    async def start(cls, bpm: float) -> "EngineProcess":
        proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "engine", str(bpm),
                                                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self = cls(proc)
        assert (await self._read(timeout=120)).get("ready")   # importing the engine takes a while
        return self

    async def _read(self, timeout: float = 30) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"engine process ended (rc {await self.proc.wait()})")
        return json.loads(line)

    async def ask(self, op: str, **kw) -> dict:
        self.proc.stdin.write((json.dumps({"op": op, **kw}) + "\n").encode())
        await self.proc.stdin.drain()
        return await self._read()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.stdin.write(b'{"op": "stop"}\n')
                await self.proc.stdin.drain()
                await asyncio.wait_for(self.proc.wait(), 10)
            except (ConnectionError, asyncio.TimeoutError):
                self.proc.kill()
                await self.proc.wait()


def phase_error_ms(state: dict, peer) -> float:
    """Beat-phase distance (ms) between an engine's grid (its reported beat at its reported time) and
    the peer's session at that same time."""
    p0 = time.perf_counter()
    beat = peer.beat
    p1 = time.perf_counter()
    tempo = peer.tempo
    session = beat + (state["perf"] - 0.5 * (p0 + p1)) * tempo / 60.0
    d = (session - state["beat"] + 0.5) % 1.0 - 0.5
    return abs(d) * 60.0 / tempo * 1000.0


async def wait_for(cond, timeout: float) -> float | None:
    """Seconds until the coroutine function cond() returned true (polled every 10 ms), or None."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if await cond():
            return time.perf_counter() - t0
        await asyncio.sleep(0.01)
    return None


async def main() -> dict:
    import aalink

    out: dict = {}
    engines = list(await asyncio.gather(*(EngineProcess.start(bpm) for bpm in (90.0, 140.0))))
    peer = aalink.Link(100.0)
    peer.quantum = 4
    peer.enabled = True

    async def states() -> list[dict]:
        return [await e.ask("state") for e in engines]

    try:
        # The engines pushed their manual tempos into Link; release them so the session's tempo leads.
        for e in engines:
            await e.ask("tempo", bpm=0.0)
        peer.tempo = 100.0

        async def joined():
            return all(s["peers"] >= 2 for s in await states())
        out["join_s"] = await wait_for(joined, 20)
        st = await states()
        out["source"] = [s["source"] for s in st]

        # phase within 5 ms of the third peer, on both engines
        async def in_phase():
            return all(phase_error_ms(s, peer) < 5.0 for s in await states())
        out["phase_lock_s"] = await wait_for(in_phase, 30)
        errs = []
        for _ in range(50):
            await asyncio.sleep(0.02)
            errs.append(max(phase_error_ms(s, peer) for s in await states()))
        out["phase_err_ms_median"] = statistics.median(errs)
        out["phase_err_ms_max"] = max(errs)
        out["switches"] = [s["switch"] for s in await states()]

        # a tempo change from the peer reaches both dances
        peer.tempo = 128.0

        async def followed():
            return all(abs(s["bpm"] - 128.0) < 0.01 for s in await states())
        out["tempo_follow_s"] = await wait_for(followed, 10)
        out["beat_period_s"] = 60.0 / 128.0

        # a /tempo on one engine becomes the session's tempo: the peer and the other engine follow
        await engines[0].ask("tempo", bpm=110.0)

        async def manual_spread():
            return abs(peer.tempo - 110.0) < 0.01 and abs((await engines[1].ask("state"))["bpm"] - 110.0) < 0.01
        out["manual_to_session_s"] = await wait_for(manual_spread, 10)
        out["bpm"] = [round(s["bpm"], 3) for s in await states()]

        # a beat jump never happens: the grid's beat count only moves forward smoothly
        prev, jumps = (await engines[1].ask("state"))["beat"], 0
        for _ in range(50):
            await asyncio.sleep(0.02)
            b = (await engines[1].ask("state"))["beat"]
            jumps += not (0 < b - prev < 0.2)
            prev = b
        out["count_jumps"] = jumps
    finally:
        peer.enabled = False
        for e in engines:
            await e.stop()
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["engine"]:
        asyncio.run(engine_main(float(sys.argv[2])))
    else:
        print(json.dumps(asyncio.run(main())))
