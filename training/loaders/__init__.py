"""Readers for public dance datasets, yielding clips in liveedit's 151-d motion at 30 fps.

    from training.loaders import iter_aistpp, iter_finedance
    for clip in iter_aistpp("aist_plusplus_final", music_dir="aist_plusplus_final/wavs"):
        clip.motion      # (T, 151) float32, un-normalised (see model/motion.py)
        clip.audio_path  # the clip's music, or None when the file is not there
"""
from training.loaders.common import MotionClip, MotionFormatError
from training.loaders.aistpp import iter_aistpp, list_aistpp, load_aistpp_motion, music_id_from_name
from training.loaders.finedance import iter_finedance, list_finedance, load_finedance_motion

__all__ = [
    "MotionClip", "MotionFormatError",
    "iter_aistpp", "list_aistpp", "load_aistpp_motion", "music_id_from_name",
    "iter_finedance", "list_finedance", "load_finedance_motion",
]
