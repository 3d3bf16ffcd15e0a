"""``outside-in send``: email each client its report.

One message per client, to the recipients in its params file: a short summary inline (email-safe
HTML with inline styles in one column that fits a phone, no scripts, no ``data:`` URIs, and a
plain-text part: the templates ``email.html.j2`` and ``email.txt.j2`` rendered through
:mod:`analysis.report.templating` from a view model), with the report attached: the PDF first (the
one ``outside-in run`` printed, when the manifest records it beside this report.html; else printed
now when a Chromium is available, :mod:`analysis.ops.pdf`), then the HTML (optional when there is a
PDF: ``SendOptions.html``, ``--no-html``). The summary is made
from the client's ``data/processed`` outputs (the priority ranking, and the row counts of the
manifest),
after checking that they and the report on disk are the ones its last good run wrote.

SMTP settings come from the environment only, never from params files (:mod:`analysis.ops.smtp`
lists them and checks them by name); the header values taken from params (the recipients, the
subject made from the title) are checked too, so a bad one stops that client before anything is
sent. Temporary failures are retried, permanent ones stop that client's send with a clear message;
a recipient refused for now (4xx) while the others were accepted is retried alone.

Each owner of params ``report.owners`` (``{Billing: [billing@...]}``; the owners the codebook's
items name) gets a message of their own (:func:`send_owners`, unless ``SendOptions.owners`` is
false, ``--no-owners``): the templates ``owner_email.html.j2``/``owner_email.txt.j2`` list only
that owner's attributes of the action plan (``action_plan.csv``, checked against the manifest
like the priorities), and only their rows are attached, as CSV; the report itself is not, so an
owner sees only what is theirs (the report goes to ``report.recipients``).

``reports/<client>/sent.json`` logs every message sent (report SHA-256, recipients, message id,
time), written as soon as the server accepts it for some recipients (before any retry for the
others), so the same report is never sent twice to the same recipient unless ``resend`` (an owner's
message is logged with its ``owner``, idempotent per owner).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import files
from analysis.config.params import Client, load_client
from analysis.cx import action_plan as action_plan_mod
from analysis.cx import vocabulary
from analysis.errors import DeliveryError, OutsideInError, ParamsError
from analysis.ops import pdf as pdf_printer
from analysis.ops import smtp
from analysis.ops.smtp import SettingsError, SmtpSettings
from analysis.report import action_plan as plan_report
from analysis.report import formatting, i18n, templating

SEND_LOG = "sent.json"  # reports/<client>/sent.json
OUTBOX = "outbox"  # reports/<client>/outbox/*.eml for --dry-run
DRY_RUN_FROM = "Outside-In <outside-in@localhost>"
MAX_SUMMARY_BYTES = 100_000


# ---------------------------------------------------------------------------------------------
# what is sent


@dataclass(frozen=True)
class Report:
    """A client's last good run, checked for consistency: what a message is made of."""

    client: Client
    html_path: Path
    sha256: str
    manifest: dict[str, Any]
    priorities: pd.DataFrame  # the priority ranking (priorities.csv, small cells suppressed)

    @property
    def title(self) -> str:
        return str(self.manifest.get("title") or self.client.config.title)


def load_report(client: Client) -> Report:
    """The client's report, manifest and gap table; raise :class:`DeliveryError` if there is
    none, or if they are not from the same (good) run."""
    html_path = client.report_dir / "report.html"
    manifest_path = client.processed_dir / "manifest.json"
    rerun = f"run `outside-in run {_rel(client.params_file, client.root)}` first"
    if not html_path.is_file():
        raise DeliveryError(f"{client.slug}: there is no report to send ({html_path}); {rerun}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DeliveryError(
            f"{client.slug}: {manifest_path} is missing or unreadable, so the report's provenance "
            f"is unknown; {rerun}"
        ) from None
    sha = files.file_sha256(html_path)
    outputs = manifest.get("outputs") or {}
    if (outputs.get("report_html") or {}).get("sha256") != sha or manifest.get(
        "client"
    ) != client.slug:
        raise DeliveryError(
            f"{client.slug}: {html_path} is not the report its manifest ({manifest_path}) "
            f"records; {rerun.replace('first', 'again')}"
        )
    table_path = client.processed_dir / "priorities.csv"
    if not table_path.is_file():
        raise DeliveryError(f"{client.slug}: {table_path} not found; {rerun}")
    recorded = (outputs.get("priorities") or {}).get("sha256")
    if recorded is None or recorded != files.file_sha256(table_path):
        raise DeliveryError(
            f"{client.slug}: {table_path} is not the priority ranking of this report (a later "
            f"run failed part-way, or an older Outside-In made it), so the summary would not "
            f"match the report; {rerun.replace('first', 'again')}"
        )
    table = pd.read_csv(table_path, keep_default_na=False, na_values=[""])
    return Report(client=client, html_path=html_path, sha256=sha, manifest=manifest,
                  priorities=table)  # fmt: skip


def _confidence(report: Report) -> float:
    analysis = (report.manifest.get("params") or {}).get("analysis") or {}
    return float(analysis.get("confidence", report.client.config.analysis.confidence))


def _findings(report: Report) -> tuple[list[dict[str, str]], int, int]:
    """What to fix first, as the report's first page says it (the ``top_priority`` rows of the
    priority ranking, in rank order, formatted), how many attributes fall clearly short (class
    Fix first or Improve), of how many shown."""
    over = formatting.overall_rows(report.priorities)
    shown = [r for _, r in over.iterrows() if not formatting.is_hidden(r)]
    shown.sort(key=lambda r: float(r["rank"]))
    short = [r for r in shown if r.get("priority") in vocabulary.ACTION_CLASSES]
    top = [
        {
            "label": formatting.item_label(r),
            "dimension": str(r.get("dimension", "")),
            "gap": formatting.fmt_num(r["gap"]),
            "interval": formatting.interval(r["ci_low"], r["ci_high"]),
        }
        for r in shown
        if formatting.flag(r.get("top_priority"))
    ]
    return top, len(short), len(shown)


def _rows_line(manifest: Mapping[str, Any]) -> str:
    rows = manifest.get("rows") or {}
    try:
        accepted, received = int(rows["accepted"]), int(rows["received"])
    except (KeyError, TypeError, ValueError):
        return ""
    excluded = int(rows.get("excluded") or 0)
    rejected = received - accepted - excluded
    values = {
        "accepted": formatting.fmt_int(accepted),
        "received": formatting.fmt_int(received),
        "excluded": formatting.fmt_int(excluded),
        "rejected": formatting.fmt_int(rejected),
    }
    if excluded and rejected:
        line = i18n.gettext(
            "Based on %(accepted)s of %(received)s survey responses (%(excluded)s were left out "
            "by the exclusion rules (previews, unfinished or duplicate responses); %(rejected)s "
            "did not pass the data checks; all are listed in the report)."
        )
    elif excluded:
        line = i18n.gettext(
            "Based on %(accepted)s of %(received)s survey responses (%(excluded)s were left out "
            "by the exclusion rules (previews, unfinished or duplicate responses) and are listed "
            "in the report)."
        )
    elif rejected:
        line = i18n.gettext(
            "Based on %(accepted)s of %(received)s survey responses (%(rejected)s did not pass "
            "the data checks and are listed in the report)."
        )
    else:
        line = i18n.gettext("Based on %(accepted)s of %(received)s survey responses.")
    return line % values


def _attachment_names(report: Report, pdf: bool, html: bool = True) -> list[str]:
    """The attachments' file names, in the order attached: the PDF first, then the HTML."""
    names = [f"{report.client.slug}-report.pdf"] if pdf else []
    if html or not pdf:  # without a PDF the HTML is always attached
        names.append(f"{report.client.slug}-report.html")
    return names


def _view(report: Report, pdf: bool, html: bool) -> dict[str, Any]:
    """What the email says (plain data for ``email.html.j2`` and ``email.txt.j2``)."""
    top, n_short, n_items = _findings(report)
    return {
        "title": report.title,
        "rows": _rows_line(report.manifest),
        "n_short": n_short,
        "n_items": n_items,
        "top": top,
        "top_heading": i18n.gettext("What to fix first (gap = performance - expectation):"),
        "conf": i18n.percent_text(f"{round(_confidence(report) * 100)}"),
        "attachments": _attachment_names(report, pdf, html),
        "pdf": pdf,
        "html": html or not pdf,
    }


def summary_text(report: Report, pdf: bool = False, html: bool = True) -> str:
    """The plain-text part of the message (``templates/sections/email.txt.j2``)."""
    text = templating.render("email.txt.j2", e=_view(report, pdf, html))
    return re.sub(r"\n{3,}", "\n\n", str(text)).strip() + "\n"


def summary_html(report: Report, pdf: bool = False, html: bool = True) -> str:
    """The HTML part (``templates/sections/email.html.j2``): inline styles only, no scripts, no
    images, every text escaped; one column that fits a phone screen."""
    return str(templating.render("email.html.j2", e=_view(report, pdf, html))) + "\n"


def _message(
    report: Report, subject: str, sender: str, recipients: Sequence[str], text: str, html: str
) -> EmailMessage:
    """An email of a report: the headers (subject, from, to, date, message id, the client and
    the report's hash) and its plain-text and HTML bodies; attachments are the caller's."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(idstring=report.client.slug, domain=domain)
    msg["X-Outside-In-Client"] = report.client.slug
    msg["X-Outside-In-Report-SHA256"] = report.sha256
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def build_message(
    report: Report,
    recipients: Sequence[str],
    sender: str,
    pdf_bytes: bytes | None = None,
    html: bool = True,
) -> EmailMessage:
    """One message: plain-text and HTML summary, the report attached: the PDF first (if
    given), then the HTML (unless ``html`` is false and there is a PDF)."""
    pdf = pdf_bytes is not None
    body_html = summary_html(report, pdf=pdf, html=html)
    if len(body_html.encode("utf-8")) > MAX_SUMMARY_BYTES:  # pragma: no cover (5 rows at most)
        raise DeliveryError(f"{report.client.slug}: the email summary is over 100 KB")
    text = summary_text(report, pdf=pdf, html=html)
    msg = _message(report, _subject(report), sender, recipients, text, body_html)
    for name in _attachment_names(report, pdf, html):
        if name.endswith(".pdf"):
            msg.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename=name)
        else:
            data = report.html_path.read_bytes()
            msg.add_attachment(data, maintype="text", subtype="html", filename=name)
    return msg


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------------------------------
# the send log


def read_send_log(client: Client) -> dict[str, Any]:
    """``reports/<client>/sent.json``: ``{"client": slug, "sends": [...]}``."""
    path = client.report_dir / SEND_LOG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"client": client.slug, "sends": []}
    except (OSError, ValueError):
        raise DeliveryError(
            f"{path} is unreadable, so it is unknown what was already sent; fix or remove it"
        ) from None
    data.setdefault("sends", [])
    return data


def already_sent(log: Mapping[str, Any], sha256: str, owner: str | None = None) -> set[str]:
    """The recipients (lower case) who were sent the report with this SHA-256 (``owner``:
    who were sent that owner's part of its action plan; None: the client's message)."""
    return {
        r.lower()
        for entry in log.get("sends", [])
        if entry.get("report_sha256") == sha256 and entry.get("owner") == owner
        for r in entry.get("recipients", [])
    }


@contextlib.contextmanager
def _send_lock(client: Client) -> Iterator[None]:
    """One sender per client at a time (two at once could both find the log empty)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows: no advisory locks; one sender at a time)
        yield
        return
    client.report_dir.mkdir(parents=True, exist_ok=True)
    with open(client.report_dir / ".send.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# one client


@dataclass(frozen=True)
class SendResult:
    """What happened to one client's email."""

    client: str
    status: str  # sent | already-sent | dry-run | failed
    recipients: tuple[str, ...] = ()
    detail: str = ""
    attempts: int = 0
    path: Path | None = None  # the .eml of a dry run
    warnings: tuple[str, ...] = ()
    no_pdf: bool = False  # a PDF was wanted but could not be printed
    exit_code: int = 0  # of a failure: 2 for invalid settings or params (nothing sent), else 1

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        """One line for the terminal."""
        if self.status == "sent":
            text = f"{self.client}: sent to {', '.join(self.recipients)}"
            if self.attempts > 1:
                text += f" (after {self.attempts} attempts)"
        elif self.status == "already-sent":
            who = ", ".join(self.recipients)
            text = f"{self.client}: already sent to {who}; --resend to send again"
        elif self.status == "dry-run":
            who = ", ".join(self.recipients)
            text = f"{self.client}: dry run, message for {who} written to {self.path}"
        else:
            prefix = f"{self.client}: "
            text = self.detail if self.detail.startswith(prefix) else prefix + self.detail
        for w in self.warnings:
            text += f"\n  warning: {w}"
        return text

    def short(self) -> str:
        """A few words for the batch summary table."""
        n = len(self.recipients)
        text = {
            "sent": f"sent ({n})",
            "already-sent": "already sent",
            "dry-run": "dry run",
        }.get(self.status, "failed")
        return text + (", no PDF" if self.no_pdf else "")


@dataclass(frozen=True)
class SendOptions:
    """How to send: the options of ``outside-in send`` (and ``batch --send``)."""

    dry_run: bool = False  # write reports/<client>/outbox/*.eml instead of sending
    resend: bool = False  # send even to recipients who got this report already
    pdf: bool = True  # attach the PDF (the run's, else printed now when a Chromium can)
    html: bool = True  # attach the HTML report too (always when there is no PDF)
    owners: bool = True  # also mail each owner of params report.owners their part of the plan
    retries: int = 4  # retries of a temporary SMTP failure
    retry_delay: float = 2.0  # seconds before the first retry, doubling each time


def send_client(
    params_file: str | Path,
    root: str | Path | None = None,
    options: SendOptions | None = None,
    *,
    settings: SmtpSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Email one client its last good report (see the module docstring).

    ``settings`` default to :meth:`SmtpSettings.from_env` (not needed for a dry run); ``sleep``
    waits between retries.

    Raises
    ------
    ParamsError
        The params file is invalid.
    SettingsError
        No or invalid SMTP settings, no recipients, or a header value from params that is not
        valid (a recipient, the title): nothing was sent.
    DeliveryError
        No (consistent) report, or the server refused (some recipients may have it: the
        message says who, and ``sent.json`` records them).
    """
    opts = options or SendOptions()
    root_path = Path(root).absolute() if root is not None else Path.cwd()
    client = load_client(params_file, root=root_path)
    with i18n.using(client.config.report.language):  # the email in the client's language
        recipients = _recipients(client)
        if not opts.dry_run and settings is None:
            settings = SmtpSettings.from_env()
        report = load_report(client)
        with _send_lock(client):
            log = read_send_log(client)
            done = already_sent(log, report.sha256)
            pending = (
                recipients if opts.resend else [r for r in recipients if r.lower() not in done]
            )
            if not pending:
                return SendResult(client.slug, "already-sent", tuple(recipients))
            _subject(report)  # a bad title stops before the PDF is printed
            pdf_bytes, warnings = _pdf(report, opts.pdf)
            sender = settings.sender if settings is not None else _dry_run_sender()
            msg = build_message(report, pending, sender, pdf_bytes, html=opts.html)
            if opts.dry_run or settings is None:  # settings are None only for a dry run
                target = _write_outbox(report, msg)
                return SendResult(
                    client.slug, "dry-run", tuple(pending), path=target,
                    warnings=tuple(warnings), no_pdf=bool(warnings),
                )  # fmt: skip

            def log_accepted(accepted: list[str], attempt: int) -> None:
                _log_send(log, report, msg, accepted, attempt, pdf_bytes is not None, opts.html)

            retry = smtp.Retry(opts.retries, opts.retry_delay, sleep)
            delivery = _transmit(client, settings, msg, pending, retry, log_accepted)
            return SendResult(
                client.slug, "sent", delivery.accepted, attempts=delivery.attempts,
                warnings=(*warnings, *settings.warnings), no_pdf=bool(warnings),
            )  # fmt: skip


def _transmit(
    client: Client,
    settings: SmtpSettings,
    msg: EmailMessage,
    pending: list[str],
    retry: smtp.Retry,
    on_accepted: Callable[[list[str], int], None],
) -> smtp.Delivery:
    """Send ``msg`` over SMTP; raise :class:`DeliveryError` unless every recipient has it."""
    try:
        delivery = smtp.send_message(settings, msg, pending, retry, on_accepted)
    except DeliveryError as exc:
        raise DeliveryError(f"{client.slug}: {exc}") from None
    if delivery.refused or delivery.deferred or delivery.failed:
        raise _not_all(client, delivery)
    return delivery


def _recipients(client: Client) -> list[str]:
    recipients = list(client.config.report.recipients)
    if not recipients:
        raise SettingsError(
            f"{client.params_file}: key 'report.recipients' lists no one to send the report to"
        )
    where = f"{client.params_file}: key 'report.recipients'"
    return [smtp.check_recipient(r, where) for r in recipients]


def _subject(report: Report) -> str:
    """The Subject header, from the title; a title with a line break is refused, naming it."""
    title = report.title.strip()
    if re.search(r"[\x00-\x1f\x7f]", title):
        raise SettingsError(
            f"{report.client.params_file}: key 'title' contains a line break or another control "
            "character; the title is the email's subject, one line"
        )
    return _one_line(i18n.gettext("Your report: %(title)s") % {"title": title})


def _not_all(client: Client, delivery: smtp.Delivery) -> DeliveryError:
    """The error for recipients who did not get the message while others did."""

    def listed(reasons: Mapping[str, str]) -> str:
        return "; ".join(f"{r}: {why}" for r, why in sorted(reasons.items()))

    parts = [f"{client.slug}: sent to {', '.join(delivery.accepted)}, but"]
    if delivery.refused:
        parts.append(
            f"the server refused {listed(delivery.refused)}; fix those addresses in params and "
            "run send again"
        )
    if delivery.deferred:
        n = delivery.attempts
        parts.append(
            ("and " if delivery.refused else "")
            + f"the server refused for now {listed(delivery.deferred)} (a temporary failure; "
            f"gave up after {n} attempt{'s' if n > 1 else ''}); run send again later"
        )
    if delivery.failed:
        parts.append(
            ("and " if delivery.refused or delivery.deferred else "")
            + f"not to {listed(delivery.failed)} (permanent failure)"
        )
    return DeliveryError(" ".join(parts) + " (the others will not get it twice)")


def _dry_run_sender() -> str:
    sender = os.environ.get("SMTP_FROM", "").strip()
    return smtp.check_sender(sender, "SMTP_FROM") if sender else DRY_RUN_FROM


def _pdf(report: Report, wanted: bool) -> tuple[bytes | None, list[str]]:
    """The report's PDF (None when not wanted or none can be had), and any warning: the one
    the run printed when the manifest records it beside this report.html, else printed now."""
    if not wanted:
        return None, []
    made = run_pdf(report)
    if made is not None:
        return made, []
    if pdf_printer.find_chromium() is None:
        return None, []
    try:
        path = pdf_printer.print_pdf(report.html_path, report.client.report_dir / "report.pdf")
    except DeliveryError as exc:
        return None, [f"{exc}; sending the HTML report only"]
    return path.read_bytes(), []


def run_pdf(report: Report) -> bytes | None:
    """The PDF the run printed (``reports/<client>/report.pdf``) if the manifest records it with
    this report and it is unchanged since; else None."""
    recorded = ((report.manifest.get("outputs") or {}).get("report_pdf") or {}).get("sha256")
    path = report.client.report_dir / "report.pdf"
    if recorded is None or not path.is_file():
        return None
    data = path.read_bytes()
    return data if hashlib.sha256(data).hexdigest() == recorded else None


def _write_outbox(report: Report, msg: EmailMessage, tag: str = "") -> Path:
    """A dry run's message: ``reports/<client>/outbox/<time>-<report sha>[-<tag>].eml``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = f"{stamp}-{report.sha256[:12]}" + (f"-{tag}" if tag else "")
    target = report.client.report_dir / OUTBOX / f"{stem}.eml"
    n = 1
    while target.exists():  # two dry runs in one second keep both messages
        n += 1
        target = target.with_name(f"{stem}-{n}.eml")
    with files.atomic_path(target) as tmp:
        tmp.write_bytes(msg.as_bytes())
    return target


def _log_send(
    log: dict[str, Any],
    report: Report,
    msg: EmailMessage,
    accepted: list[str],
    attempts: int,
    pdf: bool,
    html: bool = True,
    owner: str | None = None,
) -> None:
    """Record a message the server accepted in ``reports/<client>/sent.json`` (an owner's
    message: with ``owner`` and its attachment)."""
    client = report.client
    log["client"] = client.slug
    entry: dict[str, Any] = {
        "report_sha256": report.sha256,
        "report": _rel(report.html_path, client.root),
        "recipients": accepted,
        "message_id": msg["Message-ID"],
        "subject": msg["Subject"],
        "attachments": (
            _attachment_names(report, pdf, html)
            if owner is None
            else [owner_attachment_name(report, owner)]
        ),
        "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "attempts": attempts,
    }
    if owner is not None:
        entry["owner"] = owner
    log["sends"].append(entry)
    files.write_json(log, client.report_dir / SEND_LOG)


def send_clients(
    params_files: Sequence[str | Path],
    root: str | Path | None = None,
    options: SendOptions | None = None,
    settings: SmtpSettings | None = None,
) -> list[SendResult]:
    """:func:`send_client` for each params file; one client's failure never stops the others
    (it becomes a ``failed`` result with the message). Missing SMTP settings stop before any."""
    opts = options or SendOptions()
    if not opts.dry_run and settings is None:
        settings = SmtpSettings.from_env()
    results = []
    for params_file in params_files:
        try:
            results.append(send_client(params_file, root, opts, settings=settings))
        except OutsideInError as exc:
            code = 2 if isinstance(exc, SettingsError | ParamsError) else 1
            slug = Path(params_file).stem
            results.append(SendResult(slug, "failed", detail=str(exc), exit_code=code))
        if not opts.owners:
            continue
        try:
            results.extend(send_owners(params_file, root, opts, settings=settings))
        except OutsideInError as exc:
            code = 2 if isinstance(exc, SettingsError | ParamsError) else 1
            slug = f"{Path(params_file).stem} (owners)"
            results.append(SendResult(slug, "failed", detail=str(exc), exit_code=code))
    return results


# ---------------------------------------------------------------------------------------------
# each owner's part of the action plan (params report.owners)


def load_plan(report: Report) -> pd.DataFrame:
    """The run's action plan (``action_plan.csv``), checked to be the one its manifest records
    with this report; raise :class:`DeliveryError` otherwise."""
    client = report.client
    path = client.processed_dir / "action_plan.csv"
    again = f"run `outside-in run {_rel(client.params_file, client.root)}` again"
    recorded = ((report.manifest.get("outputs") or {}).get("action_plan") or {}).get("sha256")
    if not path.is_file() or recorded is None or recorded != files.file_sha256(path):
        raise DeliveryError(
            f"{client.slug}: {path} is missing or not the action plan of this report (the "
            f"codebook gave no item an owner when it ran, or a later run failed part-way), so "
            f"the owners' emails would not match the report; {again}"
        )
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def owner_attachment_name(report: Report, owner: str) -> str:
    """The file name of an owner's rows of the plan: ``<client>-action-plan-<owner>.csv``."""
    return owner_attachment_name_for(report.client.slug, owner)


def owner_attachment_name_for(slug: str, owner: str) -> str:
    """:func:`owner_attachment_name` of a client slug: the owner's name in lower case, runs of
    other characters than letters and digits as ``-``."""
    tag = re.sub(r"[^a-z0-9]+", "-", owner.lower()).strip("-") or "owner"
    return f"{slug}-action-plan-{tag}.csv"


def _owner_rows(plan: pd.DataFrame, owner: str) -> pd.DataFrame:
    """One owner's rows of the plan (the only ones their email carries)."""
    return action_plan_mod.owner_rows(plan, owner)


def _owner_view(report: Report, plan: pd.DataFrame, owner: str) -> dict[str, Any]:
    """What an owner's email says: only their attributes (plain data for the templates)."""
    view = plan_report.owner_view(plan, owner)
    rows = [
        {
            **r,
            "gap": formatting.fmt_num(r["cell"]["gap"], signed=True),
            "interval": formatting.interval(r["ci_low"], r["ci_high"]),
        }
        for r in view["rows"]
    ]
    return {
        "title": report.title,
        "owner": owner,
        "conf": i18n.percent_text(f"{round(_confidence(report) * 100)}"),
        "n_items": view["n_items"],
        "rows": rows,
        "quick_wins": view["quick_wins"],
        "attachment": owner_attachment_name(report, owner),
    }


def owner_summary_text(report: Report, plan: pd.DataFrame, owner: str) -> str:
    """The plain-text part of an owner's message (``templates/sections/owner_email.txt.j2``)."""
    text = templating.render("owner_email.txt.j2", e=_owner_view(report, plan, owner))
    return re.sub(r"\n{3,}", "\n\n", str(text)).strip() + "\n"


def owner_summary_html(report: Report, plan: pd.DataFrame, owner: str) -> str:
    """The HTML part of an owner's message (``templates/sections/owner_email.html.j2``)."""
    return str(templating.render("owner_email.html.j2", e=_owner_view(report, plan, owner))) + "\n"


def _owner_subject(report: Report, owner: str) -> str:
    """The Subject of an owner's message; an owner's name with a control character is refused."""
    if re.search(r"[\x00-\x1f\x7f]", owner):
        raise SettingsError(
            f"{report.client.params_file}: key 'report.owners': the owner {owner!r} contains a "
            "line break or another control character; it is part of the email's subject"
        )
    _subject(report)  # the title is checked
    return _one_line(
        i18n.gettext("Your action plan (%(owner)s): %(title)s")
        % {"owner": owner, "title": report.title.strip()}
    )


def build_owner_message(
    report: Report, plan: pd.DataFrame, owner: str, recipients: Sequence[str], sender: str
) -> EmailMessage:
    """One owner's message: their attributes only (plain text and HTML), and their rows of the
    plan attached as CSV. The report itself is not attached (owners see only what is theirs;
    the report goes to ``report.recipients``)."""
    rows = _owner_rows(plan, owner)
    if rows.empty:
        raise DeliveryError(f"{report.client.slug}: the action plan has no row of {owner!r}")
    body_html = owner_summary_html(report, plan, owner)
    text = owner_summary_text(report, plan, owner)
    msg = _message(report, _owner_subject(report, owner), sender, recipients, text, body_html)
    data = rows.to_csv(index=False, lineterminator="\n").encode("utf-8")
    name = owner_attachment_name(report, owner)
    msg.add_attachment(data, maintype="text", subtype="csv", filename=name)
    return msg


def _owner_recipients(client: Client) -> dict[str, list[str]]:
    """``report.owners``, every address checked (a bad one stops before anything is sent)."""
    return {
        owner: [
            smtp.check_recipient(r, f"{client.params_file}: key 'report.owners.{owner}'")
            for r in emails
        ]
        for owner, emails in client.config.report.owners.items()
    }


def send_owners(
    params_file: str | Path,
    root: str | Path | None = None,
    options: SendOptions | None = None,
    *,
    settings: SmtpSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SendResult]:
    """Email each owner of params ``report.owners`` their part of the last good run's action
    plan (:func:`build_owner_message`); one :class:`SendResult` per owner (``client`` reads
    ``<slug> (<owner>)``), none when params name no owners. Idempotent per owner like
    :func:`send_client`: ``sent.json`` records each owner's message (key ``owner``), so an owner
    is not sent the same report's part twice unless ``resend``. One owner's failure to send
    does not stop the others (a ``failed`` result).

    Raises
    ------
    ParamsError, SettingsError
        As :func:`send_client` (an owner's address or name that cannot be a header).
    DeliveryError
        No consistent report or action plan.
    """
    opts = options or SendOptions()
    root_path = Path(root).absolute() if root is not None else Path.cwd()
    client = load_client(params_file, root=root_path)
    with i18n.using(client.config.report.language):  # the email in the client's language
        owners = _owner_recipients(client)
        if not owners:
            return []
        if not opts.dry_run and settings is None:
            settings = SmtpSettings.from_env()
        report = load_report(client)
        plan = load_plan(report)
        for owner in owners:
            _owner_subject(report, owner)
        results: list[SendResult] = []
        with _send_lock(client):
            log = read_send_log(client)
            for owner, recipients in owners.items():
                name = f"{client.slug} ({owner})"
                done = already_sent(log, report.sha256, owner)
                pending = (
                    recipients if opts.resend else [r for r in recipients if r.lower() not in done]
                )
                if not pending:
                    results.append(SendResult(name, "already-sent", tuple(recipients)))
                    continue
                sender = settings.sender if settings is not None else _dry_run_sender()
                msg = build_owner_message(report, plan, owner, pending, sender)
                if opts.dry_run or settings is None:
                    tag = (
                        owner_attachment_name(report, owner)
                        .removesuffix(".csv")
                        .split("-plan-")[-1]
                    )
                    target = _write_outbox(report, msg, tag=tag)
                    results.append(SendResult(name, "dry-run", tuple(pending), path=target))
                    continue

                def log_accepted(
                    accepted: list[str], attempt: int, _msg: EmailMessage = msg, _owner: str = owner
                ) -> None:
                    _log_send(log, report, _msg, accepted, attempt, False, owner=_owner)

                retry = smtp.Retry(opts.retries, opts.retry_delay, sleep)
                try:
                    delivery = _transmit(client, settings, msg, pending, retry, log_accepted)
                except DeliveryError as exc:
                    results.append(SendResult(name, "failed", tuple(pending), detail=str(exc),
                                              exit_code=1))  # fmt: skip
                    continue
                results.append(
                    SendResult(
                        name,
                        "sent",
                        delivery.accepted,
                        attempts=delivery.attempts,
                        warnings=settings.warnings,
                    )
                )
        return results


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).absolute().relative_to(root).as_posix()
    except ValueError:
        return str(path)
