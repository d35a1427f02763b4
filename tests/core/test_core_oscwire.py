"""The bounded OSC decoder: what it reads, and every malformed shape it refuses without looping."""
from __future__ import annotations

import random
import struct

import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from liveedit.bench.fuzz import mutate_datagram
from liveedit.core.oscwire import MAX_ARGS, MAX_DEPTH, OscDecodeError, decode_message, decode_packet
from liveedit.protocol import encode_osc_bundle, encode_osc_message

pytestmark = pytest.mark.timeout(30)

NOW = b"\x00" * 7 + b"\x01"


def _msg(address, *args):
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def test_reads_what_python_osc_builds():
    m = OscMessageBuilder("/edit")
    for value, tag in [("swing arms", "s"), (8.0, "f"), (3, "i"), (2 ** 40, "h"), (2.5, "d"), (True, "T"),
                       (False, "F"), (None, "N"), (b"\x01\x02\x03", "b")]:
        m.add_arg(value, tag)
    (msg,) = decode_packet(m.build().dgram)
    assert msg.address == "/edit"
    assert msg.args == ("swing arms", 8.0, 3, 2 ** 40, 2.5, True, False, None, b"\x01\x02\x03")


def test_bundles_flatten_in_order_and_nest():
    b = OscBundleBuilder(0)
    b.add_content(OscMessageBuilder("/tap").build())
    inner = OscBundleBuilder(0)
    inner.add_content(OscMessageBuilder("/undo").build())
    b.add_content(inner.build())
    assert [m.address for m in decode_packet(b.build().dgram)] == ["/tap", "/undo"]
    assert [m.address for m in decode_packet(encode_osc_bundle([encode_osc_message("/status", [])]))] == ["/status"]


def test_message_without_type_tags_has_no_arguments():
    assert decode_message(b"/tap\x00\x00\x00\x00").args == ()


@pytest.mark.parametrize("size", [-4, -1, 0, 3, 6, 2 ** 31 - 1, -(2 ** 31)])
def test_bad_bundle_element_sizes_are_refused(size):
    """The 20-byte packet of issue 16 (size -4) made python-osc loop forever."""
    with pytest.raises(OscDecodeError, match="element size"):
        decode_packet(b"#bundle\x00" + NOW + struct.pack(">i", size) + b"/tap\x00\x00\x00\x00"[: 8 if size > 0 else 0])


def test_element_size_must_fit_its_own_bundle_not_the_datagram():
    inner = b"#bundle\x00" + NOW + struct.pack(">i", 16) + _msg("/tap")   # claims 16 bytes, holds 8
    outer = b"#bundle\x00" + NOW + struct.pack(">i", len(inner)) + inner
    with pytest.raises(OscDecodeError, match="element size 16"):
        decode_packet(outer)


def test_nesting_depth_is_bounded():
    packet = _msg("/tap")
    for _ in range(MAX_DEPTH):
        packet = b"#bundle\x00" + NOW + struct.pack(">i", len(packet)) + packet
    assert [m.address for m in decode_packet(packet)] == ["/tap"]
    deeper = b"#bundle\x00" + NOW + struct.pack(">i", len(packet)) + packet
    with pytest.raises(OscDecodeError, match="nested"):
        decode_packet(deeper)


def test_message_count_is_bounded_before_decoding_the_rest():
    packet = encode_osc_bundle([encode_osc_message("/tap", [])] * 17)
    assert len(decode_packet(packet, max_messages=17)) == 17
    with pytest.raises(OscDecodeError, match="more than 16 messages"):
        decode_packet(packet, max_messages=16)


def test_type_tags_are_bounded_and_known():
    """Issue 16: a 4 KB ',xxxx...' tag string logged one warning per tag in python-osc."""
    with pytest.raises(OscDecodeError, match="longer than"):
        decode_packet(b"/status\x00," + b"x" * 4000 + b"\x00" * 3)
    with pytest.raises(OscDecodeError, match="unsupported OSC type tag"):
        decode_packet(b"/status\x00,xx\x00")
    ok = b"/edit\x00\x00\x00," + b"T" * MAX_ARGS + b"\x00" * (4 - (MAX_ARGS + 1) % 4)
    assert len(decode_packet(ok)[0].args) == MAX_ARGS


@pytest.mark.parametrize("data, needle", [
    (b"", "empty"),
    (b"/tap\x00", "multiple of 4"),
    (b"hello, not osc\x00\x00", "must start with '/'"),
    (b"/tap", "not NUL-terminated"),
    (b"/edit\x00\x00\x00,s\x00\x00abcd", "string argument 1"),
    (b"/edit\x00\x00\x00,s\x00\x00\xff\xfe\x00\x00", "invalid UTF-8"),
    (b"/edit\x00\x00\x00,i\x00\x00", "runs past the end"),
    (b"/edit\x00\x00\x00,b\x00\x00\x7f\xff\xff\xff", "blob argument 1 size"),
    (b"/edit\x00\x00\x00,b\x00\x00\xff\xff\xff\xfc", "blob argument 1 size"),
    (b"/edit\x00\x00\x00sf\x00\x00", "must start with ','"),
    (b"/\xc3\xa9\x00", "not ASCII"),
    (b"/a\x01\x00", "control characters"),
    (b"#bundle\x00\x00\x00\x00\x00", "time tag"),
    (b"#bundle\x00" + NOW, "empty"),
    (b"#bundle\x00" + NOW + b"\x00\x00", "multiple of 4"),
    (b"#bundle\x00" + NOW + b"\x00\x00\x00\x08" + b"#bundle\x00", "time tag"),
])
def test_malformed_packets_raise_one_error(data, needle):
    with pytest.raises(OscDecodeError, match=needle):
        decode_packet(data)


def test_random_garbage_never_escapes_as_another_exception():
    rng = random.Random(16)
    seeds = [_msg("/edit", "arms up", 4.0), encode_osc_bundle([_msg("/tap"), _msg("/tempo", 120.0)]),
             b"#bundle\x00" + NOW + struct.pack(">i", -4)]
    for _ in range(3000):
        data = mutate_datagram(rng, rng.choice(seeds))
        try:
            decode_packet(data)
        except OscDecodeError:
            pass
