"""A bounded OSC 1.0 decoder for untrusted datagrams (stdlib only, no I/O, no logging).

Every control datagram is decoded here before anything else looks at it. The work is linear in the
datagram's size and every loop advances by at least four bytes, so no input can make it spin: a
bundle element size must be positive, a multiple of four and fit in what is left of its enclosing
bundle; bundles nest at most `MAX_DEPTH` deep and hold at most `max_messages` messages in all; a
message has an address starting with "/", a type tag string starting with "," of at most
`MAX_ARGS` tags, all of them known. Anything else raises one `OscDecodeError` with one reason, which
the server answers once, instead of a warning per byte or per tag.

Bundle time tags are read but not honoured (the server handles messages on arrival).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

BUNDLE_TAG = b"#bundle\x00"
MAX_DEPTH = 4          # a bundle inside a bundle inside ... this many levels
MAX_ARGS = 32          # type tags in one message (the longest control message needs two)
MAX_ADDRESS = 256      # bytes of an address pattern

# Tags read here: int32, int64, float32, float64, string, symbol, blob, true, false, nil, impulse.
KNOWN_TAGS = frozenset("ihfdsSbTFNI")

_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")


class OscDecodeError(ValueError):
    """The datagram is not OSC this server reads; the message says why, in a few words."""


@dataclass(frozen=True)
class OscMessage:
    address: str
    args: tuple[Any, ...]


def _string(data: bytes, pos: int, end: int, what: str, limit: int | None = None) -> tuple[bytes, int]:
    """An OSC string (NUL-terminated, padded to 4 bytes) at `pos` -> (its bytes, next position)."""
    stop = data.find(b"\x00", pos, end if limit is None else min(end, pos + limit + 1))
    if stop < 0:
        if limit is not None and end - pos > limit:
            raise OscDecodeError(f"{what} longer than {limit} bytes")
        raise OscDecodeError(f"{what} is not NUL-terminated")
    nxt = pos + ((stop - pos) // 4 + 1) * 4
    if nxt > end:
        raise OscDecodeError(f"{what} padding runs past the end")
    return data[pos:stop], nxt


def _decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OscDecodeError(f"invalid UTF-8 in {what}") from None


def decode_message(data: bytes, pos: int = 0, end: int | None = None) -> OscMessage:
    """One OSC message occupying data[pos:end]."""
    end = len(data) if end is None else end
    if pos >= end or data[pos:pos + 1] != b"/":
        raise OscDecodeError("an OSC message address must start with '/'")
    raw_addr, pos = _string(data, pos, end, "address", MAX_ADDRESS)
    try:
        address = raw_addr.decode("ascii")
    except UnicodeDecodeError:
        raise OscDecodeError("the address is not ASCII") from None
    if not address.isprintable():
        raise OscDecodeError("the address holds control characters")
    if pos >= end:
        return OscMessage(address, ())  # no type tag string: an old-style message without arguments
    if data[pos:pos + 1] != b",":
        raise OscDecodeError("the type tag string must start with ','")
    raw_tags, pos = _string(data, pos, end, "type tag string", MAX_ARGS + 1)
    tags = raw_tags[1:].decode("latin-1")
    unknown = sorted(set(tags) - KNOWN_TAGS)
    if unknown:
        shown = "".join(unknown[:8])
        raise OscDecodeError(f"unsupported OSC type tag(s) {shown!r}; this server reads {''.join(sorted(KNOWN_TAGS))}")
    args: list[Any] = []
    for i, tag in enumerate(tags):
        if tag in "ifhd":
            fmt = {"i": _I32, "f": _F32, "h": _I64, "d": _F64}[tag]
            if pos + fmt.size > end:
                raise OscDecodeError(f"argument {i + 1} ('{tag}') runs past the end")
            args.append(fmt.unpack_from(data, pos)[0])
            pos += fmt.size
        elif tag in "sS":
            raw, pos = _string(data, pos, end, f"string argument {i + 1}")
            args.append(_decode_utf8(raw, f"string argument {i + 1}"))
        elif tag == "b":
            if pos + 4 > end:
                raise OscDecodeError(f"blob argument {i + 1} has no size")
            size = _I32.unpack_from(data, pos)[0]
            pos += 4
            if size < 0 or pos + size > end:
                raise OscDecodeError(f"blob argument {i + 1} size {size} does not fit in the packet")
            args.append(bytes(data[pos:pos + size]))
            pos += size + (-size % 4)
            if pos > end:
                raise OscDecodeError(f"blob argument {i + 1} padding runs past the end")
        elif tag == "T":
            args.append(True)
        elif tag == "F":
            args.append(False)
        else:  # N (nil), I (impulse)
            args.append(None)
    return OscMessage(address, tuple(args))


def decode_packet(data: bytes, *, max_messages: int = 16) -> list[OscMessage]:
    """A whole datagram (a message or a bundle, nested at most MAX_DEPTH deep) -> its messages in order.

    Raises OscDecodeError on anything malformed, on an empty bundle, and as soon as more than
    `max_messages` messages are found (without decoding the rest).
    """
    data = bytes(data)
    out: list[OscMessage] = []

    def bundle(pos: int, end: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise OscDecodeError(f"bundles nested more than {MAX_DEPTH} deep")
        if end - pos < 16:
            raise OscDecodeError("truncated OSC bundle (no time tag)")
        pos += 16  # "#bundle\0" and the 8-byte time tag
        while pos < end:
            if end - pos < 4:
                raise OscDecodeError("truncated OSC bundle element size")
            size = _I32.unpack_from(data, pos)[0]
            pos += 4
            if size <= 0 or size % 4 or size > end - pos:
                raise OscDecodeError(f"bundle element size {size} is not a positive multiple of 4 "
                                     f"within the {end - pos} bytes left")
            element(pos, pos + size, depth)
            pos += size

    def element(pos: int, end: int, depth: int) -> None:
        if data.startswith(BUNDLE_TAG, pos):
            bundle(pos, end, depth + 1)
        else:
            if len(out) >= max_messages:
                raise OscDecodeError(f"more than {max_messages} messages in one packet")
            out.append(decode_message(data, pos, end))

    if not data:
        raise OscDecodeError("empty packet")
    if len(data) % 4:
        raise OscDecodeError(f"an OSC packet is a multiple of 4 bytes long, this one is {len(data)}")
    element(0, len(data), 0)
    if not out:
        raise OscDecodeError("empty or truncated OSC bundle")
    return out
