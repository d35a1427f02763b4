import math
"""The network, CEM, sampler, pipeline and checkpoints (tiny configs; a stand-in text encoder)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.diffusion import SAMPLERS, CosineSchedule, DDIMSampler, cosine_alphas_cumprod
from model.motion import Normalizer
from model.network import (CrossModalityEditingModule, DanceEditor, EditInputs, ModelConfig, adain)
from model.pipeline import HISTORY_FADED, DanceModel, history_weights

TINY = dict(width=32, depth=2, heads=2, music_layers=1, dropout=0.0)


class StandInText:
    """Deterministic token features per prompt (the real encoder has its own tests)."""

    def encode(self, prompts, max_tokens=32):
        toks = []
        for p in prompts:
            g = torch.Generator().manual_seed(sum(map(ord, p)))
            toks.append(torch.randn(6, 384, generator=g))
        return SimpleNamespace(tokens=torch.stack(toks), mask=torch.ones(len(prompts), 6, dtype=torch.bool))


def batch(B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 150, 151, generator=g)
    music = torch.randn(B, 150, 35, generator=g)
    t = torch.randint(0, 1000, (B,), generator=g)
    mask = torch.zeros(B, 150, dtype=torch.bool)
    text = torch.randn(B, 5, 384, generator=g)
    return x, music, t, mask, text


@pytest.mark.parametrize("mode", ["cem", "concat", "no_branch"])
def test_output_shapes_and_zero_init_editor_leaves_generation_unchanged(mode):
    torch.manual_seed(0)
    net = DanceEditor(ModelConfig(edit_mode=mode, **TINY)).eval()
    x, music, t, mask, text = batch()
    cond = net.condition(music)
    with torch.no_grad():
        plain = net.denoise(x, t, cond, x, mask)
        edited = net.denoise(x, t, cond, x, mask, edit=EditInputs(
            current=torch.randn_like(x), initial=torch.randn_like(x), text=text,
            text_mask=torch.ones(2, 5, dtype=torch.bool)))
    assert plain.shape == edited.shape == (2, 150, 151)
    if mode != "no_branch":  # "no_branch" has no branch: text enters its attention memory directly
        # ControlNet's zero-initialised joins: at init the edited model IS the generation branch.
        assert torch.equal(plain, edited)


def test_editor_gradients_flow_into_zero_layers_only_initially():
    net = DanceEditor(ModelConfig(**TINY))
    net.freeze_generation()
    x, music, t, mask, text = batch()
    out = net.denoise(x, t, net.condition(music), x, mask, edit=EditInputs(
        current=x, initial=x, text=text, text_mask=torch.ones(2, 5, dtype=torch.bool)))
    out.pow(2).mean().backward()
    assert all(p.grad is None for p in net.generation.parameters())
    assert net.editor.zero_out[0].weight.grad.abs().sum() > 0


def test_cem_weights_are_a_partition_and_fusion_follows_eq4():
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY)
    cem = CrossModalityEditingModule(cfg).eval()
    B, N, D = 2, cfg.tokens, cfg.width
    h, f_init, slots, query = (torch.randn(B, N, D) for _ in range(4))
    with torch.no_grad():
        out, w = cem(h, f_init, slots, query, return_weights=True)
        assert w.shape == (B, N, 2)
        assert ((w > 0) & (w < 1)).all()
        assert torch.allclose(w.sum(-1), torch.ones(B, N), atol=1e-6)
        # recompute eqs. 4-5 by hand from the module's own f_cur
        f_cur = h + cem.attn(cem.norm_q(query), cem.norm_kv(h))
        sigma = w[..., :1]
        expected = adain(f_cur, sigma * f_init + (1 - sigma) * f_cur)
        assert torch.allclose(out, expected, atol=1e-5)


def test_adain_transfers_temporal_statistics():
    c, s = torch.randn(2, 40, 8), torch.randn(2, 40, 8) * 3 + 5
    y = adain(c, s)
    assert torch.allclose(y.mean(1), s.mean(1), atol=1e-4)
    assert torch.allclose(y.std(1), s.std(1), atol=1e-3)


def test_cosine_schedule():
    ab = cosine_alphas_cumprod()
    assert ab.shape == (1000,) and ab[0] > 0.999 and ab[-1] < 1e-3
    assert (ab[1:] < ab[:-1]).all()


def test_ddim_with_an_oracle_network_returns_the_oracle_and_known_frames():
    target = torch.randn(1, 150, 151)
    sampler = DDIMSampler(CosineSchedule())
    calls = []

    def oracle(x, t):
        calls.append(int(t[0]))
        return target.expand_as(x)

    known = torch.randn(1, 150, 151)
    mask = torch.zeros(1, 150, dtype=torch.bool)
    mask[:, :40] = True
    out = sampler.sample(oracle, (1, 150, 151), steps=7, known=known, known_mask=mask)
    assert calls == sorted(calls, reverse=True) and len(calls) == 7 and calls[0] == 999 and calls[-1] == 0
    assert torch.equal(out[:, :40], known[:, :40])
    assert torch.allclose(out[:, 40:], target[:, 40:])


def test_partial_redraw_starts_from_the_noised_init_with_a_share_of_the_steps():
    sampler = DDIMSampler(CosineSchedule())
    init = torch.randn(1, 150, 151)
    seen = []

    def denoiser(x, t):  # reads the clean signal straight back out of x_t (as if there were no noise)
        seen.append((int(t[0]), x.clone()))
        return x / sampler.schedule.alphas_cumprod[t[0]].sqrt().float()

    out = sampler.sample(denoiser, init.shape, steps=10, init=init, strength=0.5, generator=torch.Generator().manual_seed(0))
    assert [t for t, _ in seen] == [500, 375, 250, 125, 0]
    ab = float(sampler.schedule.alphas_cumprod[500])
    x_start = seen[0][1]  # sqrt(ab) init + sqrt(1 - ab) noise
    noise = (x_start - ab ** 0.5 * init) / (1 - ab) ** 0.5
    assert abs(float(noise.std()) - 1.0) < 0.05 and abs(float((noise * init).mean())) < 0.05
    seen.clear()
    out = sampler.sample(denoiser, init.shape, steps=10, init=init, strength=0.02)
    assert len(seen) == 1 and torch.allclose(out, init, atol=0.2)  # barely re-drawn
    with pytest.raises(ValueError, match="strength"):
        sampler.timesteps(10, 0.0)


def gaussian_spread(sampler: DDIMSampler, spread: float, steps: int = 10) -> float:
    """Std of samples / true std, for data N(0, spread^2) and its exact denoiser E[x0 | x_t]."""
    ab_all = sampler.schedule.alphas_cumprod

    def exact(x, t):
        ab = float(ab_all[t[0]])
        return (ab ** 0.5 * spread ** 2 / (ab * spread ** 2 + 1 - ab)) * x

    x = sampler.sample(exact, (4000, 1, 8), steps=steps, generator=torch.Generator().manual_seed(0))
    return float(x.std()) / spread


def test_second_order_log_snr_sampler_keeps_the_spread_that_ddim_loses():
    """With an exact denoiser the probability-flow ODE maps noise onto the data's spread; 10 even
    DDIM steps shrink small-scale variation (the finer detail of a dance) by a quarter to a half."""
    ddim = DDIMSampler(CosineSchedule())
    dpm = DDIMSampler(CosineSchedule(), order=2, spacing="logsnr")
    for spread in (0.1, 0.3, 1.0, 3.0):
        assert abs(gaussian_spread(dpm, spread) - 1.0) < 0.06
    assert gaussian_spread(ddim, 0.1) < 0.6 and gaussian_spread(ddim, 0.3) < 0.8


def test_sampler_options_and_log_snr_steps():
    sampler = DDIMSampler(CosineSchedule(), order=2, spacing="logsnr")
    ts = sampler.timesteps(10)
    assert len(ts) == 10 and ts[0] == 999 and ts[-1] == 0 and ts == sorted(ts, reverse=True)
    lam = sampler.log_snr(torch.tensor(ts[1:-1]))
    assert torch.allclose(lam[1:] - lam[:-1], (lam[1:] - lam[:-1]).mean().expand(len(lam) - 1), atol=0.1)
    part = sampler.timesteps(10, 0.5)
    assert part[0] == 500 and part[-1] == 0 and len(part) == 5
    with pytest.raises(ValueError, match="order"):
        DDIMSampler(order=3)
    with pytest.raises(ValueError, match="spacing"):
        DDIMSampler(spacing="karras")
    target = torch.randn(1, 150, 151)
    known, mask = torch.randn(1, 150, 151), torch.zeros(1, 150, dtype=torch.bool)
    mask[:, :16] = True
    out = sampler.sample(lambda x, t: target.expand_as(x), (1, 150, 151), steps=10, known=known, known_mask=mask)
    assert torch.equal(out[:, :16], known[:, :16]) and torch.allclose(out[:, 16:], target[:, 16:])


def test_pipeline_determinism_known_frames_and_edit():
    dm = DanceModel.tiny_random(0, text_encoder=StandInText())
    music = np.random.default_rng(0).normal(size=(150, 35)).astype(np.float32)
    a = dm.generate(music, steps=4, seed=3)
    assert a.shape == (150, 151) and np.isfinite(a).all()
    assert np.array_equal(a, dm.generate(music, steps=4, seed=3))
    assert not np.array_equal(a, dm.generate(music, steps=4, seed=4))
    mask = np.zeros(150, bool)
    mask[:90] = True
    b = dm.generate(music, known=a, known_mask=mask, steps=4, seed=5)
    assert np.array_equal(b[:90], a[:90])
    e = dm.edit(music, a, a, "swing arms wider", known=a, known_mask=mask, steps=4, seed=6)
    assert np.array_equal(e[:90], a[:90]) and not np.allclose(e[90:], a[90:])
    with pytest.raises(ValueError, match="empty"):
        dm.edit(music, a, a, "  ")
    with pytest.raises(ValueError, match="music features"):
        dm.generate(music[:100])
    batched = dm.generate(np.stack([music, music]), steps=4, seed=3)
    assert batched.shape == (2, 150, 151)


def test_new_dance_and_edits_each_use_their_own_sampling():
    """New dance samples with generate_sampling, edits with edit_sampling; neither changes the other."""
    dm = DanceModel.tiny_random(0, text_encoder=StandInText())
    seen = []
    sample = dm.sampler.sample
    dm.sampler.sample = lambda *a, **k: seen.append((k["order"], k["spacing"])) or sample(*a, **k)
    music = np.random.default_rng(0).normal(size=(150, 35)).astype(np.float32)
    assert dm.generate_sampling == SAMPLERS["dpm2"] and dm.edit_sampling == SAMPLERS["ddim"]
    a = dm.generate(music, steps=6, seed=3)
    e = dm.edit(music, a, a, "swing arms wider", steps=6, seed=6)
    dm.generate_sampling = SAMPLERS["ddim"]
    assert not np.allclose(dm.generate(music, steps=6, seed=3), a)
    assert np.array_equal(dm.edit(music, a, a, "swing arms wider", steps=6, seed=6), e)
    assert seen == [(2, "logsnr"), (1, "time"), (1, "time"), (1, "time")]


def test_eval_names_the_samplers_the_model_has():
    from training.eval import SAMPLER_NAMES

    assert set(SAMPLER_NAMES) == set(SAMPLERS)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    net = DanceEditor(ModelConfig(**TINY))
    norm = Normalizer(np.arange(151, dtype=np.float32), np.full(151, 2.0, np.float32))
    path = tmp_path / "m.pt"
    save_checkpoint(path, net, norm, meta={"stage": 2})
    net2, norm2, meta = load_checkpoint(path)
    assert meta == {"stage": 2}
    assert torch.equal(norm2.mean, norm.mean)
    for (k, v), (k2, v2) in zip(net.state_dict().items(), net2.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_bad_checkpoints_name_the_file_and_problem(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    # truncated file
    net = DanceEditor(ModelConfig(**TINY))
    good = tmp_path / "good.pt"
    save_checkpoint(good, net, Normalizer.identity())
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="trunc.pt"):
        load_checkpoint(trunc)
    # weights that do not match the config
    payload = torch.load(good, weights_only=True)
    payload["config"]["width"] = 48
    payload["config"]["heads"] = 2
    bad = tmp_path / "mismatch.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match="mismatch.pt.*do not match"):
        load_checkpoint(bad)
    # a pickled object is refused
    evil = tmp_path / "evil.pt"
    torch.save({"format": "liveedit-checkpoint", "obj": Normalizer.identity()}, evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(evil)


def test_token_rate_staircase_becomes_smooth_and_linear_motion_is_kept():
    from model.pipeline import token_rate_to_frame_rate
    t = np.arange(150, dtype=np.float32)
    ramp = np.stack([t * 0.01, -t * 0.02], axis=-1)                      # (150, 2) linear motion
    stairs = ramp.reshape(75, 2, 2).mean(axis=1).repeat(2, axis=0)       # same motion in 2-frame steps
    out = token_rate_to_frame_rate(stairs, 2)
    steps = np.abs(np.diff(out[2:-2], axis=0))
    assert np.allclose(steps, steps[0], atol=1e-5)                       # no more staircase
    assert np.allclose(out[2:-2], ramp[2:-2], atol=1e-5)                 # and the motion is the same
    assert token_rate_to_frame_rate(stairs, 1) is stairs


def test_token_rate_resampling_keeps_the_depth_of_a_sharp_dip():
    from model.pipeline import token_rate_to_frame_rate
    t = np.arange(150, dtype=np.float32)
    curve = np.cos(2 * np.pi * t / 12)[:, None]                     # an accent every 12 frames (150 BPM)
    out = token_rate_to_frame_rate(curve, 2)
    inner = slice(6, -6)
    assert np.abs(out[inner] - curve[inner]).max() < 0.08           # the spline follows the curve
    # straight lines between token means would cut the dips short: check the spline does not
    means = curve.reshape(75, 2, 1).mean(axis=1)
    assert out[inner].min() < means.min() - 0.01


def test_aligned_music_reaches_the_token_it_lies_under_and_warm_starts_exactly():
    torch.manual_seed(0)
    # (no beat phase here: it spreads a beat's position over the whole window, by design)
    old = DanceEditor(ModelConfig(aligned_music=False, beat_phase=False, **TINY), with_editor=False).eval()
    new = DanceEditor(ModelConfig(beat_phase=False, **TINY), with_editor=False).eval()
    from training.train import load_allowing_new
    load_allowing_new(new.generation, old.generation.state_dict(), "generation branch", rank=1)
    x, music, t, mask, _ = batch()
    with torch.no_grad():
        same = [n.denoise(x, t, n.condition(music), x, mask) for n in (old, new)]
        torch.testing.assert_close(same[0], same[1])  # zero-initialised: the old model, exactly
        torch.nn.init.normal_(new.generation.music_align.weight, std=0.1)
        # music in the last token only changes the output there (plus what attention carries)
        music2 = music.clone()
        music2[:, -2:] += 1.0
        cond, cond2 = new.condition(music), new.condition(music2)
        delta = (cond2.aligned - cond.aligned).abs().sum(-1)        # (B, N)
        assert delta[:, -1].min() > 0 and delta[:, :-1].max() == 0
        dropped = new.condition(music, torch.tensor([True, False]))
        assert dropped.aligned[0].abs().max() == 0 and dropped.aligned[1].abs().max() > 0
    # a file whose network differs in a way that is not a zero-initialised addition is refused
    with pytest.raises(SystemExit, match="does not match"):
        load_allowing_new(old.generation, new.generation.state_dict(), "generation branch", rank=1)


def test_configs_written_before_aligned_music_text_injection_and_beat_phase_load_without_them():
    d = ModelConfig(**TINY).to_dict()
    del d["aligned_music"], d["text_injection"], d["beat_phase"]
    cfg = ModelConfig.from_dict(d)
    assert cfg.aligned_music is False and cfg.text_injection is False and cfg.beat_phase is False
    assert DanceEditor(cfg).generation.music.phase_proj is None
    assert DanceEditor(cfg).editor.text_in is None


def test_edit_text_reaches_every_copied_block_through_zero_layers():
    torch.manual_seed(0)
    net = DanceEditor(ModelConfig(**TINY)).eval()
    assert len(net.editor.text_in) == TINY["depth"]
    assert all(float(layer.weight.abs().max()) == 0 for layer in net.editor.text_in)
    x, music, t, mask, text = batch()
    edit = EditInputs(current=x, initial=x, text=text, text_mask=torch.ones(2, 5, dtype=torch.bool))
    for zero in net.editor.zero_out:  # open the joins so the editing branch's output is visible
        torch.nn.init.normal_(zero.weight, std=0.05)
    with torch.no_grad():
        cond = net.condition(music)
        before = net.denoise(x, t, cond, x, mask, edit=edit)
        torch.nn.init.normal_(net.editor.text_in[0].weight, std=0.05)
        other = EditInputs(current=x, initial=x, text=-text, text_mask=edit.text_mask)
        a, b = net.denoise(x, t, cond, x, mask, edit=edit), net.denoise(x, t, cond, x, mask, edit=other)
    assert not torch.allclose(a, before)  # the new path changes the output once trained
    assert not torch.allclose(a, b)


def test_beat_phase_runs_from_each_beat_to_the_next_and_on_past_the_last():
    from model.music import BEAT
    from model.network import BEAT_CHANNEL, beat_phase_features
    assert BEAT_CHANNEL == BEAT
    beats = torch.zeros(3, 40)
    beats[0, [5, 15, 25]] = 1          # every 10 frames
    beats[1, [4, 10, 22]] = 1          # uneven: the phase follows each interval
    beats[2, 7] = 1                    # one beat: no grid
    f = beat_phase_features(beats)                                      # (3, 40, 4)
    phase = (torch.atan2(f[..., 0], f[..., 1]) / (2 * math.pi)) % 1.0
    expect0 = ((torch.arange(40) - 5) / 10.0) % 1.0                    # before 5 and after 25 too
    torch.testing.assert_close(phase[0], expect0, atol=1e-5, rtol=0)
    assert abs(phase[1, 7] - 0.5) < 1e-5 and abs(phase[1, 16] - 0.5) < 1e-5
    torch.testing.assert_close(f[0, :, 2:], torch.stack([(4 * math.pi * expect0).sin(), (4 * math.pi * expect0).cos()], -1),
                               atol=1e-5, rtol=0)
    assert f[2].abs().max() == 0


def test_beat_phase_lets_the_network_hear_where_the_beat_falls():
    torch.manual_seed(0)
    net = DanceEditor(ModelConfig(**TINY), with_editor=False).eval()
    x, music, t, mask, _ = batch()
    music[..., 34] = 0
    music[:, ::15, 34] = 1
    shifted = music.clone()
    shifted[..., 34] = torch.roll(music[..., 34], 7, dims=1)            # same beats, other phase
    with torch.no_grad():
        a, b = (net.denoise(x, t, net.condition(m), x, mask) for m in (music, shifted))
        # zero-initialised: only the one-frame beat channel itself tells the two apart at first
        for layer in (net.generation.music.phase_proj, net.generation.phase_align):
            torch.nn.init.normal_(layer.weight, std=0.1)
        a2, b2 = (net.denoise(x, t, net.condition(m), x, mask) for m in (music, shifted))
    assert (a2 - b2).abs().max() > 10 * (a - b).abs().max()


def test_a_model_without_beat_phase_warm_starts_exactly():
    from training.train import load_allowing_new
    torch.manual_seed(0)
    old = DanceEditor(ModelConfig(beat_phase=False, **TINY), with_editor=False).eval()
    new = DanceEditor(ModelConfig(**TINY), with_editor=False).eval()
    load_allowing_new(new.generation, old.generation.state_dict(), "generation branch", rank=1)
    x, music, t, mask, _ = batch()
    with torch.no_grad():
        torch.testing.assert_close(old.denoise(x, t, old.condition(music), x, mask),
                                   new.denoise(x, t, new.condition(music), x, mask))


def test_history_weights_hold_the_seam_and_fade_past_it():
    mask = torch.zeros(3, 150, dtype=torch.bool)
    mask[0, :30] = True
    mask[1, 100:] = True        # known frames at the end: nothing after them to fade
    w = history_weights(mask, 0.25, near=15, far=60)
    assert w[0, :45].eq(1).all() and torch.allclose(w[0, 89:], torch.tensor(0.25))   # last known: 29
    assert (w[0, 44:90].diff() < 0).all()                                  # a straight fall in between
    assert w[1].eq(1).all() and w[2].eq(1).all()


def test_history_fading_leans_far_frames_on_the_prediction_without_the_prefix():
    """The music-conditioned row given the prefix is blended, frame by frame, with the same row
    given no prefix; the unconditional row keeps the prefix; nothing changes at weight 1."""
    dm = DanceModel.tiny_random(0)
    music = np.random.default_rng(0).normal(size=(150, 35)).astype(np.float32)
    # a network that answers 1 wherever it was given known frames and 0 where it was not
    dm.net.denoise = lambda x, t, cond, known, mask, **kw: mask.any(dim=1).float()[:, None, None].expand_as(x).clone()
    seen = []

    def one_step(denoise, shape, **kw):
        seen.append(denoise(torch.zeros(shape), torch.full((shape[0],), 500)))
        return seen[-1]

    dm.sampler.sample = one_step
    mask = np.zeros(150, bool)
    mask[:30] = True
    known = np.zeros((150, 151), np.float32)
    dm.history_far_weight = 0.0
    dm.generate(music, known=known, known_mask=mask, music_guidance=2.0)
    w = history_weights(torch.from_numpy(mask)[None], 0.0)[0]
    faded, kept = seen[-1][0, :, HISTORY_FADED], seen[-1][0, :, [4, 6, 7, 12]]
    assert torch.allclose(faded, (1 + 2.0 * (w - 1))[:, None])           # u + g (c - u), c faded
    assert faded[:45].eq(1).all() and faded[90:].eq(-1).all()
    assert kept.eq(1).all()                                  # where the dancer stands and faces: kept
    dm.history_far_weight = 1.0
    dm.generate(music, known=known, known_mask=mask, music_guidance=2.0)
    assert seen[-1].eq(1).all()
