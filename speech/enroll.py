"""Enrollment: adapt a trained keyword spotter to one person's voice, in seconds on a CPU.

    python -m speech.enroll --ckpt CKPT --data-dir my_voice/ -o personal.ckpt
    python -m speech.enroll --ckpt CKPT --record --words yes,no,left,right -o personal.ckpt
    python -m speech.enroll --data-dir my_voice/   # latest run -> runs/speech/enrolled-<time>/

`my_voice/<word>/*.wav` holds a few recordings of one person per word (3-5 each is the intended
use; any sample rate, mono or stereo). `--record` records them from the microphone instead,
prompting word by word; it keeps them in `--data-dir` when one is given, else deletes them
when the enrollment is done.

How: the network's feature extractors stay as trained; its classifier parts (the CNN's last
depthwise and pointwise convolutions, their normalisation's scale and shift, and the linear
layer; with the embedding branch also the small head on the frozen speech embedding) are
fine-tuned together on the output the model gives (both branches' fused log-probabilities), on
the person's recordings, each in several randomly placed, coloured and noisy copies, together
with eSpeak NG clips of every word the model knows, and pulled towards their trained weights
(L2-SP, Li et al. 2018), so that words the person did not record keep working.

The result is an ordinary speech checkpoint; without `-o` the newest speech run
(`runs/speech/enrolled-<time>/`), which `portfolio demo` and `portfolio exam` then pick. It holds
no audio (under "enrollment": the words, clip counts, base checkpoint and time).
"""

from __future__ import annotations

import copy
import datetime
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch
import torch.nn.functional as F

from common.cache import NPZ_DAMAGE, replacing, save_atomic
from common.checkpoints import find_checkpoint, load_checkpoint, load_module, load_trained
from common.demo import command_parser
from common.errors import UserError, command, entry_point
from common.paths import runs_root
from speech import audio
from speech.data import DataError, scan_folder
from speech.module import KeywordModule

DIGITS = "zero,one,two,three,four,five,six,seven,eight,nine"  # the words --record asks for


class EnrollError(UserError, ValueError):
    """Enrollment data or options that cannot be used; the message says what to do."""


def read_enrollment(data_dir: Path, names: list[str]) -> tuple[dict, list[str]]:
    """`<data_dir>/<word>/*.wav` -> ({word: [16 kHz clips]}, notes for the user).

    Words the model does not know, unreadable, silent and too-short files are skipped with a
    note; a folder with nothing usable raises EnrollError."""
    try:
        known, unknown = scan_folder(data_dir, names)
    except DataError as err:
        raise EnrollError(str(err)) from None
    notes = []
    if unknown:
        notes.append(
            f"skipped folders of words the model does not know: {', '.join(sorted(unknown))} "
            f"(it knows: {', '.join(names)})"
        )
    clips: dict[str, list[torch.Tensor]] = {}
    for word, paths in known.items():
        if word.startswith("_"):
            notes.append(f"skipped {word}/: only words can be enrolled")
            continue
        for path in paths:
            try:
                wav = audio.load_audio(path)
            except audio.AudioError as err:
                notes.append(f"skipped {err}")
                continue
            if short := audio.too_short(wav):
                notes.append(f"skipped {path}: {short}")
                continue
            if not audio.has_speech(wav):
                notes.append(f"skipped {path}: silence or steady noise only, no word in it")
                continue
            clips.setdefault(word, []).append(wav)
    if not clips:
        raise EnrollError(
            f"{data_dir}: no usable recordings of known words; put 3-5 recordings of each word "
            f"into <dir>/<word>/ (e.g. {data_dir}/yes/1.wav)"
        )
    few = [w for w, c in clips.items() if len(c) < 3]
    if few:
        notes.append(
            f"fewer than 3 recordings of: {', '.join(few)} (3-5 per word adapt more reliably)"
        )
    missing = [w for w in names if w not in clips and not w.startswith("_")]
    if missing:
        notes.append(
            f"not enrolled (no recordings), they keep the general model: {', '.join(missing)}"
        )
    return clips, notes


def replay_clips(names: list[str], per_word: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """eSpeak NG clips of every word of `names` in several training voices -> (wavs (N, 16000),
    targets (N,)): they keep the words the person did not record in the head's training.
    Made once, then cached under data/speech/enroll/ (deterministic)."""
    import hashlib

    import numpy as np

    from common.paths import data_root
    from speech.synthetic import split_variants

    voices = split_variants()["train"]  # the replay's voices: a new split, a new cache
    key = hashlib.sha1(f"v1 {names} {per_word} {voices}".encode()).hexdigest()[:10]
    cache = data_root() / "speech" / "enroll" / f"replay-{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as z:
                return torch.from_numpy(z["wavs"]), torch.from_numpy(z["targets"])
        except NPZ_DAMAGE:
            pass  # a damaged cache: make it again
    wavs, targets = _synthesize_replay(names, per_word, voices)
    with replacing(cache) as f:
        np.savez(f, wavs=wavs.numpy(), targets=targets.numpy())
    return wavs, targets


def _synthesize_replay(
    names: list[str], per_word: int, variants: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    from speech import espeak

    accents = ["en-us", "en", "en-029", "en-gb-scotland"]
    words = [w for w in names if not w.startswith("_")]
    requests, targets = [], []
    for i, word in enumerate(words):
        for k in range(per_word):
            voice = f"{accents[k % len(accents)]}+{variants[(i + 7 * k) % len(variants)]}"
            requests.append((word, voice, 140 + 20 * k, 40 + 5 * k, 50, False))
            targets.append(names.index(word))
    raw = espeak.synthesize_many(requests)
    gen = torch.Generator().manual_seed(0)
    wavs = []
    for r in raw:
        wav = audio.resample(torch.from_numpy(r.astype("float32") / 32768.0), 22050, 16000)
        wavs.append(audio.place_randomly(wav, audio.SAMPLE_RATE, gen))
    return torch.stack(wavs), torch.tensor(targets)


def augmented_copies(clips: list[torch.Tensor], copies: int, gen: torch.Generator) -> torch.Tensor:
    """Each clip as it was (centred) plus `copies - 1` copies placed at random, through a random
    recording channel, with coloured noise at 15-40 dB SNR -> (len(clips) * copies, 16000)."""
    out = []
    for wav in clips:
        out.append(audio.fit_length(wav))
        out += [audio.place_randomly(wav, audio.SAMPLE_RATE, gen) for _ in range(copies - 1)]
    x = torch.stack(out)
    aug = torch.ones(len(x), dtype=torch.bool)
    aug[::copies] = False  # the original stays untouched
    x[aug] = audio.random_channel(x[aug], gen)
    n = int(aug.sum())
    noise = audio.coloured_noise(n, audio.SAMPLE_RATE, torch.rand(n, generator=gen) * 2, gen)
    snr = 15 + 25 * torch.rand(n, generator=gen)
    x[aug] = audio.mix_at_snr(x[aug], noise, snr)
    return x


@torch.no_grad()
def branch_inputs(module: KeywordModule, wavs: torch.Tensor, batch: int = 256) -> list:
    """What each branch's adapted part reads: the CNN's last block output (N, C, F', T), or
    with the gate its pooled features (N, 4w), and, with the embedding branch, the frozen speech
    embeddings (N, 96, W)."""
    model = module.model
    net = model.net
    cnn, emb = [], []
    for i in range(0, len(wavs), batch):
        x = wavs[i : i + batch]
        h = net.blocks(net.head(model.features(x)))
        cnn.append(h if model.gate is None else net.classifier[:-1](h))
        if model.embedding is not None:
            emb.append(model.embedding(x))
    return [torch.cat(cnn)] + ([torch.cat(emb)] if emb else [])


def adapted_parts(module: KeywordModule) -> dict:
    """{state-dict prefix: module} of what enrollment fine-tunes: the CNN's classifier and, with
    the embedding branch, its head (the fused output the model gives is both branches'). With
    the gate, of the CNN's classifier its last (linear) layer only: the layers before it compute
    the pooled features the gate reads, and adapting them moved whom the gate trusts on every
    clip (a small enrolled model's gate then trusted its CNN alone, on a word not enrolled too,
    where the CNN was wrong)."""
    classifier = module.model.net.classifier
    if module.model.gate is None:
        parts = {"model.net.classifier.": classifier}
    else:
        parts = {f"model.net.classifier.{len(classifier) - 1}.": classifier[-1]}
    if module.model.embedding_head is not None:
        parts["model.embedding_head."] = module.model.embedding_head
    return parts


def adapt(
    module: KeywordModule,
    clips: dict[str, list[torch.Tensor]],
    replay: tuple[torch.Tensor, torch.Tensor],
    copies: int = 8,
    steps: int = 150,
    lr: float = 1e-2,
    l2sp: float = 1e-3,
    seed: int = 0,
) -> dict:
    """Fine-tune `module`'s classifier parts (`adapted_parts`) in place on `clips` plus the
    `replay` set, on the loss of the output the model gives: with the embedding branch the fused
    log-probabilities of both branches, so that neither branch, adapted alone, outvotes the other
    on the person's words (issue 11: the CNN's classifier adapted on its own read a held-out
    'no' as 'yes' and outvoted the unadapted head)."""
    module.eval()
    gen = torch.Generator().manual_seed(seed)
    names = module.class_names
    user, user_t = [], []
    for word, wavs in clips.items():
        user.append(augmented_copies(wavs, copies, gen))
        user_t += [names.index(word)] * (len(wavs) * copies)
    x_user = branch_inputs(module, torch.cat(user))
    # the replay clips as they are and once more through the same augmentation as the person's
    # copies, so that a channel or noise is no cue for the enrolled words
    x_replay = branch_inputs(module, augmented_copies(list(replay[0]), 2, gen))
    t_user, t_replay = torch.tensor(user_t), replay[1].repeat_interleave(2)
    parts = list(adapted_parts(module).values())
    start = [copy.deepcopy(part.state_dict()) for part in parts]
    params = [p for part in parts for p in part.parameters() if p.requires_grad]
    anchors = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=lr)

    def fused(xs: list[torch.Tensor]) -> torch.Tensor:  # (N, n_classes), as the model gives it
        logits = [part(x) for part, x in zip(parts, xs)]
        return module.model.vote(logits, xs[0])  # with the gate, xs[0] is what it reads

    torch.manual_seed(seed)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(fused(x_user), t_user, label_smoothing=0.1)
            loss = loss + F.cross_entropy(fused(x_replay), t_replay, label_smoothing=0.1)
            loss = loss + l2sp * sum((p - a).pow(2).sum() for p, a in zip(params, anchors))
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc_user = (fused(x_user).argmax(1) == t_user).float().mean().item()
        acc_replay = (fused(x_replay).argmax(1) == t_replay).float().mean().item()
    changed = sum(
        (part.state_dict()[k] - v).abs().sum().item()
        for part, state in zip(parts, start)
        for k, v in state.items()
    )
    return {"fit_acc_enrolled": acc_user, "fit_acc_replay": acc_replay, "weight_change": changed}


def enroll(
    ckpt: Path, data_dir: Path, out: Path | None = None, steps: int = 150, verbose: bool = True
) -> dict:
    """Adapt `ckpt` to the recordings in `data_dir`; write the personal checkpoint to `out`
    (default: runs/speech/enrolled-<time>/checkpoints/best.ckpt, the newest speech run)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = out or runs_root() / "speech" / f"enrolled-{stamp}" / "checkpoints" / "best.ckpt"
    if Path(out).resolve() == Path(ckpt).resolve():
        raise EnrollError(f"-o {out} is the base checkpoint; write the personal one elsewhere")
    if Path(out).is_dir():
        raise EnrollError(f"-o {out} is a folder; give a file name such as {out}/personal.ckpt")
    if Path(out).suffix != ".ckpt":  # a .onnx name would send the demo to its ONNX runtime
        raise EnrollError(f"-o {out}: the personal checkpoint's name must end in .ckpt")
    start = time.perf_counter()
    raw = load_checkpoint(ckpt, "speech")
    module = load_module(ckpt, KeywordModule, "speech")
    names = module.class_names
    clips, notes = read_enrollment(Path(data_dir), names)
    for note in notes:
        if verbose:
            print(f"note: {note}", flush=True)
    replay = replay_clips(names)
    stats = adapt(module, clips, replay, steps=steps)
    seconds = time.perf_counter() - start
    prefixes = tuple(adapted_parts(module))
    state = dict(raw["state_dict"])
    for key, value in module.state_dict().items():
        if key.startswith(prefixes):
            state[key] = value.detach().clone()
    raw["state_dict"] = state
    for key in ("optimizer_states", "lr_schedulers"):  # belong to the base run's training
        raw.pop(key, None)
    raw["enrollment"] = {
        "words": {w: len(c) for w, c in sorted(clips.items())},
        "base_checkpoint": str(ckpt),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "adaptation_s": round(seconds, 2),
        "method": "classifier parts of both branches fine-tuned on the fused output (L2-SP) "
        "on augmented recordings + eSpeak replay",
    }
    out = Path(out)
    try:
        save_atomic(raw, out)  # appears only when complete
    except OSError as err:  # a file where a folder of -o should be, a read-only place
        message = f"cannot write -o {out} ({err.strerror or err}); choose another place"
        raise EnrollError(message) from None
    return {
        "checkpoint": str(out),
        "base": str(ckpt),
        "words": raw["enrollment"]["words"],
        "adaptation_s": round(seconds, 2),
        "notes": notes,
        **{k: round(v, 4) for k, v in stats.items()},
    }


def record_words(words: list[str], takes: int, folder: Path, seconds: float = 1.5) -> Path:
    """Prompt word by word, record `takes` takes of each from the microphone into
    `folder/<word>/<i>.wav` (16 kHz mono)."""
    from speech import microphone

    device = microphone.check_input()  # before the first prompt
    print(f"Recording {takes} takes of {len(words)} words, {seconds:.1f} s each, from {device}.")
    for word in words:
        (folder / word).mkdir(parents=True, exist_ok=True)
        for i in range(takes):
            input(f"  say '{word}' ({i + 1}/{takes}): press Enter, then speak ")
            wav = microphone.record(seconds, audio.SAMPLE_RATE)
            if not audio.has_speech(torch.from_numpy(wav)):  # enrollment will skip it
                print("    (no word in that take, silence or steady noise; check the microphone)")
            sf.write(folder / word / f"{i + 1}.wav", wav, audio.SAMPLE_RATE)
    return folder


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("speech.enroll", __doc__)
    parser.add_argument("--ckpt", type=Path, help="base checkpoint (default: latest speech run)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="<dir>/<word>/*.wav recordings of one person (with --record: where to keep the "
        "takes; without it they are deleted after the enrollment)",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        help="personal checkpoint to write (default: runs/speech/enrolled-<time>/checkpoints/"
        "best.ckpt, the newest run, so that portfolio demo/exam use it)",
    )
    parser.add_argument("--record", action="store_true", help="record from the microphone")
    parser.add_argument("--words", help="--record: comma-separated words (default: the ten digits)")
    parser.add_argument("--takes", type=int, default=5, help="--record: takes per word")
    parser.add_argument("--steps", type=int, default=150, help="fine-tuning steps")
    args = parser.parse_args(argv)
    if args.takes < 1 or args.steps < 1:
        parser.error("--takes and --steps must be at least 1")
    if not args.record and args.data_dir is None:
        parser.error("give --data-dir DIR (recordings as <dir>/<word>/*.wav) or --record")
    if args.words is not None and not args.record:  # the folder names the words it holds
        parser.error("--words applies to --record; --data-dir's sub-folders name its words")
    # --record without --data-dir: the takes live in a temporary folder, deleted when done
    takes = None if args.data_dir else tempfile.TemporaryDirectory(prefix="enroll-")
    try:
        ckpt = args.ckpt or find_checkpoint("speech")
        data_dir = args.data_dir
        if args.record:
            names = load_trained("speech", ckpt).module.class_names
            given = DIGITS if args.words is None else args.words
            words = [w.strip() for w in given.split(",") if w.strip()]  # "yes, no": yes and no
            if not words:
                raise EnrollError("--words: give one word or more, comma-separated, e.g. yes,no")
            bad = [w for w in words if w not in names]
            if bad:
                raise EnrollError(f"--words: the model does not know {bad}; it knows {names}")
            data_dir = data_dir or Path(takes.name)
            record_words(words, args.takes, data_dir)
        report = enroll(ckpt, data_dir, args.out, args.steps)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130
    finally:
        if takes is not None:
            takes.cleanup()
    print(f"enrolled {sum(report['words'].values())} recordings of {len(report['words'])} words")
    print(f"  words: {', '.join(f'{w} ({n})' for w, n in report['words'].items())}")
    print(f"  adapted in {report['adaptation_s']:.1f} s; wrote {report['checkpoint']}")
    print(f"  try it: python -m speech.demo --ckpt {report['checkpoint']} FILE.wav")
    where = report["checkpoint"] if args.out else Path(report["checkpoint"]).parent.parent
    print(f"  to remove the enrollment, delete {where} (it holds no audio)")
    if takes is not None:
        print("  the recordings were deleted (give --data-dir DIR to keep them)")
    return 0


if __name__ == "__main__":
    command(main)
