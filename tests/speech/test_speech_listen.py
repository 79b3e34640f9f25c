"""Listening live on a fake input stream, no microphone, and the bad inputs of issue 11:
silence and noise only, clipped audio, sample rates, stereo, 24-bit and float WAVs, recordings
shorter than 0.1 s, and long recordings read block by block."""

import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from speech import demo, microphone, stream, wave

from .conftest import speak_to


class FakeStream:
    """sounddevice.InputStream's read() over a prepared signal; ends when it runs out."""

    def __init__(self, signal: np.ndarray, overflow_at: int | None = None):
        self.signal, self.pos, self.overflow_at, self.reads = signal, 0, overflow_at, 0

    def read(self, frames: int):
        chunk = self.signal[self.pos : self.pos + frames].reshape(-1, 1)
        self.pos += frames
        self.reads += 1
        return chunk, self.reads == self.overflow_at


class AlwaysYes:
    """A stand-in classifier: 'yes' at 90 % for every window it is shown."""

    class_names = ["yes", "no", "_silence_"]

    def __init__(self):
        self.windows = 0

    def predict_proba(self, wavs):
        self.windows += len(wavs)
        return torch.tensor([[0.9, 0.05, 0.05]]).expand(len(wavs), 3)


def bursts(at_seconds: list[float], total: float) -> np.ndarray:
    """Faint steady noise with 0.4-second word-like bursts at the given times."""
    gen = torch.Generator().manual_seed(0)
    sig = 0.002 * torch.randn(int(total * 16000), generator=gen)
    for t in at_seconds:
        start = int(t * 16000)
        sig[start : start + 6400] += (
            0.3 * torch.randn(6400, generator=gen) * torch.hann_window(6400)
        )
    return sig.numpy().astype(np.float32)


def test_listen_reports_each_word_once_with_its_time_and_skips_silence():
    module, lines = AlwaysYes(), []
    fake = FakeStream(bursts([2.0, 5.0], total=8.0), overflow_at=3)
    count = stream.listen(module, fake, threshold=0.6, out=lines.append)
    words = [line for line in lines if "yes" in line]
    assert count == 2 and len(words) == 2  # two bursts, each reported once
    times = [float(line.split()[0]) for line in words]
    assert 1.0 <= times[0] <= 2.0 and 4.0 <= times[1] <= 5.0  # the window holding each burst
    assert all("90.0%" in line for line in words)
    assert any("audio dropped" in line for line in lines)  # an overflow is reported
    assert module.windows < 4 * 8 / 2  # the gate kept most (silent) windows from the classifier


def test_listen_stops_after_the_given_seconds():
    lines = []
    fake = FakeStream(bursts([1.0, 6.0], total=10.0))
    assert stream.listen(AlwaysYes(), fake, seconds=3.0, out=lines.append) == 1
    assert fake.pos <= 3.25 * 16000


def test_the_exam_listens_to_the_examiner_for_the_given_seconds(trained, tmp_path, capsys,
                                                                 monkeypatch):  # fmt: skip
    """`portfolio exam --listen 3`: the speech demo spots keywords in 3 s of the microphone (a
    fake one here) instead of classifying the prepared clips."""
    from speech.assignment import ASSIGNMENT

    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    argv = ASSIGNMENT.exam_demo_args(ckpt, tmp_path / "exam", listen="3")
    assert argv[:3] == ["--listen", "--seconds", "3"]

    class Microphone(FakeStream):
        def stop(self):
            self.stopped = True

        def close(self):
            pass

    mic = Microphone(bursts([1.0, 6.0], total=10.0))
    monkeypatch.setattr(microphone, "input_stream", lambda rate, blocksize: mic)
    assert ASSIGNMENT.run_demo(argv) == 0
    out = capsys.readouterr().out
    assert "listening (Ctrl-C to stop)" in out and "keyword(s) heard" in out
    assert mic.stopped and mic.pos <= 3.25 * 16000  # 3 seconds of it, then the stream stopped


def test_listen_without_an_input_device_says_so_and_fails(trained, capsys, monkeypatch):
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # not installed
    with pytest.raises(SystemExit) as stop:
        demo.main(["--listen", "--ckpt", str(ckpt)])
    assert stop.value.code == 2
    assert "sounddevice is not installed" in capsys.readouterr().err

    def no_device(*args, **kwargs):
        raise microphone.MicrophoneError("no microphone (input device) found (headless)")

    monkeypatch.setattr(microphone, "input_stream", no_device)
    with pytest.raises(SystemExit) as stop:
        demo.main(["--listen", "--ckpt", str(ckpt), "--seconds", "1"])
    assert stop.value.code == 2
    assert "no microphone" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x.wav", "--seconds", "5"], "--seconds applies to --listen"),
        (["x.wav", "--voice", "en-gb+m3"], "--voice applies to --speak"),
    ],
)
def test_an_option_without_its_partner_is_refused_not_ignored(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        demo.main([*args, "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_the_sounddevice_errors_become_clear_messages(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    try:
        microphone.input_stream(16000, 4000)
    except microphone.MicrophoneError as err:
        assert "pip install sounddevice" in str(err)
    else:
        raise AssertionError("no error without sounddevice")


def test_demo_handles_the_issues_bad_inputs(trained, tmp_path, capsys):
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    word = speak_to(tmp_path / "w.wav", "yes", "en-us+m3")
    wav, _ = sf.read(word, dtype="float32")
    files = {}
    for rate in (8000, 22050, 44100, 48000):
        files[f"{rate}"] = speak_to(tmp_path / f"r{rate}.wav", "no", "en+f2", rate=rate)
    sf.write(tmp_path / "pcm24.wav", wav, 16000, subtype="PCM_24")
    sf.write(tmp_path / "float.wav", wav, 16000, subtype="FLOAT")
    sf.write(tmp_path / "stereo.wav", np.stack([wav, wav], 1), 44100)
    sf.write(tmp_path / "clipped.wav", np.clip(wav * 20, -1, 1), 16000)
    sf.write(tmp_path / "short.wav", wav[:800], 16000)  # 0.05 s
    sf.write(tmp_path / "silence.wav", np.zeros(16000), 16000)
    gen = torch.Generator().manual_seed(0)
    hiss = (0.1 * torch.randn(32000, generator=gen)).numpy()
    sf.write(tmp_path / "hiss.wav", hiss, 16000)
    names = ["pcm24", "float", "stereo", "clipped", "short", "silence", "hiss"]
    paths = [*files.values(), *(tmp_path / f"{n}.wav" for n in names)]
    args = [*map(str, paths), "--ckpt", str(ckpt), "--out", str(tmp_path / "figs"), "--no-figure"]
    assert demo.main(args) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert out.count("top 5") == 8  # four sample rates, 24-bit, float, stereo, clipped
    assert "too short (0.050 s)" in out
    assert out.count("silence or steady noise only") == 2  # silence.wav and hiss.wav


def test_a_long_recording_is_read_block_by_block(trained, tmp_path, capsys, monkeypatch):
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    long = tmp_path / "long.wav"
    sf.write(long, bursts([3.0, 40.0, 80.0], total=90.0), 8000)  # 180 s at 8 kHz, read as 90
    chunks = list(wave.read_blocks(long, block_seconds=10.0))
    assert max(len(c) for c in chunks) <= 10 * 16000 and len(chunks) == 18
    assert abs(sum(len(c) for c in chunks) - 180 * 16000) <= 16
    monkeypatch.setattr(demo, "LONG_SECONDS", 60.0)
    assert demo.main([str(long), "--ckpt", str(ckpt), "--no-figure"]) == 0
    out = capsys.readouterr().out
    assert "read block by block" in out and "keywords detected" in out
