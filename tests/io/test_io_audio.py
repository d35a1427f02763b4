"""Audio in: file/demo playback paced in real time, resampling to 15360 Hz, and a real JACK input
stream fed by a real JACK client (our own file player) playing a test tone."""
from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import pytest
import soundfile as sf

from liveedit.io import audio
from liveedit.io.audio import SAMPLE_RATE, AudioSourceError, FileAudioSource, open_audio_source

pytestmark = pytest.mark.timeout(60)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / rate)[np.argmax(spec)])


async def test_file_source_is_paced_by_the_clock_and_resampled():
    clock = FakeClock()
    src = FileAudioSource(np.stack([tone(440, 2.0, 44100)] * 2, axis=1), 44100, play=False, clock=clock)
    await src.start()
    assert src.sample_rate == SAMPLE_RATE and len(src.read_available()) == 0
    clock.t += 0.5
    x = src.read_available()
    assert len(x) == SAMPLE_RATE // 2 and x.dtype == np.float32
    assert abs(peak_hz(x) - 440) < 3
    clock.t += 0.25
    assert len(src.read_available()) == SAMPLE_RATE // 4 and src.samples_read == 3 * SAMPLE_RATE // 4
    clock.t += 10.0  # past the end: the rest of the file, then nothing
    assert src.samples_read + len(src.read_available()) == len(src.audio) == 2 * SAMPLE_RATE
    assert src.finished and len(src.read_available()) == 0
    await src.stop()


async def test_looping_source_wraps():
    clock = FakeClock()
    src = FileAudioSource(tone(440, 1.0, 22050), 22050, play=False, loop=True, clock=clock)
    await src.start()
    clock.t += 2.5
    x = src.read_available()
    assert len(x) == int(2.5 * SAMPLE_RATE) and not src.finished
    np.testing.assert_array_equal(x[:100], x[SAMPLE_RATE:SAMPLE_RATE + 100])
    await src.stop()
    clock.t += 5.0
    assert len(src.read_available()) == 0  # stopped: the timeline is frozen


async def test_open_audio_source_specs(tmp_path, monkeypatch):
    path = tmp_path / "song.wav"
    sf.write(path, tone(220, 1.0, 48000), 48000)
    src = open_audio_source(str(path), play=False)
    assert isinstance(src, FileAudioSource) and abs(src.duration - 1.0) < 1e-3
    assert abs(peak_hz(src.audio) - 220) < 3
    demo = open_audio_source("demo", play=False)
    assert isinstance(demo, FileAudioSource) and demo.loop and demo.duration > 5
    monkeypatch.setattr(audio, "DEMO_PATH", tmp_path / "no-demo.flac")  # asset missing: a synthetic loop
    synth = open_audio_source("demo", play=False)
    assert synth.loop and synth.duration > 5 and np.abs(synth.audio).max() > 0.1
    with pytest.raises(AudioSourceError, match="does not exist"):
        open_audio_source(str(tmp_path / "missing.wav"))
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioSourceError, match="cannot read"):
        open_audio_source(str(tmp_path / "junk.wav"))
    with pytest.raises(AudioSourceError, match="--audio-in demo"):
        open_audio_source("no such sound card 1234")


async def test_default_without_sound_card_names_alternatives(monkeypatch):
    import sounddevice as sd

    def no_devices(device=None, kind=None):
        if kind is None and device is None:
            return sd.DeviceList([])
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "query_devices", no_devices)
    with pytest.raises(AudioSourceError) as info:
        open_audio_source("default")
    msg = str(info.value)
    assert "no input devices found" in msg and "--audio-in demo" in msg and "JACK" in msg and "song.wav" in msg


def _jack_ports() -> set[str]:
    return set(subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.split())


async def test_jack_input_hears_a_tone_played_by_a_jack_client(jack):
    """Our file player plays a 440 Hz tone into JACK; the default device input (JACK) records it."""
    before = _jack_ports()
    mic = open_audio_source("default")
    await mic.start()
    after_in = _jack_ports()
    # 44.1 kHz into a 48 kHz JACK server: the player resamples for playback.
    player = FileAudioSource(tone(440, 10.0, 44100), 44100, play=True, loop=True)
    await player.start()
    try:
        assert player.playing_to_device, "the file player could not open the JACK output"
        after_out = _jack_ports()
        ins = sorted(p for p in after_in - before if ":in" in p)
        outs = sorted(p for p in after_out - after_in if ":out" in p)
        assert ins and outs, (before, after_in, after_out)
        for o in outs:
            for i in ins:
                subprocess.run(["jack_connect", o, i], check=True, timeout=10)
        mic.read_available()  # drop what came before the connection
        got = []
        for _ in range(200):
            await asyncio.sleep(0.02)
            got.append(mic.read_available())
            if sum(map(len, got)) >= SAMPLE_RATE:
                break
        x = np.concatenate(got)
        assert len(x) >= SAMPLE_RATE // 2, f"only {len(x)} samples in 4 s"
        assert mic.samples_read >= len(x)
        assert np.abs(x[-SAMPLE_RATE // 2:]).max() > 0.1  # a signal, not the dummy's silence
        assert abs(peak_hz(x[-SAMPLE_RATE // 2:]) - 440) < 4
        assert player.read_available().size > 0  # the player hands out what it played
    finally:
        await player.stop()
        await mic.stop()


def test_resampler_streaming_matches_whole_signal():
    x = tone(1000, 1.0, 48000)
    whole = audio.resample(x, 48000)
    r = audio._Resampler(48000)
    parts = [r.process(x[i:i + 512]) for i in range(0, len(x), 512)] + [r.process(np.zeros(0, np.float32), last=True)]
    streamed = np.concatenate(parts)
    assert abs(len(streamed) - len(whole)) <= 2 and abs(len(whole) - SAMPLE_RATE) <= 2
    n = min(len(streamed), len(whole)) - 200
    np.testing.assert_allclose(streamed[200:n], whole[200:n], atol=1e-3)
