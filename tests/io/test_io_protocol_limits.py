"""Validation at the protocol boundary (sans-I/O): edit text, numbers, JSON, Host/Origin names, log limits."""
from __future__ import annotations

import json

import pytest

from liveedit import protocol as proto
from liveedit.commands.serve import check_exposure
from liveedit.core.edits import EditStack
from liveedit.status import format_status


@pytest.mark.parametrize("raw, clean", [
    ("  swing\tarms\n wider ", "swing arms wider"),
    ("arms\u00a0up\u2028now", "arms up now"),          # no-break space, line separator
    ("jump\u200b higher\u202e", "jump higher"),         # zero-width space, bidi override dropped
    ("cafe\u0301 spin", "caf\u00e9 spin"),             # NFC
    ("\x00\x07spin\x7f", "spin"),
])
def test_prompt_is_normalised_once(raw, clean):
    out = proto.clean_prompt(raw)
    assert out == clean and out.isprintable()
    out.encode("utf-8")


@pytest.mark.parametrize("raw, needle", [
    ("arms \ud800 up", "lone surrogate"),
    ("arms \udfff", "lone surrogate"),
    ("arms \ue000", "private-use"),
    ("arms \U000e0080", "unassigned"),
    ("\u200b \t", "empty"),
    ("x" * 201, "at most 200"),
    ("x" * 100000, "at most 200"),
    (b"bytes", "must be a string"),
])
def test_prompt_refusals(raw, needle):
    with pytest.raises(proto.ProtocolError, match=needle):
        proto.clean_prompt(raw)


def test_edit_stack_refuses_what_the_text_encoder_cannot_take():
    stack = EditStack()
    with pytest.raises(ValueError, match="printable"):
        stack.push("arms \ud800 up", 0.0)
    assert len(stack) == 0 and stack.version == 0


@pytest.mark.parametrize("kind, value", [("tempo", 10 ** 400), ("strength", -(10 ** 400)), ("edit", 10 ** 400)])
def test_huge_integers_are_out_of_range_not_overflow(kind, value):
    with pytest.raises(proto.ProtocolError, match="out of range"):
        proto.make_command(kind, text="spin", value=value)


@pytest.mark.parametrize("duration", [1e-45, 0.0, 0.1, -1.0, 1025.0])
def test_edit_duration_range(duration):
    with pytest.raises(proto.ProtocolError, match="duration must be between 0.25 and 1024"):
        proto.make_command("edit", text="spin", value=duration)
    assert proto.make_command("edit", text="spin", value=0.25).value == 0.25


@pytest.mark.parametrize("text, needle", [
    ('{"type":"tempo","bpm":1' + "0" * 400 + "}", "out of range"),
    ('{"type":"tempo","bpm":1' + "0" * 5000 + "}", "out of range"),
    ('{"type":"strength","value":1.' + "0" * 5000 + "}", "out of range"),
    ('{"type":"edit","text":"x","duration":1e400}', "finite"),
    ('{"type":"strength","value":NaN}', "not a JSON number"),
    ('{"type":"tempo","bpm":-Infinity}', "not a JSON number"),
    ('{"type":"edit","text":"arms \\ud800 up"}', "lone surrogate"),
    ("[" * 100000, "not valid JSON"),
    ('{"type":"tap"', "not valid JSON"),
])
def test_ws_numbers_and_json_errors_become_protocol_errors(text, needle):
    with pytest.raises(proto.ProtocolError, match=needle):
        proto.parse_ws_message(text)


def test_ws_huge_id_is_still_echoed_safely():
    req = proto.parse_ws_message(json.dumps({"type": "tap", "id": "x" * 1000}))
    assert req.id == "x" * 64


def test_host_policy_defaults_to_loopback_and_the_bound_address():
    p = proto.HostPolicy("127.0.0.1")
    for host in ("127.0.0.1:8765", "localhost", "LOCALHOST.:80", "[::1]:8765", "viewer.localhost:1"):
        assert p.host_ok(host), host
    for host in ("rebind.attacker.example:8765", "10.0.0.5:8765", "", None, "a b", "x:y", "[::1"):
        assert not p.host_ok(host), host
    assert p.host_ok("10.0.0.5:8765", local_ip="10.0.0.5")     # the address the request arrived at
    assert proto.HostPolicy("10.0.0.5").host_ok("10.0.0.5")
    assert not proto.HostPolicy("0.0.0.0").host_ok("0.0.0.0")


def test_host_policy_allow_list_and_origins():
    p = proto.HostPolicy("127.0.0.1", ["stage.local", ".venue.example,other.example"])
    assert p.host_ok("stage.local:8765") and p.host_ok("a.venue.example") and p.host_ok("venue.example")
    assert p.host_ok("other.example") and not p.host_ok("venue.example.attacker.example")
    assert p.origin_ok(None)   # not a browser
    for origin in ("http://localhost:5173", "http://127.0.0.1:8000", "https://stage.local", "http://[::1]:3000"):
        assert p.origin_ok(origin), origin
    # the Origin is checked against the list, never against the Host the page chose
    for origin in ("https://evil.example", "http://rebind.attacker.example:8765", "null", "file://", "ws://localhost",
                   "http://10.0.0.5:8765"):
        assert not p.origin_ok(origin), origin
    assert p.origin_ok("http://10.0.0.5:8765", local_ip="10.0.0.5")
    assert proto.HostPolicy("127.0.0.1", ["*"]).host_ok("anything.example")


def test_log_limiter_one_line_per_key_and_interval_with_a_count():
    lim = proto.LogLimiter(10.0, max_keys=2)
    assert lim.check("a", 0.0) == 0
    assert [lim.check("a", t) for t in (1.0, 2.0, 3.0)] == [None, None, None]
    assert lim.check("b", 3.0) == 0
    assert lim.check("a", 10.5) == 3              # the three left out are counted
    lim.check("c", 11.0)                          # a third key forgets the oldest
    assert len(lim._seen) == 2
    burst = proto.LogLimiter(10.0, burst=3)
    assert [burst.check("k", 0.0) for _ in range(5)] == [0, 0, 0, None, None]


def test_non_loopback_bind_needs_a_token_or_an_explicit_opt_out():
    assert check_exposure("127.0.0.1", None, False) is None
    assert check_exposure("localhost", None, False) is None
    assert check_exposure("::1", None, False) is None
    assert "--token" in check_exposure("0.0.0.0", None, False)
    assert "--insecure-no-token" in check_exposure("192.168.1.5", None, False)
    assert check_exposure("0.0.0.0", "s3cret", False) is None
    assert check_exposure("0.0.0.0", None, True) is None
    line = format_status({"warnings": ["control open"], "edits_failed": 2})
    assert "INSECURE" in line and "edits failed 2" in line


def test_hello_says_when_control_is_open_without_a_token():
    hello = proto.hello_message(control_needs_token=False, authenticated=True, subscription=None, insecure=True)
    assert "--insecure-no-token" in hello["warning"]
    assert "warning" not in proto.hello_message(control_needs_token=False, authenticated=True, subscription=None)
