"""Where the raw data and the prepared (TFDS) copies live, for every dataset module."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEFAULT_PREPARED_DIR = Path("~/.cache/metareg/tensorflow_datasets")


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The configured data dir: `data_dir`, or DEFAULT_DATA_DIR (../shared/data) when None."""
    return Path(DEFAULT_DATA_DIR if data_dir is None else data_dir).expanduser()


def resolve_prepared_dir(prepared_dir: str | os.PathLike | None = None) -> Path:
    """Where the prepared TFDS data lives (default ~/.cache/metareg/tensorflow_datasets)."""
    return (
        Path(DEFAULT_PREPARED_DIR if prepared_dir is None else prepared_dir).expanduser().resolve()
    )
