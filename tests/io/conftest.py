"""Shared pieces for the live I/O tests: a fake engine and a JACK check."""
from __future__ import annotations

import asyncio
import shutil
import subprocess

import numpy as np
import pytest

from liveedit.core.messages import Command, PoseFrame, Reply


class FakeEngine:
    """Records what the adapters hand it; answers every command with ok (or not, for 'reject')."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.ticks: list[float] = []
        self.starts: list[float] = []
        self.stops: list[float] = []
        self.event = asyncio.Event()

    async def handle(self, cmd: Command) -> Reply:
        self.commands.append(cmd)
        self.event.set()
        if cmd.text == "reject":
            return Reply(False, "rejected by the engine")
        return Reply(True, f"{cmd.kind} done", {"count": len(self.commands), "bpm": np.float32(120.0)})

    def midi_clock_tick(self, t: float) -> None:
        self.ticks.append(t)

    def midi_start(self, t: float) -> None:
        self.starts.append(t)

    def midi_stop(self, t: float) -> None:
        self.stops.append(t)


def make_frame(i: int, *, joints: bool = True, contacts: bool = False, edits=(), seed: int | None = None) -> PoseFrame:
    rng = np.random.default_rng(i if seed is None else seed)
    q = rng.normal(size=(24, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return PoseFrame(
        time=i / 30, frame=i, bpm=120.0, beat_phase=(i / 15) % 1.0, beat=i / 15,
        root=np.array([0.01 * i, 0.95, -0.02 * i], np.float32), rotations=q,
        joints=rng.normal(size=(24, 3)).astype(np.float32) if joints else None,
        edits=tuple(edits), contacts=np.array([1, 0, 1, 0], np.float32) if contacts else None)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


def jack_running() -> bool:
    if shutil.which("jack_lsp") is None:
        return False
    try:
        return subprocess.run(["jack_lsp"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def jack() -> None:
    if not jack_running():
        pytest.skip("no JACK server running (CI starts one: jackd --no-realtime -d dummy -r 48000 -p 512)")


@pytest.fixture
def frames():
    """make_frame(i, joints=True, contacts=False, edits=()) -> PoseFrame"""
    return make_frame
