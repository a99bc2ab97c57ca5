"""Datasets on local files: TFDS builders (array_record, no TensorFlow) and class-major loading."""

from metareg.data.omniglot import (
    DEFAULT_DATA_DIR,
    DEFAULT_PREPARED_DIR,
    OMNIGLOT_SPLITS,
    OmniglotArchiveError,
    OmniglotBuilder,
    OmniglotSplit,
    load_characters,
    load_split,
    prepare_omniglot,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_PREPARED_DIR",
    "OMNIGLOT_SPLITS",
    "OmniglotArchiveError",
    "OmniglotBuilder",
    "OmniglotSplit",
    "load_characters",
    "load_split",
    "prepare_omniglot",
]
