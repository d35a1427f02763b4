"""Model inference off the event loop: one thread, latest request wins.

`submit` replaces any request still waiting (a window computed for stale edits or stale known frames
is wasted work). An edit change also cancels a routine window being computed: the model's sampler
is wrapped so that every denoising step first checks a flag (the model's sampler is a plain object
handed the network on each call, DESIGN.md), so the edit starts within one sampler step instead of
after a whole window. An edit window is never cancelled: a stream of edits (25 a second is within
the default OSC rate limit) would otherwise cancel each window before it finished, and the dance
held its pose for as long as the stream lasted. Results go to `on_result`, called on the worker
thread (the engine hands them to its loop with `call_soon_threadsafe`).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from liveedit.core.continuation import EditLevelError, ModelLike, WindowRequest, WindowResult, run_window

log = logging.getLogger(__name__)


class WindowCancelled(Exception):
    """Raised inside the sampler when the window being computed is no longer wanted."""


class CancellableSampler:
    """Wraps a sampler (`sample(denoise_fn, shape, ...)`): raises WindowCancelled at the next
    denoising step once `event` is set."""

    def __init__(self, inner, event: threading.Event):
        self.inner, self.event = inner, event

    def sample(self, denoise_fn, *args, **kwargs):
        def checked(*a, **k):
            if self.event.is_set():
                raise WindowCancelled()
            return denoise_fn(*a, **k)
        return self.inner.sample(checked, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class InferenceWorker:
    def __init__(self, model: ModelLike, on_result: Callable[[WindowResult], None], *,
                 music_guidance: float = 2.0, name: str = "liveedit-inference"):
        self.model = model
        self.on_result = on_result
        self.music_guidance = music_guidance
        self._cond = threading.Condition()
        self._pending: WindowRequest | None = None
        self._busy = False
        self._stop = False
        self.replaced = 0      # requests dropped because a newer one arrived first
        self.completed = 0
        self.failed = 0
        self.cancelled = 0     # routine windows abandoned for an edit
        self._cancel = threading.Event()
        self._current: WindowRequest | None = None
        sampler = getattr(model, "sampler", None)
        if sampler is not None and callable(getattr(sampler, "sample", None)) and not isinstance(sampler, CancellableSampler):
            model.sampler = CancellableSampler(sampler, self._cancel)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, warm_up: bool = True) -> None:
        """Start the thread; `warm_up` also loads the text encoder on a helper thread (see warm_up)."""
        self._thread.start()
        if warm_up:
            threading.Thread(target=self.warm_up, name="liveedit-warmup", daemon=True).start()

    @property
    def in_flight(self) -> bool:
        """A request is waiting or being computed."""
        with self._cond:
            return self._busy or self._pending is not None

    def submit(self, req: WindowRequest) -> None:
        with self._cond:
            if self._pending is not None:
                self.replaced += 1
            self._pending = req
            cur = self._current
            if (req.reason == "edit" and cur is not None and cur.reason != "edit"
                    and cur.edits_version != req.edits_version):
                self._cancel.set()   # its result would be stale: stop it at the next step
            self._cond.notify()

    def discard_pending(self) -> None:
        """Drop the waiting request (a newer state was handled without the model)."""
        with self._cond:
            if self._pending is not None:
                self.replaced += 1
            self._pending = None

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the thread to finish; -> True if it ended within `timeout` (it is a daemon either way)."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cancel.set()   # also ends a window in progress at its next sampler step
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def warm_up(self) -> None:
        """Load the text encoder now (it loads lazily, in seconds), not on the first edit."""
        encode = getattr(self.model, "encode_text", None)
        if encode is None:
            return
        t0 = time.perf_counter()
        try:
            encode(["warm up"])
            log.info("text encoder ready (%.1f s)", time.perf_counter() - t0)
        except Exception as exc:
            log.warning("text encoder warm-up failed: %s", exc)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                req, self._pending = self._pending, None
                self._busy = True
                self._current = req
                self._cancel.clear()
            t0 = time.perf_counter()
            failed_edit = None
            try:
                try:
                    result = run_window(self.model, req, self.music_guidance)
                except EditLevelError as exc:
                    if isinstance(exc.cause, WindowCancelled):
                        raise exc.cause from None
                    failed_edit = exc.level
                    raise
                self.completed += 1
            except WindowCancelled:
                self.cancelled += 1
                with self._cond:
                    self._busy = False
                    self._current = None
                continue
            except Exception as exc:  # a model error must not kill the stream
                if failed_edit is None:
                    log.exception("window %d failed", req.id)
                import numpy as np  # noqa: PLC0415
                result = WindowResult(req, np.zeros((0, 151), np.float32), np.zeros((0, 151), np.float32),
                                      error=str(exc) if failed_edit is not None else f"{type(exc).__name__}: {exc}",
                                      failed_edit=failed_edit)
                self.failed += 1
            result.compute_s = time.perf_counter() - t0
            with self._cond:
                self._busy = False
                self._current = None
            try:
                self.on_result(result)
            except Exception:
                log.exception("result handler failed")
