"""The Blender add-on: its pure-Python parts with plain pytest, and the add-on itself inside a headless
Blender (Debian's `blender`, skipped when it is not installed) against a real WebSocket server."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from model.rotations import np_axis_angle_to_matrix
from model.skeleton import JOINT_NAMES, PARENTS, REST_OFFSETS, STANDING_PELVIS_HEIGHT, forward_kinematics_np, rest_joint_positions

ADDON = Path(__file__).resolve().parents[2] / "clients" / "blender" / "liveedit_blender.py"


def load_addon():
    spec = importlib.util.spec_from_file_location("liveedit_blender", ADDON)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


addon = load_addon()


def test_addon_skeleton_matches_the_model():
    assert addon.JOINT_NAMES == JOINT_NAMES and addon.PARENTS == PARENTS
    assert np.allclose(addon.REST_OFFSETS, REST_OFFSETS, atol=1e-6)
    assert addon.STANDING_PELVIS_HEIGHT == pytest.approx(STANDING_PELVIS_HEIGHT, abs=1e-4)
    heads = np.array([b[1] for b in addon.bone_layout()])
    expected = rest_joint_positions() + [0, STANDING_PELVIS_HEIGHT, 0]
    assert np.allclose(heads, expected[:, [0, 2, 1]] * [1, -1, 1], atol=1e-4)  # (x, -z, y)
    assert all(np.linalg.norm(np.subtract(b[2], b[1])) > 0.02 for b in addon.bone_layout())


def test_addon_forward_kinematics_matches_the_model():
    rng = np.random.default_rng(1)
    aa = rng.normal(scale=0.6, size=(24, 3))
    angle = np.linalg.norm(aa, axis=1, keepdims=True)
    quats = np.concatenate([aa / angle * np.sin(angle / 2), np.cos(angle / 2)], axis=1)
    root = np.array([0.2, 0.9, -0.1])
    got = addon.forward_kinematics(PARENTS, REST_OFFSETS.tolist(), quats.tolist(), root.tolist())
    want = forward_kinematics_np(np_axis_angle_to_matrix(aa.astype(np.float32)), root.astype(np.float32))
    assert np.allclose(got, want, atol=1e-4)


async def test_stdlib_websocket_client_talks_to_the_server(fake_engine):
    def session():
        ws = addon.SimpleWebSocket(fake_engine.url)
        hello = json.loads(ws.recv())
        frames = [json.loads(ws.recv()) for _ in range(3)]
        ws.send_text(json.dumps({"type": "edit", "text": "ünïcode arms " + "x" * 150, "id": 7}))
        for _ in range(100):
            msg = json.loads(ws.recv())
            if msg["type"] == "reply":
                break
        ws.close()
        return hello, frames, msg

    hello, frames, reply = await asyncio.to_thread(session)
    assert hello["type"] == "hello" and hello["joint_names"] == list(JOINT_NAMES)
    assert [f["type"] for f in frames] == ["frame"] * 3 and len(frames[0]["rot"]) == 96
    assert reply["ok"] and reply["id"] == 7  # a 164-byte message: the 16-bit length form
    assert fake_engine.commands[-1].text.startswith("ünïcode arms")
    with pytest.raises(ValueError, match="not a WebSocket URL"):
        addon.SimpleWebSocket("http://127.0.0.1:1/ws")


BLENDER_SCRIPT = textwrap.dedent("""
    import bpy, importlib.util, json, os, sys, time
    spec = importlib.util.spec_from_file_location("liveedit_blender", os.environ["ADDON"])
    addon = importlib.util.module_from_spec(spec); spec.loader.exec_module(addon)
    addon.register()
    obj = addon.build_armature(bpy.context)
    rx = addon.StreamReceiver(os.environ["URL"]).start()
    deadline = time.time() + 20
    while rx.latest()[2] < 3 and time.time() < deadline:
        time.sleep(0.05)
    hello, frame, count = rx.latest()
    addon.apply_frame(obj, frame)
    bpy.context.view_layer.update()
    posed = [list(addon.blender_to_smpl(tuple(obj.matrix_world @ obj.pose.bones[n].head))) for n in addon.JOINT_NAMES]
    rx.send({"type": "edit", "text": "from blender"})
    while not rx.replies and time.time() < deadline:
        time.sleep(0.05)
    rx.stop()
    addon.unregister()
    print("RESULT " + json.dumps({"bones": [b.name for b in obj.data.bones], "count": count,
                                  "posed": posed, "joints": frame["joints"], "replies": rx.replies}))
""")


# Blender finds its Python through PATH: keep a pyenv (or venv) interpreter's directories out of it,
# or Blender would load that interpreter's standard library and mismatched extension modules.
BLENDER_PATH = os.pathsep.join(
    p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    if ".pyenv" not in p and p != os.path.dirname(sys.executable))


@pytest.mark.skipif(shutil.which("blender") is None, reason="Debian's blender is not installed")
async def test_addon_in_headless_blender_follows_the_stream(fake_engine):
    proc = await asyncio.create_subprocess_exec(
        "blender", "-b", "--factory-startup", "--python-expr", BLENDER_SCRIPT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PATH": BLENDER_PATH, "ADDON": str(ADDON), "URL": fake_engine.url})
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    assert lines, text[-3000:]
    res = json.loads(lines[-1][len("RESULT "):])
    assert sorted(res["bones"]) == sorted(JOINT_NAMES) and res["count"] >= 3
    # The posed armature's joints sit where the engine's forward kinematics puts them.
    err = np.abs(np.array(res["posed"]) - np.array(res["joints"]).reshape(24, 3)).max()
    assert err < 2e-3, f"armature joints off by {err:.4f} m"
    assert res["replies"] and res["replies"][0]["ok"]
    assert fake_engine.commands[-1].text == "from blender"


BVH_SCRIPT = textwrap.dedent("""
    import bpy, builtins, json, os
    import io_anim_bvh.import_bvh as importer
    # Debian's Blender 3.4 runs on Python 3.11, where the importer's open(path, 'rU') is an error
    # (mode 'U' was removed); Blender's own builds bundle an older Python. Drop the 'U'.
    importer.open = lambda path, mode="r", *a, **k: builtins.open(path, mode.replace("U", ""), *a, **k)
    bpy.ops.import_anim.bvh(filepath=os.environ["BVH"], global_scale=0.01, axis_forward="-Z", axis_up="Y",
                            update_scene_fps=True, update_scene_duration=True)
    obj = bpy.context.selected_objects[0]
    scene = bpy.context.scene
    out = {"fps": scene.render.fps, "end": scene.frame_end, "frames": {}}
    for f in (1, 3):
        scene.frame_set(f)
        out["frames"][f] = {pb.name: list(obj.matrix_world @ pb.head) for pb in obj.pose.bones}
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.skipif(shutil.which("blender") is None, reason="Debian's blender is not installed")
def test_blender_imports_our_bvh_as_documented(tmp_path):
    """clients/blender/README.md's BVH import settings put every joint where our FK puts it."""
    from liveedit.offline.export_bvh import write_bvh
    from model.rotations import np_matrix_to_rot6d

    rng = np.random.default_rng(3)
    aa = rng.normal(scale=0.4, size=(3, 24, 3)).astype(np.float32)
    root = np.array([[0.0, 0.95, 0.0], [0.1, 0.9, 0.2], [0.2, 1.0, -0.1]], np.float32)
    mats = np_axis_angle_to_matrix(aa)
    motion = np.zeros((3, 151), np.float32)
    motion[:, 4:7] = root
    motion[:, 7:] = np_matrix_to_rot6d(mats).reshape(3, -1)
    write_bvh(tmp_path / "dance.bvh", motion)
    out = subprocess.run(["blender", "-b", "--factory-startup", "--python-expr", BVH_SCRIPT],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PATH": BLENDER_PATH, "BVH": str(tmp_path / "dance.bvh")})
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, out.stdout[-3000:] + out.stderr[-2000:]
    res = json.loads(lines[-1][len("RESULT "):])
    assert res["fps"] == 30 and res["end"] >= 3  # the importer extends the scene, never shortens it
    for f, k in (("1", 0), ("3", 2)):
        want = forward_kinematics_np(mats[k], root[k])[:, [0, 2, 1]] * [1, -1, 1]  # (x, -z, y)
        got = np.array([res["frames"][f][name] for name in JOINT_NAMES])
        assert np.abs(got - want).max() < 2e-3, f"frame {f}: off by {np.abs(got - want).max():.4f} m"
