"""Audio in: a sound card / JACK input, a file or the bundled demo song, all delivered at 15360 Hz.

Every source has the same small interface (what the engine reads):
    sample_rate      15360, after resampling
    await start() / await stop()
    read_available() float32 mono samples that arrived since the last call (never blocks)
    samples_read     how many samples read_available has returned in total (the engine's clock)

Device input runs in PortAudio's callback thread and only copies samples into a bounded buffer;
resampling (soxr, streaming) happens in `read_available`. A file is played in real time: paced by the
sound card's callback when it can be played to one, otherwise by `time.perf_counter()`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 15360
MAX_BUFFER_SECONDS = 10.0  # device input kept when nobody reads; older audio is dropped
DEMO_PATH = Path(__file__).resolve().parent.parent / "assets" / "demo.flac"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus", ".m4a"}


class AudioSourceError(RuntimeError):
    """The audio input asked for cannot be opened; the message says what to use instead."""


class AudioSource(Protocol):
    sample_rate: int
    samples_read: int

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def read_available(self) -> np.ndarray: ...


class _Resampler:
    """Streaming resampler to 15360 Hz (soxr keeps its filter state between chunks)."""

    def __init__(self, in_rate: float) -> None:
        self.in_rate = float(in_rate)
        self._stream = None
        if round(self.in_rate) != SAMPLE_RATE:
            import soxr  # noqa: PLC0415  (librosa's dependency; imported only when needed)
            self._stream = soxr.ResampleStream(self.in_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")

    def process(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._stream is None:
            return x
        return np.asarray(self._stream.resample_chunk(x, last=last), dtype=np.float32).reshape(-1)


def resample(x: np.ndarray, in_rate: float) -> np.ndarray:
    """Whole-signal resampling of mono float32 audio to 15360 Hz."""
    return _Resampler(in_rate).process(x, last=True)


# ---------------------------------------------------------------------------------------------
# live input

class DeviceAudioSource:
    """A PortAudio input device (a sound card, or the JACK server's ports), mixed to mono."""

    sample_rate = SAMPLE_RATE

    def __init__(self, device: int | str | None = None, *, device_rate: float | None = None,
                 blocksize: int = 0, channels: int | None = None) -> None:
        import sounddevice as sd  # noqa: PLC0415

        self._sd = sd
        info = sd.query_devices(device, "input")
        self.device_index: int = int(info["index"])
        self.device_name: str = str(info["name"])
        self.name = f"input:{self.device_name}"
        self.device_rate = float(device_rate or info["default_samplerate"])
        self.channels = int(channels or min(2, max(1, int(info["max_input_channels"]))))
        self.blocksize = blocksize
        self._chunks: deque[np.ndarray] = deque()
        self._buffered = 0
        self._lock = threading.Lock()
        self._resampler = _Resampler(self.device_rate)
        self._stream = None
        self.samples_read = 0
        self.overruns = 0         # PortAudio-reported input overflows
        self.dropped_samples = 0  # device-rate samples thrown away because nobody read them

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        # PortAudio's thread: copy and return; no allocation-heavy work, no logging.
        if status:
            self.overruns += 1
        mono = indata.mean(axis=1) if indata.shape[1] > 1 else indata[:, 0].copy()
        limit = int(MAX_BUFFER_SECONDS * self.device_rate)
        with self._lock:
            self._chunks.append(mono)
            self._buffered += len(mono)
            while self._buffered > limit and self._chunks:
                old = self._chunks.popleft()
                self._buffered -= len(old)
                self.dropped_samples += len(old)

    async def start(self) -> None:
        if self._stream is not None:
            return
        self._stream = self._sd.InputStream(
            device=self.device_index, channels=self.channels, samplerate=self.device_rate,
            dtype="float32", blocksize=self.blocksize, callback=self._callback)
        self._stream.start()
        log.info("audio in: %s (%d ch, %.0f Hz -> %d Hz)", self.device_name, self.channels, self.device_rate, SAMPLE_RATE)

    async def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()

    def read_available(self) -> np.ndarray:
        with self._lock:
            chunks = list(self._chunks)
            self._chunks.clear()
            self._buffered = 0
        raw = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        out = self._resampler.process(raw)
        self.samples_read += len(out)
        return out


# ---------------------------------------------------------------------------------------------
# files and the demo song

def load_audio_file(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode a file -> (float32 array (frames, channels), sample rate). soundfile first, librosa's
    audioread/ffmpeg path for formats libsndfile cannot read."""
    path = Path(path)
    if not path.is_file():
        raise AudioSourceError(f"audio file {path} does not exist")
    try:
        import soundfile as sf  # noqa: PLC0415
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, int(rate)
    except Exception as first:  # libsndfile cannot read it: try librosa (ffmpeg via audioread)
        try:
            import warnings  # noqa: PLC0415

            import librosa  # noqa: PLC0415
            with warnings.catch_warnings():  # its "PySoundFile failed, trying audioread" is expected here
                warnings.simplefilter("ignore")
                y, rate = librosa.load(str(path), sr=None, mono=False)
            y = np.atleast_2d(y).T.astype(np.float32)
            return y, int(rate)
        except Exception as second:
            raise AudioSourceError(f"cannot read audio file {path}: {first}; {second}") from second


def synth_demo_song(seconds: float = 32.0, bpm: float = 120.0, rate: int = 44100) -> np.ndarray:
    """A plain drum-and-bass loop (kick on every beat, hi-hat off-beats, a bass note per bar), used
    when the bundled demo song is missing so `--audio-in demo` always has something with a beat."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    out = np.zeros(n, np.float32)
    beat = 60.0 / bpm
    rng = np.random.default_rng(0)
    for k in range(int(seconds / beat)):
        s = int(k * beat * rate)
        m = min(n - s, int(0.25 * rate))
        tt = np.arange(m) / rate
        out[s:s + m] += 0.8 * np.sin(2 * np.pi * (50 + 80 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
        h = int((k + 0.5) * beat * rate)
        hm = min(n - h, int(0.05 * rate))
        if hm > 0:
            out[h:h + hm] += 0.15 * rng.standard_normal(hm) * np.exp(-np.arange(hm) / rate * 80)
    roots = (55.0, 55.0, 65.41, 49.0)
    bar = 4 * beat
    freq = np.array([roots[int(x / bar) % 4] for x in t[:: rate // 100]])
    freq = np.repeat(freq, rate // 100)[:n]
    out += 0.2 * np.sin(2 * np.pi * np.cumsum(freq) / rate).astype(np.float32)
    return (out / max(1e-6, float(np.abs(out).max())) * 0.8).astype(np.float32)[:, None]


class FileAudioSource:
    """Plays a decoded song in real time and hands out its samples at 15360 Hz as they are played.

    play: True = to the default output device, False = silent (paced by the clock), None = play when
    an output device exists. loop: start again at the end (the demo does).
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, data: np.ndarray, rate: int, *, name: str = "file", play: bool | None = None,
                 loop: bool = False, clock=time.perf_counter) -> None:
        data = np.asarray(data, dtype=np.float32)
        if data.ndim == 1:
            data = data[:, None]
        if len(data) == 0:
            raise AudioSourceError(f"{name}: the audio is empty")
        self.name = name
        self.native = data                  # (frames, channels) at `rate`, for playback
        self.native_rate = int(rate)
        self.audio = resample(data.mean(axis=1), rate)  # (n,) mono at 15360 Hz, for analysis
        self.duration = len(self.audio) / SAMPLE_RATE
        self.play = play
        self.loop = loop
        self._clock = clock
        self._t0: float | None = None
        self._native_pos = 0                # advanced by the output callback when playing
        self._out = None
        self._read_pos = 0                  # position in the (looped) timeline, 15360 Hz samples
        self._frozen: int | None = None     # timeline position once stopped
        self.samples_read = 0

    @property
    def playing_to_device(self) -> bool:
        return self._out is not None

    @property
    def finished(self) -> bool:
        return not self.loop and self._read_pos >= len(self.audio)

    def _open_output(self):
        """An output stream at the song's rate, or (JACK and some cards accept one rate only) at the
        device's rate with the song resampled for playback."""
        import sounddevice as sd  # noqa: PLC0415

        self._sd = sd
        channels = min(2, self.native.shape[1])
        try:
            out = sd.OutputStream(samplerate=self.native_rate, channels=channels, dtype="float32",
                                  callback=self._out_callback)
        except sd.PortAudioError:
            rate = int(sd.query_devices(kind="output")["default_samplerate"])
            if rate == self.native_rate:
                raise
            import soxr  # noqa: PLC0415
            self.native = np.ascontiguousarray(soxr.resample(self.native, self.native_rate, rate), dtype=np.float32)
            self.native_rate = rate
            out = sd.OutputStream(samplerate=rate, channels=channels, dtype="float32", callback=self._out_callback)
        out.start()
        return out

    def _out_callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        n = len(self.native)
        pos = self._native_pos
        idx = np.arange(pos, pos + frames)
        if self.loop:
            idx %= n
            chunk = self.native[idx]
        else:
            valid = idx[idx < n]
            chunk = np.zeros((frames, self.native.shape[1]), np.float32)
            chunk[: len(valid)] = self.native[valid]
        ch = outdata.shape[1]
        outdata[:] = chunk[:, :ch] if chunk.shape[1] >= ch else np.repeat(chunk[:, :1], ch, axis=1)
        self._native_pos = pos + frames

    async def start(self) -> None:
        if self._t0 is not None:
            return
        want = self.play
        if want is None:
            want = _has_output_device()
        if want:
            try:
                self._out = self._open_output()
                log.info("playing %s to %s at %d Hz", self.name,
                         self._sd.query_devices(self._out.device)["name"], self.native_rate)
            except Exception as exc:  # no usable output: pace by the clock instead
                log.warning("cannot play %s to a sound card (%s); running silently", self.name, exc)
                self._out = None
        self._t0 = self._clock()

    async def stop(self) -> None:
        # Freeze the timeline where it is: read_available() then returns what is left up to here.
        self._frozen = self._play_position()
        out, self._out = self._out, None
        if out is not None:
            out.stop()
            out.close()

    def _play_position(self) -> int:
        """Samples (15360 Hz) of the song played so far along the (looped) timeline."""
        if self._frozen is not None:
            return self._frozen
        if self._out is not None:
            return int(self._native_pos * SAMPLE_RATE / self.native_rate)
        if self._t0 is None:
            return 0
        return int((self._clock() - self._t0) * SAMPLE_RATE)

    def read_available(self) -> np.ndarray:
        end = self._play_position()
        if not self.loop:
            end = min(end, len(self.audio))
        start = self._read_pos
        if end <= start:
            return np.zeros(0, np.float32)
        n = len(self.audio)
        idx = np.arange(start, end)
        out = self.audio[idx % n] if self.loop else self.audio[idx]
        self._read_pos = end
        self.samples_read += len(out)
        return out


def _has_output_device() -> bool:
    try:
        import sounddevice as sd  # noqa: PLC0415
        sd.query_devices(kind="output")
        return True
    except Exception:
        return False


def input_device_names() -> list[str]:
    try:
        import sounddevice as sd  # noqa: PLC0415
        return [f"{d['index']}: {d['name']}" for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception:
        return []


def _no_device_message(spec: str, why: str) -> str:
    names = input_device_names()
    listed = "; input devices: " + ", ".join(names) if names else "; no input devices found (no sound card?)"
    return (f"cannot open audio input {spec!r}: {why}{listed}. Alternatives: --audio-in demo (the bundled "
            "song), --audio-in path/to/song.wav, or start a JACK server (jackd -d dummy -r 48000) and use its "
            "device (often named 'system').")


def open_audio_source(spec: str, *, play: bool | None = None, loop: bool | None = None) -> AudioSource:
    """`default` | device name or index | file path | `demo` -> an AudioSource (not started yet)."""
    spec = str(spec).strip()
    if spec == "demo":
        if DEMO_PATH.is_file():
            data, rate = load_audio_file(DEMO_PATH)
        else:
            log.warning("demo song %s is missing; playing a synthetic 120 bpm loop instead", DEMO_PATH)
            rate = 44100
            data = synth_demo_song(rate=rate)
        return FileAudioSource(data, rate, name="demo", play=play, loop=True if loop is None else loop)
    path = Path(spec).expanduser()
    if path.is_file() or path.suffix.lower() in AUDIO_SUFFIXES:
        data, rate = load_audio_file(path)
        return FileAudioSource(data, rate, name=path.name, play=play, loop=bool(loop))
    device: int | str | None
    if spec in ("", "default"):
        device = None
    elif spec.isdigit():
        device = int(spec)
    else:
        device = spec
    try:
        import sounddevice as sd  # noqa: PLC0415
    except OSError as exc:  # libportaudio missing
        raise AudioSourceError(_no_device_message(spec, f"PortAudio is not available ({exc})")) from exc
    try:
        return DeviceAudioSource(device)
    except (ValueError, sd.PortAudioError) as exc:
        raise AudioSourceError(_no_device_message(spec, str(exc))) from exc
