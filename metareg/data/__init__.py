"""Datasets on local files: TFDS builders (array_record, no TensorFlow) and class-major loading."""

from metareg.data.chembl import (
    FINGERPRINTS,
    NUM_GROUPS,
    AssayPartition,
    ChemblAssays,
    ChemblBuilder,
    ChemblDataError,
    assay_partition,
    load_assays,
    prepare_chembl,
)
from metareg.data.omniglot import (
    OMNIGLOT_SPLITS,
    OmniglotArchiveError,
    OmniglotBuilder,
    OmniglotSplit,
    load_characters,
    load_split,
    omniglot_input,
    prepare_omniglot,
)
from metareg.data.pascal3d import (
    Pascal3DFileError,
    Pascal3DPoseBuilder,
    PoseData,
    load_pose_data,
    pose_input,
    prepare_pose,
)
from metareg.data.paths import DEFAULT_DATA_DIR, DEFAULT_PREPARED_DIR, data_root

__all__ = [
    "FINGERPRINTS",
    "NUM_GROUPS",
    "AssayPartition",
    "ChemblAssays",
    "ChemblBuilder",
    "ChemblDataError",
    "assay_partition",
    "load_assays",
    "prepare_chembl",
    "Pascal3DFileError",
    "Pascal3DPoseBuilder",
    "PoseData",
    "load_pose_data",
    "prepare_pose",
    "DEFAULT_DATA_DIR",
    "DEFAULT_PREPARED_DIR",
    "data_root",
    "OMNIGLOT_SPLITS",
    "OmniglotArchiveError",
    "OmniglotBuilder",
    "OmniglotSplit",
    "load_characters",
    "load_split",
    "omniglot_input",
    "pose_input",
    "prepare_omniglot",
]
