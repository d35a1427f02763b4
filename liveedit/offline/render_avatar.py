"""Video frames of the avatar (`liveedit render --style avatar`), drawn by the viewer's own code.

Debian's `chromium`, headless and driven by Playwright, opens liveedit/web/render.html; its files
(and the avatar) are handed to it from disk by request interception, so no server or port is
involved. Each frame the page poses the avatar (avatar.js, the viewer's retargeting), renders the
scene with WebGL and returns a JPEG, which ffmpeg reads as an image pipe.
"""
from __future__ import annotations

import base64
import mimetypes
import shutil
from pathlib import Path

import numpy as np

from liveedit.offline.errors import OfflineError
from model import rotations as rot
from model.skeleton import NUM_JOINTS

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
ORIGIN = "http://liveedit.render"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def motion_pose(motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 151) motion -> local joint rotations (T, 24, 4) as x, y, z, w, and the pelvis (T, 3)."""
    motion = np.asarray(motion, np.float32)
    T = len(motion)
    quats = rot.np_matrix_to_quaternion(rot.np_rot6d_to_matrix(motion[:, 7:].reshape(T, NUM_JOINTS, 6)))
    quats = quats / np.linalg.norm(quats, axis=-1, keepdims=True)
    return quats.astype(np.float64), motion[:, 4:7].astype(np.float64)


class AvatarFrames:
    """The avatar dancing `motion`; `draw(t)` returns frame t as JPEG bytes. Close it after use."""

    ffmpeg_input = ["-f", "image2pipe", "-c:v", "mjpeg"]

    def __init__(self, motion: np.ndarray, fps: float, beat_times: np.ndarray, size: int,
                 targets: np.ndarray, avatar: str | Path | None = None) -> None:
        try:
            from playwright.sync_api import sync_playwright  # noqa: PLC0415
        except ImportError as exc:
            raise OfflineError("--style avatar needs Playwright (pip install playwright) and Debian's "
                               "chromium; --style stick needs neither") from exc
        chromium = shutil.which("chromium")
        if chromium is None:
            raise OfflineError("--style avatar needs Debian's chromium (apt-get install chromium); "
                               "--style stick does not")
        self.quats, self.root = motion_pose(motion)
        self.fps, self.size = fps, size
        self.beats = np.asarray(beat_times, np.float64)
        self.targets = targets
        self.avatar = Path(avatar) if avatar is not None else WEB_ROOT / "avatars" / "default.vrm"
        if not self.avatar.is_file():
            raise OfflineError(f"--avatar {avatar}: no such file")
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            self.page = self._browser.new_page(viewport={"width": size, "height": size})
            self.page.route(ORIGIN + "/**", self._serve)
            self.page.goto(f"{ORIGIN}/render.html?size={size}")
            self.page.wait_for_function("window.liveeditRenderReady === true", timeout=60_000)
            try:
                self.kind = self.page.evaluate("([u, n]) => window.liveeditRender.init(u, n)",
                                               ["avatar/user", self.avatar.name])
            except Exception as exc:  # the page's own message: not humanoid, missing bones, scale
                message = str(exc).split("Error: ")[-1].splitlines()[0]
                raise OfflineError(f"cannot render with {self.avatar.name}: {message}") from None
        except BaseException:
            self.close()
            raise

    def _serve(self, route) -> None:
        path = route.request.url[len(ORIGIN) + 1:].split("?", 1)[0]
        if path == "avatar/user":
            route.fulfill(body=self.avatar.read_bytes(), content_type="application/octet-stream")
            return
        target = (WEB_ROOT / path).resolve()
        if not target.is_relative_to(WEB_ROOT) or not target.is_file():
            route.fulfill(status=404, body="not found")
            return
        ctype = "text/javascript" if target.suffix == ".js" else mimetypes.guess_type(target.name)[0]
        route.fulfill(body=target.read_bytes(), content_type=ctype or "application/octet-stream")

    def draw(self, t: int) -> bytes:
        now = t / self.fps
        past = self.beats[self.beats <= now + 0.5 / self.fps]
        since = max(0.0, now - past[-1]) if len(past) else np.inf
        near = self.beats[np.abs(self.beats - now) <= 2.0] - now
        url = self.page.evaluate("f => window.liveeditRender.frame(f)", {
            "rot": self.quats[t].tolist(), "root": self.root[t].tolist(),
            "target": [float(self.targets[t, 0]), float(self.targets[t, 2])],
            "flash": float(np.clip(1.0 - since / 0.18, 0.0, 1.0)), "t": now, "beat": len(past),
            "near": near.tolist(), "dt": 1.0 / self.fps})
        return base64.b64decode(url.split(",", 1)[1])

    def close(self) -> None:
        browser, self._browser = getattr(self, "_browser", None), None
        if browser is not None:
            browser.close()
        pw, self._pw = getattr(self, "_pw", None), None
        if pw is not None:
            pw.stop()
