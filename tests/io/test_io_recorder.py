"""`--record DIR`: files complete and readable, also after Ctrl-C and after a hard kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import bvhio
import numpy as np
import pytest

from liveedit.core.messages import ActiveEdit, Command, Reply
from liveedit.io.recorder import Recorder, read_journal, recover
from liveedit.protocol import quat_to_matrix
from model.skeleton import JOINT_NAMES, forward_kinematics_np, root_from_smpl_transl

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]


def check_files(d: Path) -> int:
    """Every file loads and agrees with the others; returns the frame count."""
    npz = np.load(d / "motion.npz")
    n = len(npz["time"])
    assert npz["smpl_poses"].shape == (n, 72) and npz["smpl_trans"].shape == (n, 3) and npz["motion"].shape == (n, 151)
    assert npz["quaternions"].shape == (n, 24, 4) and int(npz["fps"]) == 30
    np.testing.assert_allclose(root_from_smpl_transl(npz["smpl_trans"]), npz["root"], atol=1e-5)
    np.testing.assert_allclose(npz["motion"][:, 4:7], npz["root"], atol=1e-6)
    bvh = bvhio.readAsHierarchy(str(d / "motion.bvh"))
    assert len(bvh.layout()) == 24
    text = (d / "motion.bvh").read_text()
    assert f"Frames: {n}\n" in text and len(text.split("Frame Time:")[1].strip().splitlines()[1:]) == n
    json.loads((d / "beats.json").read_text())
    json.loads((d / "edits.json").read_text())
    return n


async def test_recording_round_trip(tmp_path, frames):
    rec = Recorder(tmp_path / "take", snapshot_every=0.1)
    await rec.start()
    sent = []
    for i in range(75):
        f = frames(i, joints=False, edits=[ActiveEdit(1, "wider", 4.0)] if 20 <= i < 50 else ())
        sent.append(f)
        rec.offer(f)
    rec.record_command(Command("edit", text="wider", value=4.0, source="osc:x"), Reply(True, "edit 1"), t=0.6, frame=18)
    rec.offer(None)  # a broken frame is skipped, not raised
    await rec.stop()
    d = tmp_path / "take"
    assert check_files(d) == 75 and rec.errors == 1
    npz = np.load(d / "motion.npz")
    np.testing.assert_allclose(npz["quaternions"][10], sent[10].rotations, atol=1e-6)
    # BVH, read back by bvhio, puts every joint where our forward kinematics does (cm vs m).
    joints = forward_kinematics_np(quat_to_matrix(npz["quaternions"]).astype(np.float32), npz["root"])
    bvh = bvhio.readAsHierarchy(str(d / "motion.bvh"))
    for fi in (0, 33, 74):
        bvh.loadPose(fi)
        for joint, _, _ in bvh.layout():
            np.testing.assert_allclose(np.array([*joint.PositionWorld]) / 100, joints[fi, JOINT_NAMES.index(joint.Name)], atol=1e-3)
    beats = json.loads((d / "beats.json").read_text())["beats"]
    assert [b["beat"] for b in beats] == [1, 2, 3, 4] and beats[0]["frame"] == 15
    events = json.loads((d / "edits.json").read_text())["events"]
    active = [e for e in events if e.get("event") == "active"]
    assert [(e["frame"], len(e["edits"])) for e in active] == [(0, 0), (20, 1), (50, 0)]
    assert any(e.get("kind") == "edit" and e["ok"] for e in events)
    assert read_journal(d / "journal.f32").shape == (75, 104)


async def test_a_new_recording_keeps_the_previous_one(tmp_path, frames):
    for n in (10, 20):
        rec = Recorder(tmp_path / "take")
        await rec.start()
        for i in range(n):
            rec.offer(frames(i))
        await rec.stop()
    assert check_files(tmp_path / "take") == 20
    (previous,) = (tmp_path / "take").glob("previous-*")
    assert check_files(previous) == 10


CHILD = textwrap.dedent("""
    import asyncio, signal, sys
    import numpy as np
    sys.path.insert(0, {repo!r})
    from liveedit.core.messages import PoseFrame
    from liveedit.io.recorder import Recorder

    async def main():
        rec = Recorder({out!r}, snapshot_every=0.1)
        await rec.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        rng = np.random.default_rng(0)
        i = 0
        while not stop.is_set():
            q = rng.normal(size=(24, 4)); q /= np.linalg.norm(q, axis=1, keepdims=True)
            rec.offer(PoseFrame(i / 30, i, 120.0, (i / 15) % 1, i / 15, np.array([0, 0.9, 0.01 * i]), q))
            i += 1
            if i % 10 == 0:
                print(i, flush=True)
            await asyncio.sleep(0.005)
        await rec.stop()   # what `liveedit serve` does on Ctrl-C
        print("offered", i, flush=True)

    asyncio.run(main())
""")


def _start_child(out: Path) -> subprocess.Popen:
    script = out.parent / "child.py"
    script.write_text(CHILD.format(repo=str(REPO), out=str(out)))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)


def _wait_for_files(proc: subprocess.Popen, out: Path, frames_min: int) -> None:
    deadline = time.monotonic() + 180  # the child imports torch first; slow when the machine is busy
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line and int(line.split()[0]) >= frames_min and "Frames: 0\n" not in (out / "motion.bvh").read_text():
            return
    raise AssertionError("the child never wrote a recording")


def test_hard_kill_and_ctrl_c(tmp_path):
    """Two recording processes (started together to share the start-up time): one is killed with
    SIGKILL, the other gets Ctrl-C (SIGINT) and stops as `liveedit serve` does."""
    killed_dir, stopped_dir = tmp_path / "a" / "take", tmp_path / "b" / "take"
    killed_dir.parent.mkdir()
    stopped_dir.parent.mkdir()
    killed, stopped = _start_child(killed_dir), _start_child(stopped_dir)
    try:
        _wait_for_files(killed, killed_dir, 150)
        os.kill(killed.pid, signal.SIGKILL)  # no chance to clean up
        killed.wait(10)
        _wait_for_files(stopped, stopped_dir, 60)
        stopped.send_signal(signal.SIGINT)
        rest, _ = stopped.communicate(timeout=30)
    finally:
        killed.kill()
        stopped.kill()
    # Hard kill: every file is whole (each is replaced atomically), though a kill between two
    # rewrites can leave motion.npz and motion.bvh one snapshot apart; the journal has at least as
    # much as either, and `recover` brings them back into agreement.
    n = len(np.load(killed_dir / "motion.npz")["time"])
    bvh_frames = int((killed_dir / "motion.bvh").read_text().split("Frames:")[1].split()[0])
    assert n > 0 and bvh_frames > 0
    assert len(bvhio.readAsHierarchy(str(killed_dir / "motion.bvh")).layout()) == 24
    journal = read_journal(killed_dir / "journal.f32")
    assert len(journal) >= max(n, bvh_frames)
    recovered = recover(killed_dir)
    assert recovered == len(journal) and check_files(killed_dir) == recovered
    # Ctrl-C: every frame offered is in the files.
    offered = int(rest.strip().splitlines()[-1].split()[1])
    assert stopped.returncode == 0 and check_files(stopped_dir) == offered
