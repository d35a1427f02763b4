"""A seeded fuzz run against a real engine with its OSC and WebSocket servers on 127.0.0.1."""
from __future__ import annotations

import pytest

from liveedit.bench.fuzz import osc_datagrams, run_fuzz, ws_messages

pytestmark = pytest.mark.timeout(120)


def test_generators_are_seeded():
    assert osc_datagrams(3, 50) == osc_datagrams(3, 50) != osc_datagrams(4, 50)
    assert ws_messages(3, 50) == ws_messages(3, 50)


@pytest.mark.parametrize("seed", [16, 17])
async def test_fuzz_every_control_message_answered_once_and_the_stream_goes_on(seed):
    r = await run_fuzz(seed, n_osc=300, n_ws=300)
    assert r["osc_unanswered_groups"] == 0 and r["osc_replies_extra"] == 0, r
    assert r["ws_replies"] == r["ws_sent"] and r["ws_closed"] is None, r
    assert r["status_after"] is True, r
    assert r["tracebacks"] == 0 and r["log_errors"] == 0, r
    assert r["frames"] > 0, r   # the viewer kept receiving frames during the fuzz
