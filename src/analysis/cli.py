"""``outside-in``: the command line. It wires the steps together and holds no logic of its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis import __version__
from analysis.errors import OutsideInError


def _cmd_run(args: argparse.Namespace) -> int:
    from analysis.report import run_client

    result = run_client(args.params, root=args.root, notebook=args.notebook, timeout=args.timeout)
    print(f"{result.client}: report written in {result.seconds:.1f} s")
    print(f"  report:   {result.report_html}")
    print(f"  notebook: {result.report_ipynb}")
    print(f"  manifest: {result.manifest}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from analysis import pipeline
    from analysis.params import load_client

    client = load_client(args.params, root=args.root)
    try:
        result = pipeline.intake(client)
    except OutsideInError:
        summary = client.processed_dir / "rejected.csv"
        if summary.exists():
            print(f"Rejected rows with reasons: {summary}", file=sys.stderr)
        raise
    print("\n".join(result.summary.lines()))
    print(f"Accepted rows: {client.processed_dir / 'clean.parquet'}")
    print(f"Rejected rows with reasons: {client.processed_dir / 'rejected.csv'}")
    print("The data can be analysed.")
    return 0


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from analysis.demo import generate_demo

    files = generate_demo(Path(args.out), seed=args.seed, params_path=Path(args.params))
    print(files.summary())
    return 0


def _cmd_new_client(args: argparse.Namespace) -> int:
    from analysis.draft import draft_client

    draft = draft_client(args.slug, Path(args.survey), root=args.root)
    print(draft.summary())
    params = draft.params.relative_to(draft.params.parents[1]).as_posix()
    print(f"Then check it with: outside-in validate {params}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outside-in",
        description="Customer-centred gap analysis: validate survey data, estimate "
        "expectation-performance gaps with design-based uncertainty, and write client reports.",
    )
    parser.add_argument("--version", action="version", version=f"outside-in {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run one client's report notebook and write its HTML report")
    run.add_argument("params", help="the client's params file, e.g. params/demo.yaml")
    run.add_argument("--root", default=None, help="project root (default: working directory)")
    run.add_argument(
        "--notebook", default=None, help="report notebook (default: notebooks/gap_report.ipynb)"
    )
    run.add_argument("--timeout", type=int, default=600, help="seconds per notebook cell")
    run.set_defaults(func=_cmd_run)

    val = sub.add_parser("validate", help="check a client's survey against its codebook")
    val.add_argument("params", help="the client's params file, e.g. params/demo.yaml")
    val.add_argument("--root", default=None, help="project root (default: working directory)")
    val.set_defaults(func=_cmd_validate)

    new = sub.add_parser(
        "new-client", help="draft params and codebook for a new client from its survey export"
    )
    new.add_argument("slug", help="the client's slug, e.g. acme-bank")
    new.add_argument("--survey", required=True, help="the survey export (.csv, .xlsx, .sav, ...)")
    new.add_argument("--root", default=None, help="project root (default: working directory)")
    new.set_defaults(func=_cmd_new_client)

    demo = sub.add_parser("demo-data", help="(re)generate the demo client's inputs")
    demo.add_argument("--out", default="data/raw/demo", help="folder for the demo inputs")
    demo.add_argument("--params", default="params/demo.yaml", help="where to write the params")
    demo.add_argument("--seed", type=int, default=2026, help="random seed")
    demo.set_defaults(func=_cmd_demo_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``outside-in`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except OutsideInError as exc:
        print(f"outside-in {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
