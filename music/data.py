"""Piano-roll data: music21's Bach chorales (embedded default), the JSB Chorales pickle, or any
folder of MIDI files; cached once as notes, cut into rolls on the chosen grid, split by piece."""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from common.batching import BucketSampler
from common.cache import NPZ_DAMAGE, download, replacing
from common.errors import ConfigError, DataError
from common.paths import data_root
from common.workers import worker_pool
from music import midi

CACHE_VERSION = 1
JSB_URL = "http://www-etud.iro.umontreal.ca/~boulanni/JSB%20Chorales.pickle"
JSB_SPLITS = ("train", "valid", "test")
JSB_REQUIRED = ("train", "valid")  # the test split may be held out
SOURCES = ("chorales", "jsb", "midi")
MIDI_SUFFIXES = {".mid", ".midi", ".kar"}
TRAIN_POOL = 8  # training batches from pools of 8 sorted by length: less padding (model card)


# ---- JSB Chorales: an untrusted pickle ------------------------------------------------------


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers, strings and numbers only.

    Every class or function a pickle names goes through `find_class`; refusing all of them means
    a pickle cannot make Python call anything (the classic `os.system` payload included).
    """

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(
            f"the pickle asks for {module}.{name}; only lists, tuples, dicts, strings and numbers "
            "are allowed in a data file"
        )

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("the pickle uses persistent ids; not allowed in a data file")


def load_jsb(path: str | Path) -> dict[str, list[np.ndarray]]:
    """The JSB Chorales pickle as {"train"|"valid"|"test": [(T, 88) bool roll, ...]}.

    The file (Boulanger-Lewandowski et al. 2012) holds lists of pieces, each a list of time steps
    (tuples of MIDI pitches, quarter-note grid). A file without `test` (held out for acceptance)
    loads with a warning, and the result then has no "test" key.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"JSB pickle {path} does not exist; give --data.path FILE")
    try:
        data = RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise DataError(f"refusing to load {path}: {err}") from None
    except Exception as err:
        raise DataError(
            f"{path} is not a readable pickle ({type(err).__name__}: {err}); "
            "give the JSB Chorales pickle"
        ) from None
    if not isinstance(data, dict) or not set(JSB_REQUIRED) <= set(data):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise DataError(
            f"{path} should hold a dict with keys train, valid and (optionally) test, the JSB "
            f"Chorales format; found {keys}"
        )
    if "test" not in data:
        warnings.warn(
            f"{path} has no 'test' split (it is held out): train and valid only; "
            "scores on --split test are not available from this file",
            stacklevel=2,
        )
    out = {}
    for split in (s for s in JSB_SPLITS if s in data):
        pieces = data[split]
        if not isinstance(pieces, (list, tuple)) or not pieces:
            raise DataError(f"{path}: '{split}' should be a non-empty list of pieces")
        rolls = []
        for i, piece in enumerate(pieces):
            try:
                ok = isinstance(piece, (list, tuple)) and all(
                    isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 128
                    for step in piece
                    for p in step
                )
            except TypeError:
                ok = False
            if not ok or not piece:
                raise DataError(
                    f"{path}: {split} piece {i} is not a list of time steps of MIDI pitches "
                    "(numbers 0..127)"
                )
            rolls.append(midi.pitches_to_roll(piece))
        out[split] = rolls
    return out


def download_jsb() -> Path:
    """The JSB Chorales pickle, fetched into data/music/ once."""
    return download(
        JSB_URL,
        data_root() / "music" / "jsb.pickle",
        "the JSB Chorales pickle",
        "when offline, get 'JSB Chorales.pickle' on another machine and pass --data.path FILE",
    )


# ---- note collections, cached -----------------------------------------------------------------


def _save_collection(path: Path, names: list[str], notes: list[np.ndarray]) -> None:
    offsets = np.cumsum([0] + [len(n) for n in notes])
    flat = np.concatenate(notes) if notes else np.zeros((0, 3), np.float64)
    with replacing(path) as f:
        np.savez(f, version=CACHE_VERSION, names=np.array(names), notes=flat, offsets=offsets)


def _load_collection(path: Path) -> tuple[list[str], list[np.ndarray]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != CACHE_VERSION:
                return None
            names, flat, offsets = list(z["names"]), z["notes"], z["offsets"]
    except NPZ_DAMAGE as err:
        print(f"music: the cache {path} is damaged ({err}); parsing again", flush=True)
        return None
    return [str(n) for n in names], [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def chorale_paths() -> list[Path]:
    """The Bach chorales shipped in music21's corpus (bwv*.mxl), in a fixed order."""
    from music21 import corpus

    return sorted(
        (Path(p) for p in corpus.getComposer("bach") if Path(p).name.startswith("bwv")),
        key=lambda p: p.name,
    )


def parse_chorale(path: Path) -> np.ndarray:
    """(N, 3) notes of a chorale: pitch, start and end in quarter notes (all parts, ties kept
    as separate notes; the roll merges them)."""
    from music21 import converter

    score = converter.parse(str(path))
    rows = []
    for part in score.parts:
        for element in part.flatten().notes:
            length = float(element.quarterLength)
            if length <= 0:  # grace notes
                continue
            start = float(element.offset)
            for pitch in element.pitches:
                rows.append((pitch.midi, start, start + length))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def load_chorales(max_pieces: int | None = None, processes: int = 2) -> tuple[list, list]:
    """Names and notes of the first `max_pieces` (or all) of music21's Bach chorales, parsed once
    and cached in data/music/; a run that wants more than the cache holds parses only the rest."""
    cache = data_root() / "music" / f"chorales_v{CACHE_VERSION}.npz"
    names, notes = _load_collection(cache) or ([], [])
    stop = max_pieces or None
    if stop and len(names) >= stop:
        return names[:stop], notes[:stop]
    paths = chorale_paths()
    if not paths:
        raise DataError("music21's corpus holds no Bach chorales; reinstall music21")
    subset = paths[len(names) : stop]
    if not subset:
        return names, notes
    if len(subset) > 20 and processes > 1:
        with worker_pool(processes) as pool:
            notes += pool.map(parse_chorale, subset, chunksize=8)
    else:
        notes += [parse_chorale(p) for p in subset]
    names += [p.stem for p in subset]
    _save_collection(cache, names, notes)  # a quick run's pieces too: parsed once, not each run
    return names, notes


def load_midi_folder(folder: str | Path) -> tuple[list[str], list[np.ndarray]]:
    """Names and notes of every usable MIDI file under `folder` (drum tracks dropped).

    Unreadable or empty files are skipped and listed in one warning. The result is cached under
    data/music/, keyed by the files' paths, sizes and modification times.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"MIDI folder {folder} does not exist; give --data.path FOLDER")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise DataError(f"no .mid/.midi files under {folder}; give a folder of MIDI files")
    stamp = hashlib.sha1()
    for f in files:
        st = f.stat()
        stamp.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    cache = data_root() / "music" / f"midi_{stamp.hexdigest()[:16]}_v{CACHE_VERSION}.npz"
    loaded = _load_collection(cache)
    if loaded is not None:
        return loaded
    names, notes, skipped = [], [], []
    for f in files:
        name = str(f.relative_to(folder))
        try:
            pm = midi.load_midi(f)
        except midi.MidiError as err:
            skipped.append(f"{name}: {err}")
        else:
            names.append(name)
            notes.append(np.array(midi.midi_to_notes(pm), dtype=np.float64).reshape(-1, 3))
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} of {len(files)} MIDI files under {folder}:\n  "
            + "\n  ".join(skipped),
            stacklevel=2,
        )
    if not names:
        raise DataError(f"none of the {len(files)} MIDI files under {folder} could be used")
    _save_collection(cache, names, notes)
    return names, notes


def split_by_piece(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict:
    """Indices of the train/valid/test pieces: a fixed random permutation, cut by fraction."""
    if n < 3:
        raise DataError(f"need at least 3 pieces to split into train/valid/test, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(n * val_fraction))
    n_test = max(1, round(n * test_fraction))
    if n_val + n_test >= n:  # the training split would be empty: a run of 0 epochs
        raise DataError(
            f"{n} pieces leave none to train on after {n_val} for validation and {n_test} for "
            "testing; lower --data.val_fraction or --data.test_fraction, or give more pieces"
        )
    return {
        "valid": order[:n_val],
        "test": order[n_val : n_val + n_test],
        "train": order[n_val + n_test :],
    }


# ---- datasets ---------------------------------------------------------------------------------


class PianoRollDataset(Dataset):
    """Training pieces: a random crop of at most `seq_len` steps, randomly transposed."""

    def __init__(self, rolls: list[np.ndarray], seq_len: int, transpose: int):
        self.rolls = [r for r in rolls if len(r) > 1]
        self.seq_len, self.transpose = seq_len, transpose
        self.ranges = [midi.transpose_range(r) for r in self.rolls]

    def __len__(self) -> int:
        return len(self.rolls)

    def __getitem__(self, i: int) -> torch.Tensor:
        roll = self.rolls[i]
        if len(roll) > self.seq_len:
            start = int(torch.randint(len(roll) - self.seq_len + 1, ()))
            roll = roll[start : start + self.seq_len]
        if self.transpose:
            down, up = self.ranges[i]
            low, high = max(-self.transpose, down), min(self.transpose, up)
            roll = midi.transpose(roll, int(torch.randint(low, high + 1, ())))
        return torch.from_numpy(np.ascontiguousarray(roll)).float()  # (T, 88)

    def lengths(self) -> list[int]:
        """Steps of every item (after the crop), for batching by length."""
        return [min(len(r), self.seq_len) for r in self.rolls]


class WindowDataset(Dataset):
    """Evaluation pieces, whole, or in consecutive windows of `eval_len` steps when longer."""

    def __init__(self, rolls: list[np.ndarray], eval_len: int):
        self.windows = [
            roll[s : s + eval_len] for roll in rolls for s in range(0, len(roll), eval_len)
        ]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.windows[i])).float()

    def lengths(self) -> list[int]:
        return [len(w) for w in self.windows]


def pad_collate(rolls: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad pieces to the longest: rolls (B, T, 88) and a mask (B, T) of real steps."""
    mask = [torch.ones(len(r), dtype=torch.bool) for r in rolls]
    return pad_sequence(rolls, batch_first=True), pad_sequence(mask, batch_first=True)


class MusicDataModule(L.LightningDataModule):
    """Piano rolls for training, validation and testing (`--data.*`).

    Args:
        source: chorales (music21's Bach corpus), jsb (the pickle) or midi (a folder).
        path: JSB pickle file or MIDI folder; for jsb without a path the pickle is downloaded.
        steps_per_quarter: Grid points per quarter note (1: the benchmark's grid).
        transpose: Training pieces are shifted by a random number of semitones, up to this.
        seq_len: Training crops: pieces longer than this many steps are cut at a random place.
        eval_len: Validation and test pieces are scored in windows of at most this many steps.
        batch_size: Pieces per batch.
        val_fraction: Share of pieces held out for validation, from 0 to below 1 (chorales and
            MIDI folders; one piece at least, also for 0).
        test_fraction: Share of pieces held out for testing, from 0 to below 1 - val_fraction
            (chorales and MIDI folders; one piece at least, also for 0).
        split_seed: Seed of the split by piece (independent of the training seed).
        max_pieces: Use only the first pieces of the collection (quick runs and tests).
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        source: str = "chorales",
        path: str | None = None,
        steps_per_quarter: int = 1,
        transpose: int = 5,
        seq_len: int = 128,
        eval_len: int = 1024,
        batch_size: int = 16,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        max_pieces: int | None = None,
        num_workers: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if source not in SOURCES:
            raise DataError(f"unknown data source {source!r}; choose one of {', '.join(SOURCES)}")
        if source == "midi" and not path:
            raise DataError("--data.source midi needs --data.path FOLDER")
        if steps_per_quarter < 1:
            raise DataError(f"steps_per_quarter must be 1 or more, got {steps_per_quarter}")
        for name, share in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0 <= share < 1:  # a negative share held out one piece, 1 or more all of them
                raise ConfigError(f"--data.{name} {share}: give a share from 0 to below 1")
        if val_fraction + test_fraction >= 1:
            raise ConfigError(
                f"--data.val_fraction {val_fraction} and --data.test_fraction {test_fraction} "
                "hold out every piece; keep their sum below 1"
            )
        self.rolls: dict[str, list[np.ndarray]] | None = None

    @property
    def steps_per_quarter(self) -> int:
        return self.hparams.steps_per_quarter

    def load(self) -> dict[str, list[np.ndarray]]:
        """{"train"|"valid"|"test": [(T, 88) bool roll, ...]}, loaded once."""
        if self.rolls is not None:
            return self.rolls
        c = self.hparams
        if c.source == "jsb":
            if c.steps_per_quarter != 1:
                raise DataError(
                    "the JSB Chorales pickle is on a quarter-note grid: use "
                    "--data.steps_per_quarter 1"
                )
            path = Path(c.path) if c.path else download_jsb()
            rolls = load_jsb(path)
            if c.max_pieces:
                rolls = {k: v[: c.max_pieces] for k, v in rolls.items()}
        else:
            if c.source == "chorales":
                names, notes = load_chorales(c.max_pieces)
            else:
                names, notes = load_midi_folder(c.path)
                names, notes = names[: c.max_pieces], notes[: c.max_pieces]
            pieces = [midi.notes_to_roll(n, c.steps_per_quarter) for n in notes]
            split = split_by_piece(len(pieces), c.val_fraction, c.test_fraction, c.split_seed)
            rolls = {k: [pieces[i] for i in idx] for k, idx in split.items()}
        self.rolls = rolls
        return rolls

    def prepare_data(self) -> None:
        self.load()  # parse and cache once, before any worker starts

    def setup(self, stage: str | None = None) -> None:
        rolls = self.load()
        c = self.hparams
        self.train_set = PianoRollDataset(rolls["train"], c.seq_len, c.transpose)
        self.val_set = WindowDataset(rolls["valid"], c.eval_len)
        # a JSB file without its held-out test split tests on nothing (load_jsb said so)
        self.test_set = WindowDataset(rolls.get("test", []), c.eval_len)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        # --seed_everything sets torch's initial seed, and a resumed run gets the same one
        seed = torch.initial_seed() % 2**31 if shuffle else 0
        pool = TRAIN_POOL if shuffle else len(dataset)  # evaluation: one pool, least padding
        sampler = BucketSampler(dataset.lengths(), self.hparams.batch_size, shuffle, seed, pool)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=pad_collate,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
