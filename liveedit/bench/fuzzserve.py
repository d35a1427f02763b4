"""The fuzz against `liveedit serve` as users run it: server, attacker and viewer in three processes.

The server is `python -m liveedit serve` (the shipped model or the tiny random one, the demo song as
audio, control rate limits lifted with --control-rate so that every message reaches the parser and
the engine); its log is its stderr, written to a file. A viewer process receives the pose stream for
`quiet_s` seconds before the attack and during it; then the attacker process
(`liveedit.bench.fuzzpeers attack`, at a lower CPU priority, as if it were another machine) sends its
seeded datagrams and messages. Reported: the stream at the viewer before and during the attack (fps,
longest and 99th-percentile gap between frames), replies owed and missing, log growth during the
attack, tracebacks and errors in the log, whether the server crashed or stopped answering, and how
long one SIGINT (Ctrl-C) takes to end the process.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from liveedit import protocol as proto
from liveedit.bench.fuzz import server_status, stream_figures

READY_TIMEOUT_S = 300.0   # torch import and model load on a busy machine
STOP_TIMEOUT_S = 15.0     # after this long a stopping server counts as hung and is killed


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peer(*args: str, nice: int = 0, stdout: Any = subprocess.PIPE) -> subprocess.Popen:
    preexec = (lambda: os.nice(nice)) if nice else None
    return subprocess.Popen([sys.executable, "-m", "liveedit.bench.fuzzpeers", *args], stdout=stdout,
                            text=True, preexec_fn=preexec)


def start_server(log_path: Path, port: int, osc_port: int, model: str, audio: str,
                 extra: list[str] | None = None) -> subprocess.Popen:
    """`liveedit serve` with its log (stdout and stderr) going to `log_path`; returns once it streams."""
    cmd = [sys.executable, "-m", "liveedit", "serve", "--no-console", "--no-status", "--audio-in", audio,
           "--port", str(port), "--osc-port", str(osc_port), "--control-rate", "1e9", *(extra or [])]
    if model == "tiny":
        cmd.append("--random-model")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        end = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < end and proc.poll() is None:
            if "liveedit: viewer http://" in log_path.read_text(errors="replace"):
                return proc
            time.sleep(0.2)
        raise RuntimeError("liveedit serve did not come up:\n" + log_path.read_text(errors="replace")[-3000:])
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def stop_server(proc: subprocess.Popen) -> tuple[float | None, int | None]:
    """One SIGINT -> (seconds until the process ended, its exit status); (None, None) if it hung."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None, None
    return round(time.monotonic() - t0, 2), rc


def log_figures(text: str) -> dict[str, int]:
    return {"tracebacks": text.count("Traceback (most recent call last)"),
            "log_errors": sum(" ERROR " in line or " CRITICAL " in line for line in text.splitlines())}


def run_separate(seed: int = 16, n_osc: int = 5000, n_ws: int = 5000, *, model: str = "tiny",
                 audio: str = "demo", seconds: float = 0.0, quiet_s: float = 5.0, attacker_nice: int = 10,
                 server_args: list[str] | None = None, log_path: Path | None = None) -> dict[str, Any]:
    """Run the three processes; -> the figures (see the module doc)."""
    port, osc_port = free_port(), free_port(socket.SOCK_DGRAM)
    tmp = None
    if log_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="liveedit-fuzz-")
        log_path = Path(tmp.name) / "serve.log"
    out: dict[str, Any] = {"seed": seed, "model": model, "audio": audio}
    server = start_server(log_path, port, osc_port, model, audio, server_args)
    viewer = attacker = None
    try:
        viewer = _peer("view", "--url", f"ws://127.0.0.1:{port}/ws")
        time.sleep(quiet_s)
        attacker = _peer("attack", "--port", str(port), "--osc-port", str(osc_port), "--seed", str(seed),
                         "--osc", str(n_osc), "--ws", str(n_ws), "--seconds", str(seconds), nice=attacker_nice)
        first = attacker.stdout.readline()  # type: ignore[union-attr]
        log_start = log_path.stat().st_size
        rest, _ = attacker.communicate(timeout=3600)
        log_end = log_path.stat().st_size
        if first.strip() != "start" or not rest.strip():
            raise RuntimeError(f"the attacker failed (exit {attacker.returncode}): {first}{rest}")
        attack = json.loads(rest.strip().splitlines()[-1])
        out.update(attack)
        time.sleep(0.5)
        viewer.send_signal(signal.SIGTERM)
        times = json.loads(viewer.communicate(timeout=30)[0])["times"]
        t0, t1 = attack["t_start"], attack["t_end"]
        out["seconds"] = round(t1 - t0, 2)
        out["quiet"] = stream_figures(times, times[0] if times else t0, t0)   # from the viewer's first frame
        out.update(stream_figures(times, t0, t1))
        out["log_kb_per_min"] = round((log_end - log_start) / 1024 / max(t1 - t0, 1e-9) * 60, 1)
        out["crashed"] = server.poll() is not None
    finally:
        for peer in (attacker, viewer):
            if peer is not None and peer.poll() is None:
                peer.kill()
        if server.poll() is None:
            out["stop_s"], out["exit_status"] = stop_server(server)
        else:
            out["stop_s"], out["exit_status"] = None, server.returncode
        text = log_path.read_text(errors="replace")
        out.update(log_figures(text))
        if tmp is not None:
            tmp.cleanup()
    return out


EDIT_WORDS = ("swing arms wider", "jump", "lean back", "raise both arms", "turn left")


def run_edit_stream(rate: float = 25.0, seconds: float = 20.0, *, model: str = "shipped",
                    audio: str = "demo") -> dict[str, Any]:
    """Valid `/edit` messages at `rate` a second from one OSC sender for `seconds`, against serve
    with its default rate limits; -> what the dance did meanwhile (frames played and held for want
    of a model window, windows made), from the server's status before and after."""
    port, osc_port = free_port(), free_port(socket.SOCK_DGRAM)
    url = f"ws://127.0.0.1:{port}/ws"
    with tempfile.TemporaryDirectory(prefix="liveedit-edits-") as tmp:
        server = start_server(Path(tmp) / "serve.log", port, osc_port, model, audio, ["--control-rate", "0"])
        try:
            time.sleep(3.0)
            before = asyncio.run(server_status(url)) or {}
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t0, sent = time.monotonic(), 0
            while time.monotonic() - t0 < seconds:
                sock.sendto(proto.encode_osc_message("/edit", [EDIT_WORDS[sent % len(EDIT_WORDS)]]),
                            ("127.0.0.1", osc_port))
                sent += 1
                time.sleep(max(0.0, t0 + sent / rate - time.monotonic()))
            sock.close()
            after = asyncio.run(server_status(url)) or {}
        finally:
            stop_server(server)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("frame", "held_frames", "windows")}
    return {"rate": rate, "seconds": seconds, "model": model, "sent": sent, "frames": delta["frame"],
            "held_frames": delta["held_frames"], "windows": delta["windows"], "window_ms": after.get("window_ms")}
