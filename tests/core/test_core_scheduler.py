"""Scheduler: start, hop on the beat, low water, edits immediately, nothing while busy."""
from liveedit.core.scheduler import Scheduler, SchedulerConfig


def test_requests_start_then_hops_on_beats_and_edits_at_once():
    s = Scheduler(SchedulerConfig(hop=30, initial_latency_s=0.2, margin=3))
    beat_of = lambda frame: frame / 15.0  # 120 BPM: a beat every 15 frames
    reasons = {}
    committed_end = 0
    for frame in range(0, 200):
        if frame == 100:
            version = 1
        else:
            version = 1 if frame > 100 else 0
        r = s.due(frame, committed_end, version, beat_of(frame) + 0.5 if frame >= 0 else 0, in_flight=False)
        if r:
            reasons[frame] = r
            s.mark_requested(frame, version, beat_of(frame))
            committed_end = frame + 120  # each window commits 4 s ahead
    assert reasons[0] == "start"
    assert reasons[100] == "edit"
    hops = [f for f, r in reasons.items() if r == "hop"]
    assert hops, reasons
    for a, b in zip([0] + hops, hops):
        if b > 100 and a < 100:
            continue
        assert 30 <= b - a <= 45          # a hop, taken at the next beat boundary
    for f in hops:
        assert (f / 15.0 + 0.5) % 1.0 < 1.0 / 15 + 1e-9  # on a beat crossing


def test_no_routine_request_while_busy_but_edits_go_through():
    s = Scheduler(SchedulerConfig(hop=30))
    s.mark_requested(0, 0, 0.0)
    assert s.due(100, 300, 0, 7.0, in_flight=True) is None
    assert s.due(100, 300, 1, 7.0, in_flight=True) == "edit"


def test_low_water_asks_before_the_committed_frames_run_out():
    s = Scheduler(SchedulerConfig(hop=30, initial_latency_s=0.5, margin=3))
    s.mark_requested(0, 0, 0.0)
    assert s.due(10, 10 + s.lead + 29, 0, 0.3, in_flight=False) == "low"
    assert s.due(10, 10 + s.lead + 31, 0, 0.35, in_flight=False) is None


def test_plan_puts_known_frames_up_to_the_expected_commit_point():
    s = Scheduler(SchedulerConfig(context=60, margin=3, initial_latency_s=0.5))
    lead = s.lead
    assert lead == 15 + 3
    start, n_known = s.plan(playhead=200, committed_end=300)
    assert start + n_known == 200 + lead and n_known == 60
    start, n_known = s.plan(playhead=200, committed_end=205)  # committed frames run out sooner
    assert start + n_known == 205
    assert s.plan(0, 0) == (0, 0)


def test_latency_estimate_rises_fast_and_falls_slowly():
    s = Scheduler(SchedulerConfig(initial_latency_s=0.2))
    s.note_compute(0.2)                 # the first measurement replaces the guess
    assert s.latency_s == 0.2
    s.note_compute(1.0)
    assert s.latency_s == 0.6
    s.note_compute(0.0)
    assert abs(s.latency_s - 0.54) < 1e-9
    s.note_compute(0.05, "edit")
    assert s.edit_latency_s == 0.05 and s.latency_s == 0.54


def test_refine_follows_a_preview_unless_the_stack_changed():
    s = Scheduler(SchedulerConfig(hop=30))
    s.mark_requested(0, 1, 0.0)
    s.want_refine(1)
    assert s.due(5, 300, 1, 0.3, in_flight=True) is None         # waits for the worker
    assert s.due(5, 300, 1, 0.3, in_flight=False) == "refine"
    s.mark_requested(5, 1, 0.3)
    assert s.due(6, 300, 1, 0.4, in_flight=False) is None        # asked once
    s.want_refine(1)
    assert s.due(7, 300, 2, 0.5, in_flight=False) == "edit"      # a newer edit comes first


def test_previews_and_refines_keep_their_own_compute_estimates():
    s = Scheduler(SchedulerConfig(initial_latency_s=0.3, margin=1))
    for _ in range(5):
        s.note_compute(0.0, "edit")
    s.note_compute(1.0, "refine")
    assert s.edit_latency_s < s.latency_s < s._latency["refine"]
    assert s.lead_for("edit") < s.lead_for("hop") < s.lead_for("refine")
