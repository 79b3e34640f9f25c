"""Data sets and the LightningDataModule: the embedded eSpeak set (default), Google Speech
Commands v2 (downloaded on request or read from disk), or any `<root>/<label>/*.wav` folder."""

from __future__ import annotations

import csv
import hashlib
import re
import tarfile
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from common.cache import download, load_tensors, save_tensors
from common.errors import DataError
from common.paths import data_root
from speech import audio, wave
from speech.config import SILENCE, UNKNOWN, WORDS_35, label_set
from speech.synthetic import HUMAN_VOICE, SynthConfig, cache_dir, load_or_generate

SPEECH_COMMANDS_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # from the Speech Commands README's which_set()


def class_names(labels: str) -> list[str]:
    """'35', '12' or 'a,b,c' -> the class names."""
    if labels in ("35", "12"):
        return label_set(labels)
    names = [w.strip() for w in labels.split(",") if w.strip()]
    if len(names) < 2:
        raise DataError(f"labels={labels!r}: use 35, 12, or at least two comma-separated words")
    return names


def target_of(word: str, names: list[str]) -> int | None:
    """Class index of a spoken word; None when the task does not know it."""
    if word in names:
        return names.index(word)
    if UNKNOWN in names and word != SILENCE and not word.startswith("_"):
        return names.index(UNKNOWN)
    return None


class ClipDataset(Dataset):
    """In-memory int16 clips (N, 16000) with targets and optional per-clip speaker groups."""

    def __init__(
        self,
        clips: torch.Tensor,
        targets: torch.Tensor,
        groups: dict | None = None,
        shift: int = 0,
        noise: torch.Tensor | None = None,
        noise_prob: float = 0.0,
    ):
        self.clips, self.targets, self.groups = clips, targets, groups or {}
        self.shift, self.noise, self.noise_prob = shift, noise, noise_prob
        self.embeddings: torch.Tensor | None = None  # (N, 96, W) cached, see attach_embeddings
        self.neural: torch.Tensor | None = None  # (N,) bool: said by the neural voice (training)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple:
        wav = self.clips[i].float() / 32768.0
        item = (_augment(wav, self.shift, self.noise, self.noise_prob), int(self.targets[i]))
        if self.embeddings is not None:
            item = (*item, self.embeddings[i])
        return item if self.neural is None else (*item, self.neural[i])


class FileDataset(Dataset):
    """Audio files read on demand, mixed down, resampled to 16 kHz, fitted to 1 s."""

    def __init__(
        self,
        paths: list[Path],
        targets: list[int],
        shift: int = 0,
        noise: torch.Tensor | None = None,
        noise_prob: float = 0.0,
    ):
        self.paths, self.targets = paths, targets
        self.shift, self.noise, self.noise_prob = shift, noise, noise_prob

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.paths[i] is None:  # a _silence_ clip: background noise only
            if self.noise is None:  # no _background_noise_ folder: faint pink noise
                pink = audio.coloured_noise(1, audio.SAMPLE_RATE, torch.ones(1), None)[0]
                return pink * 1e-3, self.targets[i]
            wav = torch.zeros(audio.SAMPLE_RATE)
            return _augment(wav, 0, self.noise, 1.0, snr=False), self.targets[i]
        wav = audio.fit_length(audio.load_audio(self.paths[i]))
        return _augment(wav, self.shift, self.noise, self.noise_prob), self.targets[i]


def _augment(
    wav: torch.Tensor, shift: int, noise: torch.Tensor | None, prob: float, snr: bool = True
) -> torch.Tensor:
    """Training-time time shift and background-noise mixing (no-ops when shift=0, prob=0)."""
    if shift:
        k = int(torch.randint(-shift, shift + 1, (1,)))
        wav = torch.roll(wav, k)
        if k > 0:
            wav[:k] = 0
        elif k < 0:
            wav[k:] = 0
    if noise is not None and len(noise) and float(torch.rand(1)) < prob:
        piece = noise[int(torch.randint(len(noise), (1,)))].float() / 32768.0
        if snr:
            wav = audio.mix_at_snr(wav[None], piece[None], torch.empty(1).uniform_(5, 30))[0]
        else:
            wav = wav + piece * float(torch.empty(1).uniform_(0.0, 1.0))
    return wav


def which_set(filename: str, validation_pct: float = 10.0, testing_pct: float = 10.0) -> str:
    """Speech Commands' stable split by speaker: hash the name without its `_nohash_` suffix."""
    base = re.sub(r"_nohash_.*$", "", Path(filename).name)
    h = int(hashlib.sha1(base.encode()).hexdigest(), 16)
    pct = (h % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if pct < validation_pct:
        return "val"
    if pct < validation_pct + testing_pct:
        return "test"
    return "train"


def scan_folder(root: Path, names: list[str]) -> tuple[dict, dict[str, int]]:
    """Audio files under `<root>/<label>/` -> ({label: [paths]} for known labels, {unknown label:
    count}). `_background_noise_` is left out; labels the task does not know are counted."""
    root = Path(root)
    if not root.is_dir():
        what = "a file, not a folder" if root.exists() else "no such folder"
        raise DataError(f"{root}: {what}; give a folder laid out as <root>/<label>/*.wav")
    known: dict[str, list[Path]] = {}
    unknown: dict[str, int] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.startswith("_background_noise_") or folder.name.startswith("."):
            continue
        # nested folders too (<label>/session1/a.wav): none is ignored without a word
        files = wave.audio_files(folder)
        if not files:
            continue
        if target_of(folder.name, names) is None:
            unknown[folder.name] = len(files)
        else:
            known[folder.name] = files
    if not known:
        raise DataError(
            f"{root}: no audio in sub-folders named after known labels ({', '.join(names[:6])}"
            f", ...); expected <root>/<label>/*.wav"
        )
    return known, unknown


def read_groups(root: Path) -> dict[str, dict[str, str]]:
    """Optional `<root>/metadata.csv` (columns `path` + group columns such as accent) ->
    {relative path: {column: value}}: who spoke each file, for per-group accuracy."""
    path = Path(root) / "metadata.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {row.pop("path"): row for row in csv.DictReader(f) if row.get("path")}


def background_noise(root: Path) -> torch.Tensor:
    """1-second int16 pieces cut from `<root>/_background_noise_/*.wav` (empty when absent)."""
    pieces = []
    for path in sorted((Path(root) / "_background_noise_").glob("*.wav")):
        wav = audio.load_audio(path)
        n = wav.shape[0] // audio.SAMPLE_RATE * audio.SAMPLE_RATE
        if n:
            pieces.append(wav[:n].reshape(-1, audio.SAMPLE_RATE))
    if not pieces:
        return torch.zeros(0, audio.SAMPLE_RATE, dtype=torch.int16)
    return (torch.cat(pieces).clamp(-1, 1) * 32767).to(torch.int16)


def download_speech_commands(root: Path) -> Path:
    """Download and unpack Speech Commands v2 into `root` (torchaudio's URL, 2.3 GB)."""
    archive = download(
        SPEECH_COMMANDS_URL,
        root / Path(SPEECH_COMMANDS_URL).name,
        "Speech Commands",
        f"download {SPEECH_COMMANDS_URL} yourself, unpack it and pass --data.root FOLDER",
    )
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    return root


class KeywordDataModule(L.LightningDataModule):
    """The keyword clips (`--data.*`).

    Batches of (waveforms (B, 16000) float in [-1, 1], targets (B,)) from the chosen source.

    Args:
        source: espeak (embedded synthetic set), speechcommands (Google v2) or folder
            (<root>/<label>/).
        root: Folder of speechcommands/folder data (default: data/speech/SpeechCommands).
        download: speechcommands: download the 2.3 GB archive when root has no data.
        labels: 35 (all words), 12 (10 commands + _unknown_ + _silence_) or a comma-separated
            word list; the model's labels follow.
        train_per_word: espeak: training clips per word.
        val_per_word: espeak: validation clips per word.
        test_per_word: espeak: test clips per word (held-out voices).
        seed: espeak: generation seed.
        human_share: espeak: fraction of the training clips said by a human-derived neural
            voice (Piper's en_US-joe-medium, `speech.piper`) instead of eSpeak (0: eSpeak only).
        time_shift_ms: Training: random time shift of up to this many ms (the embedded clips
            already sit at a random place in their second; for recordings give 100).
        noise_prob: speechcommands/folder training: probability of mixing in background noise.
        silence_fraction: 12-class task: number of _silence_ clips as a fraction of each split.
        batch_size: Clips per batch.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        source: str = "espeak",
        root: str | None = None,
        download: bool = False,
        labels: str = "35",
        train_per_word: int = 240,
        val_per_word: int = 40,
        test_per_word: int = 60,
        seed: int = 0,
        human_share: float = 0.25,
        time_shift_ms: float = 0.0,
        noise_prob: float = 0.8,
        silence_fraction: float = 0.1,
        batch_size: int = 64,
        num_workers: int = 0,
    ):
        super().__init__()
        if source not in ("espeak", "speechcommands", "folder"):
            raise DataError(f"data.source={source!r}: use espeak, speechcommands or folder")
        per_word = {"train": train_per_word, "val": val_per_word, "test": test_per_word}
        if source == "espeak" and min(per_word.values()) < 1:  # an empty split crashed in setup
            empty = ", ".join(f"--data.{k}_per_word {n}" for k, n in per_word.items() if n < 1)
            raise DataError(f"{empty}: every split of the espeak set needs a clip per word or more")
        self.save_hyperparameters()
        self.names = class_names(labels)
        unheard = [n for n in self.names if n not in (*WORDS_35, UNKNOWN, SILENCE)]
        if unheard and source != "folder":  # else a class without a clip trained silently
            raise DataError(
                f"--data.labels: the {source} set has no clips of {', '.join(unheard)}; its words "
                f"are {', '.join(WORDS_35)} (other words: record them, --data.source folder)"
            )
        if SILENCE in self.names and silence_fraction <= 0:
            raise DataError(
                f"--data.silence_fraction {silence_fraction} leaves the {SILENCE} class without a "
                "clip: give a share above 0 (default 0.1)"
            )
        self.splits: dict[str, Dataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.hparams.source == "espeak":
            self.splits = self._espeak_splits()
        else:
            self.splits = self._file_splits()

    def synth_config(self) -> SynthConfig:
        """What the espeak source generates (and caches) for these settings."""
        hp = self.hparams
        return SynthConfig(
            hp.train_per_word,
            hp.val_per_word,
            hp.test_per_word,
            hp.seed,
            human_share=hp.human_share,
        )

    def _espeak_splits(self) -> dict[str, Dataset]:
        cfg = self.hparams
        synth = self.synth_config()
        words = [w for w in WORDS_35 if target_of(w, self.names) is not None]
        data = load_or_generate(synth, data_root(), words if words != WORDS_35 else None)
        clips = torch.from_numpy(data["clips"])
        targets = torch.tensor([target_of(w, self.names) for w in data["word"]])
        split = data["split"]
        shift = int(cfg.time_shift_ms * audio.SAMPLE_RATE / 1000)
        out = {}
        self._espeak = (synth, words, split)  # for attach_embeddings
        for name in ("train", "val", "test"):
            idx = torch.tensor([i for i, s in enumerate(split) if s == name])
            groups = {k: [data[k][i] for i in idx] for k in ("accent", "variant", "gender")}
            c, t = clips[idx], targets[idx]
            if SILENCE in self.names:
                c, t = self._add_silence(c, t, name)
                for k in groups:
                    groups[k] += ["(silence)"] * (len(t) - len(idx))
            out[name] = ClipDataset(c, t, groups, shift=shift if name == "train" else 0)
            if name == "train" and HUMAN_VOICE in groups["variant"]:  # for model.cnn_neural
                out[name].neural = torch.tensor([v == HUMAN_VOICE for v in groups["variant"]])
        return out

    def attach_embeddings(self, net) -> None:
        """Give each embedded split the frozen speech embedding of its (unshifted) clips, so that
        training does not run the frozen network on every step. Computed once and cached beside
        the clips (`embedding-v<N>.pt`, stamped: a damaged one is computed again); other sources
        compute it on the fly."""
        from speech import embedding

        self.setup()
        if self.hparams.source != "espeak" or self.hparams.time_shift_ms:
            return
        synth, words, split = self._espeak
        folder = cache_dir(synth, data_root(), words if words != WORDS_35 else None)
        path = folder / f"embedding-v{embedding.VERSION}.pt"
        names = ("train", "val", "test")
        clips = torch.cat([self.splits[n].clips[: split.count(n)] for n in names])
        cached = load_tensors(path, "speech embedding")
        if cached is None or cached.shape[0] != len(clips):
            print(f"speech: computing the speech embedding of {len(clips)} clips ...", flush=True)
            cached = embedding.embed_clips(net, clips)
            save_tensors(cached, path)
            path.with_suffix(".npy").unlink(missing_ok=True)  # the cache before it (18 MB)
        start = 0
        for name in names:
            data, n = self.splits[name], split.count(name)
            emb = cached[start : start + n]
            if len(data) > n:  # _silence_ clips of the 12-class task: not cached
                emb = torch.cat([emb, embedding.embed_clips(net, data.clips[n:])])
            data.embeddings, start = emb, start + n

    def _add_silence(self, clips, targets, split) -> tuple[torch.Tensor, torch.Tensor]:
        """Append `silence_fraction` background-only clips (coloured noise at random levels)."""
        hp = self.hparams
        n = max(1, int(hp.silence_fraction * len(targets)))  # none: an FFT of no clips failed
        gen = torch.Generator().manual_seed(hp.seed + ("train", "val", "test").index(split))
        noise = audio.coloured_noise(n, audio.SAMPLE_RATE, torch.rand(n, generator=gen) * 2, gen)
        level = 10 ** (torch.empty(n, 1).uniform_(-70, -25, generator=gen) / 20)
        silence = (noise * level).clamp(-1, 1).mul(32767).to(torch.int16)
        target = torch.full((n,), self.names.index(SILENCE))
        return torch.cat([clips, silence]), torch.cat([targets, target])

    def _file_splits(self) -> dict[str, Dataset]:
        cfg = self.hparams
        default = data_root() / "speech" / "SpeechCommands"
        root = Path(cfg.root) if cfg.root else default
        if cfg.source == "speechcommands" and not (root / "testing_list.txt").is_file():
            if not cfg.download:
                raise DataError(
                    f"{root}: no Speech Commands v2 here (testing_list.txt missing); pass "
                    f"--data.download true to fetch it, or --data.root FOLDER if you have it"
                )
            download_speech_commands(root)
        known, unknown = scan_folder(root, self.names)
        if unknown:
            print(f"speech: skipping labels the task does not know: {unknown}", flush=True)
        heard = {target_of(label, self.names) for label in known} | {target_of(SILENCE, self.names)}
        missing = [name for i, name in enumerate(self.names) if i not in heard]
        if missing:  # else their classes train on nothing, without a word
            print(
                f"speech: no recordings of {', '.join(missing)} under {root}: their classes get "
                "no clip (give --data.labels the words that have recordings)",
                flush=True,
            )
        if cfg.source == "speechcommands":
            val = set((root / "validation_list.txt").read_text().split())
            test = set((root / "testing_list.txt").read_text().split())

            def split_of(path: Path) -> str:
                rel = f"{path.parent.name}/{path.name}"
                return "val" if rel in val else "test" if rel in test else "train"
        else:

            def split_of(path: Path) -> str:
                return which_set(path.name)

        files: dict[str, list] = {"train": [], "val": [], "test": []}
        for label, paths in known.items():
            for p in paths:
                files[split_of(p)].append((p, target_of(label, self.names)))
        noise = background_noise(root)
        shift = int(cfg.time_shift_ms * audio.SAMPLE_RATE / 1000)
        out = {}
        for name, items in files.items():
            if not items:
                raise DataError(f"{root}: the {name} split is empty; add more recordings")
            paths, targets = [p for p, _ in items], [t for _, t in items]
            if SILENCE in self.names:  # one clip at least, as in _add_silence
                n = max(1, int(cfg.silence_fraction * len(items)))
                paths += [None] * n
                targets += [self.names.index(SILENCE)] * n
            train = name == "train"
            out[name] = FileDataset(
                paths,
                targets,
                shift if train else 0,
                noise if len(noise) and (train or SILENCE in self.names) else None,
                cfg.noise_prob if train else 0.0,
            )
        return out

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        data = self.splits[split]
        return DataLoader(
            data,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=self.hparams.num_workers,
            drop_last=shuffle and len(data) > self.hparams.batch_size,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
