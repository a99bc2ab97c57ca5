"""`python -m metareg.main ARGS` on a machine without tensorflow-datasets or the raw data (the
borrowed GPU machine of docs/reproduction_omniglot.md): Omniglot's characters come from an .npz dump
of `metareg.data.omniglot.load_characters()` made where the data is (same arrays, same names;
`--dump PATH` writes it), and a stand-in `tensorflow_datasets` lets the data modules import.
Training itself is unchanged.

    # here:
    python experiments/device/run_without_tfds.py --dump .device_omniglot/omniglot_chars.npz
    # there:
    python experiments/device/run_without_tfds.py --config=... --workdir=...
"""

import dataclasses
import functools
import os
import runpy
import sys
import types

import numpy as np

NPZ = os.environ.get("METAREG_OMNIGLOT_NPZ", ".device_omniglot/omniglot_chars.npz")


def _dunder(name):
    return name.startswith("__") and name.endswith("__")


class _Meta(type):
    def __getattr__(cls, name):
        if _dunder(name):
            raise AttributeError(name)
        return _Any


class _Any(metaclass=_Meta):
    def __init__(self, *a, **k):
        pass

    def __init_subclass__(cls, **k):
        pass

    def __getattr__(self, name):
        if _dunder(name):
            raise AttributeError(name)
        return _Any

    def __call__(self, *a, **k):
        return _Any()


def _stub_tfds():
    def getattr_(name):
        if _dunder(name):
            raise AttributeError(name)
        return _Any

    for name in (
        "tensorflow_datasets",
        "tensorflow_datasets.core",
        "tensorflow_datasets.core.utils",
    ):
        m = types.ModuleType(name)
        m.__getattr__ = getattr_
        m.__path__ = []
        sys.modules[name] = m
    sys.modules["tensorflow_datasets"].core = sys.modules["tensorflow_datasets.core"]
    sys.modules["tensorflow_datasets.core"].utils = sys.modules["tensorflow_datasets.core.utils"]

    @dataclasses.dataclass
    class BuilderConfig:  # pascal3d's PoseConfig is a dataclass over it
        name: str = ""
        version: object = None
        release_notes: object = None
        supported_versions: tuple = ()
        description: object = None

    sys.modules["tensorflow_datasets.core"].BuilderConfig = BuilderConfig


def dump(path):
    from metareg.data.omniglot import load_characters

    chars = load_characters()
    arrays = {f"{a}_images": images for a, (images, _) in chars.items()}
    arrays |= {f"{a}_names": np.array(names) for a, (_, names) in chars.items()}
    np.savez_compressed(path, **arrays)


if len(sys.argv) == 3 and sys.argv[1] == "--dump":
    dump(sys.argv[2])
    sys.exit(0)
if os.environ.get("DEVICE_FORCE_STUB") == "1":  # to rehearse the GPU machine's path here
    _stub_tfds()
else:
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        _stub_tfds()

import metareg.data.omniglot as om  # noqa: E402


def _read(prepared_dir):
    z = np.load(NPZ)
    out = {}
    for a in ("background", "evaluation"):
        images = np.ascontiguousarray(z[f"{a}_images"])
        images.setflags(write=False)
        out[a] = (images, tuple(str(n) for n in z[f"{a}_names"]))
    return out


om.prepare_omniglot = lambda *a, **k: None
om._read_characters_cached = functools.lru_cache(maxsize=4)(_read)
sys.argv[0] = "metareg.main"
runpy.run_module("metareg.main", run_name="__main__", alter_sys=True)
