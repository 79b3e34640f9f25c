"""Export the speech and blackjack networks to ONNX or TorchScript, checked against PyTorch.

    portfolio export speech --format onnx              # runs/export/speech.onnx (latest ckpt)
    portfolio export blackjack --format torchscript --ckpt CKPT --out q.pt

The speech network is exported whole, from the 16 kHz waveform (B, 16000) to the word logits
(log-mel front end included); the blackjack network from integer observations (B, 3) =
(player_sum, dealer_card, usable_ace) to Q(stick), Q(hit). Both take any batch size. After
writing, the file is loaded again (onnxruntime for ONNX, torch.jit for TorchScript) and its
outputs are compared with PyTorch's on inputs it was not traced with: they must agree to 1e-4.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from common.checkpoints import find_checkpoint, load_trained
from common.demo import subcommand_main
from common.errors import UserError, command
from common.paths import runs_root

EXPORTABLE = ("speech", "blackjack")
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4


class ExportError(UserError, RuntimeError):
    """An export that failed or whose outputs differ from PyTorch's."""


def network(name: str, ckpt: Path) -> tuple[torch.nn.Module, str, str]:
    """(plain eval-mode network, input name, output name) of an assignment's checkpoint."""
    if name == "speech":
        return load_trained(name, ckpt).module.model.eval(), "waveform", "logits"
    if name == "blackjack":
        return load_trained(name, ckpt).module.net.eval(), "observation", "q_values"
    raise ExportError(f"cannot export {name!r}; exportable: {', '.join(EXPORTABLE)}")


def example_inputs(name: str, batch: int, seed: int = 0) -> torch.Tensor:
    """Inputs of the right kind: speech-like noise bursts, or valid blackjack observations."""
    g = torch.Generator().manual_seed(seed)
    if name == "speech":
        t = torch.arange(16000) / 16000
        tone = torch.sin(2 * torch.pi * (200 + 800 * torch.rand(batch, 1, generator=g)) * t)
        return 0.3 * tone * torch.rand(batch, 1, generator=g) + 0.05 * torch.randn(
            batch, 16000, generator=g
        )  # (B, 16000)
    from blackjack.rules import observations

    obs = torch.tensor(observations())  # (280, 3) every decision observation
    return obs[torch.randint(len(obs), (batch,), generator=g)]


def export(name: str, fmt: str, ckpt: Path | None = None, out: Path | None = None) -> dict:
    """Write the network of `ckpt` (default: latest checkpoint) as `fmt`; check it; report."""
    if name not in EXPORTABLE:
        raise ExportError(f"cannot export {name!r}; exportable: {', '.join(EXPORTABLE)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    ckpt = Path(ckpt) if ckpt else find_checkpoint(name)
    out = Path(out) if out else runs_root() / "export" / f"{name}{FORMATS[fmt]}"
    if out.suffix != FORMATS[fmt]:
        raise ExportError(f"--out {out} should end in {FORMATS[fmt]} for {fmt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    net, input_name, output_name = network(name, ckpt)
    trace_input = example_inputs(name, 2, seed=0)
    with torch.no_grad():
        if fmt == "onnx":
            torch.onnx.export(
                net,
                (trace_input,),
                str(out),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                dynamo=True,
                external_data=False,  # one file, weights inside
            )
        else:
            torch.jit.save(torch.jit.trace(net, trace_input), str(out))
    check = example_inputs(name, 7, seed=1)  # another batch size and other values
    with torch.no_grad():
        expected = net(check).numpy()
    got = run_exported(out, check.numpy())
    diff = float(abs(got - expected).max())
    result = {
        "assignment": name,
        "checkpoint": str(ckpt),
        "format": fmt,
        "file": str(out),
        "input": f"{input_name} {list(check.shape[1:])} {check.dtype}".replace("torch.", ""),
        "output": f"{output_name} {list(expected.shape[1:])}",
        "max_abs_diff": diff,
        "tolerance": TOLERANCE,
    }
    if not diff <= TOLERANCE:
        raise ExportError(f"{out} differs from PyTorch by {diff:.3g} (> {TOLERANCE}): {result}")
    return result


def run_exported(path: Path, inputs):
    """Outputs of an exported file on a NumPy batch (onnxruntime or torch.jit, by suffix)."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: inputs})[0]
    module = torch.jit.load(str(path))
    with torch.no_grad():
        return module(torch.from_numpy(inputs)).numpy()


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("assignment", choices=EXPORTABLE, help="whose network to export")
    parser.add_argument(
        "--format", choices=list(FORMATS), default="onnx", help="file format (default: onnx)"
    )
    parser.add_argument("--ckpt", type=Path, help="checkpoint (default: the latest run's best)")
    parser.add_argument("--out", type=Path, help="output (default: runs/export/<assignment>.*)")
    return parser


def run(args: argparse.Namespace) -> int:
    result = export(args.assignment, args.format, args.ckpt, args.out)
    print(json.dumps(result, indent=2))
    return 0


main = subcommand_main("export", __doc__, add_arguments, run)

if __name__ == "__main__":
    command(main)
