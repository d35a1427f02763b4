"""The asyncio engine with a fake model, a fake real-time audio source and in-memory / real sinks."""
from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
import websockets

from liveedit.core.fakemodel import EDIT_CHANNEL, FakeModel
from liveedit.core.messages import Command
from liveedit.core.testaudio import drum_song
from liveedit.engine import Engine, EngineConfig

pytestmark = pytest.mark.timeout(60)


class FakeAudio:
    """Hands out a synthetic drum song as if it were arriving in real time."""

    sample_rate = 15360
    name = "fake"

    def __init__(self, bpm=120.0, seconds=20.0):
        self.audio, self.beats = drum_song(bpm=bpm, seconds=seconds)
        self.samples_read = 0
        self._t0 = None
        self.stopped = False

    async def start(self):
        self._t0 = time.perf_counter()

    async def stop(self):
        self.stopped = True

    def read_available(self):
        end = min(int((time.perf_counter() - self._t0) * self.sample_rate), self.audio.size)
        out = self.audio[self.samples_read:end]
        self.samples_read = end
        return out


class MemorySink:
    name = "memory"

    def __init__(self):
        self.frames = []
        self.started = self.stopped = False

    async def start(self):
        self.started = True

    async def stop(self):
        self.stopped = True

    def offer(self, frame):
        self.frames.append(frame)


class BrokenSink:
    name = "broken"

    def offer(self, frame):
        raise RuntimeError("sink bug")


async def test_frames_stream_edits_apply_and_shutdown_is_clean():
    sink = MemorySink()
    audio = FakeAudio()
    engine = Engine(FakeModel(delay_s=0.05), audio, [sink, BrokenSink()],
                    EngineConfig(initial_latency_s=0.2))
    await engine.start()
    assert sink.started
    await asyncio.sleep(2.0)
    n_before, skipped = len(sink.frames), engine.frames_skipped
    # about 30 fps (loose bounds: the machine is shared); frame indices rise by one, except where
    # the loop stalled and skipped late frames, and then it counted them
    assert 20 <= n_before <= 80
    idx = [f.frame for f in sink.frames]
    assert all(b > a for a, b in zip(idx, idx[1:]))
    assert idx[-1] - idx[0] + 1 == len(idx) + skipped
    x_before = sink.frames[-1].root[0]

    reply = await engine.handle(Command("edit", "swing arms wider", source="test"))
    assert reply.ok and reply.data["id"] == 1
    await asyncio.sleep(1.5)
    after = sink.frames[-1]
    assert after.edits and after.edits[0].text == "swing arms wider"
    assert after.root[0] - x_before == pytest.approx(0.5, abs=0.02)   # FakeModel: +0.25 * strength

    status = engine.status()
    assert status["edits"][0]["text"] == "swing arms wider"
    assert status["frames_sent"] >= len(sink.frames) - 1
    assert engine.core.heard_end > 60        # music features from the audio reached the core
    assert engine.sink_errors > 0             # the broken sink raised, the stream went on

    t0 = time.perf_counter()
    await engine.stop()
    assert time.perf_counter() - t0 < 5.0
    assert sink.stopped and audio.stopped
    assert not engine.worker._thread.is_alive()
    n = len(sink.frames)
    await asyncio.sleep(0.2)
    assert len(sink.frames) == n              # nothing after stop


async def test_midi_clock_sets_the_tempo_without_audio():
    engine = Engine(FakeModel(), None, [MemorySink()], EngineConfig())
    await engine.start()
    try:
        t0 = time.perf_counter()
        engine.midi_start(t0)
        for k in range(48):                    # two beats of 24 ppqn at 100 BPM
            engine.midi_clock_tick(t0 + k * 0.6 / 24)
        assert engine.status()["bpm"] == pytest.approx(100, rel=1e-3)
        assert engine.status()["beat_source"] == "midi"
    finally:
        await engine.stop()


async def test_edit_over_real_osc_shows_in_websocket_frames():
    from liveedit.io.osc import OscControlServer, build_message
    from liveedit.io.ws import WebSocketServer

    engine = Engine(FakeModel(delay_s=0.02), None, [], EngineConfig(initial_latency_s=0.1))
    ws = WebSocketServer(engine, "127.0.0.1", 0)
    engine.add_sink(ws)
    osc = OscControlServer(engine, "127.0.0.1", 0)
    await engine.start()
    await osc.start()
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            replies.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0), remote_addr=osc.address)
    try:
        host, port = ws.address
        async with websockets.connect(f"ws://{host}:{port}/ws") as client:
            xs = []

            async def frames(n):
                while n:
                    msg = json.loads(await client.recv())
                    if msg.get("type") == "frame":
                        xs.append((msg["root"][0], msg["edits"]))
                        n -= 1

            await asyncio.wait_for(frames(30), 10)
            x0 = xs[-1][0]
            transport.sendto(build_message("/edit", ["lean", "back"]))   # split words are joined
            data = await asyncio.wait_for(replies.get(), 5)
            assert b"/liveedit/reply" in data and b"lean back" in data
            await asyncio.wait_for(frames(45), 10)
            assert xs[-1][1] and xs[-1][1][0]["text"] == "lean back"
            assert xs[-1][0] - x0 == pytest.approx(0.5, abs=0.02)
        # measured from the command's arrival on the engine clock (the input stamps perf_counter time)
        assert 0 < engine.status()["edit_latency_ms"] < 60_000
    finally:
        transport.close()
        await osc.stop()
        await engine.stop()


async def test_tempo_set_released_and_refused_over_real_osc():
    """A real OSC peer on loopback pins the tempo, releases it with /tempo auto, and gets an error
    reply for a tempo outside the documented range; the engine's status follows."""
    from pythonosc.osc_message import OscMessage

    from liveedit.io.osc import OscControlServer, build_message

    engine = Engine(FakeModel(), None, [MemorySink()], EngineConfig())
    osc = OscControlServer(engine, "127.0.0.1", 0)
    await engine.start()
    await osc.start()
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            replies.put_nowait(OscMessage(data).params)

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0), remote_addr=osc.address)
    try:
        async def ask(address, *args):
            transport.sendto(build_message(address, list(args)))
            kind, ok, message, data = await asyncio.wait_for(replies.get(), 5)
            return kind, ok, message, json.loads(data)

        kind, ok, _, data = await ask("/tempo", 90.0)
        assert (kind, ok) == ("tempo", 1) and data["bpm"] == pytest.approx(90) and data["source"] == "manual"
        assert engine.status()["beat_source"] == "manual"
        kind, ok, message, data = await ask("/tempo", "auto")
        assert (kind, ok) == ("tempo", 1) and "released" in message and data["manual"] is False
        assert engine.status()["beat_source"] != "manual"
        kind, ok, message, _ = await ask("/tempo", 400.0)
        assert (kind, ok) == ("tempo", 0) and "between 20 and 300" in message
        await ask("/tap")
        await asyncio.sleep(0.5)             # the second tap half a second later: about 120 BPM
        kind, ok, _, data = await ask("/tap")
        assert ok == 1 and data["source"] == "tap" and engine.status()["beat_source"] == "tap"
        kind, ok, _, data = await ask("/tempo", 0)
        assert ok == 1 and data["source"] != "tap" and engine.status()["tempo_manual"] is False
    finally:
        transport.close()
        await osc.stop()
        await engine.stop()
