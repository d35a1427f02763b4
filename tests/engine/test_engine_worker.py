"""Inference worker: latest request wins, an edit cancels a routine window mid-way."""
import threading
import time

import numpy as np

from liveedit.core.continuation import WindowRequest
from liveedit.core.fakemodel import FakeModel
from liveedit.worker import InferenceWorker


class StepSampler:
    def __init__(self, step_s):
        self.step_s = step_s

    def sample(self, denoise_fn, shape, steps=10, **kw):
        x = np.zeros(shape, np.float32)
        for t in range(steps):
            time.sleep(self.step_s)
            x = denoise_fn(x, t)
        return x


class SteppedModel(FakeModel):
    """FakeModel whose generate/edit run a sampler loop of `steps` slow steps."""

    def __init__(self, step_s=0.05):
        super().__init__()
        self.sampler = StepSampler(step_s)

    def generate(self, music, known=None, known_mask=None, steps=10, **kw):
        self.sampler.sample(lambda x, t: x, (150, 151), steps=steps)
        return super().generate(music, known, known_mask, steps, **kw)

    def edit(self, music, initial, current, prompt, known=None, known_mask=None, steps=10, **kw):
        self.sampler.sample(lambda x, t: x, (150, 151), steps=steps)
        return super().edit(music, initial, current, prompt, known, known_mask, steps, **kw)


def req(i, reason="hop", version=0, prompts=()):
    z = np.zeros((150, 151), np.float32)
    return WindowRequest(id=i, start=0, n_known=0, music=np.zeros((150, 35), np.float32), known=z,
                         known_initial=z, prompts=prompts, strength=2.0, steps=10, edits_version=version,
                         reason=reason, created=0.0)


def run_worker(model, submits):
    results, done = [], threading.Event()

    def on_result(r):
        results.append((r.request.id, time.perf_counter()))
        if r.request.id == submits[-1][1].id:
            done.set()

    w = InferenceWorker(model, on_result)
    w.start()
    t0 = time.perf_counter()
    for delay, r in submits:
        time.sleep(delay)
        w.submit(r)
    assert done.wait(10)
    w.stop()
    return w, results, t0


def test_edit_cancels_a_routine_window_in_progress():
    model = SteppedModel(step_s=0.05)            # a window = 10 steps = 0.5 s
    edit = req(2, "edit", version=1, prompts=("jump",))
    w, results, t0 = run_worker(model, [(0, req(1)), (0.15, edit)])
    assert [i for i, _ in results] == [2]         # the routine window never returned
    assert w.cancelled == 1


def test_an_edit_window_finishes_when_a_newer_edit_arrives():
    """A stream of edits must not cancel every window in turn (the dance would hold its pose)."""
    model = SteppedModel(step_s=0.05)
    first, second = req(1, "edit", version=1, prompts=("jump",)), req(2, "edit", version=2, prompts=("spin",))
    w, results, _ = run_worker(model, [(0, first), (0.15, second)])
    assert [i for i, _ in results] == [1, 2] and w.cancelled == 0


def test_latest_waiting_request_wins_and_routine_windows_are_not_cancelled():
    model = SteppedModel(step_s=0.02)
    w, results, _ = run_worker(model, [(0, req(1)), (0.05, req(2)), (0.01, req(3))])
    assert [i for i, _ in results] == [1, 3]      # 1 ran to the end, 2 was replaced by 3
    assert w.replaced == 1 and w.cancelled == 0


def test_a_newer_edit_cancels_a_refine_window():
    """The refine of an edit state that has changed is stale; its preview is already on screen."""
    model = SteppedModel(step_s=0.05)
    refine, edit = req(1, "refine", version=1, prompts=("jump",)), req(2, "edit", version=2, prompts=("jump", "spin"))
    w, results, _ = run_worker(model, [(0, refine), (0.15, edit)])
    assert [i for i, _ in results] == [2] and w.cancelled == 1
