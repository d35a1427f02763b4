"""Ableton Link as a clock source and a clock output (`liveedit serve --link`), through `aalink`.

Link shares tempo and beat phase among the peers on a network (Ableton Live, Traktor, Resolume,
TouchDesigner, Serato, other liveedit processes). The adapter is an engine output: the engine calls
`offer` once a frame (30 times a second) and it polls the session then:

  * other peers in the session, no MIDI clock: the session is the clock. The grid takes its tempo at
    once and slews its beat phase to the session's (`BeatGrid.link_update`: at most 0.1 beat a
    second, so the dance never jumps); audio and manual tempo no longer move it. A `/tempo` or tap
    tempo becomes the session's tempo, as a tempo change in Live would.
  * alone in the session, or a running MIDI clock: liveedit is the clock. The session's tempo follows
    the grid's (audio, MIDI clock, manual or tap), and while alone its beat is aligned with the grid,
    so a peer that joins finds liveedit's beat.

Each change of clock is in the engine status (`beat_source`, `beat_switch`) and the log.
Link multicasts on every network interface; the tests run it inside a loopback-only network
namespace. `pip install 'liveedit[link]'` installs aalink (GPL-3.0-or-later; Ableton Link is
GPL-2.0-or-later), which fits this project's GPL-3.0-or-later.
"""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

QUANTUM = 4            # beats a bar in the Link session (phase alignment with other peers' bars)
ALIGN_TOLERANCE = 0.002  # s: alone in the session, its beat is re-aligned with the grid beyond this


class LinkUnavailable(RuntimeError):
    """aalink is not installed (or cannot load)."""


class LinkClock:
    name = "link"

    def __init__(self, engine: Any, quantum: int = QUANTUM) -> None:
        try:
            import aalink  # noqa: PLC0415  (optional: the `link` extra)
        except ImportError as exc:
            raise LinkUnavailable("Ableton Link needs the aalink package: pip install 'liveedit[link]' "
                                  f"({exc})") from None
        self._aalink = aalink
        self.engine = engine
        self.quantum = quantum
        self.link = None
        self.peers = 0
        self._pushed_manual: float | None = None
        self._last_source: str | None = None

    async def start(self) -> None:
        import warnings  # noqa: PLC0415

        with warnings.catch_warnings():   # older aalink wanted the loop; newer finds the running one
            warnings.simplefilter("ignore", DeprecationWarning)
            self.link = self._aalink.Link(float(self.engine.grid.bpm))
        self.link.quantum = self.quantum
        self.link.enabled = True
        log.info("Ableton Link enabled (quantum %d)", self.quantum)

    async def stop(self) -> None:
        if self.link is not None:
            self.link.enabled = False
            self.link = None

    def offer(self, frame: Any) -> None:   # called by the engine once a frame: poll the session
        if self.link is not None:
            self.poll()

    def _session_now(self) -> tuple[float, float]:
        """(engine time, session beat) read together."""
        p0 = time.perf_counter()
        beat = float(self.link.beat)
        p1 = time.perf_counter()
        return self.engine.from_perf(0.5 * (p0 + p1)), beat

    def poll(self) -> None:
        link, engine = self.link, self.engine
        grid = engine.grid
        t, beat = self._session_now()
        self.peers = int(link.num_peers)
        with engine._grid_lock:
            manual = grid.manual_bpm
            if manual is None:
                self._pushed_manual = None
            elif manual != self._pushed_manual:    # /tempo or tap: the session's new tempo
                link.tempo = manual
                self._pushed_manual = manual
            if self.peers > 0 and not grid.midi_active(t):
                grid.link_update(t, beat, float(link.tempo))
            else:
                if grid.source == "link":
                    grid.link_lost(t)
                if abs(float(link.tempo) - grid.bpm) > 1e-3:
                    link.tempo = grid.bpm
                    t, beat = self._session_now()
                if self.peers == 0 and abs(grid.link_phase_error(t, beat)) * grid.period > ALIGN_TOLERANCE:
                    link.force_beat(grid.beat_at(t))
            source = grid.source
        if source != self._last_source:
            if self._last_source is not None:
                log.info("beat clock: %s -> %s (%d other Link peer(s))", self._last_source, source, self.peers)
            self._last_source = source

    def status(self) -> dict:
        return {"link_peers": self.peers,
                "link_tempo": round(float(self.link.tempo), 3) if self.link is not None else None}
