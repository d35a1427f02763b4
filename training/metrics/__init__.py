"""Evaluation metrics: Bailando's FID_k / FID_g / Div, BAS (both variants), EDGE's PFC, edit success.

All take global joint positions (T, 24, 3) in metres, y-up, at 30 fps unless told otherwise.
"""
from training.metrics.beats import bas, bas_motion_beats, bas_music_beats, motion_beats
from training.metrics.distribution import diversity, feature_stats, fid_and_diversity, frechet_distance, normalize_by
from training.metrics.edits import EditOutcome, attribute_spread, score_attributes, score_edit, summarize
from training.metrics.features import geometric_features, kinetic_features, motion_features
from training.metrics.physics import pfc, pfc_clip, split_clips

__all__ = [
    "bas", "bas_motion_beats", "bas_music_beats", "motion_beats",
    "diversity", "feature_stats", "fid_and_diversity", "frechet_distance", "normalize_by",
    "EditOutcome", "attribute_spread", "score_attributes", "score_edit", "summarize",
    "geometric_features", "kinetic_features", "motion_features",
    "pfc", "pfc_clip", "split_clips",
]
