"""Ableton Link with real peers on loopback: a plain aalink peer and two liveedit engines, each in a
process of its own with its own Link instance, inside a loopback-only network namespace (Link
multicasts on every interface, so it is never started outside one). The scenario itself is
tests/io/link_scenario.py; how fast a peer's tempo reaches the dance is reported, not asserted
(docs/beats.md)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aalink")
pytestmark = pytest.mark.timeout(300)   # two engine processes start on a loaded machine

NETNS_SETUP = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"


def _netns_ok() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    p = subprocess.run(["unshare", "-n", "sh", "-c", NETNS_SETUP], capture_output=True)
    return p.returncode == 0


@pytest.fixture(scope="module")
def scenario():
    if not _netns_ok():
        pytest.skip("needs a loopback-only network namespace (unshare -n, as root)")
    script = Path(__file__).with_name("link_scenario.py")
    p = subprocess.run(["unshare", "-n", "sh", "-c", f"{NETNS_SETUP} && exec {sys.executable} {script}"],
                       capture_output=True, text=True, timeout=280, cwd=Path(__file__).parents[2])
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_engines_join_the_session_and_take_its_beat(scenario):
    assert scenario["join_s"] is not None, "the peers never saw each other"
    assert scenario["source"] == ["link", "link"]
    assert [s["to"] for s in scenario["switches"]] == ["link", "link"]   # announced in the status
    assert scenario["phase_lock_s"] is not None, "the beat phase never came within 5 ms of the peer's"
    # and stays there (the median over a second of readings: one reading may catch a process preempted)
    assert scenario["phase_err_ms_median"] < 5.0


def test_tempo_flows_both_ways(scenario):
    assert scenario["tempo_follow_s"] is not None          # a peer's tempo change reached both dances
    assert scenario["manual_to_session_s"] is not None     # /tempo on one engine became the session's
    assert scenario["bpm"] == [110.0, 110.0]


def test_the_beat_count_never_jumps(scenario):
    assert scenario["count_jumps"] == 0
