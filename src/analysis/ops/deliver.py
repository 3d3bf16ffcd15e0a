"""``outside-in send``: email each client its report.

One message per client, to the recipients in its params file: a short summary inline (email-safe
HTML with inline styles, no scripts, no ``data:`` URIs, and a plain-text part), with the report
attached as HTML, and as PDF when a Chromium is available to print it. The summary is made from
the client's ``data/processed`` outputs (the gap table, and the row counts of the manifest), after
checking that they and the report on disk are the ones its last good run wrote.

SMTP settings come from the environment only (never from params files)::

    SMTP_HOST       the server (required)
    SMTP_PORT       default 587 for starttls, 465 for ssl, 25 for none
    SMTP_SECURITY   starttls (default) | ssl | none (a local relay without TLS)
    SMTP_USER       log in with this user (no authentication is attempted without it)
    SMTP_PASSWORD   the user's password (required with SMTP_USER)
    SMTP_FROM       the sender, e.g. "CX Research <cx@example.org>" (required)
    SMTP_CA_FILE    optional: a PEM file of CA certificates to trust (a private relay's CA)
    SMTP_TIMEOUT    optional: seconds to wait for the server (default 30)

The PDF is printed by headless Chromium (``chromium`` on the PATH, or the program named by
``OUTSIDE_IN_CHROMIUM``) into ``reports/<client>/report.pdf``; without one, only the HTML is
attached.

``reports/<client>/sent.json`` logs every message sent (report SHA-256, recipients, message id,
time), so the same report is never sent twice to the same recipient unless ``resend``. Temporary
failures (4xx replies, connection refused or dropped, timeouts) are retried with exponential
backoff; permanent ones (5xx, authentication, TLS) stop that client's send with a clear message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from analysis import files
from analysis.config.params import EMAIL, Client, load_client
from analysis.errors import OutsideInError

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
SEND_LOG = "sent.json"  # reports/<client>/sent.json
OUTBOX = "outbox"  # reports/<client>/outbox/*.eml for --dry-run
DRY_RUN_FROM = "Outside-In <outside-in@localhost>"
MAX_SUMMARY_BYTES = 100_000
TOP_GAPS = 5
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-pdf-header-footer",
)
PDF_TIMEOUT = 120


class DeliveryError(OutsideInError):
    """A report could not be sent (settings missing, the server refused it, nothing to send)."""


# ---------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send, from the ``SMTP_*`` environment variables."""

    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 30.0

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read the settings; raise :class:`DeliveryError` naming what is missing or wrong."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        missing = [n for n in ("SMTP_HOST", "SMTP_FROM") if not get(n)]
        if missing:
            raise DeliveryError(
                f"email settings missing: set {' and '.join(missing)} in the environment (and "
                "SMTP_PORT, SMTP_SECURITY, SMTP_USER, SMTP_PASSWORD as your mail server needs). "
                "SMTP settings are read from the environment only, never from params files; "
                "use --dry-run to write the messages to files instead"
            )
        security = (get("SMTP_SECURITY") or "starttls").lower()
        if security not in SECURITY_MODES:
            raise DeliveryError(
                f"SMTP_SECURITY={security!r} is not one of {', '.join(SECURITY_MODES)} "
                "(starttls: upgrade to TLS on the submission port, usually 587; ssl: TLS from the "
                "start, usually 465; none: a local relay without TLS)"
            )
        port_text = get("SMTP_PORT")
        if port_text is None:
            port = DEFAULT_PORTS[security]
        else:
            try:
                port = int(port_text)
            except ValueError:
                port = 0
            if not 0 < port < 65536:
                raise DeliveryError(f"SMTP_PORT={port_text!r} is not a port number (1-65535)")
        sender = str(get("SMTP_FROM"))
        if not EMAIL.match(parseaddr(sender)[1] or ""):
            raise DeliveryError(
                f"SMTP_FROM={sender!r} has no valid email address; use e.g. "
                "'CX Research <cx@example.org>' or 'cx@example.org'"
            )
        user, password = get("SMTP_USER"), env.get("SMTP_PASSWORD") or None
        if user and not password:
            raise DeliveryError("SMTP_USER is set but SMTP_PASSWORD is not; set both or neither")
        ca_file = get("SMTP_CA_FILE")
        if ca_file and not Path(ca_file).is_file():
            raise DeliveryError(f"SMTP_CA_FILE={ca_file!r}: file not found")
        timeout_text = get("SMTP_TIMEOUT")
        try:
            timeout = float(timeout_text) if timeout_text else 30.0
        except ValueError:
            raise DeliveryError(
                f"SMTP_TIMEOUT={timeout_text!r} is not a number of seconds"
            ) from None
        return cls(
            host=str(get("SMTP_HOST")),
            port=port,
            security=security,
            sender=sender,
            user=user,
            password=password,
            ca_file=ca_file,
            timeout=timeout,
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checks always on; ``SMTP_CA_FILE`` adds trusted CAs."""
        ctx = ssl.create_default_context()
        if self.ca_file:
            ctx.load_verify_locations(cafile=self.ca_file)
        return ctx


# ---------------------------------------------------------------------------------------------
# what is sent


@dataclass(frozen=True)
class Report:
    """A client's last good run, checked for consistency: what a message is made of."""

    client: Client
    html_path: Path
    sha256: str
    manifest: dict[str, Any]
    gaps: Any  # pandas.DataFrame: the gap table, small cells suppressed

    @property
    def title(self) -> str:
        return str(self.manifest.get("title") or self.client.config.title)


def load_report(client: Client) -> Report:
    """The client's report, manifest and gap table; raise :class:`DeliveryError` if there is
    none, or if they are not from the same (good) run."""
    import pandas as pd

    from analysis.cx import gaps, suppression

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
    table_path = client.processed_dir / "gap_table.csv"
    if not table_path.is_file():
        raise DeliveryError(f"{client.slug}: {table_path} not found; {rerun}")
    recorded = (outputs.get("gap_table") or {}).get("sha256")
    if recorded is not None and recorded != files.file_sha256(table_path):
        raise DeliveryError(
            f"{client.slug}: {table_path} has changed since the report was made (a later run "
            f"failed part-way?), so the summary would not match the report; "
            f"{rerun.replace('first', 'again')}"
        )
    analysis = (manifest.get("params") or {}).get("analysis") or {}
    min_cell = int(analysis.get("min_cell", client.config.analysis.min_cell))
    table = pd.read_csv(table_path, keep_default_na=False, na_values=[""])
    table = suppression.suppress(table, min_cell, gaps.IDENTIFIERS)
    return Report(client=client, html_path=html_path, sha256=sha, manifest=manifest, gaps=table)


def _confidence(report: Report) -> float:
    analysis = (report.manifest.get("params") or {}).get("analysis") or {}
    return float(analysis.get("confidence", report.client.config.analysis.confidence))


def _findings(report: Report) -> tuple[list[dict[str, str]], int, int]:
    """The largest clear shortfalls (formatted), how many there are, of how many attributes."""
    from analysis.report import formatting

    conf = _confidence(report)
    over = formatting.overall_rows(report.gaps)
    shown = [r for _, r in over.iterrows() if not formatting.is_hidden(r)]
    short = sorted(
        # "clear" as the report's executive summary says it: after the adjustment for testing
        # every attribute at once (BH), not on the raw p-values
        (r for r in shown if formatting.is_clear_adjusted(r, conf) and float(r["gap"]) < 0),
        key=lambda r: float(r["gap"]),
    )
    top = [
        {
            "label": formatting.item_label(r),
            "dimension": str(r.get("dimension", "")),
            "gap": formatting.fmt_num(r["gap"]),
            "interval": formatting.interval(r["ci_low"], r["ci_high"]),
        }
        for r in short[:TOP_GAPS]
    ]
    return top, len(short), len(shown)


def _rows_line(manifest: Mapping[str, Any]) -> str:
    rows = manifest.get("rows") or {}
    try:
        accepted, received = int(rows["accepted"]), int(rows["received"])
    except (KeyError, TypeError, ValueError):
        return ""
    line = f"Based on {accepted:,} of {received:,} survey responses"
    rejected = received - accepted
    if rejected:
        line += f" ({rejected:,} did not pass the data checks and are listed in the report)"
    return line + "."


def _attachment_names(report: Report, pdf: bool) -> list[str]:
    names = [f"{report.client.slug}-report.html"]
    if pdf:
        names.append(f"{report.client.slug}-report.pdf")
    return names


def summary_text(report: Report, pdf: bool = False) -> str:
    """The plain-text part of the message."""
    top, n_short, n_items = _findings(report)
    conf = f"{round(_confidence(report) * 100)}%"
    lines = [report.title, "", "Your customer expectations report is attached."]
    rows = _rows_line(report.manifest)
    if rows:
        lines.append(rows)
    lines += [
        "",
        f"{n_short} of {n_items} service attributes fall clearly short of what customers expect.",
    ]
    if top:
        lines.append("The largest shortfalls (gap = performance - expectation):")
        for t in top:
            gap = t["gap"].replace("\u2212", "-")
            interval = t["interval"].replace("\u2212", "-")
            lines.append(f"  - {t['label']} ({t['dimension']}): {gap}, {conf} interval {interval}")
    lines += ["", "Attached: " + ", ".join(_attachment_names(report, pdf))]
    lines.append("Open the HTML file in any web browser; it needs no internet connection.")
    return "\n".join(lines) + "\n"


_P = "margin:0 0 12px 0;font-size:15px;line-height:1.5;color:#1f2933;"
_NOTE = "margin:0 0 12px 0;font-size:13px;line-height:1.5;color:#52606d;"
_TH = "padding:6px 10px;border-bottom:2px solid #9aa5b1;font-size:13px;color:#3e4c59;"
_TD = "padding:6px 10px;border-bottom:1px solid #d9e2ec;font-size:14px;color:#1f2933;"
_LEFT = "text-align:left;"
_NUM = "text-align:right;white-space:nowrap;"


def summary_html(report: Report, pdf: bool = False) -> str:
    """The HTML part: inline styles only, no scripts, no images, every text escaped."""
    e = html.escape
    top, n_short, n_items = _findings(report)
    conf = f"{round(_confidence(report) * 100)}%"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title></head>",
        '<body style="margin:0;padding:0;background:#f5f7fa;">',
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="border-collapse:collapse;background:#f5f7fa;"><tr><td style="padding:24px;">',
        '<table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:'
        "collapse;max-width:640px;width:100%;background:#ffffff;border:1px solid #d9e2ec;"
        '"><tr><td style="padding:24px;font-family:Arial,Helvetica,sans-serif;">',
        f'<h1 style="margin:0 0 16px 0;font-size:20px;line-height:1.3;color:#102a43;">'
        f"{e(report.title)}</h1>",
        f'<p style="{_P}">Your customer expectations report is attached.</p>',
    ]
    rows = _rows_line(report.manifest)
    if rows:
        parts.append(f'<p style="{_P}">{e(rows)}</p>')
    parts.append(
        f'<p style="{_P}"><strong>{n_short} of {n_items}</strong> service attributes fall '
        "clearly short of what customers expect.</p>"
    )
    if top:
        parts += [
            f'<p style="{_P}">The largest shortfalls:</p>',
            '<table cellpadding="0" cellspacing="0" style="border-collapse:collapse;width:100%;'
            'margin:0 0 16px 0;font-family:Arial,Helvetica,sans-serif;">',
            f'<tr><th style="{_TH}{_LEFT}">Service attribute</th>'
            f'<th style="{_TH}{_LEFT}">Dimension</th>'
            f'<th style="{_TH}{_NUM}">Gap</th><th style="{_TH}{_NUM}">{e(conf)} interval</th></tr>',
        ]
        for t in top:
            parts.append(
                f'<tr><td style="{_TD}">{e(t["label"])}</td><td style="{_TD}">'
                f'{e(t["dimension"])}</td><td style="{_TD}{_NUM}">{e(t["gap"])}</td>'
                f'<td style="{_TD}{_NUM}">{e(t["interval"])}</td></tr>'
            )
        parts.append("</table>")
    parts += [
        f'<p style="{_NOTE}">Gap = performance minus expectation; '
        "a negative gap means customers get less than they expect.</p>",
        f'<p style="{_NOTE}">Attached: '
        f"{e(', '.join(_attachment_names(report, pdf)))}. Open the HTML file in any web browser; "
        "it needs no internet connection.</p>",
        "</td></tr></table></td></tr></table></body></html>",
    ]
    return "\n".join(parts) + "\n"


def build_message(
    report: Report,
    recipients: Sequence[str],
    sender: str,
    pdf_bytes: bytes | None = None,
) -> EmailMessage:
    """One message: plain-text and HTML summary, the report attached (HTML, and PDF if given)."""
    body_html = summary_html(report, pdf=pdf_bytes is not None)
    if len(body_html.encode("utf-8")) > MAX_SUMMARY_BYTES:  # pragma: no cover (5 rows at most)
        raise DeliveryError(f"{report.client.slug}: the email summary is over 100 KB")
    msg = EmailMessage()
    msg["Subject"] = _one_line(f"Your report: {report.title}")
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(idstring=report.client.slug, domain=domain)
    msg["X-Outside-In-Client"] = report.client.slug
    msg["X-Outside-In-Report-SHA256"] = report.sha256
    msg.set_content(summary_text(report, pdf=pdf_bytes is not None))
    msg.add_alternative(body_html, subtype="html")
    names = _attachment_names(report, pdf_bytes is not None)
    msg.add_attachment(
        report.html_path.read_bytes(), maintype="text", subtype="html", filename=names[0]
    )
    if pdf_bytes is not None:
        msg.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename=names[1])
    return msg


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------------------------------
# PDF


def find_chromium() -> str | None:
    """A Chromium to print PDFs with: ``OUTSIDE_IN_CHROMIUM``, else one on the PATH."""
    given = os.environ.get("OUTSIDE_IN_CHROMIUM", "").strip()
    if given:
        return shutil.which(given)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(
    html_path: Path, pdf_path: Path, chromium: str | None = None, timeout: float = PDF_TIMEOUT
) -> Path:
    """Print a (self-contained) HTML file to PDF with headless Chromium, atomically.

    Chromium runs with a fresh profile, no network services, no sandbox (it may run as root in
    containers); it is killed, with every process it started, if it takes over ``timeout``.
    """
    from analysis.ops.batch import kill_tree

    exe = chromium or find_chromium()
    if exe is None:
        raise DeliveryError("no Chromium found to print the PDF (install chromium)")
    with tempfile.TemporaryDirectory(prefix="outside-in-chromium-") as tmp:
        out = Path(tmp) / "report.pdf"
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={out}",
            Path(html_path).absolute().as_uri(),
        ]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.communicate()
            raise DeliveryError(
                f"Chromium did not print {html_path} within {timeout:.0f} s"
            ) from None
        data = out.read_bytes() if out.is_file() else b""
        if proc.returncode != 0 or not data.startswith(b"%PDF-"):
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
            raise DeliveryError(
                f"Chromium could not print {html_path} (exit code {proc.returncode})"
                + (f": {tail[0]}" if tail else "")
            )
        with files.atomic_path(pdf_path) as tmp_pdf:
            tmp_pdf.write_bytes(data)
    return Path(pdf_path)


# ---------------------------------------------------------------------------------------------
# sending


class _Temporary(Exception):
    """Worth trying again later."""


class _Permanent(Exception):
    """Trying again will not help."""


def _classify(exc: BaseException, settings: SmtpSettings) -> Exception:
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = exc.recipients
        text = "; ".join(
            f"{r}: {code} {_decode(msg)}" for r, (code, msg) in sorted(refused.items())
        )
        temporary = all(400 <= code < 500 for code, _ in refused.values())
        return (_Temporary if temporary else _Permanent)(
            f"the server refused the recipients: {text}"
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        cls = _Temporary if 400 <= exc.smtp_code < 500 else _Permanent
        return cls(
            f"login as SMTP_USER={settings.user!r} failed: {exc.smtp_code} "
            f"{_decode(exc.smtp_error)}; check SMTP_USER and SMTP_PASSWORD"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        hint = (
            "the server does not offer STARTTLS; use SMTP_SECURITY=ssl for a TLS port, or "
            "SMTP_SECURITY=none only for a local relay"
            if "starttls" in str(exc).lower()
            else "the server does not offer authentication (unset SMTP_USER for a relay that "
            "needs none)"
            if "auth" in str(exc).lower()
            else str(exc)
        )
        return _Permanent(f"{where}: {hint}")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        cls = _Temporary if 400 <= code < 500 else _Permanent
        return cls(f"the server answered {code} {_decode(exc.smtp_error)}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _Permanent(
            f"{where}: the server's TLS certificate could not be verified ({exc.verify_message}); "
            "if it is signed by a private CA, set SMTP_CA_FILE to that CA's certificate"
        )
    if isinstance(exc, ssl.SSLError):
        return _Permanent(f"{where}: TLS failed ({exc}); check SMTP_SECURITY and SMTP_PORT")
    if isinstance(exc, ConnectionRefusedError):
        return _Temporary(f"connection to {where} refused (is the mail server running?)")
    if isinstance(exc, socket.gaierror):
        return _Permanent(f"SMTP_HOST={settings.host!r} cannot be resolved ({exc})")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Temporary(f"{where} closed the connection ({exc or 'no reason given'})")
    if isinstance(exc, TimeoutError | socket.timeout):
        return _Temporary(f"{where} did not answer within {settings.timeout:.0f} s")
    if isinstance(exc, OSError):
        return _Temporary(f"cannot connect to {where}: {exc}")
    return _Permanent(f"{type(exc).__name__}: {exc}")


def _decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _smtp_send(
    settings: SmtpSettings, msg: EmailMessage, recipients: Sequence[str]
) -> dict[str, tuple[int, bytes]]:
    """One attempt; returns the recipients the server refused (when it accepted others)."""
    timeout = settings.timeout
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=timeout, context=settings.tls_context()
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=settings.tls_context())
            smtp.ehlo()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        refused = smtp.send_message(
            msg, from_addr=settings.sender_address, to_addrs=list(recipients)
        )
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        smtp.close()
    return refused


def deliver(
    settings: SmtpSettings,
    msg: EmailMessage,
    recipients: Sequence[str],
    retries: int = 4,
    retry_delay: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """Send ``msg``; retry temporary failures ``retries`` times, waiting ``retry_delay``,
    then twice as long each time. Returns (attempts, refused recipients).

    Raises :class:`DeliveryError` for a permanent failure, or when the retries are used up.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return attempt, _smtp_send(settings, msg, recipients)
        except Exception as exc:
            kind = _classify(exc, settings)
            if isinstance(kind, _Permanent):
                raise DeliveryError(f"not sent: {kind} (permanent failure, not retried)") from None
            if attempt > retries:
                raise DeliveryError(
                    f"not sent: {kind}; gave up after {attempt} attempt"
                    f"{'s' if attempt > 1 else ''} (temporary failure); try again later"
                ) from None
            sleep(retry_delay * 2 ** (attempt - 1))


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


def already_sent(log: Mapping[str, Any], sha256: str) -> set[str]:
    """The recipients (lower case) who were sent the report with this SHA-256."""
    return {
        r.lower()
        for entry in log.get("sends", [])
        if entry.get("report_sha256") == sha256
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
        return text + (", no PDF" if self.warnings else "")


def send_client(
    params_file: str | Path,
    root: str | Path | None = None,
    *,
    dry_run: bool = False,
    resend: bool = False,
    pdf: bool = True,
    retries: int = 4,
    retry_delay: float = 2.0,
    settings: SmtpSettings | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Email one client its last good report (see the module docstring).

    Raises
    ------
    ParamsError
        The params file is invalid.
    DeliveryError
        No SMTP settings, no recipients, no (consistent) report, or the server refused.
    """
    root_path = Path(root).absolute() if root is not None else Path.cwd()
    client = load_client(params_file, root=root_path)
    recipients = list(client.config.report.recipients)
    if not recipients:
        raise DeliveryError(
            f"{client.params_file}: key 'report.recipients' lists no one to send the report to"
        )
    if not dry_run and settings is None:
        settings = SmtpSettings.from_env(env)
    sender = (
        settings.sender
        if settings is not None
        else (env or os.environ).get("SMTP_FROM") or DRY_RUN_FROM
    )
    report = load_report(client)
    with _send_lock(client):
        log = read_send_log(client)
        done = already_sent(log, report.sha256)
        pending = recipients if resend else [r for r in recipients if r.lower() not in done]
        if not pending:
            return SendResult(client.slug, "already-sent", tuple(recipients))
        warnings: list[str] = []
        pdf_bytes = None
        if pdf and find_chromium() is not None:
            try:
                pdf_path = print_pdf(report.html_path, client.report_dir / "report.pdf")
                pdf_bytes = pdf_path.read_bytes()
            except DeliveryError as exc:
                warnings.append(f"{exc}; sending the HTML report only")
        msg = build_message(report, pending, sender, pdf_bytes)
        if dry_run:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            target = client.report_dir / OUTBOX / f"{stamp}-{report.sha256[:12]}.eml"
            with files.atomic_path(target) as tmp:
                tmp.write_bytes(msg.as_bytes())
            return SendResult(
                client.slug, "dry-run", tuple(pending), path=target, warnings=tuple(warnings)
            )
        if settings is None:  # pragma: no cover (read above unless dry_run)
            raise DeliveryError("no SMTP settings")
        try:
            attempts, refused = deliver(settings, msg, pending, retries, retry_delay, sleep)
        except DeliveryError as exc:
            raise DeliveryError(f"{client.slug}: {exc}") from None
        accepted = [r for r in pending if r not in refused]
        if accepted:
            log["client"] = client.slug
            log["sends"].append(
                {
                    "report_sha256": report.sha256,
                    "report": _rel(report.html_path, client.root),
                    "recipients": accepted,
                    "message_id": msg["Message-ID"],
                    "subject": msg["Subject"],
                    "attachments": _attachment_names(report, pdf_bytes is not None),
                    "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "attempts": attempts,
                }
            )
            files.write_json(log, client.report_dir / SEND_LOG)
        if refused:
            text = "; ".join(f"{r}: {c} {_decode(m)}" for r, (c, m) in sorted(refused.items()))
            raise DeliveryError(
                f"{client.slug}: sent to {', '.join(accepted)}, but the server refused {text}; "
                "fix those addresses in params and run send again (the others will not get it "
                "twice)"
            )
        return SendResult(
            client.slug, "sent", tuple(accepted), attempts=attempts, warnings=tuple(warnings)
        )


def send_clients(
    params_files: Sequence[str | Path], root: str | Path | None = None, **options: Any
) -> list[SendResult]:
    """:func:`send_client` for each params file; one client's failure never stops the others
    (it becomes a ``failed`` result with the message)."""
    if not options.get("dry_run") and options.get("settings") is None:
        options["settings"] = SmtpSettings.from_env(options.pop("env", None))
    results = []
    for params_file in params_files:
        try:
            results.append(send_client(params_file, root, **options))
        except OutsideInError as exc:
            results.append(SendResult(Path(params_file).stem, "failed", detail=str(exc)))
    return results


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).absolute().relative_to(root).as_posix()
    except ValueError:
        return str(path)
