"""The sans-I/O protocol: parsing control input and encoding frames (no sockets)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from liveedit import protocol as proto
from liveedit.core.messages import PROTOCOL_VERSION, ActiveEdit, Command, Reply
from model.skeleton import JOINT_NAMES, PARENTS, REST_OFFSETS


def test_osc_edit_joins_words_and_takes_duration():
    cmd = proto.parse_osc("/edit", ["swing", "arms", "wider", 8.0], source="osc:x")
    assert cmd == Command("edit", text="swing arms wider", value=8.0, source="osc:x")
    assert proto.parse_osc("/liveedit/edit", ["  jump\thigher "]).text == "jump higher"
    assert proto.parse_osc("/edit", ["spin", 4]).value == 4.0


def test_osc_tempo_sets_and_releases():
    assert proto.parse_osc("/tempo", [128]).value == 128.0
    assert proto.parse_osc("/tempo", [0]).value == 0.0            # release
    assert proto.parse_osc("/tempo", ["auto"]).value == 0.0       # release, by word
    assert proto.parse_osc("/liveedit/tempo", ["AUTO"]).value == 0.0
    lo, hi = proto.TEMPO_RANGE
    assert proto.parse_osc("/tempo", [lo]).value == lo and proto.parse_osc("/tempo", [hi]).value == hi


@pytest.mark.parametrize("address,args,needle", [
    ("/edit", [], "needs a prompt"),
    ("/edit", [1.0], "needs a prompt"),
    ("/edit", ["x", 1.0, 2.0], "at most one number"),
    ("/edit", ["x", -1.0], "duration"),
    ("/edit", ["x", float("nan")], "finite"),
    ("/edit", ["x" * 300], "at most 200"),
    ("/edit", ["x", True], "number"),
    ("/strength", [], "exactly one"),
    ("/strength", ["loud"], "number"),
    ("/strength", [99.0], "between"),
    ("/tempo", [5.0], "between"),
    ("/tempo", [-120.0], "between 20 and 300"),
    ("/tempo", ["fast"], "number"),
    ("/undo", [1], "no arguments"),
    ("/dance", [], "unknown OSC address"),
])
def test_osc_bad_input_gives_clear_error(address, args, needle):
    with pytest.raises(proto.ProtocolError, match=needle):
        proto.parse_osc(address, args)


def test_osc_reply_args_are_json_safe():
    args = proto.osc_reply_args("status", Reply(True, "fine", {"bpm": np.float32(120.0), "edits": [ActiveEdit(1, "a", None)]}))
    assert args[:3] == ["status", 1, "fine"]
    assert json.loads(args[3]) == {"bpm": 120.0, "edits": [{"id": 1, "text": "a", "until_beat": None}]}


def test_ws_messages():
    req = proto.parse_ws_message('{"type":"edit","text":"swing arms wider","duration":8,"id":"a1"}', source="ws:1")
    assert req.message == Command("edit", text="swing arms wider", value=8.0, source="ws:1") and req.id == "a1"
    assert proto.parse_ws_message('{"type":"tempo","bpm":128}').message.value == 128.0
    assert proto.parse_ws_message('{"type":"tempo","value":100}').message.value == 100.0
    assert proto.parse_ws_message('{"type":"tempo","bpm":"auto"}').message.value == 0.0
    assert proto.parse_ws_message('{"type":"tempo","bpm":0}').message.value == 0.0
    assert proto.parse_ws_message('{"type":"strength","value":2.5}').message.value == 2.5
    assert proto.parse_ws_message('{"type":"subscribe","format":"binary","joints":false}').message == proto.Subscribe("binary", False)
    assert proto.parse_ws_message('{"type":"undo","token":"s"}').token == "s"
    assert isinstance(proto.parse_ws_message('{"type":"unsubscribe"}').message, proto.Unsubscribe)


@pytest.mark.parametrize("data,needle", [
    ("not json", "not valid JSON"),
    (b"\x00\x01", "binary messages"),
    ("[1,2]", "JSON object"),
    ('{"text":"x"}', "missing \"type\""),
    ('{"type":"fly"}', "unknown message type"),
    ('{"type":"edit"}', "\"text\""),
    ('{"type":"edit","text":""}', "empty"),
    ('{"type":"subscribe","format":"xml"}', "format"),
    ('{"type":"strength","value":"high"}', "number"),
    ("[" * 100000, "not valid JSON"),
])
def test_ws_garbage(data, needle):
    with pytest.raises(proto.ProtocolError, match=needle):
        proto.parse_ws_message(data)


def test_console_lines():
    assert proto.parse_console_line("  ") is None
    assert proto.parse_console_line("swing arms wider") == Command("edit", text="swing arms wider", source="console")
    assert proto.parse_console_line("jump higher for 2 bars").value == 8.0
    assert proto.parse_console_line("spin for 3 beats").text == "spin"
    assert proto.parse_console_line(":undo").kind == "undo"
    assert proto.parse_console_line(":strength 2.5").value == 2.5
    assert proto.parse_console_line(":tempo auto") == Command("tempo", value=0.0, source="console")
    assert proto.parse_console_line(":tempo 0").value == 0.0
    assert proto.parse_console_line(":tempo 128").value == 128.0
    assert isinstance(proto.parse_console_line(":help"), proto.ConsoleHelp)
    for bad in (":strength", ":strength x", ":jump", ":undo now"):
        with pytest.raises(proto.ProtocolError):
            proto.parse_console_line(bad)


def test_json_frame(frames):
    f = frames(7, contacts=True, edits=[ActiveEdit(2, "wider", 16.0)])
    d = json.loads(proto.encode_frame_json(f))
    assert d["type"] == "frame" and d["v"] == PROTOCOL_VERSION and d["frame"] == 7
    assert len(d["rot"]) == 96 and len(d["joints"]) == 72 and len(d["root"]) == 3 and len(d["contacts"]) == 4
    np.testing.assert_allclose(np.reshape(d["rot"], (24, 4)), f.rotations, atol=1e-5)
    assert d["edits"] == [{"id": 2, "text": "wider", "until_beat": 16.0}]
    assert "joints" not in json.loads(proto.encode_frame_json(f, joints=False))


@pytest.mark.parametrize("joints,contacts,size", [(False, False, 424), (True, False, 712), (True, True, 728), (False, True, 440)])
def test_binary_frame_layout(frames, joints, contacts, size):
    f = frames(123456, joints=joints, contacts=contacts)
    data = proto.encode_frame_binary(f)
    assert len(data) == size and data[:4] == b"LEPF"
    # The documented offsets, read by hand.
    assert int.from_bytes(data[4:6], "little") == PROTOCOL_VERSION
    assert int.from_bytes(data[8:12], "little") == 123456
    floats = np.frombuffer(data, "<f4", offset=12)
    assert floats[0] == np.float32(f.time) and floats[1] == 120.0
    np.testing.assert_array_equal(floats[4:7], f.root)
    np.testing.assert_array_equal(floats[7:103].reshape(24, 4), f.rotations)
    d = proto.decode_binary_frame(data)
    assert d["frame"] == 123456 and (d["joints"] is not None) == joints and (d["contacts"] is not None) == contacts
    if joints:
        np.testing.assert_array_equal(d["joints"], f.joints)
    with pytest.raises(proto.ProtocolError):
        proto.decode_binary_frame(data[:-4])


def test_hello_has_skeleton():
    h = proto.hello_message(control_needs_token=True, authenticated=False, subscription=proto.Subscribe())
    assert h["protocol"] == PROTOCOL_VERSION and h["joint_names"] == list(JOINT_NAMES) and h["parents"] == list(PARENTS)
    np.testing.assert_allclose(h["rest_offsets"], REST_OFFSETS, atol=1e-6)
    assert h["control"] == "token" and json.dumps(h)


def test_pose_osc_args_layout(frames):
    f = frames(3)
    args = proto.pose_osc_args(f)
    assert len(args) == 176 and args[0] == 3
    np.testing.assert_allclose(args[8 + 4 * 5: 12 + 4 * 5], f.rotations[5], atol=1e-6)
    np.testing.assert_allclose(args[104 + 3 * 7: 107 + 3 * 7], f.joints[7], atol=1e-6)
    assert len(proto.pose_osc_args(frames(3, joints=False))) == 104


def _quat_rotate(q, v):
    x, y, z, w = q
    u = np.array([x, y, z])
    return v + 2 * np.cross(u, np.cross(u, v) + w * v)


def test_unity_conversion_is_a_consistent_mirror():
    """Rotating a mirrored vector by the mirrored quaternion = mirroring the rotated vector."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        v = rng.normal(size=3)
        lhs = _quat_rotate(proto.smpl_to_unity_quaternion(q), proto.smpl_to_unity_position(v))
        rhs = proto.smpl_to_unity_position(_quat_rotate(q, v))
        np.testing.assert_allclose(lhs, rhs, atol=1e-5)


def test_vmc_messages(frames):
    f = frames(10)
    msgs = proto.vmc_messages(f)
    assert [m[0] for m in msgs[:3]] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
    bones = {m[1][0]: m[1][1:] for m in msgs[3:]}
    assert len(bones) == 22 and "Hips" in bones and "RightHand" in bones
    la = bones["LeftLowerLeg"]  # SMPL joint 4
    np.testing.assert_allclose(la[:3], REST_OFFSETS[4] * [-1, 1, 1], atol=1e-6)
    q = f.rotations[4]
    np.testing.assert_allclose(la[3:], [q[0], -q[1], -q[2], q[3]], atol=1e-6)
    assert bones["Hips"][:3] == [0.0, pytest.approx(0.95), 0.0]


def test_token_bucket():
    b = proto.TokenBucket(rate=10, burst=3)
    assert [b.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.allow(0.1) and not b.allow(0.1)
    assert math.isclose(b.burst, 3)


def test_osc_encoder_matches_python_osc(frames):
    from pythonosc.osc_bundle import OscBundle
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    args = ["root", 1, -2.5, "ünïcode", 3.25, 7, 0.1]
    b = OscMessageBuilder("/VMC/Ext/Bone/Pos")
    for a in args:
        b.add_arg(a)
    assert proto.encode_osc_message("/VMC/Ext/Bone/Pos", args) == b.build().dgram
    assert proto.encode_osc_message("/undo", []) == OscMessageBuilder("/undo").build().dgram
    bundle = OscBundle(proto.encode_vmc_bundle(frames(3)))
    msgs = [OscMessage(m.dgram) if hasattr(m, "dgram") else m for m in bundle]
    assert bundle.num_contents == 25 and msgs[0].address == "/VMC/Ext/OK" and msgs[-1].address == "/VMC/Ext/Bone/Pos"
    with pytest.raises(TypeError):
        proto.encode_osc_message("/x", [True])
