"""eSpeak NG through ctypes: the library and voice data ship in the `espeakng-loader` wheel.

eSpeak keeps one global state per process, so this module holds one synthesizer per process,
initialised lazily in synchronous mode with a callback that collects the int16 samples.
"""

from __future__ import annotations

import ctypes
import functools
import zlib
from pathlib import Path

import numpy as np

from common.errors import UserError

# espeak_PARAMETER values from speak_lib.h
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
AUDIO_OUTPUT_SYNCHRONOUS = 2
SSML = 0x10
IPA = 0x02  # espeak_TextToPhonemes phonememode: IPA symbols

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class ESpeakError(UserError, RuntimeError):
    """eSpeak NG could not be loaded or refused a voice."""


class _Engine:
    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise ESpeakError(
                "the embedded data set needs eSpeak NG: `pip install espeakng-loader`"
            ) from None
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.data_path = Path(espeakng_loader.get_data_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.sample_rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0
        )
        if self.sample_rate <= 0:
            raise ESpeakError(f"espeak_Initialize failed (data folder {self.data_path})")
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # keep a reference: C holds a pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
        ]

    def _use_voice(self, voice: str) -> None:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ESpeakError(f"eSpeak NG has no voice {voice!r}")

    def phonemes(self, text: str, voice: str) -> str:
        """IPA phonemes eSpeak NG would speak for `text` in `voice` (no audio)."""
        self._use_voice(voice)
        text_ptr = ctypes.c_char_p(text.encode())
        out = []
        while text_ptr.value:  # one clause per call; the pointer moves on (NULL at the end)
            said = self.lib.espeak_TextToPhonemes(ctypes.byref(text_ptr), 0, IPA) or b""
            out.append(said.decode(errors="replace").strip())
        return " ".join(out)

    def _collect(self, wav, n: int, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = continue synthesis

    def synthesize(
        self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, ssml: bool = False
    ) -> np.ndarray:
        self._use_voice(voice)
        for param, value in ((RATE, rate), (PITCH, pitch), (RANGE, pitch_range), (VOLUME, 100)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks = []
        # breathy variants draw noise from eSpeak's generator: seed it for repeatable output
        self.lib.espeak_ng_SetRandSeed(ctypes.c_long(zlib.crc32(f"{voice} {text}".encode())))
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, SSML if ssml else 0, None, None)
        self.lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0


@functools.cache
def engine() -> _Engine:
    """The process's eSpeak NG synthesizer (initialised on first use)."""
    return _Engine()


def synthesize(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    ssml: bool = False,
) -> tuple[np.ndarray, int]:
    """Speak `text` -> (float32 samples in [-1, 1], sample rate 22050).

    Args:
        voice: an eSpeak voice with optional variant, e.g. "en-us+f3" or "de+klatt2".
        rate: words per minute (80..450); pitch and pitch_range: 0..100.
        ssml: interpret `text` as SSML (e.g. <emphasis>).
    """
    eng = engine()
    return eng.synthesize(text, voice, rate, pitch, pitch_range, ssml), eng.sample_rate


def phonemes(text: str, voice: str = "en-us") -> str:
    """How `voice` pronounces `text`, in IPA, e.g. phonemes("three", "de") -> 'tɾˈeː'."""
    return engine().phonemes(text, voice)


def variant_gender(variant: str) -> str:
    """'female', 'male' or 'unspecified', as the variant file in the eSpeak data declares it."""
    path = engine().data_path / "voices" / "!v" / variant
    if not path.is_file():
        raise ESpeakError(f"eSpeak NG has no voice variant {variant!r}")
    for line in path.read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "gender":
            return words[1].lower() if words[1].lower() in ("male", "female") else "unspecified"
    return "unspecified"


def _shard_worker(requests: list[tuple], first: int, conn, say=None) -> None:
    """Child process: say requests[:first] again without sending them (eSpeak's hidden state
    then is what it was when the previous process stopped there), then synthesize
    requests[first:], sending (index, int16 samples) one by one."""
    say = say or synthesize
    try:
        for i in range(first):
            say(*requests[i])
        for i in range(first, len(requests)):
            conn.send((i, (say(*requests[i])[0] * 32767).astype(np.int16)))
    except Exception as err:  # a refused voice etc.: tell the parent instead of dying silently
        conn.send((-1, f"{type(err).__name__}: {err}"))
    conn.close()


def fallback_request(request: tuple) -> tuple:
    """What to say instead of a request that crashes eSpeak NG: the same word, voice, rate and
    pitch with a neutral pitch range (the crashes seen come from extreme pitch contours)."""
    text, voice, rate, pitch, _range, *rest = request
    return (text, voice, rate, pitch, 50, *rest)


def synthesize_many(requests: list[tuple], shards: int = 2, say=None) -> list[np.ndarray]:
    """Synthesize many `synthesize(*request)` calls -> int16 arrays at 22050 Hz, reproducibly.

    eSpeak NG carries hidden state from one utterance to the next (no API call resets it), so
    each of a fixed number of shards runs in a fresh process: the same requests always give the
    same samples. eSpeak NG 1.52 also crashes now and then on some parameters: a shard whose
    process dies or reports an error restarts in a fresh process that first says its earlier
    requests again (unsent), so its hidden state is an uninterrupted process's; the failed
    request is tried once more, then replaced by `fallback_request` (reported; ESpeakError if
    that fails too). `say` replaces `synthesize` in the shards (tests make it fail).
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    bounds = [round(i * len(requests) / shards) for i in range(shards + 1)]
    parts = [list(requests[a:b]) for a, b in zip(bounds, bounds[1:])]
    results: list[list] = [[None] * len(p) for p in parts]
    done = [0] * len(parts)  # requests received per shard
    tries: list[dict[int, int]] = [{} for _ in parts]  # failures per request

    def start(k: int):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_shard_worker, args=(parts[k], done[k], send, say), daemon=True)
        proc.start()
        send.close()  # the child holds the only write end: recv() fails once it is gone
        return proc, recv

    def failed(k: int, why: str) -> None:
        """Request done[k] of shard k failed (`why`): retry it, then its fallback, then stop."""
        i = done[k]
        tries[k][i] = tries[k].get(i, 0) + 1
        if tries[k][i] >= 3:
            raise ESpeakError(
                f"eSpeak NG failed on {parts[k][i]!r} ({why}), twice as it was and on its "
                "fallback; change the data seed (--data.seed) or sizes"
            )
        if tries[k][i] == 2:  # twice in a fresh process at the same place: not chance
            print(
                f"speech: eSpeak NG failed twice on {parts[k][i]!r} ({why}); "
                "using pitch range 50 for that clip",
                flush=True,
            )
            parts[k][i] = fallback_request(parts[k][i])
        active[k] = start(k)

    active = {k: start(k) for k, part in enumerate(parts) if part}
    try:
        while active:
            ready = wait([conn for _, conn in active.values()])
            for k in [k for k, (_, conn) in active.items() if conn in ready]:
                proc, conn = active[k]
                try:
                    i, wav = conn.recv()
                except (EOFError, OSError):
                    proc.join()
                    conn.close()
                    del active[k]
                    if done[k] < len(parts[k]):  # else: finished and exited
                        failed(k, f"its process crashed, exit code {proc.exitcode}")
                    continue
                if i < 0:
                    proc.join()
                    conn.close()
                    del active[k]
                    failed(k, wav)
                    continue
                results[k][i] = wav
                done[k] = i + 1
    finally:
        for proc, conn in active.values():
            proc.kill()
            proc.join()
            conn.close()
    return [wav for part in results for wav in part]
