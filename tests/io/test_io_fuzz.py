"""Seeded fuzz runs: against an engine in this process, and against `liveedit serve` in its own
process with the attacker and the viewer in two more (liveedit/bench/fuzzserve.py). No timing
targets here: frame rate and gaps are figures of `liveedit bench fuzz`."""
from __future__ import annotations

import pytest

from liveedit.bench.fuzz import osc_datagrams, run_fuzz, stream_figures, ws_messages
from liveedit.bench.fuzzserve import run_edit_stream, run_separate
from liveedit.commands.serve import control_limits

pytestmark = pytest.mark.timeout(120)


def test_generators_are_seeded():
    assert osc_datagrams(3, 50) == osc_datagrams(3, 50) != osc_datagrams(4, 50)
    assert ws_messages(3, 50) == ws_messages(3, 50)


def test_stream_figures_count_frames_in_the_window_and_name_long_gaps():
    times = [9.0, 10.0, 10.033, 10.066, 10.3, 10.333, 12.0]
    r = stream_figures(times, 10.0, 11.0)
    assert r["frames"] == 5 and r["max_gap_ms"] == 234.0 and r["gaps_over_100ms"] == [(0.3, 234.0)]
    assert r["fps"] == pytest.approx(4 / 0.333, abs=0.01)
    assert stream_figures([1.0], 0.0, 2.0)["max_gap_ms"] is None


def test_control_rate_sets_both_servers_limits():
    assert control_limits(0) == {}
    assert control_limits(10) == {"rate": 10, "burst": 20, "global_rate": 20, "global_burst": 40}


@pytest.mark.parametrize("seed", [16, 17])
async def test_fuzz_every_control_message_answered_once_and_the_stream_goes_on(seed):
    r = await run_fuzz(seed, n_osc=300, n_ws=300)
    assert r["osc_unanswered"] == 0 and r["osc_replies_extra"] == 0, r
    assert r["ws_replies"] == r["ws_sent"] and r["ws_closed"] is None, r
    assert r["status_after"] is True, r
    assert r["tracebacks"] == 0 and r["log_errors"] == 0, r
    assert r["frames"] > 0, r   # the viewer kept receiving frames during the fuzz


@pytest.mark.timeout(240)   # three Python processes, two importing torch
def test_fuzz_against_serve_in_its_own_process(tmp_path):
    r = run_separate(16, 200, 200, model="tiny", audio="none", quiet_s=2.0, log_path=tmp_path / "serve.log")
    log = (tmp_path / "serve.log").read_text()
    assert r["osc_unanswered"] == 0 and r["osc_replies_extra"] == 0, r
    assert r["ws_replies"] == r["ws_sent"] == 200 and r["ws_closed"] is None, r
    assert r["status_after"] and r["rebinding_refused"] and not r["crashed"], r
    assert r["tracebacks"] == 0 and r["log_errors"] == 0, log[-3000:]
    assert r["frames"] > 0 and r["quiet"]["frames"] > 0, r
    assert r["stop_s"] is not None and r["exit_status"] == 0, log[-3000:]   # one SIGINT ended it


@pytest.mark.timeout(240)
def test_edit_stream_against_serve_reports_the_dance():
    r = run_edit_stream(25.0, 2.0, model="tiny", audio="none")
    assert r["sent"] >= 40 and r["frames"] > 0 and 0 <= r["held_frames"] <= r["frames"], r
