"""The browser viewer end to end against the real engine, in headless Chromium (Debian's `chromium`
driven by Playwright): `liveedit serve` with the tiny random model runs in a subprocess on free ports;
the page loads, frames arrive, the dancer moves (its pixels differ over time: the avatar's blue top,
or the stick figure's right limbs, the only blue in the scene), an edit typed into
the page reaches the engine and comes back in the stream, and the buttons and the strength slider work.
"""
from __future__ import annotations

import asyncio

import pytest

from liveedit.client import LiveEditClient


@pytest.fixture
async def live_server(tmp_path, liveedit_serve):
    """`liveedit serve` on the bundled demo song with the tiny random model; yields its port."""
    async with liveedit_serve(tmp_path / "serve.log") as port:
        yield port


async def test_viewer_with_the_live_engine(live_server, open_viewer, limb_pixels):
    url = f"ws://127.0.0.1:{live_server}/ws"
    page, errors = await open_viewer(f"http://127.0.0.1:{live_server}/")
    assert await page.title() == "liveedit · live dance"
    assert await page.text_content("#conn-text") == "live"
    assert await page.evaluate("window.liveeditViewer.skeleton.parents.length") == 24

    # The dancer (the avatar, or the stick figure until it loads) is drawn and moves: its blue pixels
    # change between two moments.
    masks = []
    for _ in range(3):
        masks.append(await limb_pixels(page))
        await asyncio.sleep(0.4)
    drawn = [int(m.sum()) for m in masks]
    changed = max(int((a ^ b).sum()) for a, b in zip(masks, masks[1:]))
    # An empty scene has no pixel of that blue at all; a drawn dancer has hundreds.
    assert max(drawn) > 40, f"no pixels of the dancer's blue ({drawn}): the dancer is not drawn"
    assert changed > 30, f"the dancer did not move between screenshots ({changed} pixels changed)"
    assert float(await page.text_content("#bpm")) > 0

    # An edit typed into the page reaches the engine and shows in the stream (and in the page).
    async with LiveEditClient(url) as watcher:
        await page.fill("#edit-text", "swing arms wider")
        await page.select_option("#edit-duration", "8")
        await page.press("#edit-text", "Enter")
        for _ in range(90):
            frame = await watcher.next_frame()
            if frame.edits:
                break
        assert [e.text for e in frame.edits] == ["swing arms wider"]
        assert frame.edits[0].until_beat == pytest.approx(frame.beat + 8, abs=1.5)
    await page.wait_for_function("document.querySelector('#edits li .text')?.textContent === 'swing arms wider'")
    await page.wait_for_function("document.querySelector('#reply').textContent.includes('swing arms wider')")
    assert "beats left" in await page.text_content("#edits li .left")

    # Undo and reset buttons, and the strength slider, as the engine reports them.
    await page.click("#undo")
    await page.wait_for_function("document.querySelector('#edits li.empty') !== null")
    await page.click("#reset")
    await page.wait_for_function("document.querySelector('#reply').textContent.includes('removed 0 edit')")
    await page.eval_on_selector(
        "#strength", "el => { el.value = '3.5'; el.dispatchEvent(new Event('change')); }")
    await page.wait_for_function("document.querySelector('#reply').textContent === 'edit strength 3.5'")
    async with LiveEditClient(url) as c:
        status = await c.status()
    assert status["data"]["strength"] == 3.5 and status["data"]["edits"] == []

    # Tap tempo from the page, then the auto button hands the tempo back to beat tracking.
    await page.click("#tap")
    await asyncio.sleep(0.5)
    await page.click("#tap")
    await page.wait_for_function("document.querySelector('#reply').textContent.startsWith('tap (')")
    async with LiveEditClient(url) as c:
        assert (await c.status())["data"]["beat_source"] == "tap"
    await page.click("#tempo-auto")
    await page.wait_for_function("document.querySelector('#reply').textContent.includes('manual tempo released')")
    async with LiveEditClient(url) as c:
        assert (await c.status())["data"]["tempo_manual"] is False
    assert errors == []
