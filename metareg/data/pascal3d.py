"""Pascal3D+ CAD models rendered at random azimuths for pose regression, as a TFDS dataset.

The pose tasks of "Meta-learning without memorization" (Yin et al. 2020, MR-MAML; reused by MetaMix
and TRLearner): each CAD model is one object = one task, rendered as grey images at 100 azimuths
drawn uniformly in [0, 2*pi), each labelled azimuth / (2*pi) in [0, 1). The renderer is
metareg.data.render, whose module docstring lists its departures from the reference's MuJoCo scene.

Raw data: the `<category>.mat` files of the Pascal3D+ release 1.1 CAD folder, read from
`<data_dir>/pascal3d_cad/` (or `data_dir` itself; default `../shared/data`); nothing is downloaded.
Bottle and train are skipped as in the reference (nearly symmetric about the vertical axis, so the
azimuth cannot be recovered); the other 8 categories hold 50 objects "<category>-NN" (the naming of
MetaMix App. C.2), split 35 meta-train / 15 meta-test, stratified by category and following
MetaMix's meta-test list where its models exist here. Azimuths are drawn from sha256 of a fixed
seed, the object and the view, so they depend on no library version.

Preparing writes `metareg_pascal3d_pose` (array_record, Tensor features only, so no TensorFlow), one
builder config per image size ("128px" default, others through `pose_config`), and records the
.mat files' sha256, checked on every later load (metareg.data.provenance). `load_pose_data` reads
it into object-major arrays: images uint8 [objects, 100, S, S], labels float32 [objects, 100].
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
from pathlib import Path

import numpy as np
import scipy.io
import tensorflow_datasets as tfds

from metareg.data import provenance, render
from metareg.data.images import model_input
from metareg.data.paths import DEFAULT_DATA_DIR, data_root, resolve_prepared_dir

# Models per category in this copy of the CAD folder (../shared/data/README.md); bottle and train
# are skipped.
MODELS_PER_CATEGORY = {
    "aeroplane": 7,
    "bicycle": 5,
    "boat": 6,
    "bus": 6,
    "chair": 10,
    "diningtable": 6,
    "sofa": 6,
    "tvmonitor": 4,
}
CATEGORIES = tuple(MODELS_PER_CATEGORY)
SKIPPED_CATEGORIES = (
    "bottle",
    "train",
)  # nearly symmetric about the vertical axis (reference's mujoco_render.py)
OBJECTS = tuple(f"{c}-{i:02d}" for c, n in MODELS_PER_CATEGORY.items() for i in range(1, n + 1))
TEST_OBJECTS = (
    "aeroplane-03", "aeroplane-05", "bicycle-04", "boat-05", "boat-06", "bus-01", "bus-03",
    "chair-01", "chair-09", "chair-10", "diningtable-03", "diningtable-05", "sofa-01", "sofa-03",
    "tvmonitor-04",
)  # fmt: skip
TRAIN_OBJECTS = tuple(o for o in OBJECTS if o not in TEST_OBJECTS)
SPLITS = {"train": TRAIN_OBJECTS, "test": TEST_OBJECTS}
NUM_VIEWS = 100  # views per object (Yin et al. 2020)
IMAGE_SIZE = 128  # (Yin et al. 2020; MetaMix C.2)
AZIMUTH_SEED = "metareg-pascal3d-azimuth-v1"
SPLIT_SEED = "metareg-pascal3d-split"
CAD_FOLDER = "pascal3d_cad"
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 512


class Pascal3DFileError(ValueError):
    """A CAD .mat file that exists but cannot be used; the message names the file and the fix."""


class Pascal3DSourcesChangedError(Pascal3DFileError, provenance.SourcesChangedError):
    """The .mat files at data_dir are not those the prepared dataset was rendered from
    (metareg.data.provenance)."""


@dataclasses.dataclass(frozen=True)
class CadModel:
    """One CAD model: vertices float64 [V, 3], faces int64 [F, 3] (0-based; the file is 1-based)."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray


def pascal3d_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the .mat files: `data_dir` itself if it holds one of them (or is a folder
    named pascal3d_cad without a pascal3d_cad/ inside), else `data_dir/pascal3d_cad`."""
    root = data_root(data_dir)
    if any((root / f"{c}.mat").exists() for c in CATEGORIES) or (
        root.name == CAD_FOLDER and not (root / CAD_FOLDER).exists()
    ):
        return root
    return root / CAD_FOLDER


def source_files(folder: Path) -> tuple[list[Path], list[str]]:
    """(the category .mat files found in `folder`, the names of those missing): what a prepared
    variant is checked against (bottle.mat and train.mat are not read, so not checked)."""
    paths = [folder / f"{c}.mat" for c in CATEGORIES]
    return [p for p in paths if p.is_file()], [p.name for p in paths if not p.is_file()]


def _describe(category: str) -> str:
    return (
        f"{category}.mat, the Pascal3D+ release 1.1 CAD file for {category} (CAD/{category}.mat "
        f"of PASCAL3D+_release1.1; a struct array of {MODELS_PER_CATEGORY[category]} models with "
        "fields vertices and faces)"
    )


def read_category(path: str | os.PathLike, category: str) -> list[CadModel]:
    """The category's models, checked.

    Raises FileNotFoundError (missing) or Pascal3DFileError (unreadable, wrong contents), each
    naming the path and what belongs there.
    """
    path = Path(path)
    if category not in MODELS_PER_CATEGORY:
        raise ValueError(f"unknown Pascal3D category {category!r}; choose from {list(CATEGORIES)}")
    if not path.is_file():
        raise FileNotFoundError(
            f"Pascal3D+ CAD file missing: expected {path}, the file {_describe(category)}. Put it "
            f"there, or point data_dir at the folder that holds {CAD_FOLDER}/{category}.mat "
            f"(default {DEFAULT_DATA_DIR})."
        )
    fix = f"Replace {path} with a fresh copy of {_describe(category)}."
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except (
        Exception
    ) as e:  # scipy raises ValueError, TypeError, OSError, zlib/struct errors... for damaged files
        raise Pascal3DFileError(
            f"Pascal3D+ CAD file corrupt: {path} is not a readable MATLAB file "
            f"({type(e).__name__}: {e}). {fix}"
        ) from e
    if category not in mat:
        found = [k for k in mat if not k.startswith("__")]
        raise Pascal3DFileError(
            f"Pascal3D+ CAD file has the wrong contents: {path} holds no variable {category!r} "
            f"(found {found}). {fix}"
        )
    entries = np.atleast_1d(mat[category])
    expected = MODELS_PER_CATEGORY[category]
    if len(entries) != expected:
        raise Pascal3DFileError(
            f"Pascal3D+ CAD file has the wrong contents: {path} holds {len(entries)} {category} "
            f"models, expected {expected} (the object list and split are fixed for that count). "
            f"{fix}"
        )
    models = []
    for i, entry in enumerate(entries, start=1):
        name = f"{category}-{i:02d}"
        try:
            # atleast_2d: loadmat's squeeze_me turns a single face (or vertex) into a flat [3] array
            v = np.atleast_2d(np.asarray(entry.vertices, np.float64))
            f = np.atleast_2d(np.asarray(entry.faces))
        except (AttributeError, TypeError, ValueError) as e:
            raise Pascal3DFileError(
                f"Pascal3D+ CAD file has the wrong contents: model {i} ({name}) of {path} has no "
                f"numeric vertices/faces ({type(e).__name__}: {e}). {fix}"
            ) from e
        problem = None
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 3 or not np.all(np.isfinite(v)):
            problem = f"vertices of shape {v.shape} (need finite V x 3, V >= 3)"
        elif (
            f.ndim != 2
            or f.shape[1] != 3
            or len(f) == 0
            or not np.issubdtype(f.dtype, np.number)
            or np.any(f != np.round(f))
        ):
            problem = f"faces of shape {f.shape} and dtype {f.dtype} (need integer F x 3, F >= 1)"
        elif f.min() < 1 or f.max() > len(v):
            problem = f"face indices {int(f.min())}..{int(f.max())} outside 1..{len(v)} (1-based)"
        if problem:
            raise Pascal3DFileError(
                f"Pascal3D+ CAD file has the wrong contents: model {i} ({name}) of {path} has "
                f"{problem}. {fix}"
            )
        models.append(CadModel(name, v, f.astype(np.int64) - 1))
    return models


def read_models(
    data_dir: str | os.PathLike | None = None, objects: tuple[str, ...] = OBJECTS
) -> dict[str, CadModel]:
    """{name: CadModel} for `objects`, reading (and checking) each needed category file once."""
    folder = pascal3d_dir(data_dir)
    categories = sorted({o.rsplit("-", 1)[0] for o in objects}, key=CATEGORIES.index)
    models = {m.name: m for c in categories for m in read_category(folder / f"{c}.mat", c)}
    return {o: models[o] for o in objects}


def _unit_uniform(text: str) -> float:
    """A float in [0, 1) with 53 random bits from sha256(text)."""
    return (int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 11) / float(
        1 << 53
    )


def pose_input(image, image_size: int = IMAGE_SIZE, dark_background: bool = True) -> np.ndarray:
    """One image as the pose model's input (what episodes hold): float32 [S, S, 1] in [0, 1].

    S is `image_size`. `image`: a path to an image file, PNG bytes, or an array [H, W]
    (or [H, W, C]) of pixels in 0-255 or [0, 1]; converted to grey and resized with LANCZOS (the
    prepared views are rendered at their size directly, object centred and scaled to the frame: crop
    a photo to its object first). `dark_background`: True when the object is bright on a dark
    background, as the rendered views are; False inverts a dark object on a light background. The
    model predicts azimuth / (2*pi) * label_scale (`view_labels`, PoseFamily.label_scale).
    """
    return model_input(image, image_size, invert=not dark_background, caller="pose_input")


def view_labels(name: str, num_views: int = NUM_VIEWS) -> np.ndarray:
    """float64 [num_views] in [0, 1): an object's view labels (azimuth / (2*pi)), from its name."""
    return np.array([_unit_uniform(f"{AZIMUTH_SEED}/{name}/{i}") for i in range(num_views)])


def view_azimuths(name: str, num_views: int = NUM_VIEWS) -> np.ndarray:
    """float64 [num_views] in [0, 2*pi): the azimuths (radians) of an object's views."""
    return 2 * math.pi * view_labels(name, num_views)


@dataclasses.dataclass
class PoseConfig(tfds.core.BuilderConfig):
    """A prepared variant: image_size pixels across, rendered with `supersample` (None: default)."""

    image_size: int = IMAGE_SIZE
    supersample: int | None = None


def pose_config(image_size: int = IMAGE_SIZE, supersample: int | None = None) -> PoseConfig:
    """The builder config of a variant, "<size>px" (default supersampling) or "<size>px_ss<k>"."""
    if (
        not isinstance(image_size, int | np.integer)
        or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE
    ):
        raise ValueError(
            f"pose image_size={image_size!r}: must be an integer in [{MIN_IMAGE_SIZE}, "
            f"{MAX_IMAGE_SIZE}]"
        )
    if supersample is not None and (
        not isinstance(supersample, int | np.integer) or supersample < 1
    ):
        raise ValueError(f"pose supersample={supersample!r}: must be None or an integer >= 1")
    name = f"{image_size}px" if supersample is None else f"{image_size}px_ss{supersample}"
    ss = render.default_supersample(image_size) if supersample is None else supersample
    return PoseConfig(
        name=name,
        description=(
            f"{image_size}x{image_size} grey, rendered at {image_size * ss}x{image_size * ss} and "
            "box-averaged."
        ),
        image_size=int(image_size),
        supersample=None if supersample is None else int(supersample),
    )


class Pascal3DPoseBuilder(
    provenance.LocalFilesBuilder, tfds.core.GeneratorBasedBuilder, skip_registration=True
):
    """TFDS builder rendering the local CAD files (manual_dir), array_record, Tensor features only.

    Not registered in TFDS's global registry; build it with `prepare_pose`, or directly:

        b = Pascal3DPoseBuilder(
            config=pose_config(64), data_dir=prepared_dir, file_format="array_record"
        )
        b.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=folder_with_mat_files)
        )
        b.as_data_source("train")[i]
        # {"image": uint8 [64, 64], "label": float32, "object": b"aeroplane-01", ...}
    """

    name = "metareg_pascal3d_pose"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": (
            "50 objects x 100 azimuths, metareg.data.render scene (45-degree elevation, "
            "perspective, Lambert, black background)."
        )
    }
    BUILDER_CONFIGS = [pose_config(128), pose_config(64), pose_config(32)]
    DEFAULT_CONFIG_NAME = "128px"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place the Pascal3D+ release 1.1 CAD files <category>.mat (aeroplane, bicycle, boat, "
        "bus, chair, diningtable, sofa, tvmonitor) in the manual_dir; metareg reads them from "
        "../shared/data/pascal3d_cad by default."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Pascal3D+ CAD models rendered at 100 random azimuths each; "
                "label = azimuth / (2 pi)."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(s, s), dtype=np.uint8),
                    "label": tfds.features.Scalar(dtype=np.float32),
                    "azimuth": tfds.features.Scalar(dtype=np.float32),
                    "object": tfds.features.Text(),
                    "category": tfds.features.ClassLabel(names=list(CATEGORIES)),
                    "view": tfds.features.Scalar(dtype=np.int32),
                }
            ),
            homepage="https://cvgl.stanford.edu/projects/pascal3d.html",
            citation=(
                "Xiang, Mottaghi, Savarese. Beyond PASCAL: A benchmark for 3D object detection "
                "in the wild. WACV 2014."
            ),
        )

    def _split_generators(self, dl_manager):
        models = read_models(
            Path(os.fspath(dl_manager.manual_dir))
        )  # each .mat file read once for both splits
        progress = provenance.Progress("rendered", NUM_VIEWS * len(models), "views")
        return {
            split: self._generate_examples({o: models[o] for o in objects}, progress)
            for split, objects in SPLITS.items()
        }

    def _generate_examples(self, models: dict[str, CadModel], progress: provenance.Progress):
        cfg = self.builder_config
        for name, model in models.items():
            labels = view_labels(name)
            images = render.render_views(
                model.vertices,
                model.faces,
                2 * math.pi * labels,
                cfg.image_size,
                supersample=cfg.supersample,
            )
            progress.update(NUM_VIEWS)
            for i in range(NUM_VIEWS):
                yield (
                    f"{name}/{i:03d}",
                    {
                        "image": images[i],
                        "label": np.float32(labels[i]),
                        "azimuth": np.float32(2 * math.pi * labels[i]),
                        "object": name,
                        "category": name.rsplit("-", 1)[0],
                        "view": i,
                    },
                )


def _builder_config(image_size: int, supersample: int | None) -> PoseConfig:
    config = pose_config(image_size, supersample)
    # TFDS wants the class's own instance for a listed config name (a custom config may not reuse
    # the name).
    return {c.name: c for c in Pascal3DPoseBuilder.BUILDER_CONFIGS}.get(config.name, config)


def prepare_pose(
    data_dir: str | os.PathLike | None = None,
    prepared_dir: str | os.PathLike | None = None,
    image_size: int = IMAGE_SIZE,
    supersample: int | None = None,
) -> Pascal3DPoseBuilder:
    """The prepared builder of the variant, rendered from the .mat files first if not prepared yet.

    All CAD files are checked before TFDS starts, so a missing or corrupt one gives our error (path
    and what belongs there) rather than TFDS's manual-download assertion. Runs started together (a
    sweep) would race to prepare; the first one prepares, the others wait and reuse it. A prepared
    variant is checked against the files at `data_dir` (same names and sha256, wherever they live):
    SourcesMissingError (a FileNotFoundError) when they are missing, Pascal3DSourcesChangedError
    when they differ (metareg.data.provenance).
    """
    config = _builder_config(image_size, supersample)
    prepared = resolve_prepared_dir(prepared_dir)
    return provenance.prepare_from_local_files(
        lambda: Pascal3DPoseBuilder(
            config=config, data_dir=os.fspath(prepared), file_format="array_record"
        ),
        prepared_dir=prepared,
        label="Pascal3D+ pose data",
        data_dir=data_root(data_dir),
        folder=pascal3d_dir(data_dir),
        sources=source_files,
        validate=lambda: read_models(data_dir),
        changed_error=Pascal3DSourcesChangedError,
        lock_name=f".{Pascal3DPoseBuilder.name}.{config.name}.lock",
    )


@dataclasses.dataclass(frozen=True)
class PoseData:
    """Meta-train and meta-test objects, object-major (read-only arrays, cached per process).

    train_images uint8 [35, 100, S, S], train_labels float32 [35, 100] (azimuth / (2*pi)),
    train_names: the 35 object names in TRAIN_OBJECTS order; test_* likewise for the 15
    TEST_OBJECTS.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    train_names: tuple[str, ...]
    test_names: tuple[str, ...]


def _read_split(builder: Pascal3DPoseBuilder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One TFDS split -> (uint8 [N, 100, S, S], float32 [N, 100]) in SPLITS[split] order.

    Views are in draw order.
    """
    source = builder.as_data_source(split)
    records = source.__getitems__(
        list(range(len(source)))
    )  # the prepared order is TFDS-shuffled: sort below
    by_object: dict[str, dict[int, dict]] = {}
    for r in records:
        name = r["object"].decode() if isinstance(r["object"], bytes) else str(r["object"])
        by_object.setdefault(name, {})[int(r["view"])] = r
    expected = SPLITS[split]
    if sorted(by_object) != sorted(expected) or any(
        sorted(v) != list(range(NUM_VIEWS)) for v in by_object.values()
    ):
        raise Pascal3DFileError(
            f"prepared Pascal3D pose split {split!r} at {builder.data_path} does not hold views "
            f"0..{NUM_VIEWS - 1} of exactly the objects {list(expected)} (it has "
            f"{sorted(by_object)}): delete {builder.data_path} to prepare again."
        )
    images = np.stack(
        [np.stack([by_object[o][i]["image"] for i in range(NUM_VIEWS)]) for o in expected]
    ).astype(np.uint8)
    labels = np.stack(
        [np.array([by_object[o][i]["label"] for i in range(NUM_VIEWS)]) for o in expected]
    ).astype(np.float32)
    images.setflags(write=False)  # shared by the per-process cache
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=4)
def _load_cached(prepared_dir: str, image_size: int, supersample: int | None) -> PoseData:
    with provenance.quiet_tfds():
        builder = Pascal3DPoseBuilder(
            config=_builder_config(image_size, supersample),
            data_dir=prepared_dir,
            file_format="array_record",
        )
    (tri, trl), (tei, tel) = _read_split(builder, "train"), _read_split(builder, "test")
    return PoseData(tri, trl, tei, tel, TRAIN_OBJECTS, TEST_OBJECTS)


def load_pose_data(
    data_dir: str | os.PathLike | None = None,
    prepared_dir: str | os.PathLike | None = None,
    image_size: int = IMAGE_SIZE,
    supersample: int | None = None,
) -> PoseData:
    """The 35 meta-train and 15 meta-test objects' images and labels (see PoseData).

    Prepares them first if needed.

    data_dir: folder holding pascal3d_cad/<category>.mat (default ../shared/data); prepared_dir:
    where the prepared TFDS data lives (default ~/.cache/metareg/tensorflow_datasets); image_size:
    128 (the papers'), or smaller for CPU-sized runs (a separate prepared variant). The .mat files
    at data_dir are checked against the prepared variant's record on every call (see prepare_pose);
    the arrays are read once per process.
    """
    prepared = os.fspath(resolve_prepared_dir(prepared_dir))
    prepare_pose(
        data_dir, prepared, image_size, supersample
    )  # validates image_size and supersample first
    return _load_cached(prepared, int(image_size), supersample)
