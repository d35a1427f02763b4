"""Music features (model/music.py): shapes, live-vs-offline parity, beats, beat augmentation, audio I/O."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from model import music as M

SR = M.SAMPLE_RATE


def drum_and_tone(seconds: float = 12.0, bpm: float = 120.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A kick on every beat, a noise hi-hat on every off-beat, a chord that changes every bar, a quiet
    noise floor and 1 s of silence at the start. -> (audio float32, beat times s)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    audio = 0.003 * rng.standard_normal(n)
    beats = np.arange(1.0, seconds - 0.2, 60.0 / bpm)
    kick_len = int(0.3 * SR)
    kt = np.arange(kick_len) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-kt * 30)) * kt) * np.exp(-kt * 20)
    kick *= np.minimum(1.0, (kick_len - np.arange(kick_len)) / (0.05 * SR))  # fade out: no click
    hat_len = int(0.04 * SR)
    for b in beats:
        i = int(b * SR)
        seg = audio[i : i + kick_len]
        seg += 0.7 * kick[: len(seg)]
        j = int((b + 30.0 / bpm) * SR)
        seg = audio[j : j + hat_len]
        seg += 0.2 * rng.standard_normal(len(seg)) * np.exp(-np.arange(len(seg)) / (0.008 * SR))
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    bar = 4 * 60.0 / bpm
    for c, start in enumerate(np.arange(1.0, seconds, bar)):
        sl = (t >= start) & (t < start + bar)
        for f in chords[c % len(chords)]:
            audio[sl] += 0.08 * np.sin(2 * np.pi * f * t[sl])
    audio[: SR] = 0.0
    return audio.astype(np.float32), beats


@pytest.fixture(scope="module")
def song():
    return drum_and_tone()


def test_shapes_dtype_and_channel_ranges(song):
    audio, beats = song
    feats = M.extract_features(audio, beats)
    assert feats.shape == (1 + len(audio) // M.HOP, M.FEATURE_DIM) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert M.extract_features(audio, beats, n_frames=100).shape == (100, 35)
    assert M.extract_features(audio[:1000], None, n_frames=50).shape == (50, 35)  # zero-padded
    assert M.extract_features(audio, None, n_frames=0).shape == (0, 35)
    assert (feats[:, M.ONSET_ENV] >= 0).all() and feats[:, M.ONSET_ENV].max() < 10
    assert np.abs(feats[:, M.MFCC]).max() < 10  # fixed scaling keeps MFCC in a modest range
    chroma = feats[:, M.CHROMA]
    assert chroma.min() >= 0 and chroma.max() <= 1.0 + 1e-6
    assert set(np.unique(feats[:, M.ONSET_PEAK])) <= {0.0, 1.0}
    # The leading second of digital silence gives zero onset, zero chroma and no peaks.
    silent = feats[: M.FPS - M.N_FFT // (2 * M.HOP)]
    assert np.all(silent[:, M.ONSET_ENV] == 0) and np.all(silent[:, M.CHROMA] == 0)
    assert silent[:, M.ONSET_PEAK].sum() == 0


def test_channels_respond_to_the_music(song):
    audio, beats = song
    feats = M.extract_features(audio, beats)
    # Chroma: the first bar's C-major chord (C, E, G) dominates the other pitch classes.
    bar1 = feats[int(1.2 * M.FPS) : int(2.8 * M.FPS), M.CHROMA].mean(axis=0)
    assert set(np.argsort(bar1)[-3:]) == {0, 4, 7}
    # Onset peaks: every kick (on the beat) has a peak within 2 frames; hardly any peaks elsewhere.
    peaks = np.nonzero(feats[:, M.ONSET_PEAK])[0]
    kick_frames = beats * M.FPS
    hat_frames = (beats + 0.25) * M.FPS
    near = lambda frames: np.array([np.min(np.abs(peaks - f)) for f in frames])
    assert np.mean(near(kick_frames) <= 2) == 1.0
    events = np.concatenate([kick_frames, hat_frames])
    spurious = [p for p in peaks if np.min(np.abs(events - p)) > 2]
    assert len(spurious) <= 1, spurious
    # Louder audio gives a larger onset envelope (fixed scaling, no per-file normalisation).
    quiet = M.extract_features(audio * 0.1, beats)
    assert quiet[:, M.ONSET_ENV].max() < feats[:, M.ONSET_ENV].max()
    assert np.median(quiet[:, 1]) < np.median(feats[:, 1])  # c0 tracks loudness


def test_beat_onehot_at_nearest_frame():
    audio = np.zeros(SR * 2, dtype=np.float32)
    beats = np.array([0.0, 0.51, 0.52, 1.0 + 0.4 / M.FPS, 1.99, 5.0, -1.0])
    beat = M.extract_features(audio, beats)[:, M.BEAT]
    # 0.51 s = frame 15.3 -> 15; 0.52 s = 15.6 -> 16; 1.013 s = 30.4 -> 30; 1.99 s -> 60 (last frame);
    # 5.0 s and -1.0 s are outside the clip.
    assert np.nonzero(beat)[0].tolist() == [0, 15, 16, 30, 60]
    assert M.extract_features(audio, None)[:, M.BEAT].sum() == 0
    with pytest.raises(ValueError, match="finite"):
        M.extract_features(audio, np.array([np.nan]))


@pytest.mark.parametrize("blocks", [(300, 1024, 517), (4096,), (1,) * 1 + (7777, 33)])
def test_live_matches_offline(song, blocks):
    """The live ring buffer reproduces the offline features on the same audio.

    Tolerance: 1e-5 absolute on the continuous channels (both paths run the same float64 code on the
    same samples, so differences could only come from batch-size-dependent rounding; measured 0.0),
    and exact equality for the onset-peak and beat one-hot channels. Edge frames excluded: only the
    last 3 offline frames, which the live path never finalises because their analysis window reaches
    past the end of the audio (offline pads it with zeros); every frame live calls final is compared.
    """
    audio, beats = song
    offline = M.extract_features(audio, beats)
    live = M.LiveMusicFeatures(history_s=30.0)
    i = j = 0
    checked = 0
    next_check = SR // 2
    while i < len(audio):
        n = blocks[j % len(blocks)]
        live.push(audio[i : i + n])
        i += n
        j += 1
        # Frames finalised mid-stream already equal the offline ones (nothing later changes them).
        if i >= next_check:
            next_check += SR // 2
            start, part = live.latest(40, beats)
            np.testing.assert_allclose(part, offline[start : start + len(part)], atol=1e-5)
            checked += 1
    assert checked > 0
    n_final = live.final_frames
    # Frame k is final once sample (k + PEAK_LOOKAHEAD) * HOP + N_FFT / 2 has arrived.
    assert n_final == (len(audio) - M.N_FFT // 2) // M.HOP + 1 - M.PEAK_LOOKAHEAD
    assert len(offline) - n_final == 3
    got = live.features(0, n_final, beats)
    np.testing.assert_allclose(got[:, :M.ONSET_PEAK], offline[:n_final, :M.ONSET_PEAK], atol=1e-5)
    np.testing.assert_array_equal(got[:, M.ONSET_PEAK :], offline[:n_final, M.ONSET_PEAK :])
    assert got[:, M.ONSET_PEAK].sum() > 10  # the comparison covered real peaks


def test_live_finality_and_bounded_history(song):
    audio, beats = song
    offline = M.extract_features(audio, beats)
    live = M.LiveMusicFeatures(history_s=2.0)
    live.push(audio[: M.N_FFT // 2 + M.HOP - 1])
    assert live.final_frames == 0  # frame 0 also needs frame 1 (peak look-ahead)
    live.push(audio[M.N_FFT // 2 + M.HOP - 1 : M.N_FFT // 2 + M.HOP])
    assert live.final_frames == 1
    live.push(audio[M.N_FFT // 2 + M.HOP :])
    assert live.final_frames - live.oldest_frame == 2 * M.FPS  # only 2 s kept
    start, end = live.oldest_frame, live.final_frames
    np.testing.assert_allclose(live.features(start, end, beats), offline[start:end], atol=1e-5)
    with pytest.raises(ValueError, match="not available"):
        live.features(start - 1, end)
    with pytest.raises(ValueError, match="not available"):
        live.features(start, end + 1)
    with pytest.raises(ValueError, match="mono"):
        live.push(np.zeros((10, 2), dtype=np.float32))
    live.reset()
    assert live.final_frames == 0 and live.samples_pushed == 0


def test_filterbanks_match_librosa():
    librosa = pytest.importorskip("librosa")
    mel = librosa.filters.mel(sr=SR, n_fft=M.N_FFT, n_mels=M.N_MELS, norm=None)
    np.testing.assert_allclose(M.mel_filterbank(), mel, atol=1e-6)
    chroma = librosa.filters.chroma(sr=SR, n_fft=M.N_FFT, tuning=0.0)
    np.testing.assert_allclose(M.chroma_filterbank(), chroma, atol=1e-6)


def test_augment_beats_statistics():
    rng = np.random.default_rng(0)
    beats = np.arange(1.0, 2001.0, 0.5)  # 4000 beats at 120 bpm
    aug = M.augment_beats(beats, rng, jitter_frames=1.0, drop_prob=0.1, spurious_prob=0.05)
    assert np.all(np.diff(aug) >= 0)
    # Match each true beat to the nearest augmented beat within 3 sigma.
    idx = np.clip(np.searchsorted(aug, beats), 1, len(aug) - 1)
    nearest = np.where(np.abs(aug[idx] - beats) < np.abs(aug[idx - 1] - beats), aug[idx], aug[idx - 1])
    err = nearest - beats
    hit = np.abs(err) < 3.0 / M.FPS
    assert 0.87 < hit.mean() < 0.93  # about 10% dropped
    sigma_frames = err[hit].std() * M.FPS
    assert 0.85 < sigma_frames < 1.15
    assert abs(err[hit].mean() * M.FPS) < 0.1  # unbiased
    n_spurious = len(aug) - hit.sum()
    assert 0.03 * len(beats) < n_spurious < 0.07 * len(beats)
    # Most spurious beats sit near off-beats (half-way between beats).
    phase = np.mod(aug - 1.0, 0.5) / 0.5
    offbeat = np.abs(phase - 0.5) < 0.1
    assert offbeat.sum() > 0.5 * n_spurious
    # Clean settings return the beats unchanged; duration clips; seeds make it reproducible.
    np.testing.assert_array_equal(M.augment_beats(beats, rng, 0.0, 0.0, 0.0), beats)
    assert M.augment_beats(beats, np.random.default_rng(1), duration=10.0).max() < 10.0
    a1 = M.augment_beats(beats, np.random.default_rng(7))
    np.testing.assert_array_equal(a1, M.augment_beats(beats, np.random.default_rng(7)))
    assert M.augment_beats(np.array([]), rng).size == 0


def test_load_audio_resamples_and_downmixes(tmp_path, song):
    audio, _ = song
    stereo44 = np.stack([audio, audio], axis=1)[: SR * 2]
    # Write a 44.1 kHz stereo file of a 440 Hz tone: load_audio must give mono 15360 Hz at 440 Hz.
    t = np.arange(44100 * 2) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([tone, tone], axis=1), 44100)
    out = M.load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 2 * SR) <= 1
    spec = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spec) * SR / len(out) - 440) < 1.0
    assert abs(np.abs(out[1000:-1000]).max() - 0.5) < 0.02
    # Native-rate FLAC round trip keeps the samples.
    flac = tmp_path / "native.flac"
    sf.write(flac, stereo44, SR, subtype="PCM_24")
    np.testing.assert_allclose(M.load_audio(flac), audio[: SR * 2], atol=1e-4)


def test_load_audio_errors_name_the_file(tmp_path):
    bad = tmp_path / "not_audio.wav"
    bad.write_bytes(b"this is not a wave file at all" * 10)
    with pytest.raises(ValueError, match="not_audio.wav"):
        M.load_audio(bad)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        M.load_audio(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="mono"):
        M.extract_features(np.zeros((100, 2), dtype=np.float32))


def test_stream_resampler_equals_whole_signal():
    soxr = pytest.importorskip("soxr")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((48000, 2)).astype(np.float32) * 0.1
    rs = M.StreamResampler(48000)
    sizes = (256, 1000, 333)
    out, i, j = [], 0, 0
    while i < len(x):
        out.append(rs.process(x[i : i + sizes[j % 3]]))
        i += sizes[j % 3]
        j += 1
    out.append(rs.process(np.zeros(0, dtype=np.float32), last=True))
    got = np.concatenate(out)
    want = soxr.resample(x.mean(axis=1), 48000, SR, quality="HQ")
    assert len(got) == len(want) == SR
    np.testing.assert_allclose(got, want, atol=1e-5)
    same = M.StreamResampler(SR)
    np.testing.assert_array_equal(same.process(x[:100, 0]), x[:100, 0])


def test_midi_modules_import_without_printing_under_ci():
    """pyfluidsynth prints to stdout at import under CI=1; commands that print JSON must not see that."""
    import os
    import subprocess
    import sys

    pytest.importorskip("pretty_midi")
    code = "from model.music import import_pretty_midi; import_pretty_midi()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "CI": "1"})
    assert out.stdout == ""
