"""benchmarks/speech.py: its real-voice figures need a checkpoint that knows the digits."""

import importlib.util
from pathlib import Path

import pytest

from common.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_speech", ROOT / "benchmarks" / "speech.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NoDigits:
    class_names = ["yes", "no", "up"]

    def eval(self):
        return self


def test_real_figures_names_a_checkpoint_without_digits():
    bench = load_benchmark()
    real = {"wavs": None, "words": ["one"], "speakers": ["a"], "paths": ["one/a.wav"]}
    with pytest.raises(DataError, match=r"\(yes, no, up\) include none of the digits"):
        bench.real_figures(NoDigits(), real)
