"""Rolling generation by continuation: build a window request, run it, and extrapolate music.

A window covers frames [start, start + 150). Its first `n_known` frames are motion already committed
(known frames, mask True); the rest is new. Music features are real for frames already heard and
extrapolated from the beat grid for frames not yet heard (`extrapolate_music`, model/continuation.py,
which training uses too so the model learns to expect it).

Two motion streams are kept per frame (see `Motion streams` below) so the paper's iterations apply
to a never-ending stream: `initial` (the unedited prediction) and `shown` (what was streamed, i.e.
the output of the last active edit).

numpy + stdlib only; the model is any object with `generate` and `edit` (duck typing).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# The continuation rule itself lives with the model (training applies it to its windows too)
from model.continuation import GridLike, beat_onehot, extrapolate_music  # noqa: F401 (re-exported)

FPS = 30
WINDOW = 150
MOTION_DIM = 151
MUSIC_DIM = 35
# Frames of heard music before a window that its extrapolation may draw on (the last bar heard);
# training gives its windows the same history (training.corpus.dataset.MUSIC_HISTORY).
MUSIC_HISTORY = 120
# Music channel layout (model/music.py): onset envelope, 20 MFCC, 12 chroma, onset peak, beat.
ONSET_PEAK = 33
BEAT = 34

# Motion streams stored side by side in the timeline (dim 2 x 151):
SHOWN = slice(0, MOTION_DIM)                   # what is streamed (edited when edits are active)
INITIAL = slice(MOTION_DIM, 2 * MOTION_DIM)    # the unedited prediction (the paper's `initial`)
STREAMS_DIM = 2 * MOTION_DIM


def music_window(heard: np.ndarray, heard_first: int, beat_grid: GridLike, start: int, n: int = WINDOW,
                 fps: float = FPS, beats_per_bar: int = 4) -> tuple[np.ndarray, int]:
    """Features for frames [start, start + n): real where heard, extrapolated after.

    heard: (T_h, 35) the heard frames [heard_first, heard_first + T_h) (should reach back at least a
    bar before the window's first unheard frame). Frames before heard_first get zeros with the
    grid's beats. -> (features (n, 35), number of real frames in the window).
    """
    heard = np.asarray(heard, dtype=np.float32).reshape(-1, MUSIC_DIM)
    heard_end = heard_first + heard.shape[0]
    out = np.zeros((n, MUSIC_DIM), dtype=np.float32)
    # frames before anything heard
    pre_end = min(start + n, heard_first)
    if pre_end > start:
        out[: pre_end - start, BEAT] = beat_onehot(beat_grid, start, pre_end - start, fps)
    a, b = max(start, heard_first), min(start + n, heard_end)
    if b > a:
        out[a - start: b - start] = heard[a - heard_first: b - heard_first]
    fut0 = max(start, heard_end)
    if fut0 < start + n:
        ext = extrapolate_music(heard, beat_grid, start + n - heard_end, first_frame=heard_first,
                                fps=fps, beats_per_bar=beats_per_bar)
        out[fut0 - start:] = ext[fut0 - heard_end:]
    return out, max(0, b - a)


@dataclass(frozen=True)
class WindowRequest:
    id: int
    start: int                  # absolute frame index of the window's first frame
    n_known: int                # frames [start, start + n_known) are known (already committed)
    music: np.ndarray           # (150, 35)
    known: np.ndarray           # (150, 151) the shown stream's known frames (zeros after n_known)
    known_initial: np.ndarray   # (150, 151) the initial stream's known frames
    prompts: tuple[str, ...]    # active edits, oldest first
    strength: float             # text guidance of every edit
    steps: int
    edits_version: int
    reason: str                 # start | hop | low | edit
    created: float              # engine-clock seconds
    seed: int | None = None
    heard: int = 0              # real (heard) music frames in the window
    initial: np.ndarray | None = None   # (150, 151) the unedited prediction, when already committed
    edit_ids: tuple[int, ...] = ()      # the edit stack ids of `prompts`, same order

    @property
    def needs_model(self) -> bool:
        """False when the result is just the committed initial stream (e.g. /undo of the last edit)."""
        return self.initial is None or bool(self.prompts)

    @property
    def known_mask(self) -> np.ndarray:
        m = np.zeros(self.music.shape[0], dtype=bool)
        m[: self.n_known] = True
        return m


@dataclass
class WindowResult:
    request: WindowRequest
    shown: np.ndarray      # (150, 151) motion to stream (last edit's output, or initial)
    initial: np.ndarray    # (150, 151) the unedited prediction
    compute_s: float = 0.0
    error: str | None = None
    levels: list = field(default_factory=list)
    failed_edit: int | None = None   # index in request.prompts of the edit whose pass raised
    expected: np.ndarray | None = None   # (150,) the speed (m/s) the window's energy gain aimed at
                                         # (the engine's late energy correction; None: no envelope)


class EditLevelError(Exception):
    """The editing pass of one prompt raised: the window is lost, and that edit is to blame."""

    def __init__(self, level: int, prompt: str, cause: BaseException) -> None:
        super().__init__(f"edit {level + 1} ({prompt[:60]!r}) failed: {type(cause).__name__}: {cause}")
        self.level = level
        self.prompt = prompt
        self.cause = cause


class ModelLike(Protocol):
    def generate(self, music, known=None, known_mask=None, steps: int = 10, music_guidance: float = 2.0,
                 seed: int | None = None) -> np.ndarray: ...

    def edit(self, music, initial, current, prompt, known=None, known_mask=None, steps: int = 10,
             text_guidance: float = 2.0, seed: int | None = None) -> np.ndarray: ...


def run_window(model: ModelLike, req: WindowRequest, music_guidance: float = 2.0) -> WindowResult:
    """The paper's iterations on one window.

    initial = generate(music, known = the initial stream), then each active edit in order edits the
    previous level with `initial` as reference and the shown stream as known frames, so an edited
    stream continues itself seamlessly. A model with `edit_stack` takes several active edits in one
    composed pass instead (docs/MODEL.md, "Fast edits"). The initial stream always continues itself: with no edits
    it is what is shown; after an /undo or an expiry the shown stream returns to it (the timeline
    cross-fades the seam), so the unedited dance comes back at once instead of lingering.
    """
    mask = req.known_mask if req.n_known > 0 else None
    if req.initial is not None:
        # The unedited prediction for this span is already committed (an edit change between two
        # routine windows): only the editing passes run, which halves the latency of one edit.
        initial = req.initial
    else:
        initial = model.generate(req.music, known=req.known_initial if mask is not None else None,
                                 known_mask=mask, steps=req.steps, music_guidance=music_guidance, seed=req.seed)
    current = initial
    compose = getattr(model, "edit_stack", None)
    if len(req.prompts) > 1 and callable(compose):
        # Stacked edits in one pass (DanceModel.edit_stack): a window costs about one edit, however
        # many are active. A failure is blamed on the newest edit: the others passed before it came.
        try:
            shown = compose(req.music, initial, list(req.prompts), known=req.known if mask is not None else None,
                            known_mask=mask, steps=req.steps, text_guidance=req.strength, seed=req.seed)
        except Exception as exc:
            raise EditLevelError(len(req.prompts) - 1, req.prompts[-1], exc) from exc
        return WindowResult(req, np.asarray(shown, np.float32), np.asarray(initial, np.float32))
    for i, prompt in enumerate(req.prompts):
        try:
            current = model.edit(req.music, initial, current, prompt,
                                 known=req.known if mask is not None else None, known_mask=mask,
                                 steps=req.steps, text_guidance=req.strength,
                                 seed=None if req.seed is None else req.seed + 1 + i)
        except Exception as exc:
            # Name the edit: a prompt the text encoder or the model cannot take would otherwise
            # fail every later window too, and the dance would freeze until /reset.
            raise EditLevelError(i, prompt, exc) from exc
    return WindowResult(req, np.asarray(current, np.float32), np.asarray(initial, np.float32))


def window_plan(playhead: int, committed_end: int, lead: int, context: int, window: int = WINDOW) -> tuple[int, int]:
    """Where the next window goes: -> (start, n_known).

    The known frames end where the result is expected to be committed (playhead + lead, lead =
    expected compute time + safety margin), or at the end of the committed frames if that is
    sooner; `context` known frames precede that point.
    """
    known_end = max(0, min(committed_end, playhead + lead))
    n_known = min(context, known_end, window - 1)
    return known_end - n_known, n_known


def frames_for(seconds: float, fps: float = FPS) -> int:
    return int(math.ceil(seconds * fps))
