"""A stand-in dance model with DanceModel's methods (numpy only): cheap, deterministic, and it continues
its known frames, so engine tests and the engine-overhead benchmark need no network."""
from __future__ import annotations

import numpy as np

WINDOW, DIM = 150, 151
EDIT_CHANNEL = 4  # root x


class FakeModel:
    """New frames continue the last known frame with a sine whose phase depends on the seed, so two
    windows disagree (a seam would jump) but each continues its own known frames smoothly.
    `edit` moves the root 0.25 * text_guidance metres along x per edit level (so tests can see an
    edit in the streamed motion); `edit_stack` does all levels at once, in one call. `delay_s` makes every call take that long (a slow model)."""

    window = WINDOW
    can_edit = True

    def __init__(self, delay_s: float = 0.0):
        self.calls: list[tuple[str, str]] = []
        self.delay_s = delay_s

    def _wait(self) -> None:
        if self.delay_s > 0:
            import time  # noqa: PLC0415
            time.sleep(self.delay_s)

    def _continue(self, known, known_mask, seed):
        out = np.zeros((WINDOW, DIM), np.float32)
        phase = 0.7 * (seed or 0)
        n = int(np.asarray(known_mask).sum()) if known_mask is not None else 0
        i = np.arange(WINDOW, dtype=np.float32)[:, None]
        wave = 0.3 * np.sin(2 * np.pi * i / 60.0 + phase)
        base = known[n - 1] - wave[n - 1] if n else np.zeros(DIM, np.float32)
        out[:] = base + wave
        out[:, EDIT_CHANNEL] = known[n - 1, EDIT_CHANNEL] if n else 0.0  # root x: no wave
        out[:, 0:4] = 1.0    # feet on the ground
        out[:, 5] = 0.95     # pelvis height
        if n:
            out[:n] = known[:n]
        return out

    def generate(self, music, known=None, known_mask=None, steps=10, music_guidance=2.0, seed=None):
        assert music.shape == (WINDOW, 35)
        self.calls.append(("generate", ""))
        self._wait()
        return self._continue(known, known_mask, seed)

    def edit(self, music, initial, current, prompt, known=None, known_mask=None, steps=10,
             text_guidance=2.0, seed=None):
        self.calls.append(("edit", prompt))
        self._wait()
        out = np.array(current, dtype=np.float32, copy=True)
        n = int(np.asarray(known_mask).sum()) if known_mask is not None else 0
        out[n:, EDIT_CHANNEL] += 0.25 * text_guidance
        if n:
            out[:n] = known[:n]
        return out

    def edit_stack(self, music, initial, prompts, known=None, known_mask=None, steps=10,
                   text_guidance=2.0, seed=None):
        self.calls.append(("edit_stack", " | ".join(prompts)))
        self._wait()
        out = np.array(initial, dtype=np.float32, copy=True)
        n = int(np.asarray(known_mask).sum()) if known_mask is not None else 0
        out[n:, EDIT_CHANNEL] += 0.25 * text_guidance * len(prompts)
        if n:
            out[:n] = known[:n]
        return out
