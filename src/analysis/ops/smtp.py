"""SMTP: the settings (from the environment only, never from params files), one attempt to send a
message, and the retry policy that tells temporary failures from permanent ones.

Environment::

    SMTP_HOST       the server (required): a host name or an IP address, without a port
    SMTP_PORT       default 587 for starttls, 465 for ssl, 25 for none
    SMTP_SECURITY   starttls (default) | ssl | none (a local relay without TLS)
    SMTP_USER       log in with this user (no authentication is attempted without it)
    SMTP_PASSWORD   the user's password (required with SMTP_USER); any Unicode, sent as UTF-8
    SMTP_FROM       the sender, e.g. "CX Research <cx@example.org>" (required)
    SMTP_CA_FILE    optional: a PEM file of CA certificates to trust (a private relay's CA)
    SMTP_TIMEOUT    optional: seconds to wait for each reply of the server (default 30)

Every setting is checked by name before anything is sent (:class:`SettingsError`). A login over
an unencrypted connection (``SMTP_SECURITY=none`` with ``SMTP_USER``) is refused unless the host is
a loopback address (then it is allowed, with a warning).

The login is AUTH PLAIN, or AUTH LOGIN when the server offers only that, with the user and password
encoded as UTF-8 (smtplib's own ``login`` encodes them as ASCII). No message ever carries the
password: a reply to AUTH is reported by its codes only, and any other text that is shown has the
password (and its base64 forms) removed.

Temporary failures (4xx replies, connection refused or dropped, timeouts) are retried with
exponential backoff; permanent ones (5xx, authentication, TLS) raise at once. When the server
refuses some recipients and accepts the others, the message has reached the accepted ones (they
are reported at once, to be logged, and never sent it again); those refused with a 4xx are tried
again, alone, with the same backoff.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import math
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from analysis.config.params import EMAIL
from analysis.errors import DeliveryError

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0

Refused = dict[str, tuple[int, bytes]]  # recipient -> (SMTP code, server message)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


class SettingsError(DeliveryError):
    """A setting or a header value is invalid: nothing was sent (the CLI exits 2)."""


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
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if self.user and self.security == "none" and not is_loopback(self.host):
            raise SettingsError(
                f"SMTP_SECURITY=none with SMTP_USER set would send the password unencrypted to "
                f"SMTP_HOST={self.host!r}; use SMTP_SECURITY=starttls (port 587) or ssl (port "
                "465), or unset SMTP_USER and SMTP_PASSWORD for a relay that needs no login"
            )

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the user should know about these settings (a login without TLS to this host)."""
        if self.user and self.security == "none":
            return (
                f"logging in as SMTP_USER={self.user!r} without TLS (SMTP_SECURITY=none); "
                f"allowed only because SMTP_HOST={self.host!r} is this machine",
            )
        return ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read the settings; raise :class:`SettingsError` naming what is missing or wrong."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        missing = [n for n in ("SMTP_HOST", "SMTP_FROM") if not get(n)]
        if missing:
            raise SettingsError(
                f"email settings missing: set {' and '.join(missing)} in the environment (and "
                "SMTP_PORT, SMTP_SECURITY, SMTP_USER, SMTP_PASSWORD as your mail server needs). "
                "SMTP settings are read from the environment only, never from params files; "
                "use --dry-run to write the messages to files instead"
            )
        security = _security(get("SMTP_SECURITY"))
        user, password = _credentials(get("SMTP_USER"), env.get("SMTP_PASSWORD") or None)
        return cls(
            host=_host(str(get("SMTP_HOST"))),
            port=_port(get("SMTP_PORT"), security),
            security=security,
            sender=check_sender(str(get("SMTP_FROM")), "SMTP_FROM"),
            user=user,
            password=password,
            ca_file=_ca_file(get("SMTP_CA_FILE")),
            timeout=_timeout(get("SMTP_TIMEOUT")),
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checks always on; ``SMTP_CA_FILE`` adds trusted CAs."""
        ctx = ssl.create_default_context()
        if self.ca_file:
            ctx.load_verify_locations(cafile=self.ca_file)
        return ctx


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1); names are not resolved."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _security(text: str | None) -> str:
    security = (text or "starttls").lower()
    if security not in SECURITY_MODES:
        raise SettingsError(
            f"SMTP_SECURITY={security!r} is not one of {', '.join(SECURITY_MODES)} "
            "(starttls: upgrade to TLS on the submission port, usually 587; ssl: TLS from the "
            "start, usually 465; none: a local relay without TLS)"
        )
    return security


def _host(text: str) -> str:
    host = text.strip("[]")
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    if not _HOST_NAME.match(host):
        hint = "; put the port in SMTP_PORT" if re.match(r"^[^:]+:\d+$", host) else ""
        raise SettingsError(
            f"SMTP_HOST={text!r} is not a host name or an IP address (e.g. smtp.example.org)" + hint
        )
    return host


def _port(text: str | None, security: str) -> int:
    if text is None:
        return DEFAULT_PORTS[security]
    port = int(text) if re.fullmatch(r"\d{1,5}", text) else 0
    if not 0 < port < 65536:
        raise SettingsError(f"SMTP_PORT={text!r} is not a port number (1-65535)")
    return port


def _credentials(user: str | None, password: str | None) -> tuple[str | None, str | None]:
    if user and not password:
        raise SettingsError("SMTP_USER is set but SMTP_PASSWORD is not; set both or neither")
    if user and _CONTROL.search(user):
        raise SettingsError(f"SMTP_USER={user!r} contains a control character (a line break?)")
    if password and _CONTROL.search(password):  # never shown, nor where
        raise SettingsError(
            "SMTP_PASSWORD contains a control character (a line break, a tab or a NUL, e.g. a "
            "trailing newline read from a file); set it to the password alone"
        )
    return user, password


def check_sender(text: str, name: str) -> str:
    """``text`` as a From header (``Name <address>`` or ``address``); raise
    :class:`SettingsError` naming ``name`` if it has a line break or no valid address."""
    if _CONTROL.search(text):
        raise SettingsError(
            f"{name}={text!r} contains a line break or another control character; "
            "a header value is one line"
        )
    try:
        parsed = EmailMessage()
        parsed["From"] = text
        addresses = parsed["From"].addresses
        ok = len(addresses) == 1 and EMAIL.match(addresses[0].addr_spec) is not None
        ok = ok and addresses[0].addr_spec == parseaddr(text)[1]
    except (ValueError, IndexError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise SettingsError(
            f"{name}={text!r} has no valid email address; use e.g. "
            "'CX Research <cx@example.org>' or 'cx@example.org'"
        )
    return text


def check_recipient(address: str, where: str) -> str:
    """``address`` as a bare recipient address; raise :class:`SettingsError` naming ``where``."""
    try:
        ok = not _CONTROL.search(address) and EMAIL.match(address) is not None
        ok = ok and Address(addr_spec=address).addr_spec == address
    except (ValueError, IndexError, TypeError):
        ok = False
    if not ok:
        raise SettingsError(f"{where}: {address!r} is not a valid email address")
    return address


def _ca_file(path: str | None) -> str | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise SettingsError(f"SMTP_CA_FILE={path!r}: file not found")
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        raise SettingsError(
            f"SMTP_CA_FILE={path!r} is not a readable PEM file of CA certificates"
        ) from None
    return path


def _timeout(text: str | None) -> float:
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_TIMEOUT:  # nan, inf, 0 and negatives fail this
        raise SettingsError(
            f"SMTP_TIMEOUT={text!r} is not a number of seconds between 0 and "
            f"{MAX_TIMEOUT:.0f} (e.g. 30)"
        )
    return seconds


# ---------------------------------------------------------------------------------------------
# one attempt

_VERBS = {"ehlo", "helo", "starttls", "auth", "mail", "rcpt", "data", "rset", "quit", "noop"}
_STATUS = re.compile(rb"^\s*([245]\.\d{1,3}\.\d{1,3})")


class _Tracked:
    """Remembers the last SMTP command sent (its verb only: never an argument), so a failure
    can say what it was waiting for."""

    waiting_for = "the server's greeting"

    def putcmd(self, cmd: str, args: str = "") -> None:
        if cmd.lower() in _VERBS:
            self.waiting_for = f"the reply to {cmd.upper()}"
        super().putcmd(cmd, args)  # type: ignore[misc]


class _SMTP(_Tracked, smtplib.SMTP):
    pass


class _SMTP_SSL(_Tracked, smtplib.SMTP_SSL):
    pass


class _Failed(Exception):
    """An attempt failed: the original exception, and what it was waiting for."""

    def __init__(self, exc: BaseException, waiting_for: str) -> None:
        super().__init__(waiting_for)
        self.exc = exc
        self.waiting_for = waiting_for


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN (or LOGIN) with UTF-8 credentials (RFC 4954, 4616); smtplib's ``login``
    would encode them as ASCII."""
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    offered = smtp.esmtp_features["auth"].upper().split()
    user_bytes, password_bytes = user.encode("utf-8"), password.encode("utf-8")
    if "PLAIN" in offered:
        blob = b"\0" + user_bytes + b"\0" + password_bytes
        code, reply = smtp.docmd("AUTH", "PLAIN " + _b64(blob))
    elif "LOGIN" in offered:
        code, reply = smtp.docmd("AUTH", "LOGIN " + _b64(user_bytes))
        if code == 334:
            code, reply = smtp.docmd(_b64(password_bytes))
    else:
        raise _NoMechanism(offered)
    if code not in (235, 503):  # 503: already authenticated
        raise smtplib.SMTPAuthenticationError(code, reply)


class _NoMechanism(Exception):
    def __init__(self, offered: list[str]) -> None:
        super().__init__(" ".join(offered))
        self.offered = offered


def _smtp_send(settings: SmtpSettings, msg: EmailMessage, recipients: Sequence[str]) -> Refused:
    """One attempt; returns the recipients the server refused (when it accepted others).

    Raises :class:`_Failed` with the original exception and what the attempt was waiting for.
    """
    timeout = settings.timeout
    smtp: smtplib.SMTP | None = None
    try:
        if settings.security == "ssl":
            smtp = _SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=settings.tls_context()
            )
        else:
            smtp = _SMTP(settings.host, settings.port, timeout=timeout)
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=settings.tls_context())
            smtp.ehlo()
        if settings.user:
            _login(smtp, settings.user, settings.password or "")
        return smtp.send_message(msg, from_addr=settings.sender_address, to_addrs=list(recipients))
    except Exception as exc:
        if smtp is None:  # the TCP connection, the TLS handshake, or the greeting
            waiting = (
                "the server's greeting"
                if _timed_out(exc) and isinstance(exc, smtplib.SMTPServerDisconnected)
                else f"the connection to {settings.host}:{settings.port}"
            )
        else:
            waiting = str(getattr(smtp, "waiting_for", "the server"))
        raise _Failed(exc, waiting) from None
    finally:
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()


# ---------------------------------------------------------------------------------------------
# what went wrong


class _Temporary(Exception):
    """Worth trying again later."""


class _Permanent(Exception):
    """Trying again will not help."""


def _timed_out(exc: BaseException) -> bool:
    """A timeout, also when smtplib reports it as a closed connection."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError | socket.timeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def redact(text: str, settings: SmtpSettings) -> str:
    """``text`` without the password, in clear or in any base64 form it was sent in."""
    password = settings.password
    if not password:
        return text
    user = (settings.user or "").encode("utf-8")
    secret = password.encode("utf-8")
    forms = {password, _b64(secret), _b64(b"\0" + user + b"\0" + secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "[redacted]")
    return text


def reply_text(settings: SmtpSettings, code: int, message: Any) -> str:
    """A server's reply as text, with any echo of the password removed."""
    return redact(f"{code} {decode(message)}".strip(), settings)


def _auth_failure(exc: smtplib.SMTPAuthenticationError, settings: SmtpSettings) -> Exception:
    """A reply to AUTH is shown by its codes only: its text could echo what was sent."""
    status = _STATUS.match(exc.smtp_error if isinstance(exc.smtp_error, bytes) else b"")
    codes = f"{exc.smtp_code}" + (f" {status.group(1).decode()}" if status else "")
    temporary = 400 <= exc.smtp_code < 500
    return (_Temporary if temporary else _Permanent)(
        f"login as SMTP_USER={settings.user!r} failed: {codes} "
        f"({'a temporary failure' if temporary else 'user or password not accepted'}); "
        "check SMTP_USER and SMTP_PASSWORD"
    )


def _classify(failure: _Failed, settings: SmtpSettings) -> Exception:
    exc, where = failure.exc, f"{settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _auth_failure(exc, settings)
    if isinstance(exc, _NoMechanism):
        return _Permanent(
            f"{where} offers no login the client supports (AUTH {' '.join(exc.offered)}; "
            "needed: PLAIN or LOGIN)"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Permanent(f"{where}: {_unsupported(str(exc))}")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (_Temporary if 400 <= exc.smtp_code < 500 else _Permanent)(
            f"the server refused the sender (SMTP_FROM): "
            f"{reply_text(settings, exc.smtp_code, exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        cls = _Temporary if 400 <= code < 500 else _Permanent
        return cls(f"the server answered {reply_text(settings, code, exc.smtp_error)}")
    if _timed_out(exc):
        return _Temporary(
            f"timed out after {settings.timeout:g} s waiting for {failure.waiting_for} "
            f"from {where} (SMTP_TIMEOUT)"
        )
    return _connection_failure(exc, settings, failure.waiting_for)


def _unsupported(text: str) -> str:
    lowered = text.lower()
    if "starttls" in lowered:
        return (
            "the server does not offer STARTTLS; use SMTP_SECURITY=ssl for a TLS port, or "
            "SMTP_SECURITY=none only for a local relay"
        )
    if "auth" in lowered:
        return (
            "the server does not offer authentication (unset SMTP_USER for a relay that needs none)"
        )
    if "smtputf8" in lowered:
        return (
            "SMTP_FROM or a recipient has a non-ASCII address and the server does not support "
            "internationalized email (SMTPUTF8)"
        )
    return "the server does not support a needed extension"


def _connection_failure(exc: BaseException, settings: SmtpSettings, waiting: str) -> Exception:
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _Permanent(
            f"{where}: the server's TLS certificate could not be verified ({exc.verify_message}); "
            "if it is signed by a private CA, set SMTP_CA_FILE to that CA's certificate"
        )
    if isinstance(exc, ssl.SSLError):
        return _Permanent(
            f"{where}: TLS failed ({exc.reason or type(exc).__name__}); check SMTP_SECURITY and "
            "SMTP_PORT"
        )
    if isinstance(exc, ConnectionRefusedError):
        return _Temporary(f"connection to {where} refused (is the mail server running?)")
    if isinstance(exc, socket.gaierror):
        return _Permanent(f"SMTP_HOST={settings.host!r} cannot be resolved ({exc.strerror})")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Temporary(f"{where} closed the connection while we waited for {waiting}")
    if isinstance(exc, OSError):
        return _Temporary(f"cannot connect to {where}: {exc.strerror or type(exc).__name__}")
    # anything else: named by its step and type, never by its text (it could quote a secret)
    return _Permanent(f"sending failed while waiting for {waiting} ({type(exc).__name__})")


def decode(value: Any) -> str:
    """An SMTP server's message (bytes) as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# ---------------------------------------------------------------------------------------------
# sending, with retries


@dataclass(frozen=True)
class Delivery:
    """What became of one message: who has it, who was refused for good, who is still pending.

    ``refused``, ``deferred`` and ``failed`` map a recipient to the server's reply (or the
    failure) as text.
    """

    attempts: int
    accepted: tuple[str, ...]
    refused: dict[str, str] = field(default_factory=dict)  # 5xx: fix the address
    deferred: dict[str, str] = field(default_factory=dict)  # 4xx when the retries ran out
    failed: dict[str, str] = field(default_factory=dict)  # a later attempt failed for good


@dataclass(frozen=True)
class Retry:
    """How to retry a temporary failure: ``retries`` times, waiting ``delay`` seconds, then
    twice as long each time; ``sleep`` waits."""

    retries: int = 4
    delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep


def send_message(
    settings: SmtpSettings,
    msg: EmailMessage,
    recipients: Sequence[str],
    retry: Retry | None = None,
    on_accepted: Callable[[list[str], int], None] | None = None,
) -> Delivery:
    """Send ``msg``; retry temporary failures as ``retry`` says (default :class:`Retry`). A
    recipient refused with a 4xx while others were accepted is tried
    again alone (with the same backoff); ``on_accepted(recipients, attempt)`` is called as soon as
    the server accepts the message for some, before any wait.

    Raises :class:`DeliveryError` when no recipient got it: a permanent failure, or the retries
    used up.
    """
    retry = retry or Retry()
    pending, accepted = list(recipients), []
    refused: dict[str, str] = {}  # 5xx to RCPT
    failed: dict[str, str] = {}  # a permanent failure of a whole attempt
    attempt = 0
    while True:
        attempt += 1
        missed, whole = _attempt(settings, msg, pending)
        now = [r for r in pending if r not in missed]
        if now:
            accepted += now
            if on_accepted is not None:
                on_accepted(now, attempt)
        (failed if whole else refused).update({r: w for r, (t, w) in missed.items() if not t})
        pending = [r for r in pending if r in missed and missed[r][0]]
        if pending and attempt <= retry.retries:
            retry.sleep(retry.delay * 2 ** (attempt - 1))
            continue
        deferred = {r: missed[r][1] for r in pending}
        if not accepted:
            last = _Temporary(_why(deferred)) if deferred else _Permanent(_why(failed | refused))
            raise _give_up(last, attempt)
        return Delivery(attempt, tuple(accepted), refused, deferred, failed)


def _attempt(
    settings: SmtpSettings, msg: EmailMessage, pending: list[str]
) -> tuple[dict[str, tuple[bool, str]], bool]:
    """One attempt: the recipients who did not get the message, each with (temporary?, why),
    and whether the whole attempt failed (rather than the server refusing recipients)."""
    try:
        got = _smtp_send(settings, msg, pending)
    except _Failed as failure:
        if not isinstance(failure.exc, smtplib.SMTPRecipientsRefused):
            kind = _classify(failure, settings)
            return {r: (isinstance(kind, _Temporary), str(kind)) for r in pending}, True
        got = dict(failure.exc.recipients)
    return {r: (400 <= c < 500, reply_text(settings, c, m)) for r, (c, m) in got.items()}, False


def _why(reasons: Mapping[str, str]) -> str:
    """The reasons recipients did not get the message, as one sentence."""
    texts = set(reasons.values())
    if len(texts) == 1 and not re.match(r"\d{3}\b", next(iter(texts))):
        return next(iter(texts))  # one failure of the whole attempt (a timeout, a 554 ...)
    return "the server refused the recipients: " + "; ".join(
        f"{r}: {why}" for r, why in sorted(reasons.items())
    )


def _give_up(kind: Exception, attempt: int) -> DeliveryError:
    if isinstance(kind, _Permanent):
        return DeliveryError(f"not sent: {kind} (permanent failure, not retried)")
    return DeliveryError(
        f"not sent: {kind}; gave up after {attempt} attempt{'s' if attempt > 1 else ''} "
        "(temporary failure); try again later"
    )
