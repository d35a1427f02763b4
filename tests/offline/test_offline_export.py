"""BVH checked by a third-party parser (bvhio), glTF re-read by pygltflib (and the Khronos validator
when node and the `gltf-validator` npm package are installed)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import bvhio
import numpy as np
import pygltflib
import pytest
import torch

from liveedit.cli import main
from liveedit.offline import dancefile
from liveedit.offline.export_bvh import write_bvh
from liveedit.offline.export_gltf import write_glb
from model import rotations as rot
from model.skeleton import JOINT_NAMES, PARENTS, REST_OFFSETS, STANDING_PELVIS_HEIGHT, forward_kinematics_np


def random_motion(T: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros((T, 151), np.float32)
    m[:, 4:7] = rng.normal(0, 0.5, (T, 3)) + [0, STANDING_PELVIS_HEIGHT, 0]
    # Large angles on purpose: near-gimbal poses are where Euler conversions go wrong.
    m[:, 7:] = rot.np_matrix_to_rot6d(rot.np_axis_angle_to_matrix(rng.normal(0, 1.2, (T, 24, 3)))).reshape(T, -1)
    return m


def our_joints(m: np.ndarray) -> np.ndarray:
    R = rot.np_rot6d_to_matrix(m[:, 7:].reshape(len(m), 24, 6))
    return forward_kinematics_np(R, m[:, 4:7])


def test_euler_zxy_round_trip_matches_bvh_convention():
    R = rot.np_axis_angle_to_matrix(np.random.default_rng(3).normal(0, 1.2, (200, 3)))
    z, x, y = np.deg2rad(rot.np_matrix_to_euler(R, "ZXY")).T

    def rz(a):
        c, s = np.cos(a), np.sin(a)
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])

    def rx(a):
        c, s = np.cos(a), np.sin(a)
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])

    def ry(a):
        c, s = np.cos(a), np.sin(a)
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])

    # BVH "Zrotation Xrotation Yrotation": R = Rz @ Rx @ Ry.
    back = np.stack([rz(a) @ rx(b) @ ry(c) for a, b, c in zip(z, x, y)])
    np.testing.assert_allclose(back, R, atol=1e-6)


def test_bvh_parsed_by_bvhio_matches_our_forward_kinematics(tmp_path):
    m = random_motion(12)
    p = write_bvh(tmp_path / "d.bvh", m, fps=30, scale=100.0)
    raw = bvhio.readAsBvh(str(p))
    assert raw.FrameCount == 12
    assert abs(raw.FrameTime - 1 / 30) < 1e-6
    root = bvhio.readAsHierarchy(str(p))
    layout = root.layout()
    assert len(layout) == 24
    assert sorted(j.Name for j, _, _ in layout) == sorted(JOINT_NAMES)
    for j, _, _ in layout:  # the hierarchy is SMPL's
        if j.Parent is not None:
            assert PARENTS[JOINT_NAMES.index(j.Name)] == JOINT_NAMES.index(j.Parent.Name)
    ours = our_joints(m) * 100.0  # centimetres
    worst = 0.0
    for f in range(12):
        root.loadPose(f)
        for j, _, _ in layout:
            worst = max(worst, float(np.abs(np.array(j.PositionWorld) - ours[f, JOINT_NAMES.index(j.Name)]).max()))
    assert worst < 0.01, f"bvhio joint positions differ from ours by {worst} cm"


def _quat_to_mat(q: np.ndarray) -> np.ndarray:
    return rot.quaternion_to_matrix(torch.as_tensor(np.array(q))).numpy()


def test_glb_reread_by_pygltflib(tmp_path):
    m = random_motion(20)
    p = write_glb(tmp_path / "d.glb", m, fps=30)
    g = pygltflib.GLTF2().load(str(p))
    assert g.asset.version == "2.0"
    assert [n.name for n in g.nodes] == list(JOINT_NAMES)
    for j, node in enumerate(g.nodes):
        for c in node.children or []:
            assert PARENTS[c] == j
        if j:
            np.testing.assert_allclose(node.translation, REST_OFFSETS[j], atol=1e-6)
    anim = g.animations[0]
    assert len(anim.channels) == 25
    blob = g.binary_blob()

    def read(acc_index: int, width: int) -> np.ndarray:
        acc = g.accessors[acc_index]
        view = g.bufferViews[acc.bufferView]
        start = view.byteOffset + (acc.byteOffset or 0)
        return np.frombuffer(blob[start:start + acc.count * width * 4], np.float32).reshape(acc.count, width)

    # Rebuild the joint positions from what a glTF reader sees and compare with our FK.
    local = np.zeros((20, 24, 3, 3))
    root = None
    for ch in anim.channels:
        sampler = anim.samplers[ch.sampler]
        times = read(sampler.input, 1)[:, 0]
        np.testing.assert_allclose(times, np.arange(20) / 30, atol=1e-6)
        if ch.target.path == "translation":
            assert ch.target.node == 0
            root = read(sampler.output, 3)
        else:
            q = read(sampler.output, 4)
            np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
            local[:, ch.target.node] = _quat_to_mat(q)
    np.testing.assert_allclose(forward_kinematics_np(local, root), our_joints(m), atol=1e-4)


def _validator() -> list[str] | None:
    """Command prefix running the Khronos glTF validator (npm `gltf-validator`) on a file, if installed."""
    node = shutil.which("node")
    if node is None:
        return None
    paths = [os.environ.get("GLTF_VALIDATOR_NODE_PATH", ""), str(Path.home() / ".cache/gltfval/node_modules")]
    for path in [p for p in paths if p]:
        if (Path(path) / "gltf-validator").is_dir():
            script = ("const v=require('gltf-validator');const fs=require('fs');"
                      "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
                      ".then(r=>{console.log(JSON.stringify(r.issues));}).catch(e=>{console.error(e);process.exit(1);});")
            return ["env", f"NODE_PATH={path}", node, "-e", script]
    return None


def test_glb_passes_the_khronos_validator(tmp_path):
    cmd = _validator()
    if cmd is None:
        pytest.skip("node + npm package gltf-validator not installed (npm install gltf-validator)")
    p = write_glb(tmp_path / "d.glb", random_motion(15), fps=30)
    out = subprocess.run(cmd + [str(p)], capture_output=True, text=True, timeout=60, check=True)
    issues = json.loads(out.stdout)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"]


def test_cli_export_both_formats_and_iteration(tmp_path):
    m0, m1 = random_motion(10, 1), random_motion(10, 2)
    d = dancefile.Dance.new(m0, np.array([0.0]), np.zeros((10, 35), np.float32), {}, seed=0, steps=1)
    d.append("edit", m1, prompt="x", start=0.0, end=0.3, strength=1.0, seed=0, steps=1)
    src = dancefile.save(d, tmp_path / "d.npz")
    assert main(["export", str(src), "-o", str(tmp_path / "cur.bvh")]) == 0
    assert main(["export", str(src), "-o", str(tmp_path / "first.bvh"), "--iteration", "0"]) == 0
    assert main(["export", str(src), "-o", str(tmp_path / "cur.glb")]) == 0
    assert bvhio.readAsBvh(str(tmp_path / "cur.bvh")).FrameCount == 10
    cur = bvhio.readAsHierarchy(str(tmp_path / "cur.bvh")).loadPose(0)
    first = bvhio.readAsHierarchy(str(tmp_path / "first.bvh")).loadPose(0)
    np.testing.assert_allclose(np.array(cur.PositionWorld), m1[0, 4:7] * 100, atol=1e-3)
    np.testing.assert_allclose(np.array(first.PositionWorld), m0[0, 4:7] * 100, atol=1e-3)
    assert main(["export", str(src), "-o", str(tmp_path / "x.fbx")]) == 2
