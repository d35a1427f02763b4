"""VMC protocol out: one OSC bundle per frame for VMC receivers (EVMC4U, VMC4UE, VSeeFace, Warudo).

The bundle's contents come from `liveedit.protocol.vmc_messages` (Unity's left-handed frame, rest
offsets as bone positions, rotations relative to the T-pose; docs/protocol.md section 5). One bundle
per frame matters: receivers such as EVMC4U drop packets when too many `/VMC/Ext/T` arrive per frame.
"""
from __future__ import annotations

from typing import Iterator

from liveedit import protocol as proto
from liveedit.core.messages import PoseFrame
from liveedit.io.osc import UdpFrameSink


def build_vmc_bundle(frame: PoseFrame) -> bytes:
    """The datagram of one VMC bundle (time tag: immediately)."""
    return proto.encode_vmc_bundle(frame)


class VmcSink(UdpFrameSink):
    """FrameSink sending the VMC protocol to a receiver (default 127.0.0.1:39539)."""

    def __init__(self, host: str = "127.0.0.1", port: int = proto.VMC_DEFAULT_PORT) -> None:
        super().__init__(f"vmc:{host}:{port}", host, port)

    def datagrams(self, frame: PoseFrame) -> Iterator[bytes]:
        yield build_vmc_bundle(frame)
