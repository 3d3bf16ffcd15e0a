"""``outside-in``: the command line. It wires the steps together and holds no logic of its own.

Each command imports what it runs when it runs (``outside-in --help`` takes ~0.2 s; importing
every step's module up front takes seconds: pandas, matplotlib, papermill ...).

A command's result (what it wrote, a summary) is printed on stdout; everything said along the way
is logged (:mod:`analysis.logs`) to stderr, more with ``-v``, less with ``-q`` (which also leaves
the result out). Exit codes: :data:`EXIT_OK` 0, :data:`EXIT_CLIENT_FAILED` 1 (``batch``, ``send``:
a client failed), :data:`EXIT_BAD_INPUT` 2 (bad input or configuration, the message says which;
also argparse's usage errors), :data:`EXIT_INTERRUPTED` 130 (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from analysis import __version__, logs
from analysis.errors import OutsideInError

if TYPE_CHECKING:
    from analysis.ops.deliver import SendOptions

Subcommands = argparse._SubParsersAction  # what add_subparsers returns

EXIT_OK = 0
EXIT_CLIENT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger(__name__)


def _cmd_run(args: argparse.Namespace) -> int:
    from analysis.ops.process import skip_slow_optional_imports
    from analysis.report.runner import run_client

    skip_slow_optional_imports()

    from analysis.ops.pdf import run_printer

    printer, note = run_printer(not args.no_pdf)
    result = run_client(
        args.params, root=args.root, notebook=args.notebook, timeout=args.timeout, printer=printer
    )
    print(f"{result.client}: report written in {result.seconds:.1f} s")
    print(f"  report:   {result.report_html}")
    if result.report_pdf is not None:
        print(f"  pdf:      {result.report_pdf}")
    print(f"  notebook: {result.report_ipynb}")
    print(f"  manifest: {result.manifest}")
    if result.pdf_note or note:
        print(f"  {result.pdf_note or note}", file=sys.stderr)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from analysis.config.params import load_client
    from analysis.ops import pipeline

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
    from analysis.ops.demo import generate_demo

    files = generate_demo(Path(args.out), seed=args.seed, params_path=Path(args.params))
    print(files.summary())
    return 0


def _cmd_new_client(args: argparse.Namespace) -> int:
    from analysis.intake.draft import draft_client

    draft = draft_client(args.slug, Path(args.survey), root=args.root)
    print(draft.summary())
    params = draft.params.relative_to(draft.params.parents[1]).as_posix()
    print(f"Then check it with: outside-in validate {params}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from analysis.ops.project import init_project

    project = init_project(Path(args.folder), notebook=args.notebook)
    print(project.summary())
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from analysis.ops import batch
    from analysis.ops.smtp import SmtpSettings

    root = Path(args.root).absolute() if args.root else Path.cwd()
    settings = None
    if args.send and not args.dry_run:
        settings = SmtpSettings.from_env()  # missing settings: stop before running
    options = batch.BatchOptions(
        notebook=args.notebook,
        jobs=args.jobs,
        timeout=args.timeout,
        force=args.force,
        scheduler=args.scheduler,
        progress=args.progress,
        pdf=not args.no_pdf,
    )
    outcomes = batch.run_batch(args.params, root=root, options=options)
    if args.send:
        outcomes = batch.send_reports(outcomes, root, _send_options(args), settings)
    print(batch.summary_table(outcomes, root))
    return 0 if all(o.good for o in outcomes) else 1


def _cmd_index(args: argparse.Namespace) -> int:
    from analysis.report import index

    root = Path(args.root).absolute() if args.root else Path.cwd()
    print(f"index: {index.write_index(root)}")
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    from analysis.ops import deliver

    results = deliver.send_clients(args.params, root=args.root, options=_send_options(args))
    for r in results:
        print(r.line(), file=sys.stdout if r.ok else sys.stderr)
    return max((r.exit_code if not r.ok else 0 for r in results), default=0)


def _send_options(args: argparse.Namespace) -> SendOptions:
    from analysis.ops.deliver import SendOptions

    return SendOptions(
        dry_run=args.dry_run,
        resend=args.resend,
        pdf=not args.no_pdf,
        html=not args.no_html,
        owners=not args.no_owners,
        retries=args.retries,
        retry_delay=args.retry_delay,
    )


# ---------------------------------------------------------------------------------------------
# the parser


def build_parser() -> argparse.ArgumentParser:
    """The ``outside-in`` argument parser: one subcommand per step."""
    parser = argparse.ArgumentParser(
        prog="outside-in",
        description="Customer-centred gap analysis: validate survey data, estimate "
        "expectation-performance gaps with design-based uncertainty, and write client reports.",
    )
    parser.add_argument("--version", action="version", version=f"outside-in {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say more on stderr (debugging detail); before the command: outside-in -v run ...",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="only warnings and errors (-qq: errors only), no result on stdout; the exit code "
        "says how it went",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_init,
        _add_run,
        _add_validate,
        _add_new_client,
        _add_batch,
        _add_send,
        _add_index,
        _add_demo_data,
    ):
        add(sub)
    return parser


def _root_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, help="project root (default: working directory)")


def _notebook_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notebook",
        default=None,
        help="report notebook (default: the project's notebooks/gap_report.ipynb if there is "
        "one, else the one installed with Outside-In)",
    )


def _add_init(sub: Subcommands) -> None:
    ini = sub.add_parser(
        "init",
        help="create a project folder with a sample client, ready to run",
        description="Create a project folder for a new team: params/, data/raw/, "
        "data/processed/, reports/, the sample client (params/demo.yaml and data/raw/demo, so "
        "`outside-in run params/demo.yaml` works at once), a .gitignore and a README.txt of the "
        "next steps. Existing files are never overwritten: if any is in the way, nothing is "
        "written (exit code 2).",
    )
    ini.add_argument(
        "folder", nargs="?", default=".", help="the project folder (default: working directory)"
    )
    ini.add_argument(
        "--notebook",
        action="store_true",
        help="also copy the report notebook to notebooks/gap_report.ipynb, to change the report "
        "(runs use it instead of the packaged one)",
    )
    ini.set_defaults(func=_cmd_init)


def _add_run(sub: Subcommands) -> None:
    run = sub.add_parser("run", help="run one client's report notebook and write its HTML report")
    run.add_argument("params", help="the client's params file, e.g. params/demo.yaml")
    _root_option(run)
    _notebook_option(run)
    run.add_argument("--timeout", type=int, default=600, help="seconds per notebook cell")
    run.add_argument(
        "--no-pdf", action="store_true", help="skip reports/<client>/report.pdf (needs Chromium)"
    )
    run.set_defaults(func=_cmd_run)


def _add_validate(sub: Subcommands) -> None:
    val = sub.add_parser("validate", help="check a client's survey against its codebook")
    val.add_argument("params", help="the client's params file, e.g. params/demo.yaml")
    _root_option(val)
    val.set_defaults(func=_cmd_validate)


def _add_new_client(sub: Subcommands) -> None:
    new = sub.add_parser(
        "new-client", help="draft params and codebook for a new client from its survey export"
    )
    new.add_argument("slug", help="the client's slug, e.g. acme-bank")
    new.add_argument("--survey", required=True, help="the survey export (.csv, .xlsx, .sav, ...)")
    _root_option(new)
    new.set_defaults(func=_cmd_new_client)


def _add_batch(sub: Subcommands) -> None:
    bat = sub.add_parser(
        "batch",
        help="run many clients' reports, each in its own process; skip unchanged clients",
        description="Run the report of every client (default: params/*.yaml), each in its own "
        "process, in parallel; skip clients whose inputs, notebook and package are unchanged "
        "since their last good run. Exit code 1 if any client failed.",
    )
    bat.add_argument("params", nargs="*", help="params files (default: every params/*.yaml)")
    _root_option(bat)
    _notebook_option(bat)
    bat.add_argument(
        "--jobs", "-j", type=int, default=None, help="clients at once (default: number of cores)"
    )
    bat.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds one client's whole run may take before it is stopped (default 1800)",
    )
    bat.add_argument("--force", action="store_true", help="run unchanged clients too")
    bat.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask distributed cluster (e.g. tcp://10.0.0.5:8786); its workers must "
        "see the project root at the same path and have Outside-In and its kernel installed",
    )
    bat.add_argument("--send", action="store_true", help="then email each good report (see `send`)")
    _add_send_options(bat)
    bat.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    bat.set_defaults(func=_cmd_batch)


def _add_send(sub: Subcommands) -> None:
    snd = sub.add_parser(
        "send",
        help="email clients their reports (SMTP_* settings from the environment)",
        description="Email each client its last good report: a short summary with the report "
        "attached as PDF (the run's, or printed when Chromium is installed) and HTML. SMTP "
        "settings come from the environment: SMTP_HOST, SMTP_PORT, SMTP_SECURITY "
        "(starttls|ssl|none), SMTP_USER, "
        "SMTP_PASSWORD, SMTP_FROM, optionally SMTP_CA_FILE. A report is sent once per recipient "
        "(reports/<client>/sent.json) unless --resend.",
    )
    snd.add_argument("params", nargs="+", help="params files, e.g. params/demo.yaml")
    _root_option(snd)
    _add_send_options(snd)
    snd.set_defaults(func=_cmd_send)


def _add_index(sub: Subcommands) -> None:
    idx = sub.add_parser(
        "index",
        help="write reports/index.html: every client, its status, figures and reports",
        description="Write reports/index.html, one page listing every client of the project "
        "(params/*.yaml, reports/*/ and the last batch): its status (ok, failed, not run), the "
        "date and rows of its last good run, its NPS, share of expectations met and top "
        "priority, links to its report, PDF and workbook, and the error of a failed run. "
        "`batch` writes it too.",
    )
    _root_option(idx)
    idx.set_defaults(func=_cmd_index)


def _add_send_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write each message to reports/<client>/outbox/*.eml instead of sending it",
    )
    p.add_argument(
        "--resend",
        action="store_true",
        help="send even if this report was already sent to these recipients (see sent.json)",
    )
    p.add_argument(
        "--no-pdf", action="store_true", help="no PDF: neither printed by the run nor attached"
    )
    p.add_argument(
        "--no-html",
        action="store_true",
        help="attach the PDF only (the HTML report is attached anyway when there is no PDF)",
    )
    p.add_argument(
        "--no-owners",
        action="store_true",
        help="do not mail the owners of params report.owners their part of the action plan",
    )
    p.add_argument(
        "--retries", type=int, default=4, help="retries of a temporary SMTP failure (default 4)"
    )
    p.add_argument(
        "--retry-delay",
        type=float,
        default=2.0,
        help="seconds before the first retry, doubling each time (default 2)",
    )


def _add_demo_data(sub: Subcommands) -> None:
    demo = sub.add_parser("demo-data", help="(re)generate the demo client's inputs")
    demo.add_argument("--out", default="data/raw/demo", help="folder for the demo inputs")
    demo.add_argument("--params", default="params/demo.yaml", help="where to write the params")
    demo.add_argument("--seed", type=int, default=2026, help="random seed")
    demo.set_defaults(func=_cmd_demo_data)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``outside-in`` console script; returns the exit code (see the module
    docstring: 0 ok, 1 a client failed, 2 bad input or configuration, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose - args.quiet)
    output = contextlib.redirect_stdout(io.StringIO()) if args.quiet else contextlib.nullcontext()
    try:
        with output:
            return int(args.func(args))
    except OutsideInError as exc:
        log.error("outside-in %s: %s", args.command, exc)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
