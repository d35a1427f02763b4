"""Stage-2 loss weighting: the edited part of the window carries the loss, unedited windows are plain MSE."""
import torch

from training.train import edit_weights, motion_losses

EMPHASIS = 2.0
from model.motion import Normalizer


def test_weights_are_one_where_nothing_changes_and_grow_with_the_change():
    current = torch.randn(2, 150, 151)
    target = current.clone()
    target[0, 40:80, 10:20] += 1.0           # window 0: an edit on some frames and channels
    w = edit_weights(target, current, EMPHASIS)
    assert w.shape == (2, 150, 151)
    assert torch.all(w[1] == 1.0)            # window 1: no edit, plain weights
    assert torch.all(w[0, :40] == 1.0) and torch.all(w[0, 40:80, :10] == 1.0)
    assert torch.all(w[0, 40:80, 10:20] > 1.0 + EMPHASIS)


def test_weighted_loss_counts_errors_on_edited_elements_more():
    norm = Normalizer(mean=torch.zeros(151), std=torch.ones(151))
    current = torch.randn(1, 150, 151, generator=torch.Generator().manual_seed(0))
    target = current.clone()
    target[0, 40:80, 10:20] += 0.5
    w = edit_weights(target, current, EMPHASIS)
    ignores_edit = current.clone()                      # copies its input: wrong only where edited
    wrong_elsewhere = target.clone()
    wrong_elsewhere[0, 100:140, 30:40] += 0.5           # same size of error, on unedited elements
    plain = [motion_losses(p, target, norm)["simple"] for p in (ignores_edit, wrong_elsewhere)]
    weighted = [motion_losses(p, target, norm, w)["simple"] for p in (ignores_edit, wrong_elsewhere)]
    assert torch.isclose(plain[0], plain[1])            # plain MSE cannot tell them apart
    assert weighted[0] > 3 * weighted[1]
    same = motion_losses(wrong_elsewhere, target, norm, torch.ones_like(w))["simple"]
    assert torch.isclose(same, plain[1])
