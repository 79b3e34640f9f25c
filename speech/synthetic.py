"""The embedded data set: Speech Commands words spoken by eSpeak NG voices, made less synthetic.

Every clip draws a speaker (an accent voice + a voice variant) and prosody (speed, pitch, pitch
range, emphasis), is synthesized by eSpeak NG, then speed-perturbed, time-shifted inside 1 s,
spectrally warped (vocal tract length), reverberated, mixed with coloured noise and scaled.
Splits are by voice variant: the test split's variants are never heard in training.

Other languages' voices read the English spelling with their own rules, and some of them say two
of the words identically: German, Spanish, Italian, Dutch, Polish and Brazilian Portuguese say
"three" exactly as "tree" (no /θ/). Such a clip's label cannot be told from its sound, so an
accent is never asked for a word it pronounces like another word (`homophones`).

The result is cached under `data/speech/espeak/` with a version stamp; bump VERSION whenever
the output of `generate` changes.
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio

from common.cache import damage, file_stamp, replacing
from common.threads import one_thread
from common.workers import worker_pool
from speech import audio, espeak
from speech.config import WORDS_35

# 6: 4 validation voice variants, not 11; 5: the neural voice says no language-switch marks;
# 4: v3 post-processed in chunks
VERSION = 6

# eSpeak voice -> accent name. English accents, then other languages' voices reading the English
# spelling with their own letter-to-sound rules (a foreign accent, sometimes a mispronunciation).
ACCENTS = {
    "en-us": "American",
    "en-us-nyc": "New York",
    "en": "British",
    "en-gb-x-rp": "Received Pronunciation",
    "en-gb-scotland": "Scottish",
    "en-gb-x-gbclan": "Lancaster",
    "en-gb-x-gbcwmd": "West Midlands",
    "en-029": "Caribbean",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "es-419": "Latin American Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "pt-br": "Brazilian Portuguese",
    "sv": "Swedish",
    "hi": "Hindi",
    "cmn": "Mandarin",
}

# Human-sounding eSpeak variants (robotic, whispering and croaking ones are left out).
VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
    "klatt3", "klatt4", "klatt5", "klatt6", "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis",
    "Diogo", "Gene", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike",
    "Nguyen", "Reed", "Storm", "adam", "anika", "antonio", "aunty", "belinda", "benjamin", "boris",
    "caleb", "david", "ed", "edward", "grandma", "grandpa", "gustave", "ian", "iven", "john",
    "kaukovalta", "linda", "marcelo", "max", "michel", "miguel", "norbert", "pablo", "paul",
    "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph", "steph2", "steph3", "travis",
    "victor", "zac",
]  # fmt: skip

SPLITS = ("train", "val", "test")

# Emphasis and intonation: plain, exclamation, question, statement, SSML strong emphasis.
EMPHASIS = ("{}", "{}!", "{}?", "{}.", "<speak><emphasis level='strong'>{}</emphasis></speak>")


@dataclass
class SynthConfig:
    """What to generate; every field is part of the cache key."""

    train_per_word: int
    """Training clips per word (KeywordDataModule's settings give these four)."""
    val_per_word: int
    """Validation clips per word."""
    test_per_word: int
    """Test clips per word (voices never heard in training)."""
    seed: int = 0
    """Generation seed: same seed, same clips."""
    split_seed: int = 0
    """Seed of the voice-variant split."""
    held_out: float = 0.15
    """Fraction of voice variants held out for the test split (never heard in training)."""
    val_held_out: float = 0.05
    """Fraction of voice variants held out for the validation split (at least one per declared
    gender): every variant held out is one voice fewer to learn from, and the CNN's accuracy on
    unseen voices grows with the voices it hears (model card, "More voices in training")."""
    snr_db: tuple[float, float] = (5.0, 35.0)
    """Range of the background-noise signal-to-noise ratio."""
    noise_prob: float = 0.9
    """Probability that a clip gets background noise."""
    reverb_prob: float = 0.5
    """Probability that a clip is reverberated."""
    human_share: float = 0.0
    """Fraction of the training clips said by the human-derived neural voice (`speech.piper`)
    instead of eSpeak; validation and test stay eSpeak's unseen voices."""
    human_reuse: int = 4
    """Each neural-voice utterance is heard in about this many training clips, each with its own
    speed, placement, warp, room, noise and level (an utterance of the neural voice costs
    tens of times an eSpeak clip's CPU time)."""


def split_variants(
    split_seed: int = 0, held_out: float = 0.15, val_held_out: float = 0.05
) -> dict[str, list[str]]:
    """Voice variants per split, stratified by declared gender so every split has both: a
    `held_out` fraction of each gender for test, a `val_held_out` fraction for validation."""
    rng = np.random.default_rng(split_seed)
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    genders = {v: espeak.variant_gender(v) for v in VARIANTS}
    for gender in ("female", "male", "unspecified"):
        group = sorted(v for v in VARIANTS if genders[v] == gender)
        group = [group[i] for i in rng.permutation(len(group))]
        k = max(1, round(held_out * len(group)))
        end = k + max(1, round(val_held_out * len(group)))
        out["test"] += group[:k]
        out["val"] += group[k:end]
        out["train"] += group[end:]
    return out


def homophones(words: list[str], voices: list[str]) -> set[tuple[str, str]]:
    """(voice, word) pairs where eSpeak NG's `voice` says `word` with exactly the phonemes of
    another of `words` (e.g. ("de", "three"): German eSpeak says tree)."""
    out = set()
    for voice in voices:
        said: dict[str, list[str]] = {}
        for word in words:
            said.setdefault(espeak.phonemes(word, voice), []).append(word)
        out |= {(voice, w) for same in said.values() if len(same) > 1 for w in same}
    return out


SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)


@functools.cache
def _speed_resamplers() -> dict[float, torchaudio.transforms.Resample]:
    # Speed perturbation (Ko et al. 2015) folded into the 22.05 -> 16 kHz resampling: reading
    # 22050 Hz audio as if it were 22050*s Hz plays it s times faster (tempo and pitch).
    # Quantised factors keep the polyphase kernels small and cached.
    return {
        s: torchaudio.transforms.Resample(int(round(22050 * s / 50) * 50), audio.SAMPLE_RATE)
        for s in SPEEDS
    }


def _keep_freed_memory() -> None:
    """Initialiser of the finishing processes: glibc keeps the memory that a clip's work frees
    for the next clip's, instead of handing it back to the system and faulting it in again:
    system time was 23 % of the default generation's CPU time, 12 % with this (the same clips).
    No effect where there is no glibc `mallopt`."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows)
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)  # blocks under 32 MB from the heap, not mmap
    mallopt(m_trim_threshold, 1 << 30)  # free memory at the heap's top kept up to 1 GB
    mallopt(m_top_pad, 256 << 20)  # the heap grows 256 MB at a time


@one_thread()
def _finish(start: int, rows: list[dict], raw: list[np.ndarray], seed: int) -> np.ndarray:
    """eSpeak's clips rows[k] = clip start + k (int16 at 22050 Hz) -> the data set's int16
    1-second clips: speed, placement, vocal-tract warp, room, noise, level. One torch thread:
    the operations are small, and chunks run in parallel processes instead."""
    resamplers = _speed_resamplers()
    speech, white, rirs = [], [], []
    for i, row in enumerate(rows, start):
        # one generator per clip: the result does not depend on chunking or order
        gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
        wav = torch.from_numpy(raw[i - start].astype(np.float32) / 32768.0)
        wav = resamplers[row["speed"]](wav)
        speech.append(audio.place_randomly(wav, audio.SAMPLE_RATE, gen))
        white.append(torch.randn(audio.SAMPLE_RATE, generator=gen))
        if row["rt60"] > 0:
            rirs.append(audio.room_impulse_responses(torch.tensor([row["rt60"]]), gen)[0])
    x = torch.stack(speech)  # (B, 16000)
    x = audio.spectral_warp(x, torch.tensor([r["warp"] for r in rows]))
    wet = torch.tensor([r["rt60"] > 0 for r in rows])
    if rirs:
        n = audio.SAMPLE_RATE  # one length for all: the FFT size must not depend on the batch
        rirs = torch.stack([torch.nn.functional.pad(r, (0, n - len(r))) for r in rirs])
        x[wet] = audio.reverberate(x[wet], rirs)
    noise = audio.colour(torch.stack(white), torch.tensor([r["noise_beta"] for r in rows]))
    snr = torch.tensor([r["snr_db"] for r in rows])
    noisy = audio.mix_at_snr(x, noise, snr.clamp(max=200.0))
    peak = noisy.abs().amax(dim=1, keepdim=True) + 1e-9
    gain = 10 ** (torch.tensor([r["peak_db"] for r in rows])[:, None] / 20) / peak
    return (noisy * gain * 32767).round().clamp(-32768, 32767).to(torch.int16).numpy()


def generate(
    cfg: SynthConfig, words: list[str] | None = None, chunk: int = 512, workers: int | None = None
) -> dict:
    """Synthesize the data set -> {"clips": int16 (N, 16000), "word", "split", "accent",
    "variant", "gender": lists of N strings, "params": per-clip prosody and augmentation}.

    eSpeak runs in two processes (`espeak.synthesize_many`); the rest of the work, in chunks
    of `chunk` clips, runs in `workers` processes (`_finish`, one torch thread each; None: one
    per core, up to 8, from 2,000 clips on, below which starting them costs more than they
    save). Any chunking and any number of workers give the same clips."""
    words = list(words or WORDS_35)
    variants = split_variants(cfg.split_seed, cfg.held_out, cfg.val_held_out)
    rng = np.random.default_rng(cfg.seed)
    accents = list(ACCENTS)
    per_word = {"train": cfg.train_per_word, "val": cfg.val_per_word, "test": cfg.test_per_word}
    same_sound = homophones(words, accents)

    def accent_for(word: str, rng: np.random.Generator = rng) -> str:
        while True:  # redraw an accent that says this word like another one
            voice = accents[rng.integers(len(accents))]
            if (voice, word) not in same_sound:
                return voice

    rows = []
    for split in SPLITS:
        for word in words:
            for _ in range(per_word[split]):
                rows.append(
                    {
                        "word": word,
                        "split": split,
                        "voice": accent_for(word),
                        "variant": variants[split][rng.integers(len(variants[split]))],
                        "rate": int(rng.integers(120, 261)),
                        "pitch": int(rng.integers(15, 86)),
                        "range": int(rng.integers(10, 91)),
                        "emphasis": int(rng.integers(len(EMPHASIS))),
                        "speed": float(SPEEDS[rng.integers(len(SPEEDS))]),
                        "warp": float(rng.uniform(0.9, 1.1)),
                        "rt60": float(rng.uniform(0.15, 0.7))
                        if rng.random() < cfg.reverb_prob
                        else 0.0,
                        "noise_beta": float(rng.uniform(0.0, 2.0)),
                        "snr_db": float(rng.uniform(*cfg.snr_db))
                        if rng.random() < cfg.noise_prob
                        else float("inf"),
                        "peak_db": float(rng.uniform(-25.0, -1.0)),
                    }
                )

    takes = _human_rows(cfg, rows, words, accent_for)
    requests = []
    for row in rows:
        text = EMPHASIS[row["emphasis"]].format(row["word"])
        voice = f"{row['voice']}+{row['variant']}"
        ssml = text.startswith("<speak>")
        if "take" not in row:
            requests.append((text, voice, row["rate"], row["pitch"], row["range"], ssml))
    human = _start_human(takes, cfg.seed) if takes else []  # runs beside eSpeak
    said = iter(espeak.synthesize_many(requests))  # int16 at 22050 Hz, reproducible
    human = [clip for batch in human for clip in batch.result()]
    raw = [human[row["take"]] if "take" in row else next(said) for row in rows]
    starts = range(0, len(rows), chunk)
    jobs = [(s, rows[s : s + chunk], raw[s : s + chunk], cfg.seed) for s in starts]
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)), 8) if len(rows) >= 2000 else 1
    workers = min(workers, len(jobs))
    clips = np.zeros((len(rows), audio.SAMPLE_RATE), dtype=np.int16)
    if workers > 1:
        spawn = multiprocessing.get_context("spawn")  # no fork of a process running threads
        with worker_pool(workers, mp_context=spawn, initializer=_keep_freed_memory) as pool:
            done = pool.map(_finish, *zip(*jobs))
            for s, part in zip(starts, done):
                clips[s : s + len(part)] = part
    else:
        for s, *job in jobs:
            clips[s : s + chunk] = _finish(s, *job)

    genders = {v: espeak.variant_gender(v) for v in VARIANTS} | {HUMAN_VOICE: "male"}
    return {
        "clips": clips,
        "word": [r["word"] for r in rows],
        "split": [r["split"] for r in rows],
        "accent": [ACCENTS[r["voice"]] for r in rows],
        "variant": [r["variant"] for r in rows],
        "gender": [genders[r["variant"]] for r in rows],
        "params": rows,
    }


HUMAN_VOICE = "piper-joe"  # the variant name of the neural voice's clips
HUMAN_JOBS = 2  # the neural voice's takes run as this many seeded batches (any worker count)


def _human_rows(cfg: SynthConfig, rows: list[dict], words: list[str], accent_for) -> list[tuple]:
    """Give a `human_share` of the training rows to the neural voice (a separate random stream:
    the other rows keep their draws) -> its takes, (word, accent, length_scale, noise_scale,
    noise_w) each; a chosen row gets "take" (an index into them), its accent and variant."""
    if cfg.human_share <= 0:
        return []
    rng = np.random.default_rng([cfg.seed, 1])
    per_word = max(1, math.ceil(cfg.human_share * cfg.train_per_word / cfg.human_reuse))
    takes, of_word = [], {}
    for word in words:
        of_word[word] = range(len(takes), len(takes) + per_word)
        for _ in range(per_word):
            rate = rng.uniform(0.8, 1.3)  # length scale: slower and faster than the voice
            takes.append(
                (word, accent_for(word, rng), rate, rng.uniform(0.4, 0.9), rng.uniform(0.4, 1.0))
            )
    for row in rows:
        if row["split"] == "train" and rng.random() < cfg.human_share:
            row["take"] = int(rng.choice(of_word[row["word"]]))
            row["voice"], row["variant"] = takes[row["take"]][1], HUMAN_VOICE
    return takes


def _start_human(takes: list[tuple], seed: int) -> list:
    """Start the neural voice's takes in HUMAN_JOBS seeded batches, one process each -> the
    batches' futures, in order (the batches and their seeds do not depend on the machine)."""
    from speech import piper

    piper.voice_files()  # a missing voice package: its message here, not from a worker
    bounds = [round(i * len(takes) / HUMAN_JOBS) for i in range(HUMAN_JOBS + 1)]
    spawn = multiprocessing.get_context("spawn")
    pool = worker_pool(HUMAN_JOBS, mp_context=spawn)
    parts = [
        pool.submit(piper.synthesize_batch, takes[a:b], seed * 1_000 + k)
        for k, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]
    pool.shutdown(wait=False)  # the processes finish their batches, then exit
    return parts


def cache_dir(cfg: SynthConfig, root: Path, words: list[str] | None = None) -> Path:
    """Folder of the cached data set for this configuration and VERSION."""
    key = json.dumps(
        {"version": VERSION, "cfg": asdict(cfg), "words": words or WORDS_35}, sort_keys=True
    )
    digest = __import__("hashlib").sha1(key.encode()).hexdigest()[:10]
    return Path(root) / "speech" / "espeak" / f"v{VERSION}-{digest}"


def load_or_generate(
    cfg: SynthConfig, root: Path, words: list[str] | None = None, verbose: bool = True
) -> dict:
    """The cached data set, generated first if it is missing or has another version stamp."""
    folder = cache_dir(cfg, root, words)
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = None
        if isinstance(meta, dict):
            broken = damage(folder / "clips.npy", meta.get("clips_stamp"))
        else:  # cut short, or JSON but not an object
            meta, broken = {}, f"{meta_path} is not the data set's description"
        if meta.get("version") == VERSION and broken is None:
            meta["clips"] = np.load(folder / "clips.npy", mmap_mode=None)
            return meta
        if broken is not None:
            print(f"speech: the data cache is damaged: {broken}; generating it again", flush=True)
    t0 = time.perf_counter()
    if verbose:
        n = (cfg.train_per_word + cfg.val_per_word + cfg.test_per_word) * len(words or WORDS_35)
        print(f"speech: generating {n} eSpeak clips into {folder} ...", flush=True)
    data = generate(cfg, words)
    with replacing(folder / "clips.npy") as f:  # a kill or a full disk leaves no partial file
        np.save(f, data["clips"])
    meta = {k: v for k, v in data.items() if k != "clips"}
    meta.update(version=VERSION, config=asdict(cfg), seconds=time.perf_counter() - t0)
    meta["clips_stamp"] = file_stamp(folder / "clips.npy")  # size and hash: damage is noticed
    with replacing(meta_path) as f:  # the stamp appears last: an interrupted run regenerates
        f.write(json.dumps(meta).encode())
    if verbose:
        print(f"speech: generated in {meta['seconds']:.1f} s", flush=True)
    meta["clips"] = data["clips"]
    return meta
