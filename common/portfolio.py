"""`portfolio`: one command for the four assignments.

portfolio list                          assignments, installed? trained?
portfolio train all --quick             train every assignment (quick profile)
portfolio train all --budget 30         all four in 30 minutes, shared (each ends annealed)
portfolio compare speech A.yaml B.yaml C.yaml
portfolio demo speech my.wav            an assignment's exam demo (no args: latest checkpoint)
portfolio evaluate blackjack --ckpt CKPT
portfolio exam --seed 3                 draw an assignment as the oral exam does, run its demo
portfolio report                        runs/report.md + runs/report.html
portfolio app --port 7860               the four assignments in a local web page (Gradio)
portfolio export speech --format onnx   the speech or blackjack network as ONNX / TorchScript
"""

from __future__ import annotations

import argparse
import inspect
import math
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from common import app, export, registry
from common.checkpoints import CheckpointError, find_checkpoint, latest_run
from common.compare import format_value, stop_on_signals
from common.errors import UserError, command, entry_point, exit_code
from common.exam import model_card_summary
from common.paths import runs_root


def _train(assignment: registry.Assignment, quick: bool, extra: list[str]):
    argv = ["--config", str(assignment.quick_config)] if quick else []
    if quick and not any(a.startswith("--run.name") for a in extra):
        argv += ["--run.name", f"quick-{datetime.now():%Y%m%d-%H%M%S}"]
    return assignment.run_train(argv + extra)


def cmd_list(args: argparse.Namespace) -> int:
    from common.exam import check_checkpoint

    print(f"{'assignment':<12} {'title':<26} {'installed':<10} latest run")
    for name, entry in registry.available().items():
        if isinstance(entry, registry.AssignmentUnavailable):
            print(f"{name:<12} {'-':<26} {'no':<10} unavailable: {entry}")
            continue
        run = latest_run(name)
        trained = f"{run} (trained)" if run else "not trained"
        print(f"{name:<12} {entry.title:<26} {'yes':<10} {trained}")
        if run is not None:
            try:
                check = check_checkpoint(entry, find_checkpoint(name))
            except CheckpointError:
                continue
            print("\n".join(" " * 12 + line for line in check.lines()[1:]))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    names = list(registry.NAMES) if args.assignment == "all" else [args.assignment]
    if args.budget is not None and not args.budget > 0:
        raise UserError(f"--budget {args.budget}: give the minutes, a positive number")
    start = time.monotonic()
    failed = []
    assignments: dict[str, registry.Assignment] = {}
    for name in names:
        try:
            assignments[name] = registry.get(name)
        except registry.AssignmentUnavailable as err:
            print(f"skipping {name}: {err}", file=sys.stderr)
            failed.append(name)
    queue = list(assignments.values())  # those still to train share what is left
    with stop_on_signals() as caught:  # Ctrl-C stops them all, not only the one training
        while queue and caught.signum is None:
            assignment = queue[0]
            extra = list(args.extra)
            profile = "quick" if args.quick else "default"
            if args.budget is not None:
                minutes = budget_share(args.budget, time.monotonic() - start, assignment, queue)
                extra = ["--run.budget", f"{minutes:.3f}", *extra]
                profile += f", {minutes:.1f} of the {args.budget:g} minutes"
            queue.pop(0)
            print(f"== training {assignment.name} ({profile})", flush=True)
            try:
                _train(assignment, args.quick, extra)
            except KeyboardInterrupt:  # outside Lightning's own handling
                caught.signum = caught.signum or signal.SIGINT
            except SystemExit as err:
                if err.code not in (0, None) and caught.signum is None:
                    print(f"{assignment.name} failed: {err}", file=sys.stderr)
                    failed.append(assignment.name)
    if caught.signum is not None:
        untrained = ", ".join([*failed, assignment.name, *(a.name for a in queue)])
        print(f"interrupted; not trained: {untrained}", file=sys.stderr)
        raise SystemExit(128 + caught.signum)
    if args.assignment == "all":
        cmd_report(args)
    if failed:
        print(f"not trained: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def budget_share(
    total_minutes: float,
    spent_s: float,
    assignment: registry.Assignment,
    waiting: list[registry.Assignment],
) -> float:
    """Minutes for `assignment` out of what is left of a shared budget: its `budget_share` of
    the shares of all that still wait (itself included). Time an earlier run did not need goes
    to the later ones."""
    left = max(0.0, total_minutes - spent_s / 60)
    weights = sum(a.budget_share for a in waiting) or 1.0
    return max(left * assignment.budget_share / weights, 0.01)


def cmd_compare(args: argparse.Namespace) -> int:
    import csv

    from common.compare import CompareInterrupted, compare

    assignment = registry.get(args.assignment)
    configs = [Path(c) for c in args.configs] or assignment.experiment_configs()
    extra = ["--config", str(assignment.quick_config)] if args.quick else []
    code = 0
    try:
        out = compare(
            args.assignment,
            configs,
            assignment.run_train,
            mode=assignment.mode,
            extra_args=extra,
            overfit=assignment.overfit,
            baseline=not args.no_baseline,
        )
    except (FileNotFoundError, ValueError) as err:
        raise UserError(str(err)) from None
    except CompareInterrupted as stop:
        out, code = stop.out_dir, stop.exit_code
    print((out / "comparison.md").read_text())
    print(f"written: {out}/comparison.md, comparison.csv, comparison.png")
    with (out / "comparison.csv").open(newline="") as f:
        bad = [r for r in csv.DictReader(f) if r["status"] != "ok"]
    for r in bad:
        what = "resume it with" if r["status"] == "interrupted" else "reason:"
        print(f"{r['config']} {r['status']}; {what} {r['reason']}", file=sys.stderr)
    if code:
        print("the comparison was interrupted; the runs that finished are kept", file=sys.stderr)
        return code
    return 1 if bad else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`demo` and `evaluate`: the assignment's entry point, by default on the latest checkpoint."""
    assignment, demo = registry.get(args.assignment), args.command == "demo"
    argv = args.args
    if not argv:
        ckpt = find_checkpoint(args.assignment)
        out = runs_root() / "demo" / args.assignment
        argv = assignment.exam_demo_args(ckpt, out) if demo else ["--ckpt", str(ckpt)]
    return exit_code((assignment.run_demo if demo else assignment.run_evaluate)(argv))


EXAMINER_INPUTS = {
    "text": "--text: words to write (handwriting) or to speak and recognise (speech)",
    "wav": "--wav: a recording to recognise (speech)",
    "listen": "--listen: this many seconds of the microphone, the examiner says keywords (speech)",
    "prime": "--prime: a MIDI file for the network to continue (music)",
    "melody": "--melody: notes for the network to continue, e.g. 'C D E C G:2' (music)",
    "hand": "--hand: cards for the agent to play, yours vs the dealer's, e.g. '10 6 vs 9' "
    "(blackjack)",
}
# What the examiner is asked to type where the demo takes it and it was not given.
TYPED_INPUTS = {
    "text": "type your own text for the demo",
    "melody": "type a melody for the network to continue, e.g. C D E C G:2",
    "hand": "type a hand for the agent to play, yours vs the dealer's, e.g. 10 6 vs 9",
}


def _examiner_inputs(assignment: registry.Assignment, args: argparse.Namespace) -> dict:
    """The examiner's inputs this assignment's demo takes; says which given ones it ignores."""
    accepted = inspect.signature(assignment.exam_demo_args).parameters
    given = {k: getattr(args, k) for k in EXAMINER_INPUTS if getattr(args, k, None)}
    for key in given.keys() - accepted.keys():
        print(f"(--{key} is not used by the {assignment.name} demo; ignored)")
    inputs = {k: v for k, v in given.items() if k in accepted}
    for key in ("wav", "prime"):  # the file inputs
        if key in inputs and not Path(inputs[key]).is_file():
            raise UserError(f"--{key} {inputs[key]}: no such file")
    if {"prime", "melody"} <= inputs.keys():
        raise UserError("--prime and --melody both give the music demo its opening; give one")
    if "listen" in inputs and inputs.keys() & {"wav", "text"}:
        raise UserError("--listen takes the examiner's words from the microphone; leave out "
                        "--wav and --text, or --listen")  # fmt: skip
    alone = inputs.keys() & {"prime", "listen"}  # inputs that leave nothing to ask for
    for key, ask in TYPED_INPUTS.items():
        if key in accepted and key not in inputs and not alone and sys.stdin.isatty():
            try:
                typed = input(f"Examiner: {ask} (Enter: the prepared demo): ")
            except EOFError:  # Ctrl-D: nothing typed, as Enter (it was a traceback)
                print()
                typed = ""
            except KeyboardInterrupt:  # Ctrl-C: the exam stops, as a shell command does
                print("\ninterrupted")
                raise SystemExit(130) from None
            if typed.strip():
                inputs[key] = typed.strip()
    if not inputs:
        offers = [EXAMINER_INPUTS[k] for k in EXAMINER_INPUTS if k in accepted]
        if offers:
            print("The examiner may give their own input: " + "; ".join(offers))
    return inputs


def listen_seconds(text: str) -> float:
    """--listen's seconds; UserError for anything but a positive finite number (speech.demo
    refused 'abc' or 0 only after the draw, as a --seconds the examiner had not typed)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise UserError(
            f"--listen {text}: give the seconds to listen, a positive number, e.g. --listen 10"
        )
    return seconds


def cmd_exam(args: argparse.Namespace) -> int:
    from common.exam import check_checkpoint, demo_command, draw, reading_order
    from common.report import latest_summary

    for key, what in EXAMINER_INPUTS.items():  # '' quietly gave the prepared input instead
        value = getattr(args, key)
        if isinstance(value, str) and not value.strip():
            raise UserError(
                f"--{key} is empty; give {what.split(': ', 1)[1]}, or leave --{key} out for "
                "the prepared input"
            )
    if args.listen is not None:
        listen_seconds(args.listen)
    assignment = draw(args.seed, args.assignment)
    name = assignment.name
    print(f"== The draw: {assignment.title} ({name})\n")
    print(model_card_summary(assignment.model_card))
    print("\n== The code, in reading order")
    for path in reading_order(assignment):
        print(f"  {path}")
    try:
        ckpt = find_checkpoint(name)
    except CheckpointError:
        print(f"\n== No {name} checkpoint yet: training a quick one first (about a minute) ...")
        _train(assignment, quick=True, extra=[])
        ckpt = find_checkpoint(name)
    check = check_checkpoint(assignment, ckpt)
    print("\n== The checkpoint the demo uses")
    print("\n".join(check.lines()))
    summary = latest_summary(name)
    if summary and summary.get("run") == check.run:
        print(f"\n== Latest metrics ({summary['run']})")
        for key in ("best_score", "epochs", "wall_time_s"):
            print(f"  {key}: {format_value(summary.get(key))}")
        for key, value in {**summary.get("test", {}), **summary.get("extra", {})}.items():
            print(f"  {key}: {format_value(value)}")
    out = runs_root() / "exam" / f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
    inputs = _examiner_inputs(assignment, args)
    demo_args = assignment.exam_demo_args(ckpt, out, **inputs)
    print(f"\n== Demo (copy to run it again): {demo_command(assignment, demo_args)}\n", flush=True)
    code = exit_code(assignment.run_demo(demo_args))  # a demo refusing its input exits 2 itself
    print(f"\n== Outputs: {out}")
    if check.warnings:
        print("\n".join(f"WARNING: {w}" for w in check.warnings))
    return code


def cmd_report(args: argparse.Namespace) -> int:
    from common.report import build_report

    md, page = build_report()
    print(f"written: {md} and {page}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portfolio",
        description="MAL2 deep-learning portfolio: train, compare, demo and report the four "
        "assignments (" + ", ".join(registry.NAMES) + ").",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the assignments and whether each is installed and trained")
    p = sub.add_parser("train", help="run an assignment's default training (or all of them)")
    p.add_argument("assignment", choices=[*registry.NAMES, "all"], help="which one (or all)")
    p.add_argument("--quick", action="store_true", help="the quick profile (about a minute each)")
    p.add_argument(
        "--budget",
        type=float,
        metavar="MINUTES",
        help="fit the training into MINUTES (shared by `all`): fewer steps, learning rate "
        "annealed to its end (--run.budget)",
    )
    p.epilog = "Other arguments go to `python -m <pkg>.train` (e.g. --trainer.max_epochs 3)."
    p = sub.add_parser("compare", help="train several configurations and compare them")
    p.add_argument("assignment", choices=registry.NAMES, help="which assignment")
    p.add_argument("configs", nargs="*", help="YAML files (default: the assignment's experiments)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="apply the quick profile to each run (speech's 4 experiments and the baseline "
        "take about 5 minutes on 2 cores)",
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="leave out the default configuration's row (the baseline, first by default)",
    )
    for cmd, text in (("demo", "the assignment's exam demo"), ("evaluate", "metrics as JSON")):
        p = sub.add_parser(cmd, help=f"{text} (no args: on the latest checkpoint)")
        p.add_argument("assignment", choices=registry.NAMES, help="which assignment")
        p.add_argument("args", nargs=argparse.REMAINDER, help=f"arguments for the {cmd}")
    p = sub.add_parser(
        "exam",
        help="draw one assignment at random and run its demo",
        description="Draw one assignment at random (as the oral exam does): its model card, the "
        "code files to open, the checkpoint with warnings where it is quick or weak, then its "
        "demo, with the examiner's own input where given.",
    )
    p.add_argument("--seed", type=int, default=None, help="fixed draw (default: random)")
    p.add_argument("--assignment", choices=registry.NAMES, help="skip the draw: this one")
    for key, text in EXAMINER_INPUTS.items():
        metavar = {"wav": "FILE", "listen": "SECONDS", "prime": "FILE"}.get(key)
        p.add_argument(f"--{key}", metavar=metavar, help=text.split(": ", 1)[1])
    sub.add_parser("report", help="write runs/report.md and runs/report.html")
    app.add_arguments(sub.add_parser("app", help="the assignments in a local web page (Gradio)"))
    export.add_arguments(sub.add_parser("export", help="a network as ONNX or TorchScript"))
    return parser


COMMANDS = {
    "list": cmd_list,
    "train": cmd_train,
    "compare": cmd_compare,
    "demo": cmd_demo,
    "evaluate": cmd_demo,
    "exam": cmd_exam,
    "report": cmd_report,
    "app": app.run,  # gradio and onnx load when the command runs
    "export": export.run,
}


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "compare":  # `compare speech --quick a.yaml b.yaml`: argparse leaves these
        args.configs += [a for a in extra if not a.startswith("-")]
        extra = [a for a in extra if a.startswith("-")]
    if extra and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    command(main)
