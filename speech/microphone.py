"""The microphone, through python-sounddevice (PortAudio), with errors that say what to do.

Kept apart so that everything else runs where there is no sound card (CI, a headless server):
sounddevice is imported only when a recording starts.
"""

from __future__ import annotations

import numpy as np

from common.errors import UserError


class MicrophoneError(UserError, RuntimeError):
    """No usable input device; the message says why and what to do."""


def _sounddevice():
    try:
        import sounddevice
    except ImportError:
        raise MicrophoneError(
            "python-sounddevice is not installed; `pip install sounddevice` (it needs the "
            "PortAudio library: `apt install libportaudio2` on Debian/Ubuntu)"
        ) from None
    except OSError as err:  # the wheel imports, but libportaudio cannot be loaded
        raise MicrophoneError(
            f"the PortAudio library is missing ({err}); install it (`apt install "
            "libportaudio2` on Debian/Ubuntu, `brew install portaudio` on macOS)"
        ) from None
    return sounddevice


def check_input(
    instead: str = "record the words with another program into <dir>/<word>/*.wav and pass "
    "--data-dir",
) -> str:
    """The default input device's name; MicrophoneError, suggesting `instead`, without one."""
    sd = _sounddevice()
    try:
        return str(sd.query_devices(kind="input").get("name", "microphone"))
    except (sd.PortAudioError, ValueError) as err:
        raise MicrophoneError(
            f"no microphone (input device) found ({err}); connect one, or {instead}"
        ) from None


def input_stream(sample_rate: int, blocksize: int):
    """An open, started mono float32 input stream at `sample_rate` from the default device.

    Raises MicrophoneError when there is no input device or it cannot be opened (no permission,
    busy, unsupported rate)."""
    sd = _sounddevice()
    name = check_input(
        "on a headless machine classify recorded files instead: python -m speech.demo FILE.wav"
    )
    try:
        stream = sd.InputStream(
            samplerate=sample_rate, channels=1, dtype="float32", blocksize=blocksize
        )
        stream.start()
    except (sd.PortAudioError, ValueError) as err:
        raise MicrophoneError(
            f"cannot open the microphone {name!r} at {sample_rate} Hz ({err}); "
            "check that no other program holds it and that this program may use it (on macOS: "
            "System Settings > Privacy > Microphone)"
        ) from None
    return stream


def record(seconds: float, sample_rate: int) -> np.ndarray:
    """`seconds` of mono audio from the default microphone -> float32 (samples,)."""
    n = int(seconds * sample_rate)
    stream = input_stream(sample_rate, blocksize=0)
    try:
        data, _ = stream.read(n)
    finally:
        stream.stop()
        stream.close()
    return np.asarray(data, dtype=np.float32).reshape(-1)
