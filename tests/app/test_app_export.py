"""`portfolio export`: ONNX and TorchScript files that give PyTorch's outputs (to 1e-4)."""

from __future__ import annotations

import json

import pytest
import torch

from common import export


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", ["speech", "blackjack"])
def test_export_round_trip_matches_pytorch(tiny_runs, tmp_path, name, fmt):
    out = tmp_path / f"{name}{export.FORMATS[fmt]}"
    result = export.export(name, fmt, out=out)
    assert result["max_abs_diff"] <= 1e-4 and out.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # one file, the weights inside
    # an independent check on other inputs, batch of one: the file alone reproduces the network
    net, *_ = export.network(name, tiny_runs / name / "tiny" / "checkpoints" / "best.ckpt")
    x = export.example_inputs(name, 1, seed=5)
    with torch.no_grad():
        expected = net(x).numpy()
    got = export.run_exported(out, x.numpy())
    assert got.shape == expected.shape and abs(got - expected).max() <= 1e-4


def test_export_refuses_a_file_that_differs_from_pytorch(tiny_runs, tmp_path, monkeypatch):
    real = export.run_exported
    monkeypatch.setattr(export, "run_exported", lambda path, x: real(path, x) + 1e-3)
    with pytest.raises(export.ExportError, match="differs from PyTorch"):
        export.export("blackjack", "torchscript", out=tmp_path / "q.pt")


def test_portfolio_export_command(tiny_runs, tmp_path, capsys):
    from common.portfolio import main

    main(["export", "blackjack", "--format", "onnx", "--out", str(tmp_path / "q.onnx")])
    out = capsys.readouterr().out
    result = json.loads(out[out.index('{\n  "assignment"') :])
    assert result["file"] == str(tmp_path / "q.onnx") and (tmp_path / "q.onnx").is_file()
    with pytest.raises(SystemExit, match="should end in .onnx"):
        main(["export", "blackjack", "--format", "onnx", "--out", str(tmp_path / "q.pt")])
    with pytest.raises(SystemExit):
        main(["export", "music"])
