"""Export the speech and blackjack networks to ONNX or TorchScript, checked against PyTorch.

    portfolio export speech --format onnx              # runs/export/speech.onnx (latest ckpt)
    portfolio export blackjack --format torchscript --ckpt CKPT --out q.pt

Speech: waveform (B, 16000) -> word logits, front end included; blackjack: observations (B, 3) ->
Q(stick), Q(hit); any batch size. The written file is loaded again and must agree with PyTorch to
1e-4 on inputs it was not traced with. It lands beside its checkpoint (`best.ckpt` -> `best.onnx`)
with the checkpoint's hash in its metadata (see DEVELOPERS.md). Each LightningModule says what
it exports (`export_network`, `example_inputs`). Torch is imported only where a network is built:
reading an export needs onnxruntime alone.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from common import registry
from common.cache import file_stamp
from common.checkpoints import find_checkpoint, load_trained
from common.demo import json_text, subcommand_main
from common.errors import UserError, command

if TYPE_CHECKING:
    import torch

EXPORTABLE = ("speech", "blackjack")
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4


class ExportError(UserError, RuntimeError):
    """An export that failed, differs from PyTorch's outputs, or cannot be read back."""


def beside(ckpt: Path, fmt: str = "onnx") -> Path:
    """Where the export of a checkpoint lives by default: `best.ckpt` -> `best.onnx`."""
    return Path(ckpt).with_suffix(FORMATS[fmt])


def open_session(path: Path, assignment: str = "ASSIGNMENT"):
    """An onnxruntime session of an exported file (threads: $OMP_NUM_THREADS, else all cores);
    an ExportError naming the file when it is missing or not a readable ONNX model."""
    import onnxruntime

    path = Path(path)
    again = f"`portfolio export {assignment} --ckpt CKPT` (it lands beside the checkpoint)"
    if not path.is_file():
        raise ExportError(f"{path} does not exist; write it with {again}")
    options = onnxruntime.SessionOptions()
    threads = os.environ.get("OMP_NUM_THREADS", "")
    options.intra_op_num_threads = int(threads) if threads.isdigit() else 0  # 0: all cores
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's errors derive from Exception alone
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ExportError(
            f"{path} is not a readable ONNX model ({detail}); export again with {again}"
        ) from None


def current(ckpt: Path, assignment: str) -> Path | None:
    """The ONNX export beside `ckpt` when it was made from this very checkpoint (the same size
    and hash in its metadata); None when there is none, or it is stale or unreadable."""
    path, ckpt = beside(ckpt), Path(ckpt)
    if not (path.is_file() and ckpt.is_file()):
        return None
    try:
        meta = open_session(path, assignment).get_modelmeta().custom_metadata_map
        stamp = json.loads(meta.get("mal2.checkpoint", "{}"))
    except (ExportError, ValueError):
        return None
    return path if stamp == file_stamp(ckpt) else None


def network(name: str, ckpt: Path, fmt: str = "torchscript") -> tuple:
    """(eval-mode network, input name, output names, extra ONNX metadata) that `fmt` exports of
    an assignment's checkpoint: its LightningModule's `export_network(fmt)` hook."""
    if name not in EXPORTABLE:
        raise ExportError(f"cannot export {name!r}; exportable: {', '.join(EXPORTABLE)}")
    return load_trained(name, ckpt).module.export_network(fmt)


def example_inputs(name: str, batch: int, seed: int = 0) -> torch.Tensor:
    """Inputs of the right kind to trace and check an export: the LightningModule's
    `example_inputs(batch, seed)` (speech-like noise bursts, valid blackjack observations)."""
    return registry.get(name).module_class().example_inputs(batch, seed)


def export(name: str, fmt: str, ckpt: Path | None = None, out: Path | None = None) -> dict:
    """Write the network of `ckpt` (default: latest checkpoint) as `fmt`, by default beside the
    checkpoint (`best.ckpt` -> `best.onnx`); check it against PyTorch; report."""
    import torch

    if name not in EXPORTABLE:
        raise ExportError(f"cannot export {name!r}; exportable: {', '.join(EXPORTABLE)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    ckpt = Path(ckpt) if ckpt else find_checkpoint(name)
    out = Path(out) if out else beside(ckpt, fmt)
    if out.suffix != FORMATS[fmt]:
        raise ExportError(f"--out {out} should end in {FORMATS[fmt]} for {fmt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    net, input_name, names, extra = network(name, ckpt, fmt)
    meta = {"mal2.assignment": name, "mal2.checkpoint": json.dumps(file_stamp(ckpt)), **extra}
    trace_input = example_inputs(name, 2, seed=0)
    with torch.no_grad(), warnings.catch_warnings():
        if fmt == "onnx":
            # TorchScript's exporter (a trace), not torch.export's (dynamo=True): the speech
            # network in about 1.5 s instead of 10-13 s (its capture, decompositions and
            # onnxscript's optimiser), as close to PyTorch (the model card's "Training time")
            warnings.filterwarnings("ignore", "Constant folding", UserWarning)  # strided slices
            warnings.simplefilter("ignore", DeprecationWarning)  # it is deprecated (torch 2.9)
            torch.onnx.export(
                net,
                (trace_input,),
                str(out),
                input_names=[input_name],
                output_names=names,
                dynamic_axes={input_name: {0: "batch"}, **{n: {0: "batch"} for n in names}},
                dynamo=False,  # one file, weights inside (under 2 GB)
            )
            import onnx

            written = onnx.load(str(out))
            onnx.helper.set_model_props(written, meta)  # whose network, which checkpoint
            onnx.save(written, str(out))
        else:
            torch.jit.save(torch.jit.trace(net, trace_input), str(out))
    check = example_inputs(name, 7, seed=1)  # another batch size and other values
    with torch.no_grad():
        expected = [t.numpy() for t in _as_tuple(net(check))]
    x = check.numpy()
    got = [run_exported(out, x)] + [run_exported(out, x, i) for i in range(1, len(expected))]
    diff = max(float(abs(g - e).max()) for g, e in zip(got, expected, strict=True))
    result = {
        "assignment": name,
        "checkpoint": str(ckpt),
        "format": fmt,
        "file": str(out),
        "input": f"{input_name} {list(check.shape[1:])} {check.dtype}".replace("torch.", ""),
        "output": ", ".join(f"{n} {list(e.shape[1:])}" for n, e in zip(names, expected)),
        "max_abs_diff": diff,
        "tolerance": TOLERANCE,
    }
    if not diff <= TOLERANCE:
        raise ExportError(f"{out} differs from PyTorch by {diff:.3g} (> {TOLERANCE}): {result}")
    return result


def _as_tuple(outputs) -> tuple:
    return outputs if isinstance(outputs, tuple) else (outputs,)


def run_exported(path: Path, inputs, output: int = 0):
    """Output number `output` of an exported file on a NumPy batch (onnxruntime or torch.jit,
    by suffix)."""
    path = Path(path)
    if path.suffix == ".onnx":
        session = open_session(path)
        return session.run(None, {session.get_inputs()[0].name: inputs})[output]
    import torch

    module = torch.jit.load(str(path))
    with torch.no_grad():
        return _as_tuple(module(torch.from_numpy(inputs)))[output].numpy()


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("assignment", choices=EXPORTABLE, help="whose network to export")
    parser.add_argument(
        "--format", choices=list(FORMATS), default="onnx", help="file format (default: onnx)"
    )
    parser.add_argument("--ckpt", type=Path, help="checkpoint (default: the latest run's best)")
    parser.add_argument(
        "--out", type=Path, help="output (default: beside the checkpoint, best.ckpt -> best.onnx)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    result = export(args.assignment, args.format, args.ckpt, args.out)
    print(json_text(result))
    return 0


main = subcommand_main("export", __doc__, add_arguments, run)

if __name__ == "__main__":
    command(main)
