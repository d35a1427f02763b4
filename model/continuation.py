"""Music the model has not heard yet: the continuation rule the live engine and training share.

Live, the engine knows the music up to the audio it has heard, and a window reaches past it. The
unheard frames are extrapolated from the beat grid (`extrapolate_music`): the last bar heard is
repeated, and the beat channel is replaced by the grid's predicted beats. Training windows that
continue a known prefix get the same treatment (`extrapolate_window`), so the model learns the music
it will see on stage.

Two implementations of the one rule:
  * numpy, one window at a time: what the engine runs (liveedit.core.continuation re-exports it) and
    the reference;
  * torch, a whole batch at once on the batch's device (`extrapolate_batch`): what the training loop
    runs; tests hold it equal to the numpy version window by window.

numpy + stdlib at import (the engine's core imports this module and runs without torch); the batched
version imports torch when called.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

FPS = 30
MUSIC_DIM = 35
BEAT = 34             # the beat one-hot channel (model/music.py's layout; a test keeps them equal)
DEFAULT_BPM = 120.0   # the grid's tempo before any beat is known
GRID_FIT_BEATS = 8    # GridState.from_beats fits its line through this many of the latest beats
# Nearest frame, a value half-way between two going to the later one: + TIE_EPS keeps floating-point
# noise in a fitted grid (least squares through whole frames often lands on half frames) from
# deciding, so the engine's numpy and training's torch arithmetic pick the same frame.
TIE_EPS = 1e-6


def nearest_frame(x: np.ndarray) -> np.ndarray:
    """Round frame positions (float64) to whole frames, half-way up (TIE_EPS)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5 + TIE_EPS)


@dataclass(frozen=True)
class GridState:
    """A frozen beat grid: beat n is at `anchor + (n - anchor_beat) * period` seconds.

    This is all the music extrapolation needs, and training can build one from known beat times
    (`GridState.from_beats`) so that it extrapolates exactly like the live engine.
    """

    period: float          # seconds per beat
    anchor: float          # time of a beat, seconds
    anchor_beat: int = 0   # its beat index
    beats_per_bar: int = 4

    @property
    def bpm(self) -> float:
        return 60.0 / self.period

    def beat_at(self, t: float) -> float:
        """Fractional beat count at time t."""
        return self.anchor_beat + (t - self.anchor) / self.period

    def time_of_beat(self, n: float) -> float:
        return self.anchor + (n - self.anchor_beat) * self.period

    def beats_between(self, t0: float, t1: float) -> np.ndarray:
        """Predicted beat times in [t0, t1)."""
        n0 = math.ceil(self.beat_at(t0) - 1e-9)
        n1 = math.ceil(self.beat_at(t1) - 1e-9)
        return np.array([self.time_of_beat(n) for n in range(n0, n1)], dtype=np.float64)

    @classmethod
    def from_beats(cls, beat_times: Sequence[float], beats_per_bar: int = 4) -> GridState:
        """Least-squares line through the last (up to GRID_FIT_BEATS) beat times: the grid they imply."""
        b = np.asarray(beat_times, dtype=np.float64)[-GRID_FIT_BEATS:]
        if b.size == 0:
            return cls(period=60.0 / DEFAULT_BPM, anchor=0.0, beats_per_bar=beats_per_bar)
        if b.size == 1:
            return cls(period=60.0 / DEFAULT_BPM, anchor=float(b[0]), beats_per_bar=beats_per_bar)
        n = np.arange(b.size, dtype=np.float64)
        period, intercept = np.polyfit(n, b, 1)
        if not period > 0:
            raise ValueError("beat times must increase")
        return cls(period=float(period), anchor=float(intercept + n[-1] * period), anchor_beat=int(n[-1]),
                   beats_per_bar=beats_per_bar)


class GridLike(Protocol):
    period: float

    def beats_between(self, t0: float, t1: float) -> np.ndarray: ...


def beat_onehot(grid: GridLike, first_frame: int, n: int, fps: float = FPS) -> np.ndarray:
    """(n,) float32: 1 at the nearest frame to each beat the grid predicts in the span (as
    model.music.beat_onehot does for known beats; half-way: the later frame, `nearest_frame`)."""
    out = np.zeros(n, dtype=np.float32)
    if n <= 0:
        return out
    t0, t1 = (first_frame - 0.5) / fps, (first_frame + n - 0.5) / fps
    k = nearest_frame(np.asarray(grid.beats_between(t0, t1)) * fps).astype(np.int64) - first_frame
    out[k[(k >= 0) & (k < n)]] = 1.0
    return out


def extrapolate_music(features_heard: np.ndarray, beat_grid: GridLike, n_future: int, *,
                      first_frame: int = 0, fps: float = FPS, beats_per_bar: int = 4) -> np.ndarray:
    """Music features for the n_future frames right after the heard ones.

    features_heard: (T_h, 35) real features of frames [first_frame, first_frame + T_h) (frame k is
      at time k / fps on the beat grid's clock). beat_grid: anything with `period` (seconds per
      beat) and `beats_between(t0, t1)` (a `BeatGrid`, or a `GridState`, e.g.
      `GridState.from_beats(known_beat_times)` in training).
    Returns (n_future, 35) float32 for frames [first_frame + T_h, first_frame + T_h + n_future).

    Rule: repeat the last bar heard (frame f copies frame f - k * bar for the smallest k that lands
    in the heard span, so the beat phase is kept); with less than a bar heard, repeat the last beat;
    with less than a beat, hold the last frame; with nothing heard, zeros. The beat channel is then
    replaced by the grid's predicted beats.
    """
    heard = np.asarray(features_heard, dtype=np.float32).reshape(-1, MUSIC_DIM)
    T_h = heard.shape[0]
    out = np.zeros((max(0, n_future), MUSIC_DIM), dtype=np.float32)
    if n_future <= 0:
        return out
    if T_h:
        period_frames = float(beat_grid.period) * fps
        cycle = beats_per_bar * period_frames
        # (comparisons with TIE_EPS: a fitted grid whose bar is exactly the heard span must not
        # repeat the bar or the beat depending on floating-point noise)
        if cycle > T_h - TIE_EPS:
            cycle = period_frames
        f = np.arange(T_h, T_h + n_future, dtype=np.float64)   # frame offsets from first_frame
        if cycle < T_h - TIE_EPS and cycle > 1.0 - TIE_EPS:
            # (- 1e-6: where f lands exactly a whole number of bars after the last heard frame,
            # floating-point noise in the grid's period must not decide which bar is repeated)
            k = np.ceil((f - (T_h - 1)) / cycle - 1e-6)
            src = nearest_frame(f - k * cycle).astype(np.int64)
            src = np.clip(src, 0, T_h - 1)
        else:
            src = np.full(n_future, T_h - 1)
        out[:] = heard[src]
    out[:, BEAT] = beat_onehot(beat_grid, first_frame + T_h, n_future, fps)
    return out


def beat_times_from_channel(music: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Beat times (s, from the first frame) from the one-hot beat channel of (T, 35) features."""
    return np.flatnonzero(music[:, BEAT] > 0.5) / fps


def extrapolate_window(music: np.ndarray, heard: int, history: np.ndarray | None = None) -> np.ndarray:
    """One training window (T, 35) as the engine has it when it has heard frames [0, heard) of it:
    frames [heard, T) replaced by the extrapolation.

    history: (H, 35) the song's features right before the window (the engine keeps what it heard
    before the window too; liveedit.offline.rolling.live_music is the same rule over a whole song).
    The last bar heard, inside the window or before it, is repeated; the beat grid comes from the
    beats heard in the history and the window together (fewer than two: the default grid).
    """
    T = music.shape[0]
    if heard <= 0 or heard >= T:
        return music
    H = 0 if history is None else len(history)
    heard_all = music[:heard] if not H else np.concatenate([history, music[:heard]])
    beats = beat_times_from_channel(heard_all)   # seconds from the history's first frame
    grid = GridState.from_beats(beats) if len(beats) >= 2 else GridState.from_beats([])
    out = music.copy()
    out[heard:] = extrapolate_music(heard_all, grid, T - heard)
    return out


# ----------------------------------------------------------------------------- batched, with torch

def _fit_grid(beat: torch.Tensor, heard_len: torch.Tensor, fps: float = FPS
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GridState.from_beats over a batch: the least-squares line through the last GRID_FIT_BEATS
    beats among each row's first heard_len frames, or the default grid (DEFAULT_BPM, anchored at 0)
    for rows with fewer than two, as extrapolate_window does. beat: (B, L) bool; heard_len: (B,) long.
    -> (period, anchor, anchor_beat), each (B,) float64, in seconds and beats as GridState's fields."""
    import torch
    L = beat.shape[1]
    frame = torch.arange(L, device=beat.device)
    beat = beat & (frame[None, :] < heard_len[:, None])                     # (B, L) heard beats only
    rank = beat.long().cumsum(1) - 1                                         # (B, L) beat number
    count = rank[:, -1] + 1                                                  # (B,)
    m = count.clamp(max=GRID_FIT_BEATS)                                      # beats in the fit
    q = rank - (count - m)[:, None]                                          # index in the fit
    use = (beat & (q >= 0)).double()                                         # (B, L)
    n = q.double() * use                                                     # fit index (0 unused)
    b = frame.double()[None, :] / fps * use                                  # beat time, s (0 unused)
    mf = m.double()
    sn, sb, snn, snb = n.sum(1), b.sum(1), (n * n).sum(1), (n * b).sum(1)    # (B,) each
    enough = m >= 2
    denom = torch.where(enough, mf * snn - sn * sn, torch.ones_like(sn))
    period = torch.where(enough, (mf * snb - sn * sb) / denom, torch.full_like(sn, 60.0 / DEFAULT_BPM))
    intercept = (sb - period * sn) / mf.clamp(min=1)
    last = torch.where(enough, mf - 1, torch.zeros_like(mf))                 # anchor_beat
    anchor = torch.where(enough, intercept + last * period, torch.zeros_like(sn))
    return period, anchor, last


def extrapolate_batch(music: torch.Tensor, heard: torch.Tensor, history: torch.Tensor | None = None,
                      beats_per_bar: int = 4) -> torch.Tensor:
    """`extrapolate_window` for every window of a batch at once, on the batch's device.

    music: (B, T, 35) windows; heard: (B,) long, frames of each window heard (rows with heard <= 0
    or >= T come back unchanged); history: (B, H, 35) the features before each window, or None.
    -> (B, T, 35). The index arithmetic is float64, as numpy's, so both pick the same frames.
    """
    import torch
    B, T, C = music.shape
    dev = music.device
    whole = music if history is None else torch.cat([history.to(music.dtype), music], dim=1)   # (B, H+T, C)
    H = whole.shape[1] - T
    heard = heard.to(dev).long()
    active = (heard > 0) & (heard < T)                                      # (B,)
    L = (H + heard.clamp(0, T)).clamp(min=1)                                 # (B,) heard frames in all
    period_s, anchor, anchor_beat = _fit_grid(whole[..., BEAT] > 0.5, L)    # (B,) float64 each
    period = period_s * FPS                                                  # frames a beat

    # features: frame f >= L copies frame f - k * cycle (the last bar, or beat, heard)
    w = torch.arange(T, device=dev)
    f = (H + w).double()[None, :]                                            # (1, T) frame in `whole`
    Lf = L.double()[:, None]                                                 # (B, 1)
    cycle = beats_per_bar * period[:, None]
    cycle = torch.where(cycle > Lf - TIE_EPS, period[:, None], cycle)        # (B, 1)
    repeat = (cycle < Lf - TIE_EPS) & (cycle > 1.0 - TIE_EPS)
    k = torch.ceil((f - (Lf - 1)) / cycle.clamp(min=1e-9) - 1e-6)
    src = torch.where(repeat, torch.floor(f - k * cycle + 0.5 + TIE_EPS), Lf - 1)   # nearest_frame
    src = torch.minimum(src.clamp(min=0), Lf - 1).long()                     # (B, T)
    future = (w[None, :] >= heard[:, None]) & active[:, None]               # (B, T) frames replaced
    src = torch.where(future, src, H + w[None, :])
    # rows of `whole` as one table: an index_select of whole frames (a gather over C is slower on CPUs)
    rows = (src + (torch.arange(B, device=dev) * whole.shape[1])[:, None]).reshape(-1)   # (B * T,)
    out = whole.reshape(-1, C).index_select(0, rows).view(B, T, C)           # (B, T, C), a copy

    # beat channel of the replaced frames: beat_onehot(grid, L, n) with GridState's arithmetic
    n_future = (T - heard).double()
    t0, t1 = (Lf[:, 0] - 0.5) / FPS, (Lf[:, 0] + n_future - 0.5) / FPS      # (B,) seconds
    q0 = torch.ceil(anchor_beat + (t0 - anchor) / period_s - 1e-9)          # first beat in the span
    q1 = torch.ceil(anchor_beat + (t1 - anchor) / period_s - 1e-9)          # first beat after it
    # a period of at least one frame (beats are distinct frames) puts at most T + 1 beats in the span
    qs = q0[:, None] + torch.arange(T + 1, device=dev).double()[None, :]    # (B, T + 1)
    times = anchor[:, None] + (qs - anchor_beat[:, None]) * period_s[:, None]
    kf = torch.floor(times * FPS + 0.5 + TIE_EPS) - Lf                       # nearest_frame, after L
    ok = (qs < q1[:, None]) & (kf >= 0) & (kf < n_future[:, None]) & active[:, None]
    pos = torch.where(ok, kf + heard[:, None].double(), torch.full_like(kf, T)).long()  # window frame
    beat = torch.zeros(B, T + 1, dtype=music.dtype, device=dev)
    beat.scatter_(1, pos, torch.ones_like(pos, dtype=music.dtype))
    out[..., BEAT] = torch.where(future, beat[:, :T], music[..., BEAT])
    return out
