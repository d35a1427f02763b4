"""Shared fixtures of the training tests."""
import argparse
import zlib
from types import SimpleNamespace

import pytest
import torch

from model.text import TextFeatures
from training import eval as ev


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from training.make_corpus import main as make_corpus
    out = tmp_path_factory.mktemp("corpus")
    assert make_corpus(["--out", str(out), "--songs", "2", "--chains", "6", "--song-seconds", "12",
                        "--frames", "180", "--workers", "1", "--silent", "--no-progress"]) in (0, None)
    return out


class HashTextEncoder:
    """A deterministic stand-in for the MiniLM encoder: one random token vector per word."""

    def encode(self, prompts, max_tokens=32):
        tokens = torch.zeros(len(prompts), max_tokens, 384)
        mask = torch.zeros(len(prompts), max_tokens, dtype=torch.bool)
        for i, p in enumerate(prompts):
            for k, w in enumerate(p.split()[:max_tokens]):
                g = torch.Generator().manual_seed(zlib.crc32(w.encode()))
                tokens[i, k] = torch.randn(384, generator=g)
                mask[i, k] = True
        pooled = torch.nn.functional.normalize(tokens.sum(1), dim=-1)
        return TextFeatures(tokens=tokens, mask=mask, pooled=pooled)

    def embed(self, prompts):
        return self.encode(prompts, max_tokens=8).pooled


def _embed(prompts):
    return HashTextEncoder().embed(list(prompts)).numpy()


def _args(tmp_path, **kw) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    ev.add_arguments(p)
    argv = ["--synthetic", "4", "--steps", "2", "--batch", "8", "--quiet", "--alignment-seconds", "3",
            "--out", str(tmp_path / "RESULTS.md"), "--img-dir", str(tmp_path / "img"),
            "--alignment", str(tmp_path / "alignment.pt"), "--json", str(tmp_path / "r.json"),
            "--no-branch", str(tmp_path / "missing.pt"), "--threads", "1"]
    a = p.parse_args(argv)
    a.argv = argv
    for k, v in kw.items():
        setattr(a, k, v)
    return a


@pytest.fixture
def evalkit():
    """What the evaluation harness's tests share: a text encoder without a download (HashTextEncoder),
    its pooled embedding (embed) and `liveedit eval` arguments for a tiny run (args(tmp_path, **overrides))."""
    return SimpleNamespace(HashTextEncoder=HashTextEncoder, embed=_embed, args=_args)
