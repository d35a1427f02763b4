"""VMC protocol out: one OSC bundle per frame for VMC receivers (EVMC4U, VMC4UE, VSeeFace, Warudo).

The bundle's contents come from `liveedit.protocol.vmc_messages` (Unity's left-handed frame, rest
offsets as bone positions, rotations relative to the T-pose; docs/protocol.md section 5). One bundle
per frame matters: receivers such as EVMC4U drop packets when too many `/VMC/Ext/T` arrive per frame.
"""
from __future__ import annotations

import logging

from liveedit import protocol as proto
from liveedit.core.messages import PoseFrame
from liveedit.io.osc import UdpSender

log = logging.getLogger(__name__)


def build_vmc_bundle(frame: PoseFrame) -> bytes:
    """The datagram of one VMC bundle (time tag: immediately)."""
    return proto.encode_vmc_bundle(frame)


class VmcSink:
    """FrameSink sending the VMC protocol to a receiver (default 127.0.0.1:39539)."""

    def __init__(self, host: str = "127.0.0.1", port: int = proto.VMC_DEFAULT_PORT) -> None:
        self.name = f"vmc:{host}:{port}"
        self._udp = UdpSender(host, port)

    @property
    def sent(self) -> int:
        return self._udp.sent

    async def start(self) -> None:
        self._udp.open()

    async def stop(self) -> None:
        self._udp.close()

    def offer(self, frame: PoseFrame) -> None:
        try:
            self._udp.send(build_vmc_bundle(frame))
        except Exception as exc:  # never raise into the engine
            self._udp.dropped += 1
            log.debug("vmc: frame skipped: %s", exc)
