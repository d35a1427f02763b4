"""Avatars in the browser viewer, in headless Chromium against the real `liveedit serve`.

The default avatar (liveedit/web/avatars/default.vrm, built by liveedit/avatar.py) sits on the SMPL
joints; the page retargets the stream onto it exactly. A user's avatar made by the same generator
with other proportions is served with `--avatar` (VRM 0.x) or dropped onto the page (a Mixamo-named
humanoid glTF), loads and dances with its feet on the floor; broken files are refused with a message
and the avatar on stage stays.
"""
from __future__ import annotations

import asyncio
import base64
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from liveedit.avatar import (
    DEFAULT_PATH,
    HUMAN_BONES,
    Proportions,
    build_vrm,
    joint_positions,
    write_vrm,
)
from model.skeleton import JOINT_NAMES, STANDING_PELVIS_HEIGHT


def glb_json(data: bytes) -> tuple[dict, bytes]:
    """A GLB's JSON chunk (parsed) and its binary chunk."""
    n = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20:20 + n])
    return doc, data[20 + n + 8:]


def glb_with_json(doc: dict, binary: bytes) -> bytes:
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


def node_world_positions(doc: dict) -> dict[str, np.ndarray]:
    """Node name -> world position (the generator's nodes carry translations only)."""
    out: dict[str, np.ndarray] = {}

    def walk(i: int, at: np.ndarray) -> None:
        node = doc["nodes"][i]
        here = at + np.asarray(node.get("translation", [0, 0, 0]))
        out[node["name"]] = here
        for c in node.get("children", []):
            walk(c, here)

    for root in doc["scenes"][0]["nodes"]:
        walk(root, np.zeros(3))
    return out


def test_default_avatar_stands_on_the_smpl_joints():
    """The shipped avatar is the generator's output: humanoid bones at the SMPL joints with the pelvis
    at the standing height, soles on the floor, under the 5 MB budget."""
    data = DEFAULT_PATH.read_bytes()
    assert len(data) < 5 * 1024 * 1024
    assert data == build_vrm(), "default.vrm is stale: run python -m liveedit.avatar"
    doc, _ = glb_json(data)
    humanoid = doc["extensions"]["VRMC_vrm"]["humanoid"]["humanBones"]
    world = node_world_positions(doc)
    joints = joint_positions(Proportions())
    for bone, smpl in HUMAN_BONES.items():
        name = doc["nodes"][humanoid[bone]["node"]]["name"]
        assert np.allclose(world[name], joints[JOINT_NAMES.index(smpl)], atol=1e-5), bone
    assert world["hips"][1] == pytest.approx(STANDING_PELVIS_HEIGHT, abs=1e-4)
    lowest = min(acc["min"][1] for acc in doc["accessors"] if "min" in acc and len(acc["min"]) == 3)
    assert abs(lowest) < 0.003, f"the soles are {lowest * 100:.1f} cm off the floor"


async def drop_file(page, path: Path) -> None:
    """Drop a file onto the page the way a file manager does (a drop event carrying it)."""
    b64 = base64.b64encode(path.read_bytes()).decode()
    await page.evaluate("""([name, b64]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name));
      window.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, cancelable: true }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, cancelable: true }));
    }""", [path.name, b64])


async def wait_avatar(page, name: str) -> dict:
    await page.wait_for_function(
        f"window.liveeditViewer.avatar.status === 'ready' && window.liveeditViewer.avatar.name === {json.dumps(name)}",
        timeout=30_000)
    return await page.evaluate("window.liveeditViewer.avatar")


async def wait_refusal(page, count: int) -> str:
    await page.wait_for_function(f"window.liveeditViewer.avatarErrors.length >= {count}", timeout=30_000)
    await page.wait_for_function("document.querySelector('#avatar-msg').classList.contains('bad')")
    return await page.text_content("#avatar-msg")


async def bones_move(page) -> float:
    """Largest displacement (m) of a humanoid bone over half a second of the stream."""
    a = await page.evaluate("window.liveeditViewer.bonePositions()")
    await asyncio.sleep(0.5)
    b = await page.evaluate("window.liveeditViewer.bonePositions()")
    return max(float(np.linalg.norm(np.subtract(a[k], b[k]))) for k in a)


async def foot_track(page, after_frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(source SMPL foot joints, avatar foot bones), (T, 4, 3) each, for stream frames after `after_frame`."""
    await page.wait_for_function(
        f"window.liveeditViewer.footTrack.filter(r => r.frame > {after_frame}).length >= 20", timeout=30_000)
    track = [r for r in await page.evaluate("window.liveeditViewer.footTrack") if r["frame"] > after_frame]
    return np.array([r["source"] for r in track]), np.array([r["avatar"] for r in track])


async def test_default_avatar_dances_on_the_streamed_joints(tmp_path, liveedit_serve, open_viewer):
    async with liveedit_serve(tmp_path / "serve.log") as port:
        page, errors = await open_viewer(f"http://127.0.0.1:{port}/")
        info = await wait_avatar(page, "default avatar")
        assert info["kind"] == "VRM 1.0" and info["scale"] == pytest.approx(1.0, abs=1e-3)
        assert await bones_move(page) > 0.01
        # The ponytail's spring bones swing: its tip moves in the head's frame.
        tips = []
        for _ in range(4):
            tips.append(await page.evaluate("window.liveeditViewer.inHeadFrame('hair2')"))
            await asyncio.sleep(0.25)
        swing = max(float(np.linalg.norm(np.subtract(a, b))) for a in tips for b in tips)
        assert swing > 0.002, f"the ponytail moved {swing * 100:.2f} cm in the head's frame"
        # SMPL proportions: the retargeted feet are the stream's feet (so they slide exactly as much).
        frame = await page.evaluate("window.liveeditViewer.lastFrame.frame")
        source, avatar = await foot_track(page, frame)
        worst = float(np.abs(source - avatar).max())
        assert worst < 0.002, f"the avatar's feet are {worst * 100:.2f} cm from the stream's"
        # The stick skeleton is still there, as a toggle.
        await page.click("#view-toggle")
        assert await page.get_attribute("#view-toggle", "aria-pressed") == "true"
        await page.click("#view-toggle")
        assert await page.text_content("#avatar-msg") == ""
        assert errors == []


async def test_user_avatars_load_and_bad_files_are_refused(tmp_path, liveedit_serve, open_viewer):
    """--avatar with a VRM 0.x of other proportions; then, dropped on the page, a Mixamo-named glTF
    that loads, and three files that are refused while the avatar on stage keeps dancing."""
    user = write_vrm(tmp_path / "me.vrm", Proportions(height=0.9, legs=1.2, arms=0.85), vrm0=True)
    async with liveedit_serve(tmp_path / "serve.log", "--avatar", str(user)) as port:
        page, errors = await open_viewer(f"http://127.0.0.1:{port}/")
        info = await wait_avatar(page, "me.vrm")
        assert info["kind"] == "VRM 0.x" and info["user"] is True
        expected = float(joint_positions(Proportions(0.9, 1.2, 0.85))[0, 1] / STANDING_PELVIS_HEIGHT)
        assert info["scale"] == pytest.approx(expected, abs=0.01)
        assert await bones_move(page) > 0.01
        assert "me.vrm" in await page.text_content("#avatar-msg")
        # Its feet stay on the floor: the lowest foot bone over a second is at the stream's lowest
        # foot joint times the avatar's scale.
        frame = await page.evaluate("window.liveeditViewer.lastFrame.frame")
        source, avatar = await foot_track(page, frame)
        low_src, low_av = source[..., 1].min(axis=1), avatar[..., 1].min(axis=1)
        assert np.abs(low_av - low_src * info["scale"]).max() < 0.02

        # Refused: not a glTF at all, a centimetre-scale export, a humanoid without its left forearm.
        junk = tmp_path / "junk.vrm"
        junk.write_bytes(b"this is not an avatar\n" * 50)
        await drop_file(page, junk)
        assert "junk.vrm is not a VRM or glTF file" in await wait_refusal(page, 1)
        huge = write_vrm(tmp_path / "huge.vrm", Proportions(height=100.0))
        await page.set_input_files("#avatar-file", str(huge))
        assert "absurd scale" in await wait_refusal(page, 2)
        doc, binary = glb_json(build_vrm())
        del doc["extensions"]["VRMC_vrm"]["humanoid"]["humanBones"]["leftLowerArm"]
        armless = tmp_path / "armless.vrm"
        armless.write_bytes(glb_with_json(doc, binary))
        await drop_file(page, armless)
        message = await wait_refusal(page, 3)
        assert "missing humanoid bones" in message and "leftLowerArm" in message
        assert "still dancing: me.vrm" in message
        assert (await page.evaluate("window.liveeditViewer.avatar"))["name"] == "me.vrm"
        assert await bones_move(page) > 0.01

        # A humanoid glTF without VRM data, found by its Mixamo bone names, dropped on the page.
        plain = write_vrm(tmp_path / "mixamo.glb", Proportions(arms=1.1), plain=True)
        await drop_file(page, plain)
        info = await wait_avatar(page, "mixamo.glb")
        assert info["kind"] == "glTF"
        assert await bones_move(page) > 0.01
        assert errors == []


async def test_server_hands_the_page_the_avatar_it_was_given(tmp_path):
    """/avatar.json names --avatar's file (null without one) and /avatar/user serves its bytes."""
    import urllib.request

    from liveedit.commands.serve import check_avatar
    from liveedit.io.ws import WebSocketServer

    def get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read()

    user = write_vrm(tmp_path / "me.vrm", vrm0=True)
    for avatar, expected in ((None, {"url": None}), (user, {"url": "avatar/user", "name": "me.vrm"})):
        server = WebSocketServer(None, "127.0.0.1", 0, avatar=avatar)
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.address[1]}/"
            assert json.loads(await asyncio.to_thread(get, base + "avatar.json")) == expected
            if avatar is not None:
                assert await asyncio.to_thread(get, base + "avatar/user") == user.read_bytes()
        finally:
            await server.stop()

    assert check_avatar(str(user)) == user
    assert "no such file" in check_avatar(str(tmp_path / "nope.vrm"))
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a VRM or binary glTF" in check_avatar(str(tmp_path / "notes.txt"))


def test_render_draws_the_avatar(tmp_path):
    """`liveedit render --style avatar` writes a playable video of the avatar; a refused avatar file
    is an error that writes nothing."""
    import shutil
    import subprocess

    pytest.importorskip("playwright.sync_api")
    if shutil.which("chromium") is None or shutil.which("ffmpeg") is None:
        pytest.skip("needs Debian's chromium and ffmpeg")
    from liveedit.cli import main
    from liveedit.offline import dancefile
    from liveedit.offline.generate import generate_motion
    from liveedit.offline.testing import FakeDanceModel

    T = 30
    motion = generate_motion(FakeDanceModel(), np.zeros((T, 35), np.float32), np.array([0.5]), progress=False)
    src = dancefile.save(dancefile.Dance.new(motion, np.array([0.5]), np.zeros((T, 35), np.float32), {},
                                             seed=0, steps=1), tmp_path / "d.npz")
    out = tmp_path / "d.mp4"
    assert main(["render", str(src), "-o", str(out), "--style", "avatar", "--size", "128", "--no-audio", "-q"]) == 0
    frames = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                             "stream=nb_read_frames,width", "-of", "csv=p=0", str(out)],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert frames == "128,30"
    # The middle frame shows the avatar's blue top (the scene has no other blue that bright).
    png = subprocess.run(["ffmpeg", "-v", "error", "-ss", "0.5", "-i", str(out), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    px = np.frombuffer(png, np.uint8).reshape(128, 128, 3).astype(int)
    assert ((px[..., 2] > 150) & (px[..., 2] - px[..., 0] > 70)).sum() > 30

    huge = write_vrm(tmp_path / "huge.vrm", Proportions(height=100.0))
    bad = tmp_path / "bad.mp4"
    assert main(["render", str(src), "-o", str(bad), "--style", "avatar", "--avatar", str(huge), "--size", "96",
                 "--no-audio", "-q"]) != 0
    assert not bad.exists()


async def test_forearm_takes_half_the_wrist_twist(fake_engine, open_viewer):
    """A wrist rolled 90 degrees about the forearm: the hand turns 90, the forearm 45 about its own
    axis (its direction unchanged), so a mesh skinned to both does not pinch at the wrist."""
    page, errors = await open_viewer(fake_engine.http_url)
    angles = await page.evaluate("""async () => {
      const THREE = await import('./vendor/three.module.js');
      const { loadAvatar, globalRotations } = await import('./avatar.js');
      const { DEFAULT_SKELETON } = await import('./skeleton.js');
      const bytes = await (await fetch('avatars/default.vrm')).arrayBuffer();
      const a = await loadAvatar(bytes, 'probe');
      a.setup(DEFAULT_SKELETON);
      const rot = DEFAULT_SKELETON.names.map(() => [0, 0, 0, 1]);
      const wrist = DEFAULT_SKELETON.names.indexOf('left_wrist');
      const axis = new THREE.Vector3(...DEFAULT_SKELETON.offsets[DEFAULT_SKELETON.names.indexOf('left_hand')]).normalize();
      rot[wrist] = new THREE.Quaternion().setFromAxisAngle(axis, Math.PI / 2).toArray();
      a.pose(globalRotations(DEFAULT_SKELETON, rot), [0, 0.9764, 0]);
      const world = (b) => a.vrm.humanoid.getRawBoneNode(b).getWorldQuaternion(new THREE.Quaternion());
      const restFore = a.drive.find((d) => d.bone === 'leftLowerArm').rest;  // normalized rest = raw rest here
      const fore = world('leftLowerArm').multiply(restFore.clone().invert());
      const hand = world('leftHand').multiply(a.drive.find((d) => d.bone === 'leftHand').rest.clone().invert());
      const deg = (q) => 2 * Math.acos(Math.min(1, Math.abs(q.w))) * 180 / Math.PI;
      const dir = new THREE.Vector3(1, 0, 0).applyQuaternion(fore);
      return { fore: deg(fore), hand: deg(hand), dirMoved: dir.sub(new THREE.Vector3(1, 0, 0)).length() };
    }""")
    assert angles["hand"] == pytest.approx(90, abs=1.0)
    assert angles["fore"] == pytest.approx(45, abs=1.0)
    assert angles["dirMoved"] < 0.05
    assert errors == []
