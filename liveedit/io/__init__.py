"""Thin asyncio adapters between the engine and the world (docs/protocol.md has the wire formats).

Inputs (each calls `await engine.handle(Command)` and answers on its own channel):
    osc.OscControlServer      UDP OSC control, replies to the sender
    ws.WebSocketServer        HTTP viewer + WebSocket control and pose stream (also a FrameSink)
    console.ConsoleInput      terminal lines
    midi.MidiInput            MIDI clock/start/stop + mapped notes/CCs (midi.load_midi_map)
    audio.open_audio_source   sound card / JACK device, file or demo song at 15360 Hz

Outputs (FrameSink: `name`, `offer(frame)` never blocks or raises, optional `start()`/`stop()`):
    ws.WebSocketServer, osc.PoseOscSink, vmc.VmcSink, recorder.Recorder
"""
