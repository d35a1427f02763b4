"""`liveedit bench live`: beat tracking, window compute time, frame jitter, edit latency, WebSocket clients held.

All on this machine, in one run, printed as a table with the goals next to them:
  * beats:   the engine's causal tracker (the live path: 10 ms audio blocks, beats read at 30 fps) on
             the held-out beat set (liveedit/bench/beatset.py: syncopated styles, 3/4 and 6/8, drum and
             bass, drumless breaks, tempo ramps and drift, rendered with FluidR3_GM), per song: beat
             F-measure (mir_eval, 70 ms), tempo octave, downbeat F, meter, lock-in time, phase after the
             drumless break, CPU share (liveedit/bench/beatscore.py), with aubio's F alongside; then
             F-measure and lock-in on rendered corpus songs (seeds 100+: the grid's first constants were
             tuned on seeds 0-23) for aubio alone, the grid, and the grid with aubio's beats as hints;
  * windows: compute time of one 150-frame window with 0, 1 and 3 active edits (seconds of dance per
             second of compute);
  * jitter:  frame-interval jitter at 30 fps, at the engine (sink offer) and at a WebSocket client,
             while the engine dances to the demo song with the real model;
  * latency: edit latency from the OSC send to the WebSocket arrival of the first frame computed with
             the edit (p50/p95; the cross-fade into the edited motion completes 8 frames later);
  * beat edits: an edit on every beat for a while (the stack fills to 3 and stays there): frame
             jitter at the engine and the WebSocket client, and the latency of each edit from its
             arrival to the WebSocket arrival of its first frame;
  * clients: WebSocket clients (in a separate process) that each receive >= 95% of the frames with
             no gap over 250 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

GOALS = {"jitter_p99_ms": 5.0, "edit_p95_ms": 250.0, "stack_ratio": 1.5, "clients": 100}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--songs", type=int, default=8, help="rendered corpus songs for the beat benchmark (0: none)")
    p.add_argument("--beat-songs", default="",
                   help="only the held-out beat songs whose names contain one of these words, comma separated")
    p.add_argument("--longform-songs", type=int, default=6,
                   help="long-form evaluation songs per family for the beat benchmark (the corpus song "
                        "generator's styles, liveedit/offline/longform.py; 0: none)")
    p.add_argument("--seed-base", type=int, default=100, help="first song seed (0-23 were used for tuning)")
    p.add_argument("--song-seconds", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=20.0, help="engine run time for the jitter measure")
    p.add_argument("--edits", type=int, default=12, help="edits sent for the latency measure")
    p.add_argument("--beat-edit-seconds", type=float, default=12.0,
                   help="then an edit on every beat for this long (jitter and latency under edits; 0: skip)")
    p.add_argument("--clients", default="50,100,200", help="WebSocket client counts to try, comma separated")
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one)")
    p.add_argument("--random-model", action="store_true", help="use the tiny random model")
    p.add_argument("--steps", type=int, default=10, help="sampler steps per window")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the engine's default is 1; 0 = torch's default)")
    p.add_argument("--only", default="beats,windows,engine,clients",
                   help="sections to run, comma separated (beats, windows, engine, clients)")


# ---------------------------------------------------------------------------------------------- beats
from liveedit.bench.beatscore import lock_in_time  # noqa: E402  (re-exported: tests and callers use it here)

def _songs(n: int, seed_base: int, seconds: float):
    try:
        from training.corpus.songs import STYLES, make_song  # noqa: PLC0415
    except ImportError as exc:
        print(f"  (corpus unavailable: {exc}; using synthetic drum songs)")
        from liveedit.core.testaudio import drum_song  # noqa: PLC0415
        rng = np.random.default_rng(seed_base)
        for i in range(n):
            bpm = float(rng.uniform(80, 170))
            audio, beats = drum_song(bpm=bpm, seconds=seconds, seed=i)
            yield f"synthetic {bpm:.0f}", audio, beats
        return
    for i in range(n):
        seed = seed_base + i
        style = STYLES[seed % len(STYLES)]
        song = make_song(seed=seed, style=style, duration=seconds)
        yield f"{style} #{seed}", song.audio, np.asarray(song.beat_times)


def bench_beatset(args) -> dict:
    """The held-out beat set through the live path, scored per song (see beatscore.py)."""
    from liveedit.bench.beatscore import f_measure, format_table, score_song, summary  # noqa: PLC0415
    from liveedit.bench.beatset import FLUIDR3, beat_songs  # noqa: PLC0415
    from liveedit.tracker import aubio_beats, live_beats  # noqa: PLC0415

    names = [n.strip() for n in args.beat_songs.split(",") if n.strip()] or None
    if not FLUIDR3.exists():
        print(f"  NOTICE: {FLUIDR3} is missing (apt-get install fluid-soundfont-gm): rendering with the "
              "corpus soundfont instead, so the set is not held out by instruments")
    rows = []
    for song in beat_songs(names):
        row = score_song(song, live_beats)
        row["aubio_F"] = f_measure(song.beats, aubio_beats(song.audio))
        rows.append(row)
    summ = summary(rows)
    summ["aubio_F_mean"] = float(np.mean([r["aubio_F"] for r in rows]))
    print(format_table(rows, summ))
    print(f"  {'aubio alone F':16s} {summ['aubio_F_mean']:7.3f}")
    return {"songs": rows, "summary": summ}


def longform_beat_songs(per_family: int, seconds: float = 40.0) -> list:
    """The long-form evaluation's held-out songs (the corpus generator's styles, seeds 50,000+, half of
    them with FluidR3_GM) as BeatSongs: the beats the dance is scored against depend on the tracker."""
    from liveedit.bench.beatset import BeatSong  # noqa: PLC0415
    from liveedit.offline.longform import song_audio, song_plan  # noqa: PLC0415

    out = []
    for seed, family, style, bpm in song_plan(per_family, seconds):
        song, audio = song_audio(seed, family, style, seconds, bpm)
        breaks = [(float(x["start"]), float(x["end"])) for x in song.sections if not x["has_drums"]]
        tag = "corpus sf" if family == "corpus soundfont" else "FluidR3"
        out.append(BeatSong(f"{style} {song.bpm:.0f} {tag} #{seed}", audio, np.asarray(song.beat_times, float),
                            np.asarray(song.downbeat_times, float), 4, breaks))
    return out


def bench_longform_beats(args) -> dict:
    """The tracker through the live path on the long-form evaluation's songs, scored as the beat set."""
    from liveedit.bench.beatscore import format_table, score_song, summary  # noqa: PLC0415
    from liveedit.tracker import live_beats  # noqa: PLC0415

    rows = [score_song(song, live_beats) for song in longform_beat_songs(args.longform_songs)]
    summ = summary(rows)
    print(format_table(rows, summ))
    return {"songs": rows, "summary": summ}


def bench_beats(args) -> dict:
    import mir_eval  # noqa: PLC0415

    from liveedit.core.beats import track_beats  # noqa: PLC0415
    from liveedit.tracker import aubio_beats  # noqa: PLC0415

    def f(ref, est):
        return mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(np.asarray(est)))

    rows = {"aubio": [], "grid": [], "grid+aubio": []}
    locks = {k: [] for k in rows}
    for name, audio, ref in _songs(args.songs, args.seed_base, args.song_seconds):
        a = aubio_beats(audio)
        est = {"aubio": a, "grid": track_beats(audio), "grid+aubio": track_beats(audio, hints=a)}
        line = []
        for k, e in est.items():
            rows[k].append(f(ref, e))
            locks[k].append(lock_in_time(ref, e))
            line.append(f"{k} {rows[k][-1]:.2f}")
        print(f"  {name:20s} " + "  ".join(line), flush=True)
    out = {}
    for k in rows:
        lk = [x for x in locks[k] if not math.isnan(x)]
        out[k] = {"F": float(np.mean(rows[k])), "lock_s": float(np.median(lk)) if lk else math.nan,
                  "never_locked": len(locks[k]) - len(lk)}
    return out


# -------------------------------------------------------------------------------------------- windows
def load_model(args):
    from model.pipeline import DanceModel  # noqa: PLC0415

    if args.random_model:
        return DanceModel.tiny_random(), "tiny random (--random-model)"
    try:
        m = DanceModel.load(args.checkpoint)
        return m, getattr(m, "name", "checkpoint")
    except FileNotFoundError as exc:
        print(f"  NOTICE: {exc}; timing the tiny random model instead")
        return DanceModel.tiny_random(), "tiny random (no checkpoint)"


def bench_windows(model, steps: int, repeats: int = 5) -> dict:
    from liveedit.core.continuation import WindowRequest, run_window  # noqa: PLC0415

    rng = np.random.default_rng(0)
    out = {}
    known = np.zeros((150, 151), np.float32)
    known[:, 5] = 0.95
    can_edit = bool(getattr(model, "can_edit", True))
    if not can_edit:
        print("  (this model has no editing branch: edit windows not timed)")
    for n_edits in ((0, 1, 3) if can_edit else (0,)):
        prompts = tuple(["swing arms wider", "jump higher", "lean back"][:n_edits])
        times = []
        for r in range(repeats + 1):
            req = WindowRequest(id=r, start=0, n_known=60, music=rng.random((150, 35)).astype(np.float32),
                                known=known, known_initial=known, prompts=prompts, strength=2.0, steps=steps,
                                edits_version=0, reason="bench", created=0.0, seed=r)
            t0 = time.perf_counter()
            run_window(model, req)
            if r:  # the first call warms up (text encoder load, allocations)
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        out[n_edits] = {"ms": med * 1000, "rtf": 5.0 / med}
        print(f"  window with {n_edits} edit(s): {med * 1000:7.1f} ms  ({5.0 / med:5.1f} s of dance per s)", flush=True)
    if can_edit:
        out["live"] = bench_live_edit_windows(model, steps, known, repeats)
    return out


def bench_live_edit_windows(model, steps: int, known: np.ndarray, repeats: int = 5) -> dict:
    """Edit windows as the engine runs them: the committed prediction is reused, so only editing
    passes run; an edit's preview (liveedit.core.live.PREVIEW_STEPS), its refine, and 3 stacked edits."""
    from liveedit.core.continuation import WindowRequest, run_window  # noqa: PLC0415
    from liveedit.core.live import PREVIEW_STEPS  # noqa: PLC0415

    rng = np.random.default_rng(1)
    rows = {"preview": (1, min(PREVIEW_STEPS, steps)), "1 edit": (1, steps), "3 edits": (3, steps)}
    out = {}
    for name, (n_edits, n_steps) in rows.items():
        prompts = tuple(["swing arms wider", "jump higher", "lean back"][:n_edits])
        times = []
        for r in range(repeats + 1):
            req = WindowRequest(id=r, start=0, n_known=16, music=rng.random((150, 35)).astype(np.float32),
                                known=known, known_initial=known, prompts=prompts, strength=2.0, steps=n_steps,
                                edits_version=0, reason="bench", created=0.0, seed=r, initial=known)
            t0 = time.perf_counter()
            run_window(model, req)
            if r:
                times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times) * 1000
        print(f"  live edit window, {name} ({n_steps} steps, prediction reused): {out[name]:7.1f} ms", flush=True)
    return out


# --------------------------------------------------------------------------------- engine: jitter/edits
class _TimingSink:
    name = "bench"

    def __init__(self):
        self.t: list[float] = []

    def offer(self, frame) -> None:
        self.t.append(time.perf_counter())


def _jitter(times: list[float]) -> dict:
    d = np.diff(np.asarray(times))
    if d.size == 0:
        return {"p50_ms": math.nan, "p99_ms": math.nan, "fps": 0.0}
    dev = np.abs(d - 1 / 30) * 1000
    return {"p50_ms": float(np.percentile(dev, 50)), "p99_ms": float(np.percentile(dev, 99)),
            "max_ms": float(dev.max()), "fps": float(1 / d.mean())}


async def _engine_run(model, args) -> dict:
    import websockets  # noqa: PLC0415

    from liveedit.engine import Engine, EngineConfig  # noqa: PLC0415
    from liveedit.io.audio import open_audio_source  # noqa: PLC0415
    from liveedit.io.osc import OscControlServer, build_message  # noqa: PLC0415
    from liveedit.io.ws import WebSocketServer  # noqa: PLC0415

    sink = _TimingSink()
    audio = open_audio_source("demo", play=False)
    engine = Engine(model, audio, [sink], EngineConfig(steps=args.steps, torch_threads=args.threads or None))
    ws = WebSocketServer(engine, "127.0.0.1", 0)
    engine.add_sink(ws)
    osc = OscControlServer(engine, "127.0.0.1", 0)
    await engine.start()
    await osc.start()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0),
                                                       remote_addr=osc.address)
    recv: dict[int, float] = {}
    ws_times: list[float] = []
    try:
        host, port = ws.address
        async with websockets.connect(f"ws://{host}:{port}/ws", max_size=None) as client:
            async def reader():
                async for msg in client:
                    now = time.perf_counter()
                    if isinstance(msg, str) and msg.startswith('{"type":"frame"'):
                        i = msg.index('"frame":') + 8
                        recv[int(msg[i:msg.index(",", i)])] = now
                        ws_times.append(now)

            task = asyncio.create_task(reader())
            warm = 4.0
            await asyncio.sleep(warm)
            sink.t.clear()
            ws_times.clear()
            # Jitter window: plain dancing, no edits.
            await asyncio.sleep(max(1.0, args.seconds))
            jit_engine, jit_ws = _jitter(sink.t), _jitter(ws_times)
            # Edit latency: OSC send -> WS arrival of the first frame computed with the edit.
            latencies, missing = [], 0
            prompts = ["swing arms wider", "raise both arms", "jump higher", "lean back", "turn left"]
            n_edits = args.edits if getattr(model, "can_edit", True) else 0
            if not n_edits:
                print("  (this model has no editing branch: edit latency not measured)")
            for k in range(n_edits):
                seen = len(engine.core.edit_commits)
                sent = time.perf_counter()
                transport.sendto(build_message("/edit", [prompts[k % len(prompts)]]))
                first = None
                t_end = sent + 5.0
                while time.perf_counter() < t_end:
                    await asyncio.sleep(0.005)
                    commits = list(engine.core.edit_commits)[seen:]
                    if commits and first is None:
                        first = commits[0][1]
                    if first is not None and first in recv:
                        latencies.append(recv[first] - sent)
                        break
                else:
                    missing += 1
                await asyncio.sleep(1.0)
                transport.sendto(build_message("/undo", []))
                await asyncio.sleep(1.0)
            beat = await _beat_edits(engine, transport, build_message, recv, sink, ws_times, args) \
                if n_edits and args.beat_edit_seconds > 0 else None
            status = engine.status()
            task.cancel()
    finally:
        transport.close()
        await osc.stop()
        await engine.stop()
    lat = np.asarray(latencies) * 1000
    return {"jitter_engine": jit_engine, "jitter_ws": jit_ws,
            "edit_ms": {"p50": float(np.percentile(lat, 50)) if lat.size else math.nan,
                        "p95": float(np.percentile(lat, 95)) if lat.size else math.nan,
                        "n": int(lat.size), "missing": missing},
            "beat_edits": beat, "held_frames": status["held_frames"], "window_ms": status["window_ms"]}


async def _beat_edits(engine, transport, build_message, recv: dict, sink, ws_times: list, args) -> dict:
    """An edit on every beat for args.beat_edit_seconds: jitter while edits arrive, and each edit's
    latency from its arrival (the engine's stamp) to the WebSocket arrival of its first frame.
    Edits overtaken by the next one before any window showed them count as superseded."""
    prompts = ["swing arms wider", "raise both arms", "jump higher", "lean back", "turn left", "bounce more"]
    sink.t.clear()
    ws_times.clear()
    seen = len(engine.core.edit_commits)
    t_end = time.perf_counter() + args.beat_edit_seconds
    sent = 0
    while time.perf_counter() < t_end:
        transport.sendto(build_message("/edit", [prompts[sent % len(prompts)]]))
        sent += 1
        await asyncio.sleep(60.0 / max(engine.grid.bpm, 30.0))
    await asyncio.sleep(1.0)
    jit_engine, jit_ws = _jitter(sink.t), _jitter(ws_times)
    lat = []
    for _version, first, received in list(engine.core.edit_commits)[seen:]:
        if first in recv:
            lat.append(engine.from_perf(recv[first]) - received)
    transport.sendto(build_message("/reset", []))
    await asyncio.sleep(0.5)
    lat_ms = np.asarray(lat) * 1000
    return {"jitter_engine": jit_engine, "jitter_ws": jit_ws, "sent": sent, "shown": int(lat_ms.size),
            "edit_ms": {"p50": float(np.percentile(lat_ms, 50)) if lat_ms.size else math.nan,
                        "p95": float(np.percentile(lat_ms, 95)) if lat_ms.size else math.nan},
            "bpm": float(engine.grid.bpm)}


# ------------------------------------------------------------------------------------------- clients
def _client_process(url: str, n: int, seconds: float, queue) -> None:
    import websockets  # noqa: PLC0415

    async def one(i: int, stats: list):
        times = []
        try:
            async with websockets.connect(url, max_size=None, open_timeout=20) as ws:
                t_end = time.perf_counter() + seconds + 2.0
                async for msg in ws:
                    now = time.perf_counter()
                    if isinstance(msg, str) and msg.startswith('{"type":"frame"'):
                        times.append(now)
                    if now > t_end:
                        break
        except Exception as exc:  # counted as not held
            stats.append((i, 0, 1e9, repr(exc)))
            return
        t = np.asarray(times)
        t = t[t >= t[0] + 2.0] if t.size else t   # skip the first 2 s (connection ramp)
        gap = float(np.diff(t).max()) if t.size > 1 else 1e9
        stats.append((i, int(t.size), gap, ""))

    async def main():
        stats: list = []
        await asyncio.gather(*(one(i, stats) for i in range(n)))
        queue.put(stats)

    asyncio.run(main())


async def _clients_run(model, counts: list[int], args) -> dict:
    from liveedit.engine import Engine, EngineConfig  # noqa: PLC0415
    from liveedit.io.audio import open_audio_source  # noqa: PLC0415
    from liveedit.io.ws import WebSocketServer  # noqa: PLC0415

    seconds = 6.0
    out = {}
    for n in counts:
        engine = Engine(model, open_audio_source("demo", play=False), [],
                        EngineConfig(steps=args.steps, torch_threads=args.threads or None))
        ws = WebSocketServer(engine, "127.0.0.1", 0)
        engine.add_sink(ws)
        await engine.start()
        try:
            host, port = ws.address
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            proc = ctx.Process(target=_client_process, args=(f"ws://{host}:{port}/ws", n, seconds, q), daemon=True)
            proc.start()
            stats = await asyncio.to_thread(q.get, True, seconds + 60)
            await asyncio.to_thread(proc.join, 10)
        finally:
            await engine.stop()
        expected = seconds * 30
        held = sum(1 for _, cnt, gap, _ in stats if cnt >= 0.95 * expected and gap <= 0.25)
        errors = [e for *_, e in stats if e]
        out[n] = held
        print(f"  {n:4d} clients: {held:4d} held at 30 fps"
              + (f" ({len(errors)} failed: {errors[0]})" if errors else ""), flush=True)
        if held < n:
            break
    return out


# ---------------------------------------------------------------------------------------------- main
def run(args) -> int:
    only = {s.strip() for s in args.only.split(",")}
    report: dict = {}
    print(f"liveedit bench live  ({time.strftime('%Y-%m-%d %H:%M')}, {mp.cpu_count()} CPUs)")
    if "beats" in only:
        print("\nCausal beat tracking on the held-out beat set (FluidR3_GM; mir_eval F, 70 ms window):")
        report["beatset"] = bench_beatset(args)
        if args.longform_songs > 0:
            print("\nCausal beat tracking on the long-form evaluation's songs (the corpus generator's styles):")
            report["longform_beats"] = bench_longform_beats(args)
        if args.songs > 0:
            print(f"\nBeat tracking on {args.songs} rendered corpus songs (mir_eval F, 70 ms window):")
            report["beats"] = bench_beats(args)
    model = None
    if only & {"windows", "engine", "clients"}:
        import torch  # noqa: PLC0415
        if args.threads:
            torch.set_num_threads(args.threads)
        model, model_name = load_model(args)
        print(f"\nModel: {model_name}, {args.steps} sampler steps, {torch.get_num_threads()} torch thread(s)")
    if "windows" in only:
        print("\nWindow compute time (150 frames = 5 s of dance):")
        report["windows"] = bench_windows(model, args.steps)
    if "engine" in only:
        print(f"\nEngine on the demo song: {args.seconds:g} s of frames, then {args.edits} edits over OSC:")
        report["engine"] = asyncio.run(_engine_run(model, args))
    if "clients" in only:
        print("\nWebSocket clients (separate process) held at 30 fps:")
        counts = [int(c) for c in args.clients.split(",") if c.strip()]
        report["clients"] = asyncio.run(_clients_run(model, counts, args))

    print("\n==== summary " + "=" * 60)
    if "beatset" in report:
        bs = report["beatset"]["summary"]
        print(f"held-out beat set           F {bs['F_mean']:.3f} (min {bs['F_min']:.2f}), tempo octave right "
              f"{100 * bs['octave_right']:.0f}%, downbeat F {bs['downbeat_F_mean']:.3f}, lock-in max "
              f"{bs['lock_s_max']:.2f} s, CPU {bs['cpu_pct_mean']:.2f}% of a core (aubio F {bs['aubio_F_mean']:.3f})")
    if "longform_beats" in report:
        bs = report["longform_beats"]["summary"]
        print(f"long-form songs' beats      F {bs['F_mean']:.3f} (min {bs['F_min']:.2f}), tempo octave right "
              f"{100 * bs['octave_right']:.0f}%, downbeat F {bs['downbeat_F_mean']:.3f}, lock-in median "
              f"{bs['lock_s_median']:.2f} s")
    if "beats" in report:
        b = report["beats"]
        for k, v in b.items():
            print(f"beat F-measure {k:11s} {v['F']:.3f}   lock-in median {v['lock_s']:.2f} s"
                  f"   (never locked: {v['never_locked']})")
        if b["aubio"]["F"] > 0:
            print(f"grid / aubio F ratio       {b['grid']['F'] / b['aubio']['F']:.2f}x")
    if "windows" in report:
        w = report["windows"]
        print("window compute             " + "   ".join(f"{k} edits {v['ms']:.0f} ms ({v['rtf']:.1f}x real time)"
                                                       for k, v in w.items() if k != "live"))
        if "live" in w:
            lv = w["live"]
            print(f"live edit windows          preview {lv['preview']:.0f} ms, 1 edit {lv['1 edit']:.0f} ms, "
                  f"3 stacked edits {lv['3 edits']:.0f} ms ({lv['3 edits'] / lv['1 edit']:.2f}x one edit; "
                  f"goal <= {GOALS['stack_ratio']:g}x)")
    if "engine" in report:
        e = report["engine"]
        je, jw = e["jitter_engine"], e["jitter_ws"]
        print(f"frame jitter (engine)      p50 {je['p50_ms']:.2f} ms  p99 {je['p99_ms']:.2f} ms  "
              f"({je['fps']:.2f} fps; goal p99 <= {GOALS['jitter_p99_ms']:g} ms)")
        print(f"frame jitter (WS client)   p50 {jw['p50_ms']:.2f} ms  p99 {jw['p99_ms']:.2f} ms  ({jw['fps']:.2f} fps)")
        em = e["edit_ms"]
        if em["n"] == 0 and em["missing"] == 0:
            print("edit latency OSC->WS       not measured (model without an editing branch)")
        else:
            print(f"edit latency OSC->WS       p50 {em['p50']:.0f} ms  p95 {em['p95']:.0f} ms  (n={em['n']}, "
                  f"missing {em['missing']}; goal p95 <= {GOALS['edit_p95_ms']:g} ms)")
        be = e.get("beat_edits")
        if be:
            print(f"edits on every beat        {be['sent']} sent at {be['bpm']:.0f} BPM, {be['shown']} shown "
                  f"(the rest overtaken), latency p50 {be['edit_ms']['p50']:.0f} ms p95 {be['edit_ms']['p95']:.0f} ms")
            print(f"  frame jitter             engine p99 {be['jitter_engine']['p99_ms']:.2f} ms, WS client p99 "
                  f"{be['jitter_ws']['p99_ms']:.2f} ms (goal p99 <= {GOALS['jitter_p99_ms']:g} ms)")
        print(f"held frames (windows late) {e['held_frames']}")
    if "clients" in report:
        c = report["clients"]
        best = max((k for k, v in c.items() if v >= k), default=0)
        print(f"WS clients held at 30 fps  {best} (tried {', '.join(map(str, c))}; goal >= {GOALS['clients']})")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    add_arguments(p)
    sys.exit(run(p.parse_args()))
