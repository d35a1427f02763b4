"""The edit stack: ordered, bounded, with undo/reset and durations that expire on the beat grid.

Pure data (stdlib only). Beats are fractional beat counts from the beat grid (`BeatGrid.beat_at`);
nothing here reads a clock.

Each active edit is one editing iteration of the paper: level k edits the output of level k-1, with
the unedited prediction as `initial`. The depth is bounded (default 3, the paper's iterations): a new
edit on a full stack drops the oldest one, which a performer would rather see than a refusal.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from liveedit.core.messages import ActiveEdit

DEFAULT_DEPTH = 3
MAX_PROMPT_CHARS = 200

# "... for 4 bars", "... for 8 beats", "(2 bars)" at the end of a prompt.
_DURATION_RE = re.compile(r"[\s,;(]*(?:for\s+)?(\d+(?:\.\d+)?)\s*(bars?|beats?)\)?\s*$", re.IGNORECASE)


def parse_duration(text: str, beats_per_bar: int = 4) -> tuple[str, float | None]:
    """Split a trailing "for N bars/beats" off a prompt: -> (prompt, duration in beats or None)."""
    m = _DURATION_RE.search(text)
    if not m or not text[: m.start()].strip():
        return text.strip(), None
    n = float(m.group(1))
    beats = n * beats_per_bar if m.group(2).lower().startswith("bar") else n
    return text[: m.start()].strip(), beats


@dataclass(frozen=True)
class Edit:
    id: int
    text: str
    start_beat: float
    until_beat: float | None   # beat count at which it expires; None = until undone

    def active(self) -> ActiveEdit:
        return ActiveEdit(id=self.id, text=self.text, until_beat=self.until_beat)


class EditStack:
    """Ordered edits, oldest first. `version` changes on every change, so a scheduler can tell that
    the motion must be recomputed."""

    def __init__(self, max_depth: int = DEFAULT_DEPTH, beats_per_bar: int = 4):
        if max_depth < 1:
            raise ValueError("edit stack depth must be at least 1")
        self.max_depth = max_depth
        self.beats_per_bar = beats_per_bar
        self._edits: list[Edit] = []
        self._next_id = 1
        self.version = 0

    def __len__(self) -> int:
        return len(self._edits)

    @property
    def edits(self) -> tuple[Edit, ...]:
        return tuple(self._edits)

    @property
    def prompts(self) -> tuple[str, ...]:
        return tuple(e.text for e in self._edits)

    def active(self) -> tuple[ActiveEdit, ...]:
        return tuple(e.active() for e in self._edits)

    def push(self, text: str, beat: float, duration_beats: float | None = None) -> tuple[Edit, Edit | None]:
        """Add an edit at fractional beat `beat`. -> (the new edit, the edit dropped to make room or None).

        A duration of N beats expires on the beat grid: at the N-th beat boundary after the beat the
        edit arrived in (so "4 beats" sent just before a beat still lasts four whole beats).
        The prompt may end with "for N bars/beats" instead of passing a duration.
        """
        if not isinstance(text, str):
            raise TypeError("edit prompt must be a string")
        prompt, parsed = parse_duration(text, self.beats_per_bar)
        prompt = " ".join(prompt.split())
        if not prompt:
            raise ValueError("edit prompt is empty")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ValueError(f"edit prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
        if not prompt.isprintable():
            # The text encoder gets exactly this string (a lone surrogate cannot even be encoded).
            raise ValueError("edit prompt holds characters that are not printable text")
        if duration_beats is None:
            duration_beats = parsed
        until = None
        if duration_beats is not None:
            if not math.isfinite(duration_beats) or duration_beats <= 0:
                raise ValueError(f"edit duration must be a positive number of beats, got {duration_beats}")
            until = math.floor(beat + 1e-6) + 1 + duration_beats if duration_beats >= 1 else beat + duration_beats
            until = float(until)
        edit = Edit(self._next_id, prompt, beat, until)
        self._next_id += 1
        dropped = None
        if len(self._edits) >= self.max_depth:
            dropped = self._edits.pop(0)
        self._edits.append(edit)
        self.version += 1
        return edit, dropped

    def remove(self, edit_id: int) -> Edit | None:
        """Remove the edit with this id wherever it sits; None if it is no longer on the stack."""
        for i, e in enumerate(self._edits):
            if e.id == edit_id:
                self.version += 1
                return self._edits.pop(i)
        return None

    def undo(self) -> Edit | None:
        """Remove the newest edit; None if the stack was empty."""
        if not self._edits:
            return None
        self.version += 1
        return self._edits.pop()

    def reset(self) -> int:
        """Remove all edits; -> how many were removed."""
        n = len(self._edits)
        if n:
            self._edits.clear()
            self.version += 1
        return n

    def expire(self, beat: float) -> list[Edit]:
        """Drop the edits whose time is up at fractional beat `beat`; -> the expired edits."""
        gone = [e for e in self._edits if e.until_beat is not None and beat >= e.until_beat - 1e-6]
        if gone:
            self._edits = [e for e in self._edits if e not in gone]
            self.version += 1
        return gone
