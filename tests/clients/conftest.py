"""A stand-in engine for the client tests: the real HTTP/WebSocket server (liveedit.io.ws, so the
wire format is docs/protocol.md's) fed with a synthetic, beat-locked pose stream, and a simple edit
stack answering commands.

The end-to-end browser test also runs the real engine (`liveedit serve`); this stand-in keeps the
other tests quick and lets them stop and restart the server to test reconnects.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import urllib.request

import numpy as np
import pytest

from liveedit.core.messages import ActiveEdit, Command, PoseFrame, Reply
from liveedit.io.ws import WebSocketServer
from model.rotations import np_axis_angle_to_matrix
from model.skeleton import (
    NUM_JOINTS, STANDING_PELVIS_HEIGHT, forward_kinematics_np,
)

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


class FakeEngine:
    """The real WebSocket server (liveedit.io.ws) in front of a stand-in engine that streams
    `synthetic_pose` and keeps an edit stack. `commands` records every command received, in order."""

    def __init__(self, bpm: float = 120.0, send_joints: bool = True) -> None:
        self.host, self.port = "127.0.0.1", 0
        self.fps = 30.0
        self.bpm = bpm
        self.send_joints = send_joints
        self.commands: list[Command] = []
        self.edits: list[ActiveEdit] = []
        self.strength = 2.0
        self.beat = 0.0
        self.server: WebSocketServer | None = None
        self._pump: asyncio.Task | None = None
        self._next_id = 1

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        """Start (or restart, on the same port) the server and the frame stream from frame 0."""
        self.server = WebSocketServer(self, self.host, self.port or free_port())
        await self.server.start()
        self.port = self.server.address[1]
        self._pump = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def handle(self, cmd: Command) -> Reply:
        self.commands.append(cmd)
        if cmd.kind == "edit":
            until = None if cmd.value is None else self.beat + float(cmd.value)
            edit = ActiveEdit(self._next_id, cmd.text, until)
            self._next_id += 1
            self.edits.append(edit)
            return Reply(True, f"edit {edit.id} '{edit.text}'", {"id": edit.id, "text": edit.text, "until_beat": until})
        if cmd.kind == "undo":
            if not self.edits:
                return Reply(False, "nothing to undo")
            gone = self.edits.pop()
            return Reply(True, f"undid edit {gone.id} '{gone.text}'", {"id": gone.id, "depth": len(self.edits)})
        if cmd.kind == "reset":
            n = len(self.edits)
            self.edits.clear()
            return Reply(True, f"removed {n} edit(s)", {"removed": n, "depth": 0})
        if cmd.kind == "strength":
            self.strength = float(cmd.value)
            return Reply(True, f"edit strength {self.strength:g}", {"strength": self.strength})
        if cmd.kind == "tempo":
            self.bpm = float(cmd.value)
            return Reply(True, f"tempo {self.bpm:.1f} BPM", {"bpm": self.bpm})
        if cmd.kind == "tap":
            return Reply(True, f"tap ({self.bpm:.1f} BPM)", {"bpm": self.bpm})
        return Reply(True, "status", {"bpm": self.bpm, "strength": self.strength,
                                      "edits": [e.text for e in self.edits]})

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        n = 0
        while True:
            t = n / self.fps
            self.beat = t * self.bpm / 60.0
            self.edits[:] = [e for e in self.edits if e.until_beat is None or e.until_beat > self.beat]
            quats, root, joints = synthetic_pose(t, self.bpm, 1.0 + 0.8 * len(self.edits))
            self.server.offer(PoseFrame(
                time=t, frame=n, bpm=self.bpm, beat_phase=self.beat % 1.0, beat=self.beat, root=root,
                rotations=quats, joints=joints if self.send_joints else None, edits=tuple(self.edits)))
            n += 1
            await asyncio.sleep(max(0.0, t0 + n / self.fps - loop.time()))


@pytest.fixture
async def fake_engine():
    engine = FakeEngine()
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


# ---------------------------------------------------------------- headless Chromium (web viewer tests)

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# The 3D canvas scaled to 320x180 RGBA pixels (WebGL content only, no HTML overlays).
_GRAB_PIXELS = """() => {
  const src = document.getElementById('stage');
  const c = document.createElement('canvas'); c.width = 320; c.height = 180;
  const g = c.getContext('2d'); g.drawImage(src, 0, 0, 320, 180);
  return Array.from(g.getImageData(0, 0, 320, 180).data);
}"""


@pytest.fixture
async def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser); skips when missing."""
    playwright_api = pytest.importorskip("playwright.async_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def open_viewer(browser):
    """`await open_viewer(url)` -> (page, page errors) once the page is live and has frames."""

    async def _open(url: str, width: int = 960, height: int = 540):
        page = await browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(url)
        await page.wait_for_function(
            "window.liveeditViewer && window.liveeditViewer.connection === 'open'"
            " && window.liveeditViewer.framesReceived > 5", timeout=30_000)
        return page, errors

    return _open


async def limb_mask(page) -> np.ndarray:
    """Pixels of the 3D view in the stick figure's right-limb blue (the avatar's top is that blue
    too), (180, 320) bool.

    Only the blue: the beat ring on the floor flashes in an orange close to the left limbs', and
    nothing else in the scene is that blue, so these pixels change only when the dancer moves.
    """
    px = np.asarray(await page.evaluate(_GRAB_PIXELS), dtype=np.int32).reshape(180, 320, 4)[..., :3]
    r, b = px[..., 0], px[..., 2]
    return (b > 150) & (b - r > 70)


@pytest.fixture
def limb_pixels():
    """`await limb_pixels(page)`: see `limb_mask`."""
    return limb_mask


# ---------------------------------------------------------------- the real engine (`liveedit serve`)

def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.asynccontextmanager
async def _serve(log_path, *extra: str):
    """`liveedit serve` on the bundled demo song with the tiny random model and `extra` flags, in a
    subprocess on free ports; yields its HTTP/WebSocket port once the viewer answers."""
    port = free_port()
    log = open(log_path, "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "liveedit", "serve", "--audio-in", "demo", "--random-model", "--no-console",
        "--no-status", "--host", "127.0.0.1", "--port", str(port), "--osc-port", "0", "--steps", "2", "--threads", "1",
        *extra, stdout=log, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for _ in range(720):  # the engine imports torch and builds the model first (slow on a loaded machine)
            if proc.returncode is not None or await asyncio.to_thread(http_ok, f"http://127.0.0.1:{port}/"):
                break
            await asyncio.sleep(0.25)
        if proc.returncode is not None or not http_ok(f"http://127.0.0.1:{port}/"):
            pytest.fail("liveedit serve did not come up:\n" + open(log_path, errors="replace").read()[-3000:])
        yield port
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # the engine's graceful shutdown
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


@pytest.fixture
def liveedit_serve():
    """`async with liveedit_serve(log_path, *flags) as port:` the real engine (see `_serve`)."""
    return _serve
