"""The training loop's batch preparation: DataLoader workers give the same batches' distributions
as the in-process path, the device-side draws are what the objective says, the text table travels
without the encoder, the EMA update is the textbook one, and --time-limit keeps what was trained."""
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from model.diffusion import CosineSchedule
from model.motion import Normalizer
from model.network import DanceEditor, ModelConfig
from training import data as tdata
from training.train import (
    EMA,
    PRESETS,
    SEAM_BLEND_FRAMES,
    TrainingForward,
    batch_stream,
    compute_losses,
    own_output_prefix,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(1200)


def summary(batches: list[dict]) -> dict:
    masks = torch.cat([b["mask"] for b in batches]).numpy()
    # fresh windows, windows starting known (prefixes, and spans that do not touch the start)
    kinds = np.where(~masks.any(1), 0, np.where(masks[:, 0], 1, 2))
    music = torch.cat([b["music"] for b in batches])
    return {"kinds": np.bincount(kinds, minlength=3) / len(kinds),
            "known": float(masks.mean()),
            "beats": music[..., 34].sum(1).mean().item()}


def test_worker_batches_match_in_process_batches_in_distribution(tiny_corpus):
    preset = PRESETS["tiny"]
    data = tdata.open_training_data(f"corpus:{tiny_corpus}", str(tiny_corpus), preset)
    n = 40
    args = SimpleNamespace(seed=0, workers=0)
    gen = torch.Generator().manual_seed(0)
    own = [tdata.on_device(next(it), gen) for it in [batch_stream(data, 1, preset, args, 0, 0)] for _ in range(n)]
    args.workers = 2
    it = batch_stream(data, 1, preset, args, 0, 0)
    workers = [tdata.on_device(next(it), gen) for _ in range(n)]
    b = workers[0]
    assert b["target"].shape == (4, 150, 151) and b["music"].shape == (4, 150, 35) and b["mask"].dtype == torch.bool
    # the two workers draw different windows (their own generators), and not those of the main process
    assert not torch.equal(workers[0]["target"], workers[1]["target"])
    assert not torch.equal(workers[0]["target"], own[0]["target"])
    a, w = summary(own), summary(workers)
    # 30% fresh, 50% prefix, 20% span (device_masks), which starts at frame 0 one time in 120:
    # 160 windows each, so a few points of noise
    expect = [0.3, 0.5 + 0.2 * 119 / 120, 0.2 / 120]
    assert np.abs(a["kinds"] - expect).max() < 0.12 and np.abs(w["kinds"] - expect).max() < 0.12
    assert abs(a["known"] - w["known"]) < 0.1
    assert abs(a["beats"] - w["beats"]) < 1.5


def test_device_draws_follow_the_objective(tiny_corpus):
    """Noise levels uniform over the schedule, music dropped for ~10% of windows, noise N(0, 1)."""
    preset = PRESETS["tiny"]
    data = tdata.open_training_data(f"corpus:{tiny_corpus}", str(tiny_corpus), preset)
    batch = tdata.prepare_batch(data, 1, 4, np.random.default_rng(0))
    seen = {"t": [], "drop": [], "noise": []}

    class Spy(torch.nn.Module):
        def forward(self, x_t, t, music, known, mask, drop_music=None, edit=None):
            seen["t"].append(t)
            seen["drop"].append(drop_music)
            return known

    schedule = CosineSchedule()
    gen = torch.Generator().manual_seed(0)
    normalizer = Normalizer.identity()
    big = {k: v.repeat(64, *([1] * (v.dim() - 1))) for k, v in batch.items()}      # 256 windows
    for _ in range(8):
        compute_losses(Spy(), big, normalizer, schedule, gen, stage=1)
    t = torch.cat(seen["t"]).float()
    drop = torch.cat(seen["drop"]).float()
    assert abs(t.mean().item() / (schedule.steps - 1) - 0.5) < 0.03
    assert abs(drop.mean().item() - 0.1) < 0.03
    # the same generator seed gives the same draws (resumable, reproducible)
    seen["t"].clear()
    compute_losses(Spy(), big, normalizer, schedule, torch.Generator().manual_seed(0), stage=1)
    assert torch.equal(seen["t"][0], t[:256].long())


def test_own_prefix_targets_keep_the_guess_and_return_to_the_data_without_a_jump():
    """--own-prefix: the prefix becomes the network's guess, the frames after it start from the guess
    and fade back to the data over SEAM_BLEND_FRAMES; fresh windows and spans stay data."""
    B, T, C = 64, 150, 151
    target = torch.randn(B, T, C)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[:48, :16] = True                         # continuation prefixes
    mask[48:56] = True                            # an offline span edit
    mask[48:56, 60:100] = False
    shift = torch.linspace(0.5, 1.5, C)           # the "network" is off by a per-channel shift
    calls = []

    class Shifted(torch.nn.Module):
        def forward(self, x_t, t, music, known, mask_in, drop_music=None, edit=None):
            calls.append(mask_in)
            return known + shift

    out = own_output_prefix(Shifted(), target, torch.zeros(B, T, 35), mask, CosineSchedule(),
                            torch.Generator().manual_seed(0), prob=0.5)
    assert not calls[0].any()                     # the guess is made without known frames
    changed = (out != target).any(-1).any(-1)     # (B,)
    assert not changed[48:].any()                 # only prefix windows are touched
    assert 12 < int(changed[:48].sum()) < 36      # about half of them
    w = out[changed]
    data = target[changed]
    assert torch.allclose(w[:, :16], data[:, :16] + shift)             # the prefix is the guess
    step_at_seam = (w[:, 16] - w[:, 15]) - (data[:, 16] - data[:, 15])  # vs the data's own step
    assert step_at_seam.abs().max() < 0.05 * shift.max()               # no jump at the seam
    assert torch.equal(w[:, 16 + SEAM_BLEND_FRAMES:], data[:, 16 + SEAM_BLEND_FRAMES:])  # then the data
    mid = (w[:, 16 + SEAM_BLEND_FRAMES // 2] - data[:, 16 + SEAM_BLEND_FRAMES // 2]) / shift
    assert ((mid > 0.3) & (mid < 0.7)).all()                           # half way back half way through


def test_text_table_is_kept_and_read_back_without_the_encoder(tmp_path, monkeypatch):
    import model.text as text
    path = tmp_path / "text_features.pt"
    cache = tdata.TextCache(8, ["raise your arms", "get lower"], path=path)
    assert path.is_file()
    tokens, mask = cache.batch(["get lower", "raise your arms"])

    def unavailable():
        raise text.TextEncoderUnavailable("no encoder on this machine")
    monkeypatch.setattr(text, "get_text_encoder", unavailable)
    again = tdata.TextCache(8, ["raise your arms", "get lower"], path=path)
    tokens2, mask2 = again.batch(["get lower", "raise your arms"])
    assert torch.equal(mask, mask2) and torch.equal(tokens, tokens2) and tokens.abs().sum() > 0
    with pytest.raises(text.TextEncoderUnavailable):
        again.batch(["a prompt the table does not hold"])


def test_ema_update_is_the_moving_average_of_every_float_weight():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = EMA(net, decay=0.9)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.train()(torch.randn(5, 3))                                    # moves the BatchNorm buffers
    step = 1000
    d = min(0.9, (1 + step) / (10 + step))
    ema.update(net, step)
    for k, v in net.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(ema.state_dict()[k], d * before[k] + (1 - d) * v)
        else:
            assert torch.equal(ema.state_dict()[k], v)


def test_time_limit_stops_and_writes_the_model(tiny_corpus, tmp_path):
    out = tmp_path / "m.pt"
    r = subprocess.run([sys.executable, str(REPO / "training" / "train.py"), "--preset", "tiny", "--data",
                        f"corpus:{tiny_corpus}", "--run-dir", str(tmp_path / "run"), "--out", str(out), "--stages", "1",
                        "--stage1-steps", "100000", "--time-limit", "1"], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "--time-limit reached" in r.stdout + r.stderr
    state = torch.load(tmp_path / "run" / "stage1_last.pt", weights_only=True)
    assert 0 < state["step"] < 100000
    from model.checkpoint import load_checkpoint
    _, _, meta = load_checkpoint(out)
    assert meta["partial"] and meta["step"] == state["step"]


def test_the_training_forward_runs_under_the_device_generator_on_cpu(tiny_corpus):
    """compute_losses on a prepared batch, end to end through the real network, stage 2 included."""
    preset = PRESETS["tiny"]
    data = tdata.open_training_data(f"corpus:{tiny_corpus}", str(tiny_corpus), preset)
    net = DanceEditor(ModelConfig(width=32, depth=2, heads=2, dropout=0.0))
    normalizer = Normalizer.fit(data.motion_sample(2000, np.random.default_rng(0)))
    gen = torch.Generator().manual_seed(0)
    for stage in (1, 2):
        if stage == 2:
            net.freeze_generation()
        batch = tdata.prepare_batch(data, stage, 3, np.random.default_rng(stage))
        losses = compute_losses(TrainingForward(net), batch, normalizer, CosineSchedule(), gen, stage)
        assert torch.isfinite(losses["loss"]) and losses["loss"].requires_grad


def test_phrasing_mix_replaces_that_share_of_training_prompts():
    from training.corpus.phrasings import phrasings_for
    items = [{"text": "arms wider", "edit_type": "arms_wider", "slots": "{}"},
             {"text": "feet 15 cm further apart", "edit_type": "steps_wider_cm", "slots": '{"cm": 15}'},
             {"text": "my own edit", "edit_type": "", "slots": "{}"}] * 400
    texts = [it["text"] for it in items]
    assert tdata.mix_phrasings(items, 0.0, np.random.default_rng(0)) == texts
    mixed = tdata.mix_phrasings(items, 0.5, np.random.default_rng(0))
    assert mixed == tdata.mix_phrasings(items, 0.5, np.random.default_rng(0))  # same generator, same draw
    changed = [m != t for m, t in zip(mixed, texts)]
    share = np.mean(changed[0::3] + changed[1::3])
    assert 0.4 < share < 0.6
    assert not any(changed[2::3])  # an edit type the generator does not know keeps its text
    assert all(m in phrasings_for("arms_wider") for m, c in zip(mixed[0::3], changed[0::3]) if c)
    assert all(m in phrasings_for("steps_wider_cm", {"cm": 15}) for m, c in zip(mixed[1::3], changed[1::3]) if c)
    assert all(tdata.mix_phrasings(items, 1.0, np.random.default_rng(1))[0::3][k] != "arms wider" for k in range(50))


def mask_stats(masks: np.ndarray) -> dict:
    """Kinds and lengths of (N, T) known-frame masks."""
    fresh, full = ~masks.any(1), masks.all(1)
    # known frames in one run from frame 0 (a span reaching the window's end looks the same)
    prefix = masks[:, 0] & ~full & (masks.sum(1) == np.argmin(masks, 1))
    span = ~fresh & ~prefix
    n_prefix = masks[prefix].sum(1)
    gap = (~masks[span]).sum(1)                                                   # frames the span re-draws
    return {"kinds": np.array([fresh.mean(), prefix.mean(), span.mean()]),
            "context": (n_prefix == tdata.ROLLING_CONTEXT).mean(), "prefix_mean": n_prefix.mean(),
            "prefix_range": (n_prefix.min(), n_prefix.max()), "gap_mean": gap.mean(),
            "gap_range": (gap.min(), gap.max())}


def test_own_dances_replace_that_share_of_rows_as_unedited_dances():
    from training.own_dances import mix_in
    B, T = 400, 150
    batch = {"target": torch.zeros(B, T, 151), "current": torch.ones(B, T, 151), "initial": torch.ones(B, T, 151),
             "music": torch.zeros(B, T, 35), "mask": torch.zeros(B, T, dtype=torch.bool)}
    bank = {"dance": torch.arange(3, dtype=torch.float32)[:, None, None].expand(3, T, 151) + 5,   # 5, 6, 7
            "music": torch.full((3, T, 35), 9.0)}
    out = mix_in(batch, bank, 0.25, torch.Generator().manual_seed(0))
    own = out["own"]
    assert 0.18 < own.float().mean() < 0.32
    for key in ("target", "current", "initial"):
        assert torch.all(out[key][own] >= 5) and torch.equal(out[key][~own], batch[key][~own])
    assert torch.equal(out["target"][own], out["current"][own]) and torch.all(out["music"][own] == 9)
    assert torch.all(batch["target"] == 0)                                   # the input batch is not changed
    assert not mix_in(batch, bank, 0.0, torch.Generator().manual_seed(0))["own"].any()

    # in the loss, an own row's text is dropped: the branch is asked to keep the dance it was given
    from training.train import compute_losses
    seen = {}

    def network(x_t, t, music, target, mask, drop_music, edit):
        seen["drop"] = edit.drop_text.clone()
        return torch.zeros_like(x_t)

    B = 64
    small = {k: v[:B] for k, v in batch.items()}
    small.update(text=torch.zeros(B, 4, 384), text_mask=torch.ones(B, 4, dtype=torch.bool))
    mixed = mix_in(small, bank, 0.5, torch.Generator().manual_seed(1))
    compute_losses(network, mixed, Normalizer.identity(151), CosineSchedule(), torch.Generator().manual_seed(2), stage=2)
    assert mixed["own"].any() and torch.all(seen["drop"][mixed["own"]])
    assert not torch.all(seen["drop"])                                       # the other rows keep most texts


def test_device_masks_follow_the_reference_distribution():
    """device_masks (the training loop's, one draw for the whole batch) against random_known_masks
    (the per-window numpy reference): the same kinds, prefix lengths and spans, 6000 windows each."""
    ref = mask_stats(tdata.random_known_masks(6000, 150, np.random.default_rng(0)).numpy())
    dev = tdata.device_masks(6000, 150, torch.Generator().manual_seed(0))
    assert dev.shape == (6000, 150) and dev.dtype == torch.bool
    got = mask_stats(dev.numpy())
    np.testing.assert_allclose(got["kinds"], ref["kinds"], atol=0.025)
    assert abs(got["context"] - ref["context"]) < 0.04
    assert abs(got["prefix_mean"] - ref["prefix_mean"]) < 3.0
    assert got["prefix_range"][1] == ref["prefix_range"][1] == tdata.TRAINED_CONTEXT[1]
    assert abs(got["gap_mean"] - ref["gap_mean"]) < 4.0
    assert got["gap_range"][0] >= 1 and got["gap_range"][1] <= 119


def test_device_live_music_is_the_engines_extrapolation_after_a_drawn_playhead(tiny_corpus):
    """Every window device_live_music changes is extrapolate_after() of it from a playhead at most
    MAX_LEAD_FRAMES before its known frames end; about half the continuation windows are changed,
    as live_music (the numpy reference) does, and the leads cover their whole range."""
    preset = PRESETS["tiny"]
    data = tdata.open_training_data(f"corpus:{tiny_corpus}", str(tiny_corpus), preset)
    gen = torch.Generator().manual_seed(3)
    w = tdata.draw_windows(data, 1, 200, np.random.default_rng(0))
    music, history = w["music"].numpy(), w["music_history"].numpy()
    mask = tdata.device_masks(200, 150, gen)
    out = tdata.device_live_music(w["music"], mask, gen, w["music_history"]).numpy()
    ref = tdata.live_music(music, mask.numpy(), np.random.default_rng(1), history)
    m = mask.numpy()
    eligible = m[:, 0] & ~m.all(1)
    leads, changed_ref = [], 0
    for b in range(200):
        changed_ref += not np.array_equal(ref[b], music[b])
        if np.array_equal(out[b], music[b]):
            continue
        assert eligible[b], f"window {b} is no continuation but its music changed"
        n_known = int(np.argmin(m[b]))
        match = [lead for lead in range(tdata.MAX_LEAD_FRAMES + 1)
                 if np.array_equal(out[b], tdata.extrapolate_after(music[b], max(1, n_known - lead), history[b]))]
        assert match, f"window {b}: not the engine's extrapolation from any playhead"
        leads.append(match[0])
    share = len(leads) / eligible.sum()
    assert abs(share - tdata.EXTRAPOLATE_PROB) < 0.15 and abs(changed_ref / eligible.sum() - share) < 0.2
    assert min(leads) <= 2 and max(leads) >= tdata.MAX_LEAD_FRAMES - 2


def test_on_device_finishes_a_batch_of_windows():
    target = torch.randn(6, 150, 151)
    batch = {"target": target, "music": torch.rand(6, 150, 35), "music_history": torch.rand(6, 120, 35)}
    out = tdata.on_device(batch, torch.Generator().manual_seed(0))
    assert set(out) == {"target", "music", "mask"} and out["target"] is target
    assert out["mask"].shape == (6, 150) and out["music"].shape == (6, 150, 35)


def test_bench_train_reports_the_loop_and_the_host_path(tiny_corpus, tmp_path):
    """`liveedit bench train --compare-host` runs both loops and writes their figures (no timing asserted)."""
    import argparse
    import json

    from liveedit.bench import train as bench
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    out = tmp_path / "bench.json"
    args = p.parse_args(["--preset", "tiny", "--corpus-dir", str(tiny_corpus), "--steps", "2", "--compare-host",
                         "--threads", "1", "--json", str(out)])
    assert bench.run(args) == 0
    row = json.loads(out.read_text())["rows"][0]
    for key in ("loop_step_ms", "host_loop_step_ms", "speedup_vs_host", "prep_host_ms", "prep_device_ms"):
        assert row[key] > 0, key
    assert row["samples_per_s"] == pytest.approx(row["batch"] * 1000 / row["loop_step_ms"], rel=0.01)
