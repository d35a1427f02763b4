"""Fast edits: the editing branch's per-window constants, and stacked edits composed in one pass
(tiny configs, a stand-in text encoder; no timing)."""
import numpy as np
import pytest
import torch

from model.network import DanceEditor, EditInputs, ModelConfig
from model.pipeline import STACK_COMPOSITIONS, DanceModel

from tests.model.test_model_network import StandInText

TINY = dict(width=32, depth=2, heads=2, music_layers=1, dropout=0.0)


@pytest.mark.parametrize("mode", ["cem", "concat"])
def test_step_invariant_constants_give_the_same_prediction(mode):
    torch.manual_seed(0)
    net = DanceEditor(ModelConfig(**TINY, edit_mode=mode)).eval()
    for name, p in net.editor.named_parameters():   # non-zero joins, so the editor matters
        if "zero" in name or "text_in" in name:
            torch.nn.init.normal_(p, 0, 0.05)
    g = torch.Generator().manual_seed(1)
    x, cur, init = (torch.randn(2, 150, 151, generator=g) for _ in range(3))
    music, t = torch.randn(2, 150, 35, generator=g), torch.tensor([10, 900])
    known, mask = torch.zeros(2, 150, 151), torch.zeros(2, 150, dtype=torch.bool)
    edit = EditInputs(current=cur, initial=init, text=torch.randn(2, 5, 384, generator=g),
                      text_mask=torch.ones(2, 5, dtype=torch.bool), drop_text=torch.tensor([False, True]))
    cond = net.condition(music)
    with torch.no_grad():
        ctx = net.edit_context(edit)
        assert ctx["static"] is not None
        kept = net.denoise(x, t, cond, known, mask, edit=edit, edit_ctx=ctx)
        fresh = net.denoise(x, t, cond, known, mask, edit=edit, edit_ctx={"slots": ctx["slots"]})
    assert torch.equal(kept, fresh)


def _window():
    dm = DanceModel.tiny_random(0, text_encoder=StandInText())
    music = np.random.default_rng(0).normal(size=(150, 35)).astype(np.float32)
    init = dm.generate(music, steps=3, seed=1)
    mask = np.zeros(150, bool)
    mask[:40] = True
    return dm, music, init, mask


@pytest.mark.parametrize("compose", STACK_COMPOSITIONS)
def test_one_stacked_edit_is_exactly_the_single_edit(compose):
    dm, music, init, mask = _window()
    single = dm.edit(music, init, init, "swing arms wider", known=init, known_mask=mask, steps=3, seed=5)
    stacked = dm.edit_stack(music, init, ["swing arms wider"], known=init, known_mask=mask, steps=3, seed=5,
                            compose=compose)
    np.testing.assert_allclose(stacked, single, atol=1e-5)


@pytest.mark.parametrize("compose", STACK_COMPOSITIONS)
def test_three_stacked_edits_in_one_pass(compose):
    dm, music, init, mask = _window()
    rows = []
    inner = dm.net.denoise
    dm.net.denoise = lambda x, *a, **k: rows.append(x.shape[0]) or inner(x, *a, **k)
    prompts = ["swing arms wider", "jump higher", "lean back"]
    out = dm.edit_stack(music, init, prompts, known=init, known_mask=mask, steps=3, seed=5, compose=compose)
    assert len(rows) == 3                                      # one sampler pass of 3 steps
    assert rows[0] == (2 if compose == "tokens" else 4)        # tokens: the rows of one guided edit
    assert out.shape == (150, 151) and np.isfinite(out).all()
    assert np.array_equal(out[:40], init[:40])                 # known frames kept exactly
    one = dm.edit_stack(music, init, prompts[:1], known=init, known_mask=mask, steps=3, seed=5, compose=compose)
    assert not np.allclose(out[40:], one[40:])                 # the other edits count
    batched = dm.edit_stack(np.stack([music, music]), np.stack([init, init]), [prompts, prompts[::-1]], steps=3,
                            seed=5, compose=compose)
    assert batched.shape == (2, 150, 151)


def test_stacked_edits_need_prompts_for_every_window():
    dm, music, init, _ = _window()
    with pytest.raises(ValueError, match="same number"):
        dm.edit_stack(np.stack([music, music]), np.stack([init, init]), [["a"], ["b", "c"]], steps=2)
    with pytest.raises(ValueError, match="empty"):
        dm.edit_stack(music, init, ["jump", " "], steps=2)
    with pytest.raises(ValueError, match="compose"):
        dm.edit_stack(music, init, ["jump"], steps=2, compose="average")
