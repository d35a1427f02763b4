"""`liveedit serve`: the live engine with its inputs and outputs.

Every flag can also be set by an environment variable (LIVEEDIT_<FLAG>, e.g. LIVEEDIT_PORT=9999);
a flag on the command line wins over the variable.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from liveedit.core.scheduler import SchedulerConfig

log = logging.getLogger("liveedit.serve")

# (flag, env var, default, type, help)
_OPTIONS: list[tuple[str, str, Any, Any, str]] = [
    ("--audio-in", "LIVEEDIT_AUDIO_IN", "demo", str,
     "audio input: 'demo' (the bundled song, played in real time; works with no sound card, the "
     "default), 'default' (the system's default input device), a device name or index, or an audio "
     "file (.wav/.flac/.mp3...) played in real time. 'none' runs on the monotonic clock with tempo "
     "from MIDI clock, /tempo or /tap only"),
    ("--host", "LIVEEDIT_HOST", "127.0.0.1", str,
     "address the HTTP/WebSocket and OSC servers bind to; any address other than a loopback one "
     "(e.g. 0.0.0.0, the whole network) needs --token or --insecure-no-token"),
    ("--port", "LIVEEDIT_PORT", 8765, int, "HTTP (viewer at /) and WebSocket (/ws) port"),
    ("--osc-port", "LIVEEDIT_OSC_PORT", 9000, int, "OSC control input, UDP (0 = off)"),
    ("--osc-reply-port", "LIVEEDIT_OSC_REPLY_PORT", 0, int,
     "send OSC replies to the sender's address at this port instead of its source port (TouchDesigner's "
     "OSC Out and Max send from a port they do not listen on; 0 = reply to the source port)"),
    ("--osc-out", "LIVEEDIT_OSC_OUT", None, str, "send /liveedit/pose frames to HOST:PORT over OSC"),
    ("--vmc-port", "LIVEEDIT_VMC_PORT", 39539, int, "VMC protocol port (with --vmc)"),
    ("--vmc-host", "LIVEEDIT_VMC_HOST", "127.0.0.1", str, "VMC receiver host (with --vmc)"),
    ("--midi-in", "LIVEEDIT_MIDI_IN", None, str, "MIDI input port name (clock, start/stop, mapped notes/CCs)"),
    ("--midi-map", "LIVEEDIT_MIDI_MAP", None, str, "MIDI mapping file (.toml or .json, docs/protocol.md)"),
    ("--record", "LIVEEDIT_RECORD", None, str, "record to this directory (SMPL npz, BVH, beat and edit logs)"),
    ("--avatar", "LIVEEDIT_AVATAR", None, str,
     "the viewer's avatar: a .vrm (VRM 0.x or 1.0) or humanoid .glb file, served to the page at start "
     "(default: the built-in mannequin; the page can also load one dropped onto it)"),
    ("--token", "LIVEEDIT_TOKEN", None, str, "shared secret required for remote control (OSC /auth, WS ?token=)"),
    ("--control-rate", "LIVEEDIT_CONTROL_RATE", 0.0, float,
     "control messages a second each OSC sender and each WebSocket client may send, in bursts of twice "
     "that; all senders together get twice it again (0 = the defaults: 30 for OSC, 20 for WebSocket)"),
    ("--checkpoint", "LIVEEDIT_CHECKPOINT", None, str, "model checkpoint (default: the shipped one)"),
    ("--steps", "LIVEEDIT_STEPS", 10, int, "diffusion sampler steps per window"),
    ("--strength", "LIVEEDIT_STRENGTH", 2.0, float, "edit strength (text guidance scale) at start"),
    ("--dynamics", "LIVEEDIT_DYNAMICS", 1.0, float, "how far the dance follows the music's energy, calmer in a "
                                                    "breakdown, livelier at a drop (0..2; 0 = off)"),
    ("--hop", "LIVEEDIT_HOP", SchedulerConfig.hop, int, "frames between routine windows (30 fps)"),
    ("--context", "LIVEEDIT_CONTEXT", SchedulerConfig.context, int,
     "known frames each window continues from (docs/MODEL.md: why 16)"),
    ("--threads", "LIVEEDIT_THREADS", 1, int, "torch threads for inference (1 leaves a core to the frame "
                                             "clock and audio; 0 = torch's default)"),
]
_FLAGS = [("--vmc", "LIVEEDIT_VMC", "also send the pose over the VMC protocol (Unity/Unreal/VSeeFace receivers)"),
          ("--no-console", "LIVEEDIT_NO_CONSOLE", "no interactive text prompt on the terminal"),
          ("--no-status", "LIVEEDIT_NO_STATUS", "no one-line status display"),
          ("--aubio", "LIVEEDIT_AUBIO", "also feed aubio's causal beat tracker to the beat grid as hints "
                                        "(off by default: it lowered beat F-measure on the rendered songs)"),
          ("--link", "LIVEEDIT_LINK", "join an Ableton Link session: its tempo and beat phase drive the dance when "
                                      "other peers are there (MIDI clock still wins), and liveedit's own tempo and beat "
                                      "drive the session otherwise (needs pip install 'liveedit[link]')"),
          ("--random-model", "LIVEEDIT_RANDOM_MODEL", "use a tiny random model (development) instead of a checkpoint"),
          ("--insecure-no-token", "LIVEEDIT_INSECURE_NO_TOKEN",
           "allow a non-loopback --host without --token: anyone on the network may then steer the engine "
           "(a warning is printed at start-up and shown in the status)")]


def _env_default(env: str, default: Any, typ: Any) -> Any:
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    try:
        return typ(raw)
    except ValueError:
        raise SystemExit(f"liveedit serve: environment variable {env}={raw!r} is not a valid {typ.__name__}")


def _truthy(env: str) -> bool:
    return os.environ.get(env, "").strip().lower() in ("1", "true", "yes", "on")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="run the live engine (audio in, poses out, edits over OSC/WebSocket/console/MIDI)",
        description="Dance live to music and take edits in words. Viewer: http://HOST:PORT/ ; stream: "
                    "ws://HOST:PORT/ws ; OSC control: udp HOST:OSC_PORT. Every option can also be set "
                    "by its environment variable (shown in brackets).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for flag, env, default, typ, help_ in _OPTIONS:
        p.add_argument(flag, default=_env_default(env, default, typ), type=typ, help=f"{help_} [{env}]")
    for flag, env, help_ in _FLAGS:
        p.add_argument(flag, action="store_true", default=_truthy(env), help=f"{help_} [{env}]")
    env_hosts = [h for h in os.environ.get("LIVEEDIT_ALLOW_HOST", "").split(",") if h.strip()]
    p.add_argument("--allow-host", action="append", default=None, metavar="NAME",
                   help="also answer HTTP/WebSocket requests for this Host name (repeatable or comma-separated; "
                        "'.example.com' allows it and its subdomains; '*' allows any name, e.g. behind a proxy "
                        "that checks names itself). Loopback names and the bound address are always allowed; "
                        f"any other name is refused, which stops DNS rebinding [LIVEEDIT_ALLOW_HOST={','.join(env_hosts)}]")
    p.set_defaults(env_allow_host=env_hosts)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def _host_port(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"liveedit serve: --osc-out wants HOST:PORT, got {spec!r}")
    return host or "127.0.0.1", int(port)


def load_model(checkpoint: str | None, random_model: bool = False):
    """DanceModel.load(); before a checkpoint ships, a tiny random model with a clear notice."""
    from model.pipeline import DanceModel  # noqa: PLC0415

    if random_model:
        log.warning("using a tiny RANDOM model (--random-model): the dance is noise, for development only")
        return DanceModel.tiny_random()
    try:
        return DanceModel.load(checkpoint)
    except FileNotFoundError as exc:
        if checkpoint is not None:
            raise SystemExit(f"liveedit serve: {exc}")
        log.warning("NOTICE: no trained checkpoint ships yet (%s). Running a tiny RANDOM model: the "
                    "stream, beats and edits all work, but the dance is not a trained one.", exc)
        return DanceModel.tiny_random()


INSECURE_WARNING = ("WARNING: --host %s without --token (--insecure-no-token): anyone who can reach this "
                    "machine may steer the engine over OSC and WebSocket")


def check_exposure(host: str, token: str | None, insecure: bool) -> str | None:
    """An error line when a non-loopback bind has no token and no explicit --insecure-no-token."""
    from liveedit.protocol import is_loopback  # noqa: PLC0415

    if is_loopback(host) or token or insecure:
        return None
    return (f"liveedit serve: --host {host} exposes control to the network; give --token SECRET "
            "(clients then send it: OSC /auth, WebSocket ?token=) or, on a network you trust, "
            "--insecure-no-token")


def control_limits(rate: float) -> dict[str, float]:
    """--control-rate -> the rate keywords of the OSC and WebSocket servers ({} keeps their defaults)."""
    if not rate:
        return {}
    return {"rate": rate, "burst": 2 * rate, "global_rate": 2 * rate, "global_burst": 4 * rate}


def check_avatar(path: str) -> Path | str:
    """--avatar's file as a Path, or why it cannot be one (the page checks the humanoid itself)."""
    p = Path(path).expanduser()
    if not p.is_file():
        return f"--avatar {path}: no such file"
    with p.open("rb") as f:
        head = f.read(4)
    if head != b"glTF":
        return f"--avatar {path}: not a VRM or binary glTF (.glb) file"
    return p


async def _serve(args) -> int:
    from liveedit.engine import Engine, EngineConfig  # noqa: PLC0415
    from liveedit.protocol import is_loopback  # noqa: PLC0415

    problem = check_exposure(args.host, args.token, args.insecure_no_token)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if not args.control_rate >= 0:  # also NaN
        print(f"liveedit serve: --control-rate must be 0 (the defaults) or more, got {args.control_rate:g}",
              file=sys.stderr)
        return 2
    limits = control_limits(args.control_rate)

    insecure = not args.token and not is_loopback(args.host)
    if insecure:
        log.warning(INSECURE_WARNING, args.host)
    allow_hosts = list(args.allow_host if args.allow_host is not None else args.env_allow_host)
    avatar = check_avatar(args.avatar) if args.avatar else None
    if isinstance(avatar, str):
        print(f"liveedit serve: {avatar}", file=sys.stderr)
        return 2

    if not 0.0 <= args.dynamics <= 2.0:
        print(f"liveedit serve: --dynamics must be 0..2, got {args.dynamics}", file=sys.stderr)
        return 2
    model = load_model(args.checkpoint, args.random_model)
    model.dynamics = args.dynamics

    audio = None
    if args.audio_in.lower() != "none":
        try:
            from liveedit.io.audio import AudioSourceError, open_audio_source  # noqa: PLC0415
        except ImportError as exc:
            log.warning("audio input module unavailable (%s): running without audio", exc)
        else:
            try:
                audio = open_audio_source(args.audio_in)
            except AudioSourceError as exc:
                print(f"liveedit serve: {exc}", file=sys.stderr)
                return 2

    if not (1 <= args.context <= 120 and 1 <= args.hop <= 150 - args.context):
        print(f"liveedit serve: --context must be 1..120 frames and --hop 1..{150 - args.context} "
              f"(got --context {args.context}, --hop {args.hop})", file=sys.stderr)
        return 2
    cfg = EngineConfig(steps=args.steps, strength=args.strength, hop=args.hop, context=args.context, use_aubio=args.aubio,
                       torch_threads=args.threads or None)
    engine = Engine(model, audio, [], cfg, status_line=not args.no_status)
    if insecure:
        engine.warnings.append(INSECURE_WARNING % args.host)
    inputs: list[Any] = []

    def optional(what: str, build):
        try:
            return build()
        except ImportError as exc:
            log.warning("%s unavailable (%s): skipped", what, exc)
        return None

    def ws():
        from liveedit.io.ws import WebSocketServer  # noqa: PLC0415
        return WebSocketServer(engine, args.host, args.port, token=args.token, allow_hosts=allow_hosts,
                               insecure=insecure, avatar=avatar, **limits)

    server = optional("WebSocket server", ws)
    if server is not None:
        engine.add_sink(server)
    if args.osc_port:
        def osc():
            from liveedit.io.osc import OscControlServer  # noqa: PLC0415
            return OscControlServer(engine, args.host, args.osc_port, token=args.token,
                                    reply_port=args.osc_reply_port or None, **limits)
        o = optional("OSC control", osc)
        if o is not None:
            inputs.append(o)
    if args.osc_out:
        host, port = _host_port(args.osc_out)

        def osc_out():
            from liveedit.io.osc import PoseOscSink  # noqa: PLC0415
            return PoseOscSink(host, port)
        s = optional("OSC pose output", osc_out)
        if s is not None:
            engine.add_sink(s)
    if args.vmc:
        def vmc():
            from liveedit.io.vmc import VmcSink  # noqa: PLC0415
            return VmcSink(args.vmc_host, args.vmc_port)
        s = optional("VMC output", vmc)
        if s is not None:
            engine.add_sink(s)
    if args.record:
        def rec():
            from liveedit.io.recorder import Recorder  # noqa: PLC0415
            return Recorder(args.record)
        s = optional("recorder", rec)
        if s is not None:
            engine.add_sink(s)
    if args.link:
        from liveedit.io.link import LinkClock, LinkUnavailable  # noqa: PLC0415
        try:
            engine.add_sink(LinkClock(engine))
        except LinkUnavailable as exc:
            print(f"liveedit serve: {exc}", file=sys.stderr)
            return 2
    if args.midi_in or args.midi_map:
        def midi():
            from liveedit.io.midi import MidiInput, load_midi_map  # noqa: PLC0415
            mmap = load_midi_map(args.midi_map) if args.midi_map else None
            return MidiInput(engine, mmap, port=args.midi_in)
        try:
            m = optional("MIDI input", midi)
        except ValueError as exc:
            print(f"liveedit serve: {exc}", file=sys.stderr)
            return 2
        if m is not None:
            inputs.append(m)
    if not args.no_console and sys.stdin is not None and sys.stdin.isatty():
        def console():
            from liveedit.io.console import ConsoleInput  # noqa: PLC0415
            return ConsoleInput(engine)
        c = optional("console", console)
        if c is not None:
            inputs.append(c)

    # Ctrl-C once: graceful stop (bounded); twice: exit at once (as uvicorn does).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            print("\nliveedit: stopping (Ctrl-C again to force)", file=sys.stderr)
            stop.set()
        else:
            print("\nliveedit: forced exit", file=sys.stderr)
            os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError):
            pass

    try:
        await engine.start()
        for inp in list(inputs):
            try:
                await inp.start()
            except Exception as exc:  # one input failing (port busy, no MIDI port) must not stop the show
                log.error("%s failed to start: %s", getattr(inp, "name", type(inp).__name__), exc)
                inputs.remove(inp)
        if server is not None:
            host, port = server.address
            print(f"liveedit: viewer http://{host}:{port}/  stream ws://{host}:{port}/ws"
                  + (f"  OSC udp://{args.host}:{args.osc_port}" if args.osc_port else ""), file=sys.stderr)
        await stop.wait()
    except OSError as exc:
        print(f"liveedit serve: {exc}", file=sys.stderr)
        return 1
    finally:
        async def shutdown() -> None:
            for inp in inputs:
                try:
                    await asyncio.wait_for(inp.stop(), 2.0)
                except Exception as exc:
                    log.warning("%s did not stop cleanly: %s", type(inp).__name__, exc)
            await engine.stop()
        try:
            await asyncio.wait_for(shutdown(), 8.0)
        except asyncio.TimeoutError:
            log.error("shutdown took longer than 8 s; exiting anyway")
    return 0


def run(args) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    rc = asyncio.run(_serve(args))
    leave_now(rc)
    return rc


def leave_now(rc: int) -> None:
    """End the process once serve has stopped: exit handlers run (the recorder's among them), the
    interpreter's teardown of torch and thousands of modules does not. That teardown took 1.3-3.4 s
    after a Ctrl-C on a busy 2-core machine, past the 2 s a Ctrl-C may take; the engine, its outputs
    and recordings are stopped and flushed before this."""
    import atexit  # noqa: PLC0415

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)   # CPython's; elsewhere exit as usual
    if run_exit_handlers is None:
        return
    run_exit_handlers()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(rc)
