"""Music features: 35 floats per frame at 30 fps, ONE extractor for training, offline files and live audio.

Audio is mono float32 at 15360 Hz; hop 512 samples gives exactly 30 frames a second. Frame k is centred
on sample k * HOP (time k / 30 s) and analyses the N_FFT = 2048 samples around it (Hann window, zeros
before the start of the audio). Per frame:

    [0]      onset envelope: spectral flux of the log-mel spectrogram (mean positive rise per band)
    [1:21]   20 MFCC (DCT-II of the log-mel spectrogram, 128 bands)
    [21:33]  12 chroma from the STFT (C, C#, ..., B; each frame scaled so its loudest class is 1)
    [33]     onset peak one-hot: local maxima of the onset envelope (PEAK_LOOKAHEAD frames look-ahead)
    [34]     beat one-hot: 1 at the frame nearest each beat time given by the caller

Every step is local in time, so the live ring buffer (`LiveMusicFeatures`) runs the same functions on
the samples heard so far and reproduces the offline frames: frame k is final once the audio reaches
sample (k + PEAK_LOOKAHEAD) * HOP + N_FFT / 2, i.e. 100 ms after its centre. That is why this module
does not use librosa's `chroma_cens` (41-frame smoothing), its tuning estimate or `power_to_db(ref=max)`
(whole-file statistics), nor any per-file normalisation: channels are scaled with FIXED constants
(below), which a live stream can apply too. The maths is plain numpy (filterbanks built here, checked
against librosa's in the tests), so no numba compilation runs when a process starts.

Beat channel decision. The beat channel always comes from a beat grid handed in by the caller; the
extractor never tracks beats itself. Live, the engine's beat grid (aubio tracker, MIDI clock or tap
tempo) supplies predicted beat times. In training, the corpus knows its exact beats, but exact beats
would teach the model a cleaner signal than it will ever get on stage, so the training data loader
passes them through `augment_beats` first: Gaussian jitter (sigma 1 frame, i.e. mostly within +-2
frames, the spread of a causal tracker's beats), about 10% dropped beats and occasional spurious ones
(mostly off-beats, the tracker's typical mistake). The model therefore sees tracker-like beats in
training and live alike, and learns to lean on the onset channels when the beat channel is unsure.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
import scipy.fft

SAMPLE_RATE = 15360
HOP = 512
FPS = 30  # SAMPLE_RATE / HOP
N_FFT = 2048
N_MELS = 128
N_MFCC = 20
N_CHROMA = 12
FEATURE_DIM = 35

# Channel layout of a feature frame.
ONSET_ENV = 0
MFCC = slice(1, 21)
CHROMA = slice(21, 33)
ONSET_PEAK = 33
BEAT = 34

# --- fixed scaling constants (no per-file statistics; a live stream can use them too) -------------
# The STFT is scaled by 2 / sum(window), so a full-scale sine has magnitude 1 in its bin and a mel band
# holding it has power 1 (0 dB). Log-mel values are clipped at DB_FLOOR and mapped to x = (dB - floor) /
# DB_RANGE, which is 0 for silence and about 1 for a full-scale tone.
DB_FLOOR = -80.0
DB_RANGE = 80.0
AMIN = 1e-10
# Onset envelope = mean over bands of max(0, x[k] - x[k-1]) * ONSET_SCALE. Rendered pop songs give
# drum-hit peaks around 1 to 2 with this constant; silence gives 0.
ONSET_SCALE = 5.0
# MFCC = DCT-II (ortho) of x, divided by MFCC_SCALE; c0 also has MFCC_C0_OFFSET subtracted so that
# music at ordinary levels spans roughly [-2, 2] in every coefficient.
MFCC_SCALE = np.array([4.0, 1.0] + [0.5] * (N_MFCC - 2), dtype=np.float64)
MFCC_C0_OFFSET = 4.0
# Chroma frames are divided by max(loudest class, CHROMA_FLOOR): near-silent frames stay near 0
# instead of amplifying noise to 1. Same power units as the mel bands (1 = full-scale sine).
CHROMA_FLOOR = 1e-4

# --- onset peak picking (librosa-like rule, bounded look-ahead) ------------------------------------
# Frame k is a peak when its onset value is strictly above the PEAK_PRE_MAX frames before it, at least
# the PEAK_LOOKAHEAD frames after it, at least PEAK_DELTA above the mean over frames
# [k - PEAK_PRE_AVG, k + PEAK_LOOKAHEAD], and at least PEAK_MIN. Frames outside the audio count as
# missing (they neither win nor lower the mean).
PEAK_PRE_MAX = 3  # 100 ms: also keeps two peaks from firing within 3 frames of a larger one
PEAK_PRE_AVG = 10  # 333 ms
PEAK_LOOKAHEAD = 1  # frames of look-ahead (33 ms of extra latency live)
PEAK_DELTA = 0.05
PEAK_MIN = 0.05


# ================================================================================================
# Filterbanks (numpy ports of librosa.filters.mel(norm=None) and librosa.filters.chroma)
# ================================================================================================

def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    lin = f / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) triangular filters, peak 1 (librosa.filters.mel with norm=None)."""
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return np.maximum(0.0, np.minimum(lower, upper))


def chroma_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_chroma: int = N_CHROMA) -> np.ndarray:
    """(n_chroma, 1 + n_fft // 2) chroma filters starting at C, tuning 0 (librosa.filters.chroma)."""
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(frequencies / (440.0 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1.0]))
    d = np.subtract.outer(frqbins, np.arange(n_chroma, dtype=np.float64)).T
    half = np.round(n_chroma / 2)
    d = np.remainder(d + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2 * d / binwidthbins[None, :]) ** 2)
    wts /= np.linalg.norm(wts, axis=0, keepdims=True)
    ctroct, octwidth = 5.0, 2.0  # Gaussian weighting centred on octave 5 (about 880 Hz)
    wts *= np.exp(-0.5 * ((frqbins / n_chroma - ctroct) / octwidth) ** 2)[None, :]
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)  # start at C, not A
    return np.ascontiguousarray(wts[:, : 1 + n_fft // 2])


_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
_STFT_SCALE = 2.0 / _WINDOW.sum()
_MEL = mel_filterbank()  # (128, 1025)
_CHROMA = chroma_filterbank()  # (12, 1025)


# ================================================================================================
# The shared per-frame core (used by the offline and the live path alike)
# ================================================================================================

def _analysis_frames(padded: np.ndarray, n: int) -> np.ndarray:
    """(n, N_FFT) view of windows starting every HOP samples of `padded` (whose sample 0 is frame 0's start)."""
    return sliding_window_view(padded, N_FFT)[::HOP][:n]


def _spectral(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, N_FFT) float64 windows -> scaled log-mel x (n, 128), MFCC (n, 20), chroma (n, 12)."""
    spec = np.fft.rfft(frames * _WINDOW, axis=1)  # (n, 1025)
    power = (spec.real ** 2 + spec.imag ** 2) * _STFT_SCALE ** 2
    mel_db = 10.0 * np.log10(np.maximum(power @ _MEL.T, AMIN))  # (n, 128)
    x = (np.maximum(mel_db, DB_FLOOR) - DB_FLOOR) / DB_RANGE
    mfcc = scipy.fft.dct(x, type=2, norm="ortho", axis=1)[:, :N_MFCC]
    mfcc[:, 0] -= MFCC_C0_OFFSET
    mfcc /= MFCC_SCALE
    chroma = power @ _CHROMA.T  # (n, 12)
    chroma /= np.maximum(chroma.max(axis=1, keepdims=True), CHROMA_FLOOR)
    return x, mfcc, chroma


def _onset(x: np.ndarray, x_prev: np.ndarray) -> np.ndarray:
    """Spectral flux: x (n, 128) scaled log-mel, x_prev (128,) the frame before -> (n,)."""
    prev = np.concatenate([x_prev[None, :], x[:-1]], axis=0)
    return np.maximum(x - prev, 0.0).mean(axis=1) * ONSET_SCALE


def _pick_peaks(env_ext: np.ndarray, n: int) -> np.ndarray:
    """Onset peaks for n frames. env_ext (PEAK_PRE_AVG + n + PEAK_LOOKAHEAD,) holds the envelope from
    PEAK_PRE_AVG frames before the first wanted frame to PEAK_LOOKAHEAD after the last, NaN where no
    frame exists. -> (n,) bool."""
    win = sliding_window_view(env_ext, PEAK_PRE_AVG + 1 + PEAK_LOOKAHEAD)[:n]  # (n, 12)
    c = PEAK_PRE_AVG
    centre = win[:, c]
    filled = np.where(np.isnan(win), -np.inf, win)
    before = filled[:, c - PEAK_PRE_MAX : c].max(axis=1)
    after = filled[:, c + 1 :].max(axis=1)
    valid = ~np.isnan(win)
    mean = np.where(valid, win, 0.0).sum(axis=1) / valid.sum(axis=1)
    return (centre > before) & (centre >= after) & (centre >= mean + PEAK_DELTA) & (centre >= PEAK_MIN)


def beat_onehot(beat_times: np.ndarray | None, start: int, end: int) -> np.ndarray:
    """(end - start,) float: 1 at frame round(t * FPS) for each beat time t (s) that lands in [start, end)."""
    out = np.zeros(end - start, dtype=np.float64)
    if beat_times is None:
        return out
    bt = np.asarray(beat_times, dtype=np.float64).ravel()
    if bt.size and not np.all(np.isfinite(bt)):
        raise ValueError("beat_times must be finite seconds")
    k = np.round(bt * FPS).astype(np.int64) - start
    out[k[(k >= 0) & (k < end - start)]] = 1.0
    return out


def _assemble(env: np.ndarray, mfcc: np.ndarray, chroma: np.ndarray, peaks: np.ndarray,
              beats: np.ndarray) -> np.ndarray:
    out = np.empty((len(env), FEATURE_DIM), dtype=np.float32)
    out[:, ONSET_ENV] = env
    out[:, MFCC] = mfcc
    out[:, CHROMA] = chroma
    out[:, ONSET_PEAK] = peaks
    out[:, BEAT] = beats
    return out


def _check_audio(audio: np.ndarray, name: str = "audio") -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim != 1:
        raise ValueError(f"{name} must be mono, shape (n_samples,), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be floating point samples in [-1, 1], got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite samples")
    return a


# ================================================================================================
# Offline
# ================================================================================================

def num_frames(n_samples: int) -> int:
    """Frames the offline extractor returns by default for n_samples of audio (frame 0 at sample 0)."""
    return 1 + int(n_samples) // HOP


def extract_features(audio: np.ndarray, beat_times: np.ndarray | None = None,
                     n_frames: int | None = None) -> np.ndarray:
    """Features of a whole clip.

    audio: (n_samples,) float mono at SAMPLE_RATE. beat_times: beat times in seconds from the first
    sample (None: no beats). n_frames: frames to return (default `num_frames(len(audio))`); audio is
    zero-padded or ignored past it. Returns (n_frames, 35) float32.
    """
    a = _check_audio(audio)
    t = num_frames(len(a)) if n_frames is None else int(n_frames)
    if t < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if t == 0:
        return np.zeros((0, FEATURE_DIM), dtype=np.float32)
    need = (t - 1) * HOP + N_FFT
    padded = np.zeros(need, dtype=np.float64)
    body = a[: max(0, need - N_FFT // 2)]
    padded[N_FFT // 2 : N_FFT // 2 + len(body)] = body
    x, mfcc, chroma = _spectral(_analysis_frames(padded, t))
    env = _onset(x, np.zeros(N_MELS))
    env_ext = np.concatenate([np.full(PEAK_PRE_AVG, np.nan), env, np.full(PEAK_LOOKAHEAD, np.nan)])
    peaks = _pick_peaks(env_ext, t)
    return _assemble(env, mfcc, chroma, peaks, beat_onehot(beat_times, 0, t))


def augment_beats(beat_times: np.ndarray, rng: np.random.Generator, jitter_frames: float = 1.0,
                  drop_prob: float = 0.1, spurious_prob: float = 0.05, offbeat_share: float = 0.7,
                  duration: float | None = None) -> np.ndarray:
    """Make exact beats look like a causal tracker's (see the module docstring). -> sorted seconds.

    jitter_frames: Gaussian sigma of the timing error, in frames (1 frame = 33 ms).
    drop_prob: chance that each beat is missed.
    spurious_prob: expected spurious beats per true beat; a spurious beat falls half-way between two
        neighbouring beats (an off-beat) with probability offbeat_share, elsewhere uniformly otherwise.
    duration: clip length in seconds; beats outside [0, duration) are removed (default: keep all >= 0).
    """
    bt = np.sort(np.asarray(beat_times, dtype=np.float64).ravel())
    if bt.size == 0:
        return bt
    if not (0.0 <= drop_prob <= 1.0 and spurious_prob >= 0.0 and jitter_frames >= 0.0):
        raise ValueError("need 0 <= drop_prob <= 1, spurious_prob >= 0, jitter_frames >= 0")
    kept = bt[rng.random(bt.size) >= drop_prob]
    kept = kept + rng.normal(0.0, jitter_frames / FPS, kept.size)
    extra = []
    if bt.size >= 2:
        n_spur = rng.poisson(spurious_prob * bt.size)
        gaps = rng.integers(0, bt.size - 1, n_spur)
        left, right = bt[gaps], bt[gaps + 1]
        frac = np.where(rng.random(n_spur) < offbeat_share, 0.5, rng.random(n_spur))
        extra = left + frac * (right - left) + rng.normal(0.0, jitter_frames / FPS, n_spur)
    out = np.sort(np.concatenate([kept, np.asarray(extra, dtype=np.float64)]))
    hi = np.inf if duration is None else float(duration)
    return out[(out >= 0.0) & (out < hi)]


def import_fluidsynth():
    """The `fluidsynth` module (pyfluidsynth; needs the libfluidsynth3 system library), imported quietly.

    pyfluidsynth prints where it found its library to stdout at import time when the `CI` environment
    variable is set, which would corrupt the output of commands that print JSON.
    """
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    with contextlib.redirect_stdout(io.StringIO()):
        import fluidsynth  # noqa: PLC0415
    return fluidsynth


def import_pretty_midi():
    """The `pretty_midi` module, with pyfluidsynth (which pretty_midi imports if it can) imported quietly."""
    try:
        import_fluidsynth()
    except (ImportError, OSError):  # no pyfluidsynth or no libfluidsynth: pretty_midi copes
        pass
    import pretty_midi  # noqa: PLC0415

    return pretty_midi


def load_audio(path: str | Path) -> np.ndarray:
    """Read an audio file (wav/flac/ogg/mp3, anything libsndfile or ffmpeg reads) as float32 mono at
    SAMPLE_RATE. Raises FileNotFoundError or ValueError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"audio file not found: {p}")
    import soundfile as sf
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)  # (n, channels)
        mono = data.mean(axis=1)
    except Exception as sf_err:  # libsndfile cannot read it: try librosa's audioread/ffmpeg fallback
        try:
            import warnings

            import librosa
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mono, sr = librosa.load(str(p), sr=None, mono=True)
        except Exception as e:
            # one line naming the file once: libsndfile's reason (it repeats the path), then ffmpeg's
            first = str(sf_err).rsplit(": ", 1)[-1].strip().rstrip(".") or type(sf_err).__name__
            second = str(e).strip() or type(e).__name__
            raise ValueError(f"{p}: cannot read audio: {first} (libsndfile); {second} (ffmpeg/audioread)") from e
    if mono.size == 0:
        raise ValueError(f"audio file {p} contains no samples")
    if sr != SAMPLE_RATE:
        import soxr
        mono = soxr.resample(mono, sr, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


# ================================================================================================
# Live
# ================================================================================================

class StreamResampler:
    """Streaming resampler for device audio (e.g. 44100 or 48000 Hz, any channel count) to mono at
    SAMPLE_RATE. Blocks in, blocks out; the concatenated output equals resampling the whole signal at
    once (python-soxr's ResampleStream)."""

    def __init__(self, in_rate: float, out_rate: int = SAMPLE_RATE, quality: str = "HQ"):
        if in_rate <= 0:
            raise ValueError(f"in_rate must be positive, got {in_rate}")
        self.in_rate, self.out_rate = float(in_rate), int(out_rate)
        self._stream = None
        if self.in_rate != self.out_rate:
            import soxr
            self._stream = soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float32", quality=quality)

    def process(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """block: (n,) mono or (n, channels) -> (m,) float32 mono at out_rate. last=True flushes."""
        b = np.asarray(block, dtype=np.float32)
        if b.ndim == 2:
            b = b.mean(axis=1)
        elif b.ndim != 1:
            raise ValueError(f"audio block must be (n,) or (n, channels), got shape {b.shape}")
        b = np.ascontiguousarray(b)
        if self._stream is None:
            return b.copy()
        return self._stream.resample_chunk(b, last=last)


class LiveMusicFeatures:
    """Ring-buffer extractor: push audio as it arrives, read final feature frames.

    Produces the same frames as `extract_features` on the audio heard so far (same code). Frame k is
    final once the stream reaches sample (k + PEAK_LOOKAHEAD) * HOP + N_FFT // 2. Frame 0 starts at the
    first pushed sample; beat times passed to `features` are seconds on that same clock. Keeps about
    `history_s` seconds of finished frames. Thread-safe (push from the audio side, read from a worker).
    """

    def __init__(self, history_s: float = 20.0):
        if history_s <= 0:
            raise ValueError(f"history_s must be positive, got {history_s}")
        self.history_frames = int(round(history_s * FPS))
        self._cap = self.history_frames + PEAK_PRE_AVG + PEAK_LOOKAHEAD
        self._env = np.zeros(self._cap)
        self._mfcc = np.zeros((self._cap, N_MFCC))
        self._chroma = np.zeros((self._cap, N_CHROMA))
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next pushed sample is sample 0 again."""
        with self._lock:
            self._n_samples = 0
            self._buf = np.zeros(N_FFT // 2)  # the zeros before sample 0 that centre frame 0
            self._buf_start = -(N_FFT // 2)  # stream index of self._buf[0]
            self._n_spec = 0  # frames whose spectra are computed (ring holds the newest of them)
            self._x_prev = np.zeros(N_MELS)

    @property
    def samples_pushed(self) -> int:
        return self._n_samples

    @property
    def final_frames(self) -> int:
        """Number of finalised frames since the start (frames 0 .. final_frames - 1 are final)."""
        return max(0, self._n_spec - PEAK_LOOKAHEAD)

    @property
    def oldest_frame(self) -> int:
        """First frame still readable with `features`."""
        return max(0, self._n_spec - self._cap + PEAK_PRE_AVG)

    def push(self, samples: np.ndarray) -> None:
        """Append mono float samples at SAMPLE_RATE (any block size)."""
        s = _check_audio(samples, "samples")
        with self._lock:
            self._buf = np.concatenate([self._buf, s])
            self._n_samples += len(s)
            ready = max(0, (self._n_samples - N_FFT // 2) // HOP + 1)  # frames with complete windows
            k0, k1 = self._n_spec, ready
            if k1 <= k0:
                return
            seg = self._buf[k0 * HOP - N_FFT // 2 - self._buf_start :]
            x, mfcc, chroma = _spectral(_analysis_frames(seg, k1 - k0))
            env = _onset(x, self._x_prev)
            if k1 - k0 > self._cap:  # a huge block: only the newest frames fit in the ring
                x, mfcc, chroma, env = x[-self._cap :], mfcc[-self._cap :], chroma[-self._cap :], env[-self._cap :]
            idx = np.arange(k1 - len(env), k1) % self._cap
            self._env[idx], self._mfcc[idx], self._chroma[idx] = env, mfcc, chroma
            self._x_prev = x[-1].copy()
            self._n_spec = k1
            drop = k1 * HOP - N_FFT // 2 - self._buf_start  # samples no future frame needs
            self._buf = self._buf[drop:].copy()
            self._buf_start += drop

    def features(self, start: int, end: int, beat_times: np.ndarray | None = None) -> np.ndarray:
        """Final frames [start, end) -> (end - start, 35) float32, beat one-hot from beat_times (s)."""
        with self._lock:
            if not (self.oldest_frame <= start <= end <= self.final_frames):
                raise ValueError(
                    f"frames [{start}, {end}) not available: readable frames are "
                    f"[{self.oldest_frame}, {self.final_frames})")
            ext = np.arange(start - PEAK_PRE_AVG, end + PEAK_LOOKAHEAD)
            env_ext = np.where(ext >= 0, self._env[ext % self._cap], np.nan)
            idx = np.arange(start, end) % self._cap
            env, mfcc, chroma = self._env[idx], self._mfcc[idx], self._chroma[idx]
        n = end - start
        return _assemble(env, mfcc, chroma, _pick_peaks(env_ext, n), beat_onehot(beat_times, start, end))

    def latest(self, n: int, beat_times: np.ndarray | None = None) -> tuple[int, np.ndarray]:
        """The newest n final frames (fewer at the start of the stream) -> (first frame index, (m, 35))."""
        with self._lock:
            end = self.final_frames
            start = max(self.oldest_frame, end - int(n))
            return start, self.features(start, end, beat_times)
