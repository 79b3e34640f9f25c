"""`speech.demo` from the network's ONNX export (issue 17: a recording of any length in <= 500 MB):
the same words, probabilities and printed lines as the checkpoint, no torch imported, clear
errors for a missing, corrupt or foreign .onnx, and a stale export beside a checkpoint ignored.
The peak-memory figures themselves are measured by benchmarks/speech_memory.py."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from common import export
from common.checkpoints import load_trained
from common.errors import UsageExit
from speech import demo, stream, wave
from speech.exported import ExportedModel, ExportError

from .conftest import speak_to
from .test_speech_listen import FakeStream

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_the_numpy_resampler_is_torchaudios(rate):
    x = np.random.default_rng(rate).standard_normal(3 * rate + 7).astype(np.float32) * 0.3
    expected = AF.resample(torch.from_numpy(x), rate, 16000).numpy()
    got = wave.resample(x, rate, 16000)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The tiny run's checkpoint (copied, so that nothing lands beside the shared one) and its
    ONNX export beside it."""
    root, _ = trained
    folder = tmp_path_factory.mktemp("exported")
    ckpt = folder / "best.ckpt"
    shutil.copy(root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt", ckpt)
    result = export.export("speech", "onnx", ckpt)
    assert result["file"] == str(folder / "best.onnx") and result["max_abs_diff"] <= 1e-4
    return ckpt, folder / "best.onnx"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """One word, two words in 2.4 s at 8 kHz, and a 70-second recording (read block by block)."""
    d = tmp_path_factory.mktemp("clips")
    one = speak_to(d / "yes.wav", "yes", "en-us+m3")
    two = speak_to(d / "no_up.wav", "no", "en+f2", rate=8000, seconds=1.2)
    up, _ = sf.read(speak_to(d / "up.wav", "up", "en-gb-scotland+m2", rate=8000, seconds=1.2))
    both = np.concatenate([sf.read(two)[0], up])
    sf.write(two, both, 8000)
    noise = 0.003 * np.random.default_rng(0).standard_normal(70 * 8000)
    for t in (5, 31, 62):
        noise[t * 8000 : t * 8000 + len(both)] += both
    sf.write(d / "long.wav", noise, 8000)
    return [one, two, d / "long.wav"]


def test_the_export_gives_the_checkpoints_probabilities_and_features(exported, clips):
    ckpt, onnx_path = exported
    module, model = load_trained("speech", ckpt).module, ExportedModel(onnx_path)
    assert model.class_names == module.class_names
    data, rate = wave.read(clips[1])
    windows = np.ascontiguousarray(wave.sliding_windows(wave.resample(data, rate, 16000))[0])
    noise = 0.1 * np.random.default_rng(1).standard_normal((3, 16000)).astype(np.float32)
    # faint noise recorded at 8 kHz: nothing above 4 kHz, so its top mel bands sit near the
    # log's floor (1e-10), which the export once lost (its optimiser dropped `+ 1e-10`)
    faint = wave.resample(0.003 * np.random.default_rng(2).standard_normal(8000), 8000, 16000)
    batch = np.concatenate([windows, noise, faint[None]])
    expected, got = (
        module.predict_proba(torch.from_numpy(batch)).numpy(),
        model.predict_proba(batch),
    )
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.abs(got - expected).max() < 1e-4
    for clip in (batch[0], batch[-1]):
        assert np.abs(model.log_mel(clip) - module.log_mel(clip)).max() < 1e-4


def printed(capsys) -> tuple[list[str], str]:
    """The demo's output without its `checkpoint:` line (the one line that names the model),
    and its stderr."""
    out, err = capsys.readouterr()
    return [s for s in out.splitlines() if not s.startswith("checkpoint:")], err


def test_the_demo_prints_the_same_from_the_export_as_from_the_checkpoint(
    exported, clips, tmp_path, capsys, monkeypatch
):
    ckpt, onnx_path = exported
    monkeypatch.setattr(demo, "LONG_SECONDS", 60.0)
    args = [*map(str, clips), "--threshold", "0.1", "--out", str(tmp_path), "--top", "3"]
    stale = tmp_path / "stale" / "best.ckpt"  # a checkpoint without an export beside it
    stale.parent.mkdir()
    shutil.copy(ckpt, stale)
    assert demo.main([*args, "--ckpt", str(stale)]) == 0
    torch_lines, err = printed(capsys)
    assert "`portfolio export speech --ckpt CKPT` once" in err  # a hint for the long recording
    assert demo.main([*args, "--ckpt", str(onnx_path)]) == 0
    onnx_lines, err = printed(capsys)
    assert err == ""
    strip = [s.replace(str(tmp_path), "") for s in torch_lines]
    assert [s.replace(str(tmp_path), "") for s in onnx_lines] == strip
    assert sum("top 3" in s for s in onnx_lines) == 2 and "read block by block" in "".join(strip)
    found = [s for s in strip if "keywords detected" in s]
    assert len(found) == 2 and not any(s.endswith(": none") for s in found)  # words to compare
    assert len(list(tmp_path.glob("*.png"))) == 2  # the figures, drawn from the export too


def test_an_export_beside_the_checkpoint_is_used_only_while_it_is_current(exported, capsys):
    ckpt, onnx_path = exported
    assert export.current(ckpt, "speech") == onnx_path
    demo.main([str(speak_to(onnx_path.parent / "w.wav", "up", "en-us+f3")), "--ckpt", str(ckpt)])
    assert f"checkpoint: {ckpt} (run from its ONNX export best.onnx)" in capsys.readouterr().out
    other = onnx_path.parent / "other"
    other.mkdir(exist_ok=True)
    shutil.copy(onnx_path, other / "best.onnx")  # an export of another checkpoint ...
    shutil.copy(ckpt, other / "best.ckpt")
    with (other / "best.ckpt").open("ab") as f:  # ... beside this one (a changed checkpoint)
        f.write(b"\0")
    assert export.current(other / "best.ckpt", "speech") is None
    demo.main([str(onnx_path.parent / "w.wav"), "--ckpt", str(other / "best.ckpt")])
    out, err = capsys.readouterr()
    assert f"checkpoint: {other / 'best.ckpt'}\n" in out  # the checkpoint itself, with a note:
    assert "is not the export of this checkpoint" in err and "portfolio export speech" in err


def test_listening_from_the_export_hears_what_the_checkpoint_hears(exported, clips):
    ckpt, onnx_path = exported
    data, rate = wave.read(clips[2])
    signal = wave.resample(data, rate, 16000)[: 40 * 16000]
    heard = []
    for model in (load_trained("speech", ckpt).module, ExportedModel(onnx_path)):
        lines = []
        stream.listen(model, FakeStream(signal), threshold=0.0, out=lines.append)
        heard.append(lines)
    assert heard[0] == heard[1] and heard[0]


NO_TORCH = r"""
import sys
from speech import demo
code = demo.main(sys.argv[1:])
assert "torch" not in sys.modules and "lightning" not in sys.modules, "torch was imported"
print("exit", code)
"""


def test_the_export_runs_without_importing_torch(exported, clips, tmp_path):
    ckpt, _ = exported
    for model in (exported[1], ckpt):  # named, and found beside the checkpoint
        done = subprocess.run(
            [sys.executable, "-c", NO_TORCH, *map(str, clips), "--ckpt", str(model)]
            + ["--out", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "exit 0" in done.stdout and done.stdout.count("keywords detected") == 2


def foreign(path: Path, assignment: str | None) -> Path:
    """A valid ONNX model (identity on (B, 16000)), with or without this portfolio's metadata."""
    x = onnx.helper.make_tensor_value_info("waveform", onnx.TensorProto.FLOAT, ["B", 16000])
    y = onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["B", 16000])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["waveform"], ["logits"])],
                                   "g", [x], [y])  # fmt: skip
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    if assignment:
        onnx.helper.set_model_props(model, {"mal2.assignment": assignment})
    onnx.save(model, str(path))
    return path


def test_a_missing_corrupt_or_foreign_export_is_refused_clearly(exported, tmp_path, capsys):
    ckpt, onnx_path = exported
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(onnx_path.read_bytes()[:5000])
    cases = {
        tmp_path / "missing.onnx": "does not exist; write it with `portfolio export speech",
        truncated: "is not a readable ONNX model",
        foreign(tmp_path / "plain.onnx", None): "not an export of this portfolio",
        foreign(tmp_path / "q.onnx", "blackjack"): "is the blackjack network's export",
        foreign(tmp_path / "old.onnx", "speech"): "export it again with `portfolio export speech`",
    }
    wav = tmp_path / "w.wav"
    sf.write(wav, np.zeros(16000), 16000)
    for path, message in cases.items():
        with pytest.raises(ExportError, match=re.escape(message)):
            ExportedModel(path)
        with pytest.raises(UsageExit) as exit_info:
            demo.main([str(wav), "--ckpt", str(path)])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_training_writes_a_current_export_beside_the_best_checkpoint(trained):
    """The demo runs without torch straight after training: best.onnx is the export of
    best.ckpt (same hash), and the summary names it."""
    root, cli = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    assert export.current(ckpt, "speech") == ckpt.with_suffix(".onnx")
    assert cli.summary["extra"]["onnx_export"] == str(ckpt.with_suffix(".onnx"))
    label, model = demo.load_model(ckpt)
    assert isinstance(model, ExportedModel) and "best.onnx" in label
