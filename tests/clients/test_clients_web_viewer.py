"""The browser viewer in headless Chromium against the stand-in engine (conftest.py): the page's
forward kinematics matches the engine's, and the page reconnects after the server restarts; and
the page's built-in skeleton matches the model's.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from model.skeleton import JOINT_NAMES, PARENTS, REST_OFFSETS, STANDING_PELVIS_HEIGHT


async def test_viewer_forward_kinematics_matches_the_engine(fake_engine, open_viewer):
    """Without joint positions in the stream the page poses the skeleton from the rotations."""
    page, errors = await open_viewer(fake_engine.http_url)
    worst = await page.evaluate("""async () => {
      const m = await import('./skeleton.js');
      const f = window.liveeditViewer.lastFrame;
      const fk = m.framePositions(window.liveeditViewer.skeleton, {...f, joints: undefined});
      const given = m.rows(f.joints, 3);
      return Math.max(...fk.flatMap((p, j) => p.map((v, k) => Math.abs(v - given[j][k]))));
    }""")
    assert worst < 1e-3, f"FK in the page is off by {worst} m"
    assert errors == []


async def test_viewer_reconnects_after_the_server_restarts(fake_engine, open_viewer):
    page, errors = await open_viewer(fake_engine.http_url)
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


def test_viewer_default_skeleton_matches_the_model():
    """skeleton.js's built-in skeleton (used until the hello arrives) is model/skeleton.py's."""
    js = (Path(__file__).resolve().parents[2] / "liveedit/web/skeleton.js").read_text()

    def array(name: str):
        body = re.search(name + r":\s*(\[.*?\]),\n\s*\w+:|" + name + r":\s*(\[.*?\]),\n\}", js, re.S)
        text = body.group(1) or body.group(2)
        return json.loads(re.sub(r",\s*\]", "]", text))

    assert tuple(array("names")) == JOINT_NAMES
    assert tuple(array("parents")) == PARENTS
    assert np.allclose(array("offsets"), REST_OFFSETS, atol=1e-6)
    height = float(re.search(r"STANDING_PELVIS_HEIGHT = ([0-9.]+)", js).group(1))
    assert height == pytest.approx(STANDING_PELVIS_HEIGHT, abs=1e-4)
