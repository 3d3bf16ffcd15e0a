"""Email delivery (analysis.ops.deliver, ``outside-in send``) against a real SMTP server:
aiosmtpd on 127.0.0.1 with STARTTLS (a certificate from a CA made in the test) and AUTH, and failure
injection (server down, a 4xx then success, 5xx replies, a refused recipient).

The report sent is the session's real run of the demo client (conftest ``demo_run``), whose
largest shortfall has a hostile label, so escaping is checked on what really arrives; each test
sends from a copy of that run (its own send log).
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import io
import json
import os
import re
import shutil
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import pytest
import trustme
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from analysis import files
from analysis.cli import main
from analysis.errors import DeliveryError
from analysis.ops import deliver, pdf
from analysis.ops.smtp import SmtpSettings

USER, PASSWORD = "reports", "s3cret pass"
SENDER = "CX Research <cx@research.example>"
SLUG, PARAMS = "demo", "params/demo.yaml"  # the session's demo run (conftest demo_run)
LEAD, CEO, GONE = (f"{who}@harbourline.example" for who in ("cx-lead", "ceo", "gone"))
TITLE = "Harbourline Telecom customer expectations 2026"


# ---------------------------------------------------------------------------------------------
# a real SMTP server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    authenticated: bool

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Inbox:
    """The server's handler: records messages; replies can be scripted to inject failures."""

    messages: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # answers to the next DATA commands
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> answer to RCPT
    data_calls: int = 0
    rcpt_calls: list[str] = field(default_factory=list)
    logins: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    rcpt_once: dict[str, str] = field(default_factory=dict)  # answered once, then accepted
    user: str = USER  # the credentials the server accepts
    password: str = PASSWORD
    echo_credentials: bool = False  # a failed login's reply quotes what was sent

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_calls.append(address)
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        if address in self.rcpt_once:
            return self.rcpt_once.pop(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.content),
                tls=server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 OK queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = False
        if isinstance(auth_data, LoginPassword):  # aiosmtpd passes the raw bytes, undecoded
            self.logins.append((mechanism, auth_data.login, auth_data.password))
            ok = (auth_data.login, auth_data.password) == (
                self.user.encode("utf-8"),
                self.password.encode("utf-8"),
            )
            if not ok and self.echo_credentials:
                sent = auth_data.password.decode("utf-8", "replace")
                echo = f"535 5.7.8 password {sent} ({base64.b64encode(auth_data.password)})"
                return AuthResult(success=False, handled=False, message=echo)
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int
    ca_file: Path

    def env(self, **extra: str) -> dict[str, str]:
        out = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_USER": USER,
            "SMTP_PASSWORD": PASSWORD,
            "SMTP_FROM": SENDER,
            "SMTP_CA_FILE": str(self.ca_file),
        }
        out.update(extra)
        return {k: v for k, v in out.items() if v}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


def start_server(
    ca: tuple[trustme.CA, Path],
    auth_required: bool = True,
    inbox: Inbox | None = None,
    **options: object,
) -> Controller:
    authority, ca_file = ca
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    inbox = inbox or Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_required=auth_required,
        auth_require_tls=True,
        **options,
    )
    controller.start()
    controller.server_info = SmtpServer(inbox, port, ca_file)  # type: ignore[attr-defined]
    return controller


@pytest.fixture
def smtp(ca, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A STARTTLS + AUTH server on 127.0.0.1, and the SMTP_* environment pointing at it."""
    controller = start_server(ca)
    server = controller.server_info  # type: ignore[attr-defined]
    clear_smtp_env(monkeypatch)
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    try:
        yield server
    finally:
        controller.stop()


def clear_smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SMTP_"):
            monkeypatch.delenv(name)


# ---------------------------------------------------------------------------------------------
# a finished run to send


@pytest.fixture
def project(demo_run_copy: Path) -> Path:
    """A fresh copy of the session's finished demo run (its own send log)."""
    return demo_run_copy


def clone_client(root: Path, slug: str, recipients: list[str]) -> None:
    """Another client with the demo client's finished run (same report, own slug and send log)."""
    params = yaml.safe_load((root / PARAMS).read_text())
    params["client"] = slug
    params["report"]["recipients"] = recipients
    (root / "params" / f"{slug}.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for base in ("reports", "data/processed"):
        shutil.copytree(root / base / SLUG, root / base / slug)
    manifest_path = root / "data" / "processed" / slug / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["client"] = slug
    manifest_path.write_text(json.dumps(manifest))


def set_recipients(root: Path, slug: str, recipients: list[str]) -> None:
    path = root / "params" / f"{slug}.yaml"
    params = yaml.safe_load(path.read_text())
    params["report"]["recipients"] = recipients
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def parts(msg: EmailMessage) -> dict[str, EmailMessage]:
    """Body parts and attachments by content type (attachments by file name)."""
    out = {}
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        out[name or part.get_content_type()] = part
    return out


def send(root: Path, *args: str, owners: bool = False) -> int:
    """``outside-in send``; the owners of report.owners only when ``owners`` (the tests of the
    client's own message count its messages alone)."""
    return main(["send", *args, *([] if owners else ["--no-owners"]), "--root", str(root)])


# ---------------------------------------------------------------------------------------------
# sending


def test_send_over_starttls_with_auth_then_idempotent(
    project: Path, smtp: SmtpServer, demo_run, capsys
):
    with_pdf = pdf.find_chromium() is not None
    assert send(project, PARAMS, *([] if with_pdf else ["--no-pdf"])) == 0
    assert f"demo: sent to {LEAD}" in capsys.readouterr().out
    [got] = smtp.inbox.messages
    assert got.tls and got.authenticated
    assert smtp.inbox.logins[0][1:] == (USER.encode(), PASSWORD.encode())
    assert got.mail_from == "cx@research.example"
    assert got.rcpt_tos == [LEAD]
    msg = got.message()
    assert msg["To"] == LEAD and msg["From"] == SENDER
    assert msg["Subject"] == f"Your report: {TITLE}"
    html_report = project / "reports" / SLUG / "report.html"
    by = parts(msg)
    assert by["demo-report.html"].get_content_type() == "text/html"
    assert by["demo-report.html"].get_payload(decode=True) == html_report.read_bytes()
    sha = files.file_sha256(html_report)
    assert msg["X-Outside-In-Report-SHA256"].strip() == sha

    # the inline summary: email-safe HTML with inline styles, and a plain-text part
    body = by["text/html"].get_content()
    assert len(body.encode()) < 100_000
    assert "<script" not in body.lower() and "data:" not in body and "<style" not in body
    assert "<link" not in body and "<img" not in body
    assert 'style="' in body and "class=" not in body
    assert "Based on 1,723 of 1,733 survey responses" in body
    assert demo_run.HOSTILE_ESCAPED in body
    assert re.search(r"gap \u22121\.\d\d \(95% interval", body)  # the gap, with a real minus
    text = by["text/plain"].get_content()
    assert demo_run.HOSTILE_LABEL in text and "1,723 of 1,733" in text
    assert "fall clearly short" in text

    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names == (["demo-report.pdf"] if with_pdf else []) + ["demo-report.html"]
    if with_pdf:
        attached = by["demo-report.pdf"].get_payload(decode=True)
        assert by["demo-report.pdf"].get_content_type() == "application/pdf"
        assert attached.startswith(b"%PDF-")
        assert attached == (project / "reports" / SLUG / "report.pdf").read_bytes()

    log = json.loads((project / "reports" / SLUG / "sent.json").read_text())
    [entry] = log["sends"]
    assert entry["recipients"] == [LEAD]
    assert entry["report_sha256"] == sha
    assert entry["message_id"] == msg["Message-ID"]

    # the same report is not sent twice; a new recipient gets it alone; --resend sends to all
    assert send(project, PARAMS, "--no-pdf") == 0
    assert f"already sent to {LEAD}" in capsys.readouterr().out
    assert len(smtp.inbox.messages) == 1
    set_recipients(project, SLUG, [LEAD, CEO])
    assert send(project, PARAMS, "--no-pdf") == 0
    assert smtp.inbox.messages[-1].rcpt_tos == [CEO]
    assert send(project, PARAMS, "--no-pdf", "--resend") == 0
    assert smtp.inbox.messages[-1].rcpt_tos == [LEAD, CEO]
    assert len(smtp.inbox.messages) == 3


def test_no_authentication_without_smtp_user(
    project: Path, ca, monkeypatch: pytest.MonkeyPatch, capsys
):
    controller = start_server(ca, auth_required=False)
    server = controller.server_info
    try:
        clear_smtp_env(monkeypatch)
        for k, v in server.env(SMTP_USER="", SMTP_PASSWORD="").items():
            monkeypatch.setenv(k, v)
        assert send(project, PARAMS, "--no-pdf") == 0
    finally:
        controller.stop()
    [got] = server.inbox.messages
    assert got.tls and not got.authenticated and server.inbox.logins == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls_and_a_plain_local_relay(project: Path, ca, monkeypatch, capsys):
    authority, ca_file = ca
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(ctx)
    inbox, port = Inbox(), free_port()
    tls = Controller(
        inbox, hostname="127.0.0.1", port=port, ssl_context=ctx,
        authenticator=inbox.authenticate, auth_required=True,
        auth_require_tls=False,  # aiosmtpd counts only STARTTLS as TLS; this is TLS throughout
    )  # fmt: skip
    plain_inbox, plain_port = Inbox(), free_port()
    plain = Controller(plain_inbox, hostname="127.0.0.1", port=plain_port)
    tls.start()
    plain.start()
    try:
        clear_smtp_env(monkeypatch)
        server = SmtpServer(inbox, port, ca_file)
        for k, v in server.env(SMTP_SECURITY="ssl").items():
            monkeypatch.setenv(k, v)
        assert send(project, PARAMS, "--no-pdf") == 0
        [got] = inbox.messages
        assert got.tls and got.authenticated
        # a local relay without TLS: SMTP_SECURITY=none, no SMTP_USER
        clear_smtp_env(monkeypatch)
        relay = SmtpServer(plain_inbox, plain_port, ca_file)
        for k, v in relay.env(SMTP_SECURITY="none", SMTP_USER="", SMTP_PASSWORD="").items():
            monkeypatch.setenv(k, v)
        assert send(project, PARAMS, "--no-pdf", "--resend") == 0
        [got] = plain_inbox.messages
        assert not got.tls and not got.authenticated
        # STARTTLS asked of a server that does not offer it: a clear, permanent error
        monkeypatch.setenv("SMTP_SECURITY", "starttls")
        assert send(project, PARAMS, "--no-pdf", "--resend") == 1
        assert "does not offer STARTTLS" in capsys.readouterr().err
        assert len(plain_inbox.messages) == 1
    finally:
        tls.stop()
        plain.stop()


def test_missing_or_wrong_settings_are_clear(project: Path, monkeypatch, capsys):
    clear_smtp_env(monkeypatch)
    assert send(project, PARAMS) == 2
    err = capsys.readouterr().err
    assert "SMTP_HOST and SMTP_FROM" in err and "environment" in err and "--dry-run" in err
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_FROM": "cx@research.example"}
    s = SmtpSettings.from_env(env)
    assert (s.port, s.security, s.user) == (587, "starttls", None)
    with_user = SmtpSettings.from_env(env | {"SMTP_USER": "u", "SMTP_PASSWORD": "s3cret"})
    assert with_user.user == "u" and "s3cret" not in repr(with_user)
    for extra, match in [
        ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY='tls' is not one of starttls, ssl, none"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT='smtp' is not a port number"),
        ({"SMTP_USER": "u"}, "SMTP_USER is set but SMTP_PASSWORD is not"),
        ({"SMTP_FROM": "research team"}, "SMTP_FROM='research team' has no valid email"),
    ]:
        with pytest.raises(DeliveryError, match=re.escape(match)):
            SmtpSettings.from_env(env | extra)
    assert SmtpSettings.from_env(env | {"SMTP_SECURITY": "ssl"}).port == 465


def test_dry_run_writes_eml_to_the_outbox(project: Path, monkeypatch, capsys):
    clear_smtp_env(monkeypatch)  # a dry run needs no SMTP settings
    assert send(project, PARAMS, "--dry-run", "--no-pdf") == 0
    [eml] = (project / "reports" / SLUG / "outbox").glob("*.eml")
    assert str(eml) in capsys.readouterr().out
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["To"] == LEAD
    by = parts(msg)  # type: ignore[arg-type]
    assert set(by) == {"text/plain", "text/html", "demo-report.html"}
    report_html = (project / "reports" / SLUG / "report.html").read_bytes()
    assert by["demo-report.html"].get_payload(decode=True) == report_html
    assert not (project / "reports" / SLUG / "sent.json").exists()  # nothing was sent


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_run_prints_its_pdf_beside_the_report(demo_run):
    """``run`` prints reports/<client>/report.pdf from the staged report, recorded with its
    hash in the manifest (so send knows it shows this report.html)."""
    pdf_path = demo_run.result.report_pdf
    assert pdf_path is not None and pdf_path.read_bytes().startswith(b"%PDF-")
    manifest = json.loads(demo_run.result.manifest.read_text())
    assert manifest["outputs"]["report_pdf"]["sha256"] == files.file_sha256(pdf_path)
    assert "pdf" in manifest["steps"] and "pdf_note" not in manifest
    assert not list(pdf_path.parent.parent.glob(".demo.stage-*"))  # swapped in whole


def test_the_runs_pdf_is_attached_first_and_the_html_is_optional(
    project: Path, monkeypatch, capsys
):
    """send attaches the PDF the run printed (recorded in the manifest with this report), PDF
    first; --no-html leaves the HTML out, unless there is no PDF to send instead."""
    clear_smtp_env(monkeypatch)
    made = b"%PDF-1.4 the run's own print\n%%EOF\n"
    pdf_path = project / "reports" / SLUG / "report.pdf"
    pdf_path.write_bytes(made)
    manifest_path = project / "data" / "processed" / SLUG / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["outputs"]["report_pdf"] = {"path": "x", "sha256": files.file_sha256(pdf_path)}
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setenv("OUTSIDE_IN_CHROMIUM", "no-such-chromium")  # nothing could print now

    def sent() -> EmailMessage:
        [eml] = re.findall(r"written to (\S+\.eml)", capsys.readouterr().out)
        return email.message_from_bytes(Path(eml).read_bytes(), policy=email.policy.default)

    assert send(project, PARAMS, "--dry-run", "--resend", "--no-html") == 0
    msg = sent()
    assert [p.get_filename() for p in msg.iter_attachments()] == ["demo-report.pdf"]
    assert parts(msg)["demo-report.pdf"].get_payload(decode=True) == made
    assert "attached as a PDF" in parts(msg)["text/plain"].get_content()

    assert send(project, PARAMS, "--dry-run", "--resend") == 0
    names = [p.get_filename() for p in sent().iter_attachments()]
    assert names == ["demo-report.pdf", "demo-report.html"]

    pdf_path.write_bytes(made + b"changed")  # not the run's print any more, none can be made
    assert send(project, PARAMS, "--dry-run", "--resend", "--no-html") == 0
    assert [p.get_filename() for p in sent().iter_attachments()] == ["demo-report.html"]
    assert len(list((project / "reports" / SLUG / "outbox").glob("*.eml"))) == 3  # none lost


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_email_body_fits_a_phone(project: Path, tmp_path: Path):
    """The HTML part at 390 px in a real browser: no sideways scrolling, no text under 12 px."""
    from playwright.sync_api import sync_playwright

    from analysis.config.params import load_client
    from analysis.ops.deliver import load_report, summary_html

    report = load_report(load_client(PARAMS, root=project))
    page_file = tmp_path / "email.html"
    page_file.write_text(summary_html(report, pdf=True), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium"), args=list(pdf.BROWSER_FLAGS)
        )
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(page_file.as_uri())
        got = page.evaluate(
            """() => ({
              width: document.scrollingElement.scrollWidth,
              smallest: Math.min(...[...document.querySelectorAll('body *')]
                .filter((e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.data.trim()))
                .map((e) => parseFloat(getComputedStyle(e).fontSize))),
              items: document.querySelectorAll('li').length,
            })"""
        )
        browser.close()
    assert got["width"] <= 390, got
    assert got["smallest"] >= 12, got
    assert got["items"] >= 3  # the shortfalls are listed


def test_server_down_is_retried_then_a_clear_error(project: Path, smtp: SmtpServer, monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("SMTP_PORT", str(port))
    delays: list[float] = []
    options = deliver.SendOptions(pdf=False, retries=3, retry_delay=0.5)
    with pytest.raises(DeliveryError) as err:
        deliver.send_client(PARAMS, project, options, sleep=delays.append)
    assert delays == [0.5, 1.0, 2.0]  # exponential backoff
    msg = str(err.value)
    assert f"connection to 127.0.0.1:{port} refused (is the mail server running?)" in msg
    assert "gave up after 4 attempts" in msg and msg.startswith("demo: not sent")
    assert not (project / "reports" / SLUG / "sent.json").exists()


def test_a_4xx_then_success(project: Path, smtp: SmtpServer, capsys):
    smtp.inbox.data_replies = ["451 4.3.0 Mail server busy, try again later"]
    assert send(project, PARAMS, "--no-pdf", "--retry-delay", "0.05") == 0
    assert "(after 2 attempts)" in capsys.readouterr().out
    assert smtp.inbox.data_calls == 2 and len(smtp.inbox.messages) == 1
    log = json.loads((project / "reports" / SLUG / "sent.json").read_text())
    assert log["sends"][0]["attempts"] == 2


def test_a_5xx_stops_that_client_and_the_others_carry_on(project: Path, smtp: SmtpServer, capsys):
    clone_client(project, "other", ["cx@other.example"])
    smtp.inbox.data_replies = ["554 5.7.1 Message rejected by policy"]  # the first client's
    code = send(project, "params/other.yaml", PARAMS, "--no-pdf", "--retry-delay", "0")
    assert code == 1
    out, err = capsys.readouterr()
    assert "other: not sent: the server answered 554 5.7.1 Message rejected by policy" in err
    assert "(permanent failure, not retried)" in err
    assert f"demo: sent to {LEAD}" in out
    assert smtp.inbox.data_calls == 2  # one try for other, one for demo
    assert [m.rcpt_tos for m in smtp.inbox.messages] == [[LEAD]]
    assert not (project / "reports" / "other" / "sent.json").exists()


def test_a_refused_recipient_is_reported_and_the_others_are_not_sent_twice(
    project: Path, smtp: SmtpServer, capsys
):
    set_recipients(project, SLUG, [LEAD, GONE])
    smtp.inbox.rcpt_replies[GONE] = "550 5.1.1 No such user"
    assert send(project, PARAMS, "--no-pdf") == 1
    err = capsys.readouterr().err
    assert f"sent to {LEAD}, but the server refused {GONE}: 550" in err
    assert [m.rcpt_tos for m in smtp.inbox.messages] == [[LEAD]]
    # every recipient refused: permanent, not retried
    set_recipients(project, SLUG, [GONE])
    assert send(project, PARAMS, "--no-pdf", "--retry-delay", "0") == 1
    assert f"refused the recipients: {GONE}: 550" in capsys.readouterr().err
    assert smtp.inbox.rcpt_calls.count(GONE) == 2
    # fixed params: the one who got it does not get it again
    set_recipients(project, SLUG, [LEAD])
    assert send(project, PARAMS, "--no-pdf") == 0
    assert len(smtp.inbox.messages) == 1


def test_wrong_password_and_untrusted_certificate_are_permanent(
    project: Path, smtp: SmtpServer, monkeypatch, capsys
):
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    assert send(project, PARAMS, "--no-pdf", "--retry-delay", "0") == 1
    assert "login as SMTP_USER='reports' failed: 535" in capsys.readouterr().err
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    monkeypatch.delenv("SMTP_CA_FILE")
    assert send(project, PARAMS, "--no-pdf", "--retry-delay", "0") == 1
    err = capsys.readouterr().err
    assert "TLS certificate could not be verified" in err and "SMTP_CA_FILE" in err
    assert smtp.inbox.messages == []


def test_a_report_that_does_not_match_its_manifest_is_not_sent(project: Path, smtp: SmtpServer):
    html = project / "reports" / SLUG / "report.html"
    html.write_text(html.read_text() + "<!-- edited -->")
    no_pdf = deliver.SendOptions(pdf=False)
    with pytest.raises(DeliveryError, match="is not the report its manifest"):
        deliver.send_client(PARAMS, project, no_pdf)
    shutil.rmtree(project / "reports")
    with pytest.raises(DeliveryError, match="there is no report to send"):
        deliver.send_client(PARAMS, project, no_pdf)
    assert smtp.inbox.data_calls == 0


def test_email_names_what_the_report_puts_first(demo_root: Path) -> None:
    """The email's list is the report's "Fix first": the top of the priority ranking (clear after
    the multiple-testing adjustment, important before unimportant), not the largest raw gaps."""
    import pandas as pd

    from analysis.config.params import load_client
    from analysis.cx import priorities
    from analysis.ops.deliver import Report, _findings

    root = demo_root
    client = load_client(PARAMS, root=root)
    gaps = pd.DataFrame(
        {
            "item": ["a", "b", "c", "d"],
            "label": ["A", "B", "C", "D"],
            "dimension": ["D"] * 4,
            "group": ["all"] * 4,
            "level": ["all"] * 4,
            "n": [40] * 4,
            "expectation": [5.0, 6.5, 6.4, 6.0],
            "performance": [4.1, 5.9, 6.1, 5.8],
            "gap": [-0.9, -0.6, -0.3, -0.2],
            "se": [0.1] * 4,
            "ci_low": [-1.1, -0.8, -0.58, -0.45],
            "ci_high": [-0.7, -0.4, -0.02, 0.05],
            "df": [39] * 4,
            "p_value": [0.001, 0.002, 0.04, 0.11],
            "p_adjusted": [0.004, 0.004, 0.053, 0.11],  # c is clear raw, not after adjustment
            "share_met": [0.3, 0.4, 0.5, 0.6],
            "share_met_se": [0.05] * 4,
        }
    )
    ranked = priorities.priorities(gaps, top=3)
    report = Report(
        client=client, html_path=root / "r.html", sha256="", manifest={}, priorities=ranked
    )
    top, n_short, n_items = _findings(report)
    # b (important: expectation above the mean) before a (larger gap, less important)
    assert (n_short, n_items) == (2, 4) and [t["label"] for t in top] == ["B", "A"]


# ---------------------------------------------------------------------------------------------
# hardening (issue 12): UTF-8 logins, no secret in a message, header values, per-recipient 4xx,
# timeouts, settings by name, no login without TLS to a remote host

UTF8_USER, UTF8_PASSWORD = "rapports-é", "pässwörd Ωμέγα 🔑"


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    clear_smtp_env(monkeypatch)
    for k, v in env.items():
        monkeypatch.setenv(k, v)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_non_ascii_user_and_password_log_in_as_utf8(
    project: Path, ca, monkeypatch, capsys, mechanism: str
):
    inbox = Inbox(user=UTF8_USER, password=UTF8_PASSWORD)
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    controller = start_server(ca, inbox=inbox, auth_exclude_mechanism=[other])
    server = controller.server_info
    try:
        use_env(monkeypatch, server.env(SMTP_USER=UTF8_USER, SMTP_PASSWORD=UTF8_PASSWORD))
        assert send(project, PARAMS, "--no-pdf") == 0
    finally:
        controller.stop()
    # the bytes that arrived are the UTF-8 of the password, byte for byte
    assert inbox.logins == [(mechanism, UTF8_USER.encode(), UTF8_PASSWORD.encode("utf-8"))]
    [got] = inbox.messages
    assert got.authenticated and got.tls


def test_a_failed_login_never_shows_the_password(project: Path, ca, monkeypatch, capsys):
    inbox = Inbox(user=UTF8_USER, password="the right one", echo_credentials=True)
    controller = start_server(ca, inbox=inbox)
    server = controller.server_info
    try:
        use_env(monkeypatch, server.env(SMTP_USER=UTF8_USER, SMTP_PASSWORD=UTF8_PASSWORD))
        assert send(project, PARAMS, "--no-pdf", "--retry-delay", "0") == 1
    finally:
        controller.stop()
    out, err = capsys.readouterr()
    assert f"login as SMTP_USER='{UTF8_USER}' failed: 535 5.7.8" in err
    assert inbox.logins[0][2] == UTF8_PASSWORD.encode()  # the server did get it, and echoed it
    b64 = base64.b64encode(UTF8_PASSWORD.encode()).decode()
    for secret in (UTF8_PASSWORD, b64, *UTF8_PASSWORD.split(), "position", "\\xe4"):
        assert secret not in out + err
    assert inbox.messages == []


def test_a_password_echoed_in_another_reply_is_redacted() -> None:
    from analysis.ops.smtp import reply_text

    s = SmtpSettings("127.0.0.1", 25, "none", SENDER, user="u", password="hunter2 ü")
    text = reply_text(s, 550, "no such user hunter2 ü, aHVudGVyMiDDvA==".encode())
    assert "hunter2" not in text and "aHVudGVyMiDDvA==" not in text and "[redacted]" in text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SMTP_FROM": "CX <cx@research.example>\r\nBcc: all@evil.example"}, "SMTP_FROM="),
        ({"SMTP_FROM": "cx@research.example\n"}, None),  # stripped: a trailing newline is fine
        ({"SMTP_FROM": "CX <cx@research.example>, other@evil.example"}, "SMTP_FROM="),
        ({"SMTP_USER": "reports\r\nRSET"}, "SMTP_USER="),
    ],
)
def test_header_values_from_the_environment_are_checked_and_nothing_is_sent(
    project: Path, smtp: SmtpServer, monkeypatch, capsys, env: dict[str, str], named: str | None
):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code = send(project, PARAMS, "--no-pdf")
    err = capsys.readouterr().err
    if named is None:
        assert code == 0 and len(smtp.inbox.messages) == 1
        return
    assert code == 2 and named in err and "Traceback" not in err
    assert smtp.inbox.rcpt_calls == [] and smtp.inbox.logins == []


def test_header_values_from_params_are_checked_and_nothing_is_sent(
    project: Path, smtp: SmtpServer, capsys
):
    path = project / PARAMS
    params = yaml.safe_load(path.read_text())
    # the subject is made from the title the run recorded (a run of a params file with this title)
    bad_title = "Harbourline\r\nBcc: all@evil.example"
    manifest_path = project / "data" / "processed" / SLUG / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(manifest | {"title": bad_title}))
    params["title"] = bad_title
    path.write_text(yaml.safe_dump(params))
    assert send(project, PARAMS, "--no-pdf") == 2
    err = capsys.readouterr().err
    assert "key 'title' contains a line break" in err
    manifest_path.write_text(json.dumps(manifest))
    params["title"] = TITLE
    params["report"]["recipients"] = [LEAD, "ceo@harbourline.example\x00"]
    path.write_text(yaml.safe_dump(params))
    assert send(project, PARAMS, "--no-pdf") == 2
    err = capsys.readouterr().err
    assert "key 'report.recipients'" in err and "not a valid email address" in err
    # a dry run checks them too
    assert send(project, PARAMS, "--no-pdf", "--dry-run") == 2
    assert smtp.inbox.rcpt_calls == [] and smtp.inbox.data_calls == 0
    assert not (project / "reports" / SLUG / "sent.json").exists()


def test_one_recipient_refused_for_now_is_retried_alone(
    project: Path, smtp: SmtpServer, monkeypatch
):
    set_recipients(project, SLUG, [LEAD, CEO])
    smtp.inbox.rcpt_once[CEO] = "451 4.3.2 Please try again later"
    log = project / "reports" / SLUG / "sent.json"
    logged_before_the_wait: list[list[str]] = []

    def sleep(seconds: float) -> None:  # the accepted one is logged before the retry waits
        logged_before_the_wait.append([r for e in json.loads(log.read_text())["sends"]
                                       for r in e["recipients"]])  # fmt: skip
        delays.append(seconds)

    delays: list[float] = []
    options = deliver.SendOptions(pdf=False, retries=3, retry_delay=0.5)
    result = deliver.send_client(PARAMS, project, options, sleep=sleep)
    assert result.status == "sent" and result.recipients == (LEAD, CEO)
    assert result.attempts == 2 and delays == [0.5]
    assert logged_before_the_wait == [[LEAD]]
    assert [m.rcpt_tos for m in smtp.inbox.messages] == [[LEAD], [CEO]]  # LEAD got it once
    ids = {m.message()["Message-ID"] for m in smtp.inbox.messages}
    assert len(ids) == 1  # the same message, to the one who was missing
    sends = json.loads(log.read_text())["sends"]
    assert [(e["recipients"], e["attempts"]) for e in sends] == [([LEAD], 1), ([CEO], 2)]
    assert deliver.send_client(PARAMS, project, options).status == "already-sent"


def test_a_recipient_refused_for_now_until_the_retries_run_out(
    project: Path, smtp: SmtpServer, capsys
):
    set_recipients(project, SLUG, [LEAD, CEO, GONE])
    smtp.inbox.rcpt_replies[CEO] = "452 4.2.2 Mailbox full"
    smtp.inbox.rcpt_replies[GONE] = "550 5.1.1 No such user"
    assert send(project, PARAMS, "--no-pdf", "--retries", "2", "--retry-delay", "0") == 1
    err = capsys.readouterr().err
    assert f"sent to {LEAD}, but the server refused {GONE}: 550 5.1.1 No such user" in err
    assert "fix those addresses" in err
    assert f"refused for now {CEO}: 452 4.2.2 Mailbox full (a temporary failure" in err
    assert "gave up after 3 attempts); run send again later" in err
    assert smtp.inbox.rcpt_calls.count(CEO) == 3 and smtp.inbox.rcpt_calls.count(GONE) == 1
    # the server has room again: only the one still missing gets it
    del smtp.inbox.rcpt_replies[CEO]
    set_recipients(project, SLUG, [LEAD, CEO])
    assert send(project, PARAMS, "--no-pdf") == 0
    assert [m.rcpt_tos for m in smtp.inbox.messages] == [[LEAD], [CEO]]


@dataclass
class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers (or answers only the greeting)."""

    greeting: bytes = b""
    port: int = 0
    connections: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.greeting:
                conn.sendall(self.greeting)

    def close(self) -> None:
        # closing a listening socket does not wake a thread blocked in accept(); a shutdown does
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for c in self.connections:
            c.close()
        self.thread.join(timeout=5)


@pytest.mark.parametrize(
    ("greeting", "waiting_for"),
    [(b"", "the server's greeting"), (b"220 silent ESMTP\r\n", "the reply to EHLO")],
)
def test_a_server_that_never_answers_is_a_timeout(
    project: Path, monkeypatch, greeting: bytes, waiting_for: str
):
    server = SilentServer(greeting)
    try:
        env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(server.port), "SMTP_FROM": SENDER}
        use_env(monkeypatch, env | {"SMTP_TIMEOUT": "0.3"})
        delays: list[float] = []
        options = deliver.SendOptions(pdf=False, retries=1, retry_delay=0.01)
        with pytest.raises(DeliveryError) as err:
            deliver.send_client(PARAMS, project, options, sleep=delays.append)
    finally:
        server.close()
    msg = str(err.value)
    assert f"timed out after 0.3 s waiting for {waiting_for} from 127.0.0.1:" in msg
    assert "SMTP_TIMEOUT" in msg and "closed the connection" not in msg
    assert "gave up after 2 attempts" in msg and delays == [0.01]


BASE_ENV = {"SMTP_HOST": "127.0.0.1", "SMTP_FROM": "cx@research.example"}


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        *[({"SMTP_TIMEOUT": t}, f"SMTP_TIMEOUT='{t}' is not a number of seconds")
          for t in ("nan", "-1", "0", "inf", "soon", "1e9")],
        *[({"SMTP_PORT": p}, f"SMTP_PORT='{p}' is not a port number")
          for p in ("0", "-1", "nan", "25.0", "70000", "+25", "2_5")],
        ({"SMTP_HOST": "smtp.example.org:587"}, "put the port in SMTP_PORT"),
        ({"SMTP_HOST": "smtp example org"}, "SMTP_HOST='smtp example org' is not a host name"),
        ({"SMTP_USER": "u", "SMTP_PASSWORD": "s3cret\n"}, "SMTP_PASSWORD contains a control"),
        ({"SMTP_CA_FILE": __file__}, "is not a readable PEM file of CA certificates"),
    ],
)  # fmt: skip
def test_settings_are_checked_by_name(extra: dict[str, str], match: str) -> None:
    with pytest.raises(DeliveryError, match=re.escape(match)) as err:
        SmtpSettings.from_env(BASE_ENV | extra)
    assert "s3cret" not in str(err.value)


def test_good_settings_are_read() -> None:
    s = SmtpSettings.from_env(BASE_ENV | {"SMTP_TIMEOUT": "2.5", "SMTP_PORT": "2525"})
    assert (s.timeout, s.port, s.host) == (2.5, 2525, "127.0.0.1")
    assert SmtpSettings.from_env(BASE_ENV | {"SMTP_HOST": "[::1]"}).host == "::1"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_login_without_tls_is_refused_unless_the_host_is_loopback(
    project: Path, monkeypatch, capsys, tmp_path: Path
):
    remote = BASE_ENV | {"SMTP_HOST": "smtp.example.org", "SMTP_SECURITY": "none"}
    with pytest.raises(DeliveryError, match=r"use SMTP_SECURITY=starttls .* or ssl"):
        SmtpSettings.from_env(remote | {"SMTP_USER": "u", "SMTP_PASSWORD": "p"})
    use_env(monkeypatch, remote | {"SMTP_USER": "u", "SMTP_PASSWORD": "p"})
    assert send(project, PARAMS, "--no-pdf") == 2
    err = capsys.readouterr().err
    assert "unencrypted" in err and "'smtp.example.org'" in err and "p'" not in err
    assert SmtpSettings.from_env(remote).user is None  # no login: a relay, allowed

    # to this machine: allowed, with a warning, and the login works
    inbox, port = Inbox(), free_port()
    plain = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate,
        auth_required=True, auth_require_tls=False,
    )  # fmt: skip
    plain.start()
    try:
        use_env(monkeypatch, SmtpServer(inbox, port, tmp_path).env(SMTP_SECURITY="none"))
        monkeypatch.delenv("SMTP_CA_FILE")
        assert send(project, PARAMS, "--no-pdf") == 0
    finally:
        plain.stop()
    out = capsys.readouterr().out
    assert "warning: logging in as SMTP_USER='reports' without TLS" in out
    assert "is this machine" in out
    [got] = inbox.messages
    assert got.authenticated and not got.tls


# ---------------------------------------------------------------------------------------------
# each owner's part of the action plan (report.owners)


def test_each_owner_gets_only_their_lines_and_send_is_idempotent_per_owner(
    project: Path, smtp: SmtpServer, demo_run, capsys
):
    from analysis.ops import demo

    plan = pd.read_csv(project / "data" / "processed" / SLUG / "action_plan.csv")
    assert send(project, PARAMS, "--no-pdf", owners=True) == 0
    out = capsys.readouterr().out
    owners = dict(demo.OWNER_EMAILS)
    assert len(smtp.inbox.messages) == 1 + len(owners)  # the client's, then one per owner
    by_owner = {}
    for got in smtp.inbox.messages[1:]:
        msg = got.message()
        [owner] = [o for o, emails in owners.items() if got.rcpt_tos == list(emails)]
        by_owner[owner] = msg
        assert " ".join(msg["Subject"].split()) == f"Your action plan ({owner}): {TITLE}"
        assert f"demo ({owner}): sent to {owners[owner][0]}" in out
    assert set(by_owner) == set(owners)
    for owner, msg in by_owner.items():
        by = parts(msg)
        text, body = by["text/plain"].get_content(), by["text/html"].get_content()
        assert "<script" not in body.lower() and "<img" not in body
        mine = plan[plan["owner"] == owner]
        others = plan[plan["owner"] != owner]
        for label in mine["label"]:
            assert label in text
        for label in others["label"]:  # no other owner's line, in either part
            assert label not in text and label not in body
        names = [p.get_filename() for p in msg.iter_attachments()]
        assert names == [deliver.owner_attachment_name_for(SLUG, owner)]
        attached = pd.read_csv(io.BytesIO(by[names[0]].get_payload(decode=True)))
        assert list(attached["item"]) == list(mine["item"])  # their rows only, plan order
        assert "report.html" not in " ".join(names)
    customer_service = parts(by_owner["Customer service"])["text/html"].get_content()
    assert demo_run.HOSTILE_ESCAPED in customer_service  # the hostile label is theirs, escaped

    log = json.loads((project / "reports" / SLUG / "sent.json").read_text())
    assert sorted(e.get("owner") or "" for e in log["sends"]) == sorted(["", *owners])

    # again: nobody is sent the same report twice; a new address of one owner gets it alone
    assert send(project, PARAMS, "--no-pdf", owners=True) == 0
    assert len(smtp.inbox.messages) == 1 + len(owners)
    assert "demo (Billing): already sent" in capsys.readouterr().out
    path = project / PARAMS
    params = yaml.safe_load(path.read_text())
    params["report"]["owners"]["Billing"].append("billing-lead@harbourline.example")
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    assert send(project, PARAMS, "--no-pdf", owners=True) == 0
    assert len(smtp.inbox.messages) == 2 + len(owners)
    assert smtp.inbox.messages[-1].rcpt_tos == ["billing-lead@harbourline.example"]
    # --no-owners: the client's message only
    assert send(project, PARAMS, "--no-pdf", "--resend") == 0
    assert len(smtp.inbox.messages) == 3 + len(owners)
    assert smtp.inbox.messages[-1].rcpt_tos == [LEAD]


def test_an_action_plan_that_is_not_the_reports_is_not_sent(project: Path, smtp: SmtpServer):
    path = project / "data" / "processed" / SLUG / "action_plan.csv"
    path.write_text(path.read_text().replace("Billing", "Marketing"))
    options = deliver.SendOptions(pdf=False)
    results = deliver.send_clients([PARAMS], root=project, options=options)
    assert [r.status for r in results] == ["sent", "failed"]
    assert "not the action plan of this report" in results[1].detail
    assert len(smtp.inbox.messages) == 1  # the client's message only


def test_batch_send_mails_the_owners_too(project: Path, smtp: SmtpServer, demo_run):
    """``batch --send`` sends what ``send`` does: the client's message, then each owner's part;
    the summary says how many owners were sent theirs."""
    from analysis.ops import batch, demo

    done = batch.Outcome(client=SLUG, params_file=project / PARAMS, status="ok", seconds=1.0)
    [out] = batch.send_reports([done], project, deliver.SendOptions(pdf=False))
    owners = len(demo.OWNER_EMAILS)
    assert out.good and out.send == f"sent (1); owners {owners} of {owners}"
    assert len(smtp.inbox.messages) == 1 + owners
    [again] = batch.send_reports([done], project, deliver.SendOptions(pdf=False))
    assert again.send == f"already sent; owners {owners} of {owners}"
    assert len(smtp.inbox.messages) == 1 + owners  # nothing twice
    [plain] = batch.send_reports([done], project, deliver.SendOptions(pdf=False, owners=False))
    assert plain.send == "already sent"
