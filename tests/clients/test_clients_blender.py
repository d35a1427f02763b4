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


def test_addon_finds_humanoid_bones_by_their_names():
    mixamo = addon.humanoid_map(["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Spine1", "mixamorig:LeftUpLeg",
                                 "mixamorig:LeftForeArm", "mixamorig:RightToeBase", "mixamorig:Head"])
    assert mixamo["chest"] == "mixamorig:Spine1" and mixamo["leftLowerArm"] == "mixamorig:LeftForeArm"
    assert mixamo["rightToes"] == "mixamorig:RightToeBase"
    smpl = addon.humanoid_map(list(JOINT_NAMES))
    assert smpl["hips"] == "pelvis" and smpl["leftFoot"] == "left_ankle" and smpl["leftToes"] == "left_foot"
    vrm = addon.humanoid_map(["Hips", "LeftUpperLeg", "J_Bip_C_Spine"])
    assert vrm == {"hips": "Hips", "leftUpperLeg": "LeftUpperLeg"}


RETARGET_SCRIPT = textwrap.dedent("""
    import bpy, importlib.util, json, math, os
    spec = importlib.util.spec_from_file_location("liveedit_blender", os.environ["ADDON"])
    addon = importlib.util.module_from_spec(spec); spec.loader.exec_module(addon)
    addon.register()
    rig = json.loads(os.environ["RIG"])
    smpl = addon.build_armature(bpy.context)
    # The user's rig: other proportions, an A-pose, rolled bones, Mixamo names.
    data = bpy.data.armatures.new("user"); user = bpy.data.objects.new("user", data)
    bpy.context.scene.collection.objects.link(user); bpy.context.view_layer.objects.active = user
    bpy.ops.object.mode_set(mode="EDIT")
    made = {}
    for name, head, tail, parent in rig:
        eb = data.edit_bones.new(name); eb.head, eb.tail, eb.roll = head, tail, 0.6
        if parent: eb.parent = made[parent]
        made[name] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    scene = bpy.context.scene
    scene.liveedit.target = user
    out = {"frames": []}
    for frame in json.loads(os.environ["FRAMES"]):
        addon.apply_frame(smpl, frame)
        addon._retarget_live(scene, smpl)
        bpy.context.view_layer.update()
        out["frames"].append({
            "smpl": {pb.name: list(smpl.matrix_world @ pb.head) for pb in smpl.pose.bones},
            "user": {pb.name: list(user.matrix_world @ pb.head) for pb in user.pose.bones}})
    out["scale"] = addon._retarget_cache[(smpl.name, user.name)]["scale"]
    # A recorded dance: a liveedit BVH imported as the README says, baked onto the same rig.
    import builtins
    import io_anim_bvh.import_bvh as importer
    importer.open = lambda path, mode="r", *a, **k: builtins.open(path, mode.replace("U", ""), *a, **k)
    bpy.ops.import_anim.bvh(filepath=os.environ["BVH"], global_scale=0.01, axis_forward="-Z", axis_up="Y",
                            update_scene_fps=True, update_scene_duration=True)
    bvh = bpy.context.selected_objects[0]
    scene.frame_start, scene.frame_end = 1, 3
    out["baked"] = addon.bake_onto_rig(scene, bvh, user)
    out["bvh"] = []
    for f in (1, 3):
        scene.frame_set(f)
        out["bvh"].append({"smpl": {pb.name: list(bvh.matrix_world @ pb.head) for pb in bvh.pose.bones},
                           "user": {pb.name: list(user.matrix_world @ pb.head) for pb in user.pose.bones}})
    try:
        bad = bpy.data.objects.new("bad", bpy.data.armatures.new("bad"))
        addon.retarget_setup(smpl, bad)
    except ValueError as exc:
        out["refused"] = str(exc)
    print("RESULT " + json.dumps(out))
""")

MIXAMO_OF = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
             "head": "Head", "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
             "left_foot": "LeftToeBase", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
             "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "left_hand": "LeftHandEnd"}
MIXAMO_OF.update({k.replace("left", "right"): v.replace("Left", "Right") for k, v in list(MIXAMO_OF.items())
                  if k.startswith("left")})


def user_rig() -> list:
    """A Mixamo-named rig (Blender frame): legs x1.2, arms x0.9, everything x1.1, arms lowered 35
    degrees into an A-pose; bone tails point at the child joint."""
    from liveedit.avatar import Proportions, joint_positions
    pos = joint_positions(Proportions(height=1.1, legs=1.2, arms=0.9))
    for side, sign in (("left", -1.0), ("right", 1.0)):
        pivot = pos[JOINT_NAMES.index(f"{side}_shoulder")].copy()
        a = np.deg2rad(35.0) * sign
        rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        for j in (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist", f"{side}_hand"):
            k = JOINT_NAMES.index(j)
            pos[k] = pivot + rz @ (pos[k] - pivot)
    blender = pos[:, [0, 2, 1]] * [1, -1, 1]
    rig = []
    for j, name in enumerate(JOINT_NAMES):
        kids = [c for c, p in enumerate(PARENTS) if p == j]
        child = {0: 3, 9: 12}.get(j, kids[0] if kids else None)
        tail = blender[child] if child is not None else blender[j] + (blender[j] - blender[PARENTS[j]]) * 0.4
        if name == "head":
            tail = blender[j] + [0, 0, 0.15]
        rig.append(("mixamorig:" + MIXAMO_OF[name], blender[j].tolist(), list(map(float, tail)),
                    "mixamorig:" + MIXAMO_OF[JOINT_NAMES[PARENTS[j]]] if PARENTS[j] >= 0 else None))
    return rig


@pytest.mark.skipif(shutil.which("blender") is None, reason="Debian's blender is not installed")
async def test_addon_retargets_the_dance_onto_a_users_rig(tmp_path):
    """The live stream, then a baked BVH, onto a Mixamo-named rig of other proportions in an A-pose
    with rolled bones: every limb segment points where the SMPL segment points, and the hips follow
    the pelvis scaled."""
    from liveedit.offline.export_bvh import write_bvh
    from model.rotations import np_matrix_to_rot6d

    rng = np.random.default_rng(3)
    motion = np.zeros((3, 151), np.float32)
    motion[:, 4:7] = [[0.0, 0.95, 0.0], [0.1, 0.9, 0.2], [0.2, 1.0, -0.1]]
    motion[:, 7:] = np_matrix_to_rot6d(np_axis_angle_to_matrix(
        rng.normal(scale=0.4, size=(3, 24, 3)).astype(np.float32))).reshape(3, -1)
    write_bvh(tmp_path / "dance.bvh", motion)
    frames = []
    for _ in range(3):
        aa = rng.normal(scale=0.45, size=(24, 3))
        angle = np.linalg.norm(aa, axis=1, keepdims=True)
        quats = np.concatenate([aa / angle * np.sin(angle / 2), np.cos(angle / 2)], axis=1)
        frames.append({"rot": quats.reshape(-1).tolist(), "root": [0.3, 0.9, -0.2]})
    proc = await asyncio.create_subprocess_exec(
        "blender", "-b", "--factory-startup", "--python-expr", RETARGET_SCRIPT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PATH": BLENDER_PATH, "ADDON": str(ADDON), "RIG": json.dumps(user_rig()),
             "FRAMES": json.dumps(frames), "BVH": str(tmp_path / "dance.bvh")})
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    text = out.decode(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    assert lines, text[-3000:]
    res = json.loads(lines[-1][len("RESULT "):])
    segments = [(JOINT_NAMES[PARENTS[j]], JOINT_NAMES[j]) for j in range(1, 24)
                if JOINT_NAMES[PARENTS[j]] not in ("pelvis", "spine3") and not JOINT_NAMES[j].endswith("_hand")]
    worst = 0.0
    assert res["baked"] == 3
    for f in res["frames"] + res["bvh"]:
        for a, b in segments:
            ds = np.subtract(f["smpl"][b], f["smpl"][a])
            du = np.subtract(f["user"]["mixamorig:" + MIXAMO_OF[b]], f["user"]["mixamorig:" + MIXAMO_OF[a]])
            cos = np.dot(ds, du) / np.linalg.norm(ds) / np.linalg.norm(du)
            worst = max(worst, float(np.degrees(np.arccos(np.clip(cos, -1, 1)))))
        hips = np.array(f["user"]["mixamorig:Hips"])
        assert np.allclose(hips, np.array(f["smpl"]["pelvis"]) * res["scale"], atol=1e-3)
    assert worst < 1.0, f"a retargeted segment points {worst:.2f} degrees off the dance's"
    from liveedit.avatar import Proportions, joint_positions
    from model.skeleton import SOLE_THICKNESS
    pos = joint_positions(Proportions(height=1.1, legs=1.2, arms=0.9))  # hips over the toes, against SMPL's
    assert res["scale"] == pytest.approx((pos[0, 1] - pos[10, 1]) / (STANDING_PELVIS_HEIGHT - SOLE_THICKNESS), rel=1e-3)
    assert "not a humanoid rig" in res["refused"]
