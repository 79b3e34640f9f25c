"""Smoke tests through the real entry points: train (tiny budget), write, evaluate, portfolio,
and the bad inputs a student may type at the exam."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--config", str(ROOT / "handwriting/configs/quick.yaml"),
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3",
    "--data.n_train", "96", "--data.n_val", "16", "--data.max_chars", "8",
    "--model.hidden_size", "16", "--model.n_mixtures", "2", "--model.n_window", "2",
]  # fmt: skip


def run(module: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny synthesis run through `python -m handwriting.train`, shared by the tests, as on a
    CPU with native bf16 (`MAL2_BF16=1`): handwriting trains in float32 there too."""
    tmp = tmp_path_factory.mktemp("hw")
    env = {**os.environ, "MAL2_RUNS": str(tmp / "runs"), "MAL2_DATA": str(tmp / "data"),
           "PYTHONPATH": str(ROOT), "MAL2_BF16": "1"}  # fmt: skip
    env.pop("MAL2_RUN_NAME", None)
    proc = run("handwriting.train", *TINY, "--run.name", "tiny", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp / "runs" / "handwriting" / "tiny"
    return {
        "env": env,
        "run_dir": run_dir,
        "ckpt": run_dir / "checkpoints" / "best.ckpt",
        "tmp": tmp,
        "stderr": proc.stderr,
    }


def test_training_writes_run_folder_and_artifacts(trained):
    run_dir = trained["run_dir"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["monitor"] == "val/nll" and summary["best_score"] > 0
    # float32 though the CPU counts as one with native bf16 (MAL2_BF16=1): one model on every CPU
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["trainer"]["precision"] in (None, "32-true", "32")
    for name in ("checkpoints/best.ckpt", "metrics.csv", "samples.png", "attention.png"):
        assert (run_dir / name).is_file(), name
    assert list((trained["tmp"] / "data" / "handwriting").glob("hershey-v*.pt"))  # cached
    assert "--model.styles" not in trained["stderr"]  # every default style writes lines


def test_write_png_svg_attention_and_wrapping(trained, tmp_path, capsys):
    from handwriting.write import main

    out = tmp_path / "out.png"
    main(["Hello, exam 42!", "--ckpt", str(trained["ckpt"]), "-o", str(out),
          "--attention", str(tmp_path / "attn.png"), "--style", "cleo"])  # fmt: skip
    assert out.stat().st_size > 1000 and (tmp_path / "attn.png").is_file()
    text = "one two three four five six seven eight nine ten eleven twelve"
    main([text, "--ckpt", str(trained["ckpt"]), "-o", str(tmp_path / "long.svg"),
          "--line-chars", "20"])  # fmt: skip
    assert "wrote 4 line(s)" in capsys.readouterr().out
    assert (tmp_path / "long.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "args, message",
    [
        (["café € ½"], "cannot write these characters: '€' '½';"),  # é is written as e
        (["   "], "no text to write"),
        (["hi", "--style", "zorro"], "unknown style 'zorro'"),
        (["hi", "-o", "out.jpg"], "must end in .png or .svg"),
        (["€€", "--drop-unknown"], "nothing left to write"),
    ],
)
def test_write_bad_input_gives_a_clear_error(trained, args, message):
    from handwriting.write import main

    with pytest.raises(SystemExit) as err:
        main([*args, "--ckpt", str(trained["ckpt"])])
    assert message in str(err.value)


@pytest.mark.parametrize("flag, name", [("--attention", "att.txt"), ("--animate", "pen.mp4")])
def test_write_refuses_an_extra_it_cannot_save_before_writing(trained, tmp_path, flag, name):
    """--attention att.txt and --animate pen.mp4 failed in matplotlib / Pillow after the
    handwriting itself was written; now refused first, and nothing is written."""
    from handwriting.write import main

    out = tmp_path / "hi.png"
    with pytest.raises(SystemExit) as err:
        main(["hi", "--ckpt", str(trained["ckpt"]), "-o", str(out), flag, str(tmp_path / name)])
    assert err.value.code == 2 and f"{flag} {tmp_path / name}: cannot write" in str(err.value)
    assert not out.exists()


def test_write_drop_unknown_and_missing_checkpoint(trained, tmp_path):
    from handwriting.write import main

    assert (
        main(
            [
                "café ½",
                "--drop-unknown",
                "--ckpt",
                str(trained["ckpt"]),
                "-o",
                str(tmp_path / "c.png"),
            ]
        )
        == 0
    )
    with pytest.raises(SystemExit, match="does not exist"):
        main(["hi", "--ckpt", str(tmp_path / "nope.ckpt")])


def test_write_list_styles_names_the_fonts(capsys):
    from handwriting.hershey import WRITERS
    from handwriting.write import main

    main(["--list-styles"])
    rows = [line.split(maxsplit=4) for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["style", "font", "kind", "slant", "width"]
    assert [row[:3] for row in rows[1:6]] == [
        ["ada", "futural", "print"],
        ["ben", "rowmans", "print"],
        ["cleo", "timesi", "print"],
        ["dora", "scripts", "script"],
        ["emil", "cursive", "script"],
    ]
    for row in rows[1:6]:  # slant and width as the writer has them
        writer = WRITERS[row[0]]
        assert row[3:] == [f"{writer.slant:+.2f}", f"{writer.width:.2f}"]
    assert rows[6:] == [["none", "-", "-", "the", "model picks a hand itself (no priming)"]]


@pytest.mark.parametrize(
    "flag, value", [("--bias", "nan"), ("--bias", "-1"), ("--max-batches", "0"),
                    ("--max-batches", "-1"), ("--proxy-texts", "-1")],
)  # fmt: skip
def test_evaluate_refuses_values_that_cannot_work(flag, value, capsys):
    """--bias nan broke the sampler (RuntimeError), --max-batches 0 divided by zero and -1
    broke islice, all with a traceback; --bias -1 and --proxy-texts -1 ran as if sensible."""
    from handwriting.evaluate import main

    with pytest.raises(SystemExit) as stop:
        main([flag, value])
    assert stop.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


@pytest.mark.parametrize(("styles", "said"), [("", "--styles names no style"),
                                              ("ada,zed", "unknown --styles ['zed']")])  # fmt: skip
def test_evaluate_names_what_is_wrong_with_styles(styles, said, capsys):
    from handwriting.evaluate import main

    with pytest.raises(SystemExit) as stop:
        main(["--styles", styles])
    assert stop.value.code == 2 and f"{said}; choose from ada" in capsys.readouterr().err


def test_evaluate_prints_json(trained, tmp_path):
    proc = run("handwriting.evaluate", "--ckpt", str(trained["ckpt"]), "--phrases", "2",
               "--seeds", "2", "--styles", "ada,cleo", "--proxy-texts", "2",
               "--candidates", "2", "--out", str(tmp_path), env=trained["env"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert printed == json.loads((tmp_path / "evaluation.json").read_text())
    assert list(printed) == ["assignment", "checkpoint", "data", "metrics", "files"]
    assert printed["checkpoint"] == str(trained["ckpt"]) and printed["data"] == "hershey:val"
    assert printed["files"] == {
        "samples": str(tmp_path),
        "report": str(tmp_path / "evaluation.json"),
    }
    report = printed["metrics"]
    assert 0 < report["val_nll_per_point"] < 20 and report["val_lines"] == 16
    # scored as in training (each line with its writer): the one validation batch's val/nll
    summary = json.loads((trained["run_dir"] / "summary.json").read_text())
    assert abs(report["val_nll_per_point"] - summary["best_score"]) < 1e-3
    judged = report["ocr"]["per_style"]
    assert set(judged) == {"ada", "cleo"} and report["ocr"]["phrases"] == 2
    assert report["ocr"]["candidates"] == 2
    for style in judged.values():  # a scribbling tiny model: OCR reads next to nothing
        assert style["cer"]["min"] <= style["cer"]["mean"] <= style["cer"]["max"]
        assert style["cer"]["mean"] > 0.5 and style["floor"]["cer"] < 0.2
    assert len(report["ocr"]["exam_line"]["ocr"]) == 2
    assert set(report["shape_proxy"]["per_style"]) == {"ada", "cleo"}
    assert (tmp_path / "ocr_ada.png").is_file() and (tmp_path / "proxy_ada.png").is_file()


def test_portfolio_demo_uses_the_exam_args(trained):
    proc = run("common.portfolio", "demo", "handwriting", env=trained["env"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    demo = trained["tmp"] / "runs" / "demo" / "handwriting"
    assert (demo / "handwriting.png").is_file() and (demo / "attention.png").is_file()


def test_bad_data_source_is_a_clear_error(trained):
    proc = run("handwriting.train", *TINY, "--data.source", "iamondb", env=trained["env"])
    assert proc.returncode != 0 and "--data.path DIR" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_data_alphabet_is_the_network_s_alphabet(trained, tmp_path):
    """--data.alphabet sets the network's one-hot alphabet (linked: --model.alphabet is not an
    option of its own), and the checkpoint writes just those characters."""
    from handwriting.write import main

    lower = " abcdefghijklmnopqrstuvwxyz"
    env = {**trained["env"], "MAL2_RUNS": str(tmp_path / "runs")}
    proc = run("handwriting.train", *TINY, "--data.alphabet", lower, "--run.name", "low", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "handwriting" / "low"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["data"]["alphabet"] == lower and "alphabet" not in config["model"]
    ckpt = str(run_dir / "checkpoints" / "best.ckpt")
    assert main(["hello exam", "--ckpt", ckpt, "-o", str(tmp_path / "low.png")]) == 0
    with pytest.raises(SystemExit) as err:
        main(["Hello", "--ckpt", ckpt])
    assert "cannot write these characters: 'H'" in str(err.value)
    proc = run("handwriting.train", *TINY, "--model.alphabet", "abc", env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_styles_that_write_no_training_line_are_named_in_a_warning(tmp_path, monkeypatch):
    """--model.styles names without a training line (a typo, or IAM-OnDB's unnamed writers)
    leave their embeddings untrained: the run says so, and trains on."""
    from handwriting.train import main

    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "data"))
    args = [*TINY, "--run.root", str(tmp_path), "--run.test", "false"]
    with pytest.warns(UserWarning, match="no training line is by alice, bob, so their"):
        main([*args, "--model.styles", "[ada, alice, bob]", "--run.name", "typo"])
    # the default styles, the synthetic writers' own names: no warning (the `trained` run)


def test_write_paragraph_breaks_lines_and_writes_each_in_the_style(
    trained, tmp_path, capsys, monkeypatch
):
    from handwriting.config import CANDIDATES
    from handwriting.module import HandwritingModule
    from handwriting.write import main

    calls = []
    original = HandwritingModule.write

    def spy(self, text, style=None, **kw):
        calls.append((text, style, kw["seed"], kw["prime"], kw["candidates"]))
        return original(self, text, style=style, **kw)

    monkeypatch.setattr(HandwritingModule, "write", spy)
    text = "Dear Ada,\n\nsee you at nine tomorrow morning in room 12."
    main([text, "--ckpt", str(trained["ckpt"]), "--style", "ben", "--seed", "5",
          "-o", str(tmp_path / "para.svg")])  # fmt: skip
    assert "wrote 4 line(s)" in capsys.readouterr().out
    assert [c[0] for c in calls] == [
        "Dear Ada,",
        "see you at nine",
        "tomorrow morning in",
        "room 12.",
    ]
    assert all(c[1] == "ben" for c in calls)  # every line in the style
    assert [c[2] for c in calls] == [5, 6, 7, 8]
    assert [c[3] for c in calls] == [None] * 4  # primed only where the network needs it
    assert [c[4] for c in calls] == [CANDIDATES] * 4  # the likeliest of 4 draws by default
    calls.clear()
    main(["Hi there", "--ckpt", str(trained["ckpt"]), "--style", "ben", "--prime",
          "--candidates", "1", "-o", str(tmp_path / "primed.png")])  # fmt: skip
    assert [c[3] for c in calls] == [True]  # --prime: every line primed (Graves 5.5)
    assert [c[4] for c in calls] == [1]
    assert (tmp_path / "para.svg").read_text().lstrip().startswith("<?xml")


def test_write_substitutes_typographic_characters_and_names_the_rest(trained, tmp_path):
    from handwriting.write import main

    out = tmp_path / "quotes.png"
    main(
        [
            "It\u2019s \u201cfine\u201d \u2013 ok\u2026",
            "--ckpt",
            str(trained["ckpt"]),
            "-o",
            str(out),
        ]
    )
    assert out.is_file()
    with pytest.raises(SystemExit) as err:
        main(["ok \u00e9 \u2713", "--ckpt", str(trained["ckpt"]), "-o", str(out)])
    assert "characters: '✓';" in str(err.value)  # é has a plain stand-in: not refused


def test_write_writes_accented_and_foreign_letters_plainly_and_says_so(
    trained, tmp_path, capsys, monkeypatch
):
    """An examiner's name with letters the alphabet lacks (José, Søren, Straße) is written as
    its plain letters, with a note naming each replacement, instead of being refused."""
    from handwriting.module import HandwritingModule
    from handwriting.write import main

    calls = []
    original = HandwritingModule.write

    def spy(self, text, **kw):
        calls.append(text)
        return original(self, text, **kw)

    monkeypatch.setattr(HandwritingModule, "write", spy)
    out = tmp_path / "names.png"
    main(["José Søren Straße, Zoë", "--ckpt", str(trained["ckpt"]), "-o", str(out),
          "--line-chars", "40", "--candidates", "1"])  # fmt: skip
    assert calls == ["Jose Soren Strasse, Zoe"] and out.is_file()
    note = "note: letters the model does not know written plainly: é as e, ø as o, ß as ss, ë as e"
    assert note in capsys.readouterr().err


def test_same_seed_writes_the_same_line(trained):
    import numpy as np

    from common.checkpoints import load_module
    from handwriting.module import HandwritingModule

    module = load_module(trained["ckpt"], HandwritingModule, "handwriting")
    a = module.write("seed me", style="ada", seed=3, max_steps=60)[0]
    b = module.write("seed me", style="ada", seed=3, max_steps=60)[0]
    c = module.write("seed me", style="ada", seed=4, max_steps=60)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(
    "option, value", [("lr_schedule", "step"), ("tbptt_spans", "0"), ("batch_threads", "0")]
)
def test_train_refuses_a_model_option_it_cannot_use(option, value, isolated, capsys):
    """Each of these printed a ValueError's traceback; now `error: ...` and exit code 2."""
    from handwriting import train
    from tests.conftest import refused_option

    message = refused_option(train.main, [*TINY, f"--model.{option}", value], capsys)
    assert f"--model.{option}" in message
