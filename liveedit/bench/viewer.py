"""`liveedit bench viewer`: the browser viewer's avatar: page load, frames drawn a second, foot sliding.

Starts `liveedit serve` on the demo song (the shipped model unless --random-model) and opens the
viewer in Debian's `chromium`, headless, driven by Playwright (pip install playwright; the browser is
never downloaded). On this machine, printed with the goals of the avatar work next to them:
  * load:  ms from navigation to the default avatar on stage and to the first pose frame, and the
           bytes the page fetched (the avatar asset on its own);
  * fps:   frames drawn a second while poses stream (median of one-second counts once the adaptive
           resolution has settled, and the pixel ratio it settled at), then the same at
           ?quality=high (full resolution and multisampling);
  * feet:  foot sliding on planted frames, read from the page's bone world positions: the default
           avatar (SMPL proportions) and a VRM 0.x built by liveedit/avatar.py with other proportions
           and dropped onto the page. A foot joint is planted in a frame pair when the stream's
           contact flag says so in both frames (or, for streams without contacts, when the SMPL joint
           is within 3 cm of its lowest height); its sliding is its horizontal travel over the pair.
           The stream's own joints are measured on the same frames: an avatar cannot slide less
           than the dance it is given.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

GOALS = {"load_ms": 2000.0, "fps": 60.0, "slide_cm": 1.0, "asset_mb": 5.0}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of frame counting per setting")
    p.add_argument("--feet-seconds", type=float, default=20.0, help="seconds of stream per avatar for foot sliding")
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one)")
    p.add_argument("--random-model", action="store_true", help="use the tiny random model (its feet flail)")
    p.add_argument("--steps", type=int, default=10, help="sampler steps per window")
    p.add_argument("--audio-in", default="demo", help="what liveedit serve dances to (as its --audio-in)")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="also save the page at ?quality=high as it looks after the measurements")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def planted_sliding(source: np.ndarray, avatar: np.ndarray, contacts: np.ndarray | None,
                    frames: np.ndarray) -> dict[str, float]:
    """Foot sliding on planted frames, cm per frame (see the module docstring).

    source, avatar: (T, 4, 3) world positions of the SMPL foot joints and the avatar's foot bones;
    contacts: (T, 4) or None; frames: (T,) stream frame numbers (only consecutive ones are paired).
    """
    consecutive = np.diff(frames) == 1
    if contacts is not None:
        planted = (contacts[1:] > 0.5) & (contacts[:-1] > 0.5)
    else:
        floor = source[..., 1].min(axis=0)
        low = source[..., 1] < floor + 0.03
        planted = low[1:] & low[:-1]
    planted &= consecutive[:, None]

    def slide(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.diff(x[..., [0, 2]], axis=0), axis=-1)[planted] * 100.0

    s_av, s_src = slide(avatar), slide(source)
    if not len(s_av):
        return {"planted_pairs": 0}
    return {"planted_pairs": len(s_av), "avatar_median_cm": float(np.median(s_av)),
            "avatar_mean_cm": float(np.mean(s_av)), "stream_median_cm": float(np.median(s_src)),
            "stream_mean_cm": float(np.mean(s_src))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


async def _track(page, seconds: float) -> dict[str, float]:
    start = await page.evaluate("window.liveeditViewer.lastFrame.frame")
    await asyncio.sleep(seconds)
    rows = [r for r in await page.evaluate("window.liveeditViewer.footTrack") if r["frame"] > start]
    if len(rows) < 2:
        return {"planted_pairs": 0}
    source = np.array([r["source"] for r in rows], dtype=float)
    avatar = np.array([r["avatar"] for r in rows], dtype=float)
    frames = np.array([r["frame"] for r in rows])
    contacts = np.array([r["contacts"] for r in rows], dtype=float) if all(r["contacts"] for r in rows) else None
    return planted_sliding(source, avatar, contacts, frames)


async def _fps(page, seconds: float) -> dict[str, float]:
    await asyncio.sleep(3.0)  # the adaptive resolution settles
    counts = []
    for _ in range(max(1, int(seconds))):
        await asyncio.sleep(1.0)
        counts.append(await page.evaluate("window.liveeditViewer.renderFps()"))
    return {"fps_median": float(statistics.median(counts)), "fps_min": float(min(counts)),
            "pixel_ratio": round(await page.evaluate("window.liveeditViewer.pixelRatio"), 2)}


async def _drop(page, path: Path) -> None:
    b64 = base64.b64encode(path.read_bytes()).decode()
    await page.evaluate("""([name, b64]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, cancelable: true }));
    }""", [path.name, b64])


async def _measure(url: str, args, tmp: Path) -> dict:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    from liveedit.avatar import DEFAULT_PATH, Proportions, write_vrm  # noqa: PLC0415

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("liveedit bench viewer: Debian's chromium is not installed (apt-get install chromium)")
    out: dict = {"avatar_asset_kb": round(DEFAULT_PATH.stat().st_size / 1024, 1)}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 960, "height": 540})
            await page.goto(url)
            await page.wait_for_function("window.liveeditViewer.avatar.status === 'ready'"
                                         " && window.liveeditViewer.framesReceived > 0", timeout=120_000)
            v = await page.evaluate("""() => ({
              avatar: window.liveeditViewer.avatar.readyAt, frame: window.liveeditViewer.firstFrameAt,
              dom: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
              bytes: performance.getEntriesByType('resource').reduce((n, e) => n + e.encodedBodySize, 0)
                + performance.getEntriesByType('navigation')[0].encodedBodySize,
              software: window.liveeditViewer.softwareGl })""")
            out.update({"load_dom_ms": round(v["dom"]), "load_avatar_ms": round(v["avatar"]),
                        "first_frame_ms": round(v["frame"]), "page_kb": round(v["bytes"] / 1024, 1),
                        "software_gl": v["software"]})
            out["fps_adaptive"] = await _fps(page, args.seconds)
            out["feet_default"] = await _track(page, args.feet_seconds)
            user = write_vrm(tmp / "tall_legs.vrm", Proportions(height=0.9, legs=1.2, arms=0.85), vrm0=True)
            await _drop(page, user)
            await page.wait_for_function("window.liveeditViewer.avatar.name === 'tall_legs.vrm'", timeout=60_000)
            out["feet_user_vrm0"] = await _track(page, args.feet_seconds)
            await page.close()
            page = await browser.new_page(viewport={"width": 960, "height": 540})
            await page.goto(url + "?quality=high")
            await page.wait_for_function("window.liveeditViewer.avatar.status === 'ready'", timeout=120_000)
            out["fps_high_quality"] = await _fps(page, args.seconds)
            if args.screenshot:
                await page.screenshot(path=args.screenshot)
        finally:
            await browser.close()
    return out


async def _run(args) -> dict:
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="liveedit-bench-viewer-"))
    cmd = [sys.executable, "-m", "liveedit", "serve", "--audio-in", args.audio_in, "--no-console", "--no-status",
           "--host", "127.0.0.1", "--port", str(port), "--osc-port", "0", "--steps", str(args.steps)]
    if args.random_model:
        cmd.append("--random-model")
    if args.checkpoint:
        cmd += ["--checkpoint", args.checkpoint]
    log = open(tmp / "serve.log", "wb")
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=log, stderr=asyncio.subprocess.STDOUT,
                                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 300
        while not await asyncio.to_thread(_http_ok, f"http://127.0.0.1:{port}/"):
            if proc.returncode is not None or time.monotonic() > deadline:
                raise SystemExit("liveedit serve did not come up:\n" + (tmp / "serve.log").read_text()[-2000:])
            await asyncio.sleep(0.25)
        return await _measure(f"http://127.0.0.1:{port}/", args, tmp)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _print(r: dict) -> None:
    def feet(d: dict) -> str:
        if not d.get("planted_pairs"):
            return "no planted frames"
        return (f"{d['avatar_median_cm']:.2f} cm median ({d['avatar_mean_cm']:.2f} mean) over {d['planted_pairs']} "
                f"planted frame pairs; the stream's joints {d['stream_median_cm']:.2f} ({d['stream_mean_cm']:.2f})")

    print(f"software WebGL: {r['software_gl']}")
    print(f"load      DOM {r['load_dom_ms']} ms, avatar on stage {r['load_avatar_ms']} ms, first pose "
          f"{r['first_frame_ms']} ms (goal < {GOALS['load_ms']:.0f} ms); page {r['page_kb']:.0f} KiB, "
          f"avatar {r['avatar_asset_kb']:.0f} KiB (goal < {GOALS['asset_mb']:.0f} MB)")
    for key, what in (("fps_adaptive", "adaptive"), ("fps_high_quality", "quality=high")):
        f = r[key]
        print(f"fps       {what}: median {f['fps_median']:.0f}, min {f['fps_min']:.0f} at pixel ratio "
              f"{f['pixel_ratio']} (goal {GOALS['fps']:.0f})")
    print(f"feet      default avatar: {feet(r['feet_default'])}")
    print(f"feet      VRM 0.x, legs x1.2, arms x0.85, height x0.9: {feet(r['feet_user_vrm0'])} "
          f"(goal <= {GOALS['slide_cm']:.0f} cm median)")


def run(args) -> int:
    result = asyncio.run(_run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0
