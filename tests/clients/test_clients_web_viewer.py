"""The browser viewer end to end, in headless Chromium (Debian's `chromium`, driven by Playwright).

The page loads from the server, frames arrive, the skeleton moves (its pixels differ over time),
an edit typed into the page reaches the engine and comes back in the stream, the buttons and the
strength slider send their messages, and the page reconnects after the server restarts.
"""
from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from liveedit.client import LiveEditClient

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not shutil.which(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# The 3D canvas scaled down to 160x90 RGBA pixels (WebGL content only, no HTML overlays).
GRAB_PIXELS = """() => {
  const src = document.getElementById('stage');
  const c = document.createElement('canvas'); c.width = 160; c.height = 90;
  const g = c.getContext('2d'); g.drawImage(src, 0, 0, 160, 90);
  return Array.from(g.getImageData(0, 0, 160, 90).data);
}"""


def limb_mask(rgba: list[int]) -> np.ndarray:
    """Pixels in the limb colours (orange left side, blue right side), (90, 160) bool."""
    px = np.asarray(rgba, dtype=np.int32).reshape(90, 160, 4)[..., :3]
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    orange = (r > 150) & (r - b > 70) & (g < r)
    blue = (b > 150) & (b - r > 70)
    return orange | blue


@pytest.fixture
async def browser():
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


async def open_viewer(browser, url: str):
    page = await browser.new_page(viewport={"width": 960, "height": 540})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await page.wait_for_function(
        "window.liveeditViewer && window.liveeditViewer.connection === 'open'"
        " && window.liveeditViewer.framesReceived > 5", timeout=30_000)
    return page, errors


async def test_viewer_shows_the_dance_and_sends_edits(fake_engine, browser):
    page, errors = await open_viewer(browser, fake_engine.http_url)
    assert await page.title() == "liveedit · live dance"
    assert await page.text_content("#conn-text") == "live"
    assert await page.evaluate("window.liveeditViewer.skeleton.parents.length") == 24

    # The skeleton is drawn and moves: its limb pixels change between two moments.
    masks = []
    for _ in range(2):
        masks.append(limb_mask(await page.evaluate(GRAB_PIXELS)))
        await asyncio.sleep(0.4)
    assert masks[0].sum() > 100, "no limb-coloured pixels: the skeleton is not drawn"
    assert (masks[0] ^ masks[1]).sum() > 30, "the skeleton did not move between two screenshots"
    assert await page.text_content("#bpm") == "120.0"

    # An edit typed into the page reaches the engine and shows in the stream (and in the page).
    async with LiveEditClient(fake_engine.url) as watcher:
        await page.fill("#edit-text", "swing arms wider")
        await page.select_option("#edit-duration", "8")
        await page.press("#edit-text", "Enter")
        for _ in range(90):
            frame = await watcher.next_frame()
            if frame.edits:
                break
        assert [e.text for e in frame.edits] == ["swing arms wider"]
    assert ("edit", "swing arms wider", 8.0) in [(c.kind, c.text, c.value) for c in fake_engine.commands]
    await page.wait_for_function("document.querySelector('#edits li .text')?.textContent === 'swing arms wider'")
    await page.wait_for_function("document.querySelector('#reply').textContent.includes('swing arms wider')")
    assert "beats left" in await page.text_content("#edits li .left")

    # Undo and reset buttons, and the strength slider.
    await page.click("#undo")
    await page.wait_for_function("document.querySelector('#edits li.empty') !== null")
    await page.click("#reset")
    await page.eval_on_selector(
        "#strength", "el => { el.value = '3.5'; el.dispatchEvent(new Event('change')); }")
    await page.wait_for_function("document.querySelector('#reply').textContent === 'edit strength 3.5'")
    kinds = [c.kind for c in fake_engine.commands]
    assert kinds[-3:] == ["undo", "reset", "strength"] and fake_engine.commands[-1].value == 3.5
    assert errors == []


async def test_viewer_forward_kinematics_matches_the_engine(fake_engine, browser):
    """Without joint positions in the stream the page poses the skeleton from the rotations."""
    page, errors = await open_viewer(browser, fake_engine.http_url)
    worst = await page.evaluate("""async () => {
      const m = await import('./skeleton.js');
      const f = window.liveeditViewer.lastFrame;
      const fk = m.framePositions(window.liveeditViewer.skeleton, {...f, joints: undefined});
      const given = m.rows(f.joints, 3);
      return Math.max(...fk.flatMap((p, j) => p.map((v, k) => Math.abs(v - given[j][k]))));
    }""")
    assert worst < 1e-3, f"FK in the page is off by {worst} m"
    assert errors == []


async def test_viewer_reconnects_after_the_server_restarts(fake_engine, browser):
    page, errors = await open_viewer(browser, fake_engine.http_url)
    await fake_engine.stop()
    # The pill says the page is offline and when it retries.
    await page.wait_for_function("document.querySelector('#conn-text').textContent.includes('retry in')",
                                 timeout=10_000)
    before = await page.evaluate("window.liveeditViewer.framesReceived")
    await fake_engine.start()  # same port
    await page.wait_for_function(
        f"window.liveeditViewer.connection === 'open' && window.liveeditViewer.framesReceived > {before + 5}",
        timeout=15_000)
    assert errors == []
