"""`liveedit serve` as a user runs it: a real process, real sockets, Ctrl-C once and twice."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import websockets

pytestmark = pytest.mark.timeout(90)


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(*extra: str, env_extra: dict | None = None):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    proc = subprocess.Popen([sys.executable, "-m", "liveedit", "serve", "--random-model", "--no-console",
                             "--no-status", "--steps", "2", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    t_end = time.time() + 180  # torch import + model build; slow when the machine is busy
    while time.time() < t_end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"viewer http://([\d.]+):(\d+)/", line)
        if m:
            return proc, m.group(1), int(m.group(2)), lines
    proc.kill()
    raise AssertionError("serve did not come up:\n" + "".join(lines))


def ctrl_c(proc: subprocess.Popen) -> int:
    """One Ctrl-C; the exit status once the process is gone (killed, and the test failed, after 15 s)."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_serve_streams_takes_an_edit_and_stops_on_ctrl_c():
    port, osc_port = free_port(), free_port(socket.SOCK_DGRAM)
    # the HTTP/WS port comes from the environment, the OSC port from a flag
    proc, host, got_port, lines = start_serve("--osc-port", str(osc_port), "--audio-in", "demo",
                                              env_extra={"LIVEEDIT_PORT": str(port)})
    try:
        assert (host, got_port) == ("127.0.0.1", port)

        async def client():
            async with websockets.connect(f"ws://{host}:{port}/ws") as ws:
                frames = []
                while len(frames) < 20:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg.get("type") == "frame":
                        frames.append(msg)
                await ws.send(json.dumps({"type": "edit", "text": "raise both arms", "id": 7}))
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg.get("type") == "reply":
                        return frames, msg

        frames, reply = asyncio.run(client())
        idx = [f["frame"] for f in frames]
        assert idx == list(range(idx[0], idx[0] + len(idx)))
        assert len(frames[0]["rot"]) == 24 * 4
        assert reply["ok"] and reply["id"] == 7
    finally:
        rc = ctrl_c(proc)
    out = proc.stdout.read()
    assert rc == 0, out
    assert "stopping" in out


def test_second_ctrl_c_forces_exit():
    proc, *_ = start_serve("--osc-port", str(free_port(socket.SOCK_DGRAM)), "--audio-in", "none",
                           env_extra={"LIVEEDIT_PORT": str(free_port())})
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(15)
    assert rc in (0, 130)  # 130 when the second press arrived before the graceful stop finished


def test_bad_environment_value_is_a_clear_error():
    env = dict(os.environ, LIVEEDIT_PORT="eighty")
    r = subprocess.run([sys.executable, "-m", "liveedit", "serve", "--help"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode != 0
    assert "LIVEEDIT_PORT" in (r.stderr + r.stdout)


def test_osc_replies_go_to_the_reply_port_when_one_is_set():
    """TouchDesigner/Max send from a port they do not listen on: --osc-reply-port redirects replies."""
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    osc_port, reply_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    proc, host, *_ = start_serve("--osc-port", str(osc_port), "--osc-reply-port", str(reply_port),
                                 "--audio-in", "none", env_extra={"LIVEEDIT_PORT": str(free_port())})
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        listener.bind(("127.0.0.1", reply_port))
        listener.settimeout(10)
        sender.settimeout(0.5)
        sender.sendto(OscMessageBuilder("/status").build().dgram, (host, osc_port))
        reply = OscMessage(listener.recv(65536))
        assert reply.address == "/liveedit/reply" and reply.params[0] == "status"
        with pytest.raises(socket.timeout):  # nothing comes back to the sending port
            sender.recv(65536)
    finally:
        listener.close()
        sender.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(15)


def test_ctrl_c_stops_serve_after_malformed_osc():
    """The 20-byte bundle with a negative element size once hung the whole server (SIGINT ignored):
    a real `serve` process gets it and a tag flood, still answers /status, and stops on one Ctrl-C."""
    import struct

    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    osc_port = free_port(socket.SOCK_DGRAM)
    proc, host, *_ = start_serve("--osc-port", str(osc_port), "--audio-in", "none",
                                 env_extra={"LIVEEDIT_PORT": str(free_port())})
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        peer.settimeout(10)
        peer.sendto(b"#bundle\0" + b"\0" * 7 + b"\1" + struct.pack(">i", -4), (host, osc_port))
        for _ in range(10):
            peer.sendto(b"/status\0," + b"x" * 4000 + b"\0\0\0\0", (host, osc_port))
        peer.sendto(OscMessageBuilder("/status").build().dgram, (host, osc_port))
        while True:  # the refusals' error replies first, then the answer to /status
            reply = OscMessage(peer.recv(65536))
            if reply.params[0] == "status":
                break
        assert reply.params[1] == 1
    finally:
        peer.close()
        rc = ctrl_c(proc)
    assert rc == 0, proc.stdout.read()[-2000:]
