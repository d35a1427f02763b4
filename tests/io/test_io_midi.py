"""MIDI: mapping files, and real JACK MIDI ports through mido's rtmidi UNIX_JACK backend."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import mido
import pytest

from liveedit.io.midi import JACK_BACKEND, MidiAction, MidiInput, command_for, load_midi_map, parse_midi_map

pytestmark = pytest.mark.timeout(60)

TOML_MAP = """
port = "liveedit"
channel = 1
[notes]
60 = "swing arms wider"
62 = { edit = "jump higher", duration = 8 }
64 = { command = "undo" }
[cc]
1 = { strength = [0.0, 6.0] }
20 = { edit = "spin", threshold = 64 }
"""


def test_load_toml_and_json(tmp_path):
    p = tmp_path / "map.toml"
    p.write_text(TOML_MAP)
    m = load_midi_map(p)
    assert m.channel == 1 and m.notes[60] == MidiAction("edit", text="swing arms wider")
    assert m.notes[62].duration == 8.0 and m.notes[64].kind == "undo" and m.cc[1].strength_range == (0.0, 6.0)
    j = tmp_path / "map.json"
    j.write_text(json.dumps({"notes": {"60": "spin"}, "cc": {"7": {"command": "reset", "threshold": 100}}}))
    m2 = load_midi_map(j)
    assert m2.notes[60].text == "spin" and m2.cc[7].threshold == 100 and m2.channel is None


@pytest.mark.parametrize("doc,needle", [
    ({"notes": {"200": "x"}}, "outside 0..127"),
    ({"notes": {"abc": "x"}}, "not a number"),
    ({"notes": {"60": {"edit": "x", "colour": 1}}}, "unknown keys"),
    ({"notes": {"60": {"command": "explode"}}}, "command must be"),
    ({"notes": {"60": {"strength": [0, 1]}}}, "needs a controller"),
    ({"cc": {"1": {"strength": [0, 99]}}}, "strength must be between"),
    ({"notes": {"60": ""}}, "empty"),
    ({"channel": 17}, "channel"),
    ({"ports": "x"}, "unknown keys"),
])
def test_bad_maps_name_the_entry(doc, needle):
    with pytest.raises(ValueError, match=needle):
        parse_midi_map(doc, "test.json")


def test_bad_file_names_the_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("notes = [")
    with pytest.raises(ValueError, match="broken.toml.*TOML"):
        load_midi_map(p)


def test_command_for_notes_and_controllers():
    m = parse_midi_map({"channel": 2, "notes": {"60": "spin"}, "cc": {"1": {"strength": [0, 4]},
                                                                      "20": {"command": "undo", "threshold": 64}}})
    state: dict[int, int] = {}
    assert command_for(m, mido.Message("note_on", note=60, velocity=90, channel=1), state).text == "spin"
    assert command_for(m, mido.Message("note_on", note=60, velocity=90, channel=0), state) is None  # other channel
    assert command_for(m, mido.Message("note_on", note=60, velocity=0, channel=1), state) is None   # = note off
    assert command_for(m, mido.Message("control_change", control=1, value=127, channel=1), state).value == 4.0
    cc = lambda v: command_for(m, mido.Message("control_change", control=20, value=v, channel=1), state)  # noqa: E731
    assert cc(10) is None and cc(100).kind == "undo" and cc(120) is None and cc(0) is None and cc(64).kind == "undo"


def _jack_port(fragment: str) -> str:
    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    names = [n for n in out if fragment in n]
    assert names, f"no JACK port containing {fragment!r} in {out}"
    return names[0]


async def test_clock_start_stop_and_mapped_note_over_jack(jack, engine):
    tag = f"lv{os.getpid()}"
    m = parse_midi_map({"port": f"{tag}in", "notes": {"60": {"edit": "swing arms wider", "duration": 4}},
                        "cc": {"1": {"strength": [0, 6]}}})
    midi = MidiInput(engine, m, backend=JACK_BACKEND)
    await midi.start()
    backend = mido.Backend(JACK_BACKEND, load=True)
    out = backend.open_output(f"{tag}out", virtual=True, client_name=f"{tag}sender")
    try:
        src, dst = _jack_port(f"{tag}out"), _jack_port(f"{tag}in")
        subprocess.run(["jack_connect", src, dst], check=True, timeout=10)
        t0 = time.perf_counter()
        out.send(mido.Message("start"))
        for _ in range(24):
            out.send(mido.Message("clock"))
            await asyncio.sleep(0.005)
        out.send(mido.Message("note_on", note=60, velocity=100))
        out.send(mido.Message("control_change", control=1, value=64))
        out.send(mido.Message("note_on", note=61, velocity=100))  # unmapped: ignored
        out.send(mido.Message("stop"))
        for _ in range(200):
            if engine.stops and len(engine.commands) >= 2:
                break
            await asyncio.sleep(0.02)
        assert len(engine.starts) == 1 and len(engine.ticks) == 24 and len(engine.stops) == 1
        assert t0 <= engine.starts[0] <= engine.ticks[0] and engine.ticks == sorted(engine.ticks)
        assert engine.ticks[-1] <= engine.stops[0] <= time.perf_counter()
        edit, strength = engine.commands
        assert (edit.kind, edit.text, edit.value, edit.source) == ("edit", "swing arms wider", 4.0, "midi")
        assert strength.kind == "strength" and strength.value == pytest.approx(6 * 64 / 127)
    finally:
        out.close()
        await midi.stop()
