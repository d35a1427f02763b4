"""Bad input stops training at once with one message naming the file: a song without its music
features (and no audio to compute them from), a corpus of another format version, a run directory
of another preset or network. Never a silent fallback (silence for music, fresh weights)."""
import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

from training import data as tdata
from training.corpus import format as fmt
from training.train import PRESETS, RUN_INFO, check_run_dir


@pytest.fixture
def corpus_copy(tiny_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, root)
    return root


def open_corpus(root):
    return tdata.open_training_data(f"corpus:{root}", str(root), PRESETS["tiny"])


def test_the_intact_copy_opens(corpus_copy):
    assert len(open_corpus(corpus_copy).sets[(1, "train")]) > 0


def test_a_features_only_corpus_trains_without_audio(corpus_copy):
    for audio in (corpus_copy / fmt.SONGS_DIR).glob("*.flac"):
        audio.unlink()
    data = open_corpus(corpus_copy)
    batch = tdata.draw_windows(data, 1, 3, np.random.default_rng(0))
    assert batch["music"].abs().sum() > 0          # real features, read from features/*.npy


def test_a_missing_features_file_is_named(corpus_copy):
    song = sorted((corpus_copy / fmt.FEATURES_DIR).glob("*.npy"))[0]
    song.unlink()
    for audio in (corpus_copy / fmt.SONGS_DIR).glob(f"{song.stem}.*"):
        if audio.suffix != ".json":
            audio.unlink()
    with pytest.raises(SystemExit, match=re.escape(str(song))):
        open_corpus(corpus_copy)


def test_a_corpus_of_another_format_version_is_named(corpus_copy):
    header = corpus_copy / fmt.HEADER
    info = json.loads(header.read_text())
    header.write_text(json.dumps({**info, "format_version": fmt.FORMAT_VERSION + 1}))
    with pytest.raises(SystemExit, match=re.escape(f"{header}: format_version {fmt.FORMAT_VERSION + 1}")):
        open_corpus(corpus_copy)


def test_a_run_directory_of_another_preset_or_network_is_named(tmp_path):
    tiny = PRESETS["tiny"].model
    check_run_dir(tmp_path, "tiny", tiny, rank=0)                    # the first run writes run.json
    assert json.loads((tmp_path / RUN_INFO).read_text())["preset"] == "tiny"
    check_run_dir(tmp_path, "tiny", tiny, rank=0)                    # the same preset resumes
    check_run_dir(tmp_path, "tiny", replace(tiny, edit_mode="concat"), rank=0)   # stage-2 variants share it
    with pytest.raises(SystemExit, match=re.escape(str(tmp_path / RUN_INFO)) + ".* preset 'tiny', not 'default'"):
        check_run_dir(tmp_path, "default", PRESETS["default"].model, rank=0)
    with pytest.raises(SystemExit, match=re.escape(str(tmp_path / RUN_INFO)) + ".* differs .* in width"):
        check_run_dir(tmp_path, "tiny", replace(tiny, width=64), rank=0)
