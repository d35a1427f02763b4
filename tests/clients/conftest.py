"""A small stand-in engine for the client tests: the web viewer's files over HTTP and a synthetic
pose stream over WebSocket at /ws, speaking the wire format of docs/protocol.md.

The real engine (`liveedit serve`) is used by the end-to-end browser test; this stand-in keeps the
client library tests quick and lets them stop and restart the server to test reconnects.
"""
from __future__ import annotations

import asyncio
import json
import mimetypes
import socket
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from model.rotations import np_axis_angle_to_matrix
from model.skeleton import (
    JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS, STANDING_PELVIS_HEIGHT, forward_kinematics_np,
)

WEB_DIR = Path(__file__).resolve().parents[2] / "liveedit" / "web"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) quaternion (x, y, z, w)."""
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = np.where(angle > 1e-9, aa / np.maximum(angle, 1e-9), 0.0)
    return np.concatenate([axis * np.sin(angle / 2), np.cos(angle / 2)], axis=-1)


def synthetic_pose(t: float, bpm: float, arm_gain: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A simple beat-locked groove: (rotations (24, 4) xyzw, root (3,), joints (24, 3))."""
    w = 2 * np.pi * bpm / 60.0  # one cycle per beat
    aa = np.zeros((NUM_JOINTS, 3))
    aa[0] = [0.0, 0.35 * np.sin(w * t / 4), 0.0]                        # pelvis sways round
    aa[1] = [-0.3 * np.sin(w * t / 2), 0, 0]; aa[2] = [0.3 * np.sin(w * t / 2), 0, 0]
    aa[4] = [0.5 * max(0.0, np.sin(w * t / 2)), 0, 0]; aa[5] = [0.5 * max(0.0, -np.sin(w * t / 2)), 0, 0]
    aa[16] = [0, 0, -1.1 + arm_gain * 0.5 * np.sin(w * t)]               # arms pump on the beat
    aa[17] = [0, 0, 1.1 - arm_gain * 0.5 * np.sin(w * t)]
    aa[18] = [0, -0.8 * arm_gain * (1 + np.sin(w * t)) / 2, 0]
    aa[19] = [0, 0.8 * arm_gain * (1 + np.sin(w * t)) / 2, 0]
    aa[15] = [0.2 * np.sin(w * t), 0, 0]
    root = np.array([0.25 * np.sin(w * t / 8), STANDING_PELVIS_HEIGHT - 0.04 * (1 + np.cos(w * t)), 0.0])
    quats = axis_angle_to_quat(aa)
    joints = forward_kinematics_np(np_axis_angle_to_matrix(aa.astype(np.float32)), root.astype(np.float32))
    return quats, root, joints


@dataclass
class FakeEngine:
    """The stand-in engine. `commands` records every control message received, in order."""

    host: str = "127.0.0.1"
    port: int = 0
    fps: float = 30.0
    bpm: float = 120.0
    send_joints: bool = True
    commands: list[dict] = field(default_factory=list)
    edits: list[dict] = field(default_factory=list)
    strength: float = 2.0
    _server: object = None
    _next_id: int = 1

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        if not self.port:
            self.port = free_port()
        self._server = await serve(self._handler, self.host, self.port, process_request=self._http)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] == "/ws":
            return None  # WebSocket handshake
        rel = request.path.split("?")[0].lstrip("/") or "index.html"
        path = (WEB_DIR / rel).resolve()
        if WEB_DIR not in path.parents or not path.is_file():
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            ctype = "text/javascript"
        body = path.read_bytes()
        headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return Response(200, "OK", headers, body)

    def _reply(self, ok: bool, message: str, **extra) -> str:
        return json.dumps({"type": "reply", "ok": ok, "message": message, **extra})

    def _handle(self, msg: dict, beat: float) -> str:
        self.commands.append(msg)
        kind = msg.get("type")
        if kind == "edit":
            text = str(msg.get("text", "")).strip()
            if not text:
                return self._reply(False, "edit needs a text")
            dur = msg.get("duration")
            edit = {"id": self._next_id, "text": text, "until_beat": None if dur is None else beat + float(dur)}
            self._next_id += 1
            self.edits.append(edit)
            return self._reply(True, f"edit {edit['id']}: {text}", id=edit["id"])
        if kind == "undo":
            if not self.edits:
                return self._reply(False, "nothing to undo")
            return self._reply(True, f"undid: {self.edits.pop()['text']}")
        if kind == "reset":
            self.edits.clear()
            return self._reply(True, "reset")
        if kind == "strength":
            self.strength = float(msg["value"])
            return self._reply(True, f"strength {self.strength:g}", strength=self.strength)
        if kind == "tempo":
            self.bpm = float(msg["value"])
            return self._reply(True, f"tempo {self.bpm:g}")
        if kind == "tap":
            return self._reply(True, "tap")
        if kind == "status":
            return self._reply(True, "ok", bpm=self.bpm, strength=self.strength, edits=self.edits)
        return self._reply(False, f"unknown message type {kind!r}")

    async def _handler(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps({
            "type": "hello", "version": 1, "fps": self.fps, "joint_names": list(JOINT_NAMES),
            "parents": list(PARENTS), "rest_offsets": REST_OFFSETS.round(6).tolist(),
        }))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        state = {"beat": 0.0}

        async def receive() -> None:
            async for raw in ws:
                await ws.send(self._handle(json.loads(raw), state["beat"]))

        recv_task = asyncio.create_task(receive())
        try:
            n = 0
            while not recv_task.done():
                t = n / self.fps
                beat = t * self.bpm / 60.0
                state["beat"] = beat
                self.edits[:] = [e for e in self.edits if e["until_beat"] is None or e["until_beat"] > beat]
                quats, root, joints = synthetic_pose(t, self.bpm, 1.0 + 0.8 * len(self.edits))
                frame = {
                    "type": "frame", "time": round(t, 4), "frame": n, "bpm": self.bpm,
                    "beat_phase": beat % 1.0, "beat": beat, "root": root.round(5).tolist(),
                    "rotations": quats.round(5).tolist(), "edits": list(self.edits),
                }
                if self.send_joints:
                    frame["joints"] = joints.round(5).tolist()
                await ws.send(json.dumps(frame))
                n += 1
                await asyncio.sleep(max(0.0, t0 + n / self.fps - loop.time()))
        except Exception:  # noqa: BLE001  - the peer went away; end this connection quietly
            pass
        finally:
            recv_task.cancel()


@pytest.fixture
async def fake_engine():
    engine = FakeEngine()
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
