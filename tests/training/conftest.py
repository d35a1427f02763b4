"""Shared fixtures of the training tests."""
import pytest


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from training.make_corpus import main as make_corpus
    out = tmp_path_factory.mktemp("corpus")
    assert make_corpus(["--out", str(out), "--songs", "2", "--chains", "6", "--song-seconds", "12",
                        "--frames", "180", "--workers", "1", "--silent", "--no-progress"]) in (0, None)
    return out
