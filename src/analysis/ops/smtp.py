"""SMTP: the settings (from the environment only, never from params files), one attempt to send a
message, and the retry policy that tells temporary failures from permanent ones.

Environment::

    SMTP_HOST       the server (required)
    SMTP_PORT       default 587 for starttls, 465 for ssl, 25 for none
    SMTP_SECURITY   starttls (default) | ssl | none (a local relay without TLS)
    SMTP_USER       log in with this user (no authentication is attempted without it)
    SMTP_PASSWORD   the user's password (required with SMTP_USER)
    SMTP_FROM       the sender, e.g. "CX Research <cx@example.org>" (required)
    SMTP_CA_FILE    optional: a PEM file of CA certificates to trust (a private relay's CA)
    SMTP_TIMEOUT    optional: seconds to wait for the server (default 30)

Temporary failures (4xx replies, connection refused or dropped, timeouts) are retried with
exponential backoff; permanent ones (5xx, authentication, TLS) raise at once.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from analysis.config.params import EMAIL
from analysis.errors import DeliveryError

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 30.0

Refused = dict[str, tuple[int, bytes]]  # recipient -> (SMTP code, server message)


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
        security = _security(get("SMTP_SECURITY"))
        port = _port(get("SMTP_PORT"), security)
        sender = _sender(str(get("SMTP_FROM")))
        user, password = get("SMTP_USER"), env.get("SMTP_PASSWORD") or None
        if user and not password:
            raise DeliveryError("SMTP_USER is set but SMTP_PASSWORD is not; set both or neither")
        ca_file = get("SMTP_CA_FILE")
        if ca_file and not Path(ca_file).is_file():
            raise DeliveryError(f"SMTP_CA_FILE={ca_file!r}: file not found")
        return cls(
            host=str(get("SMTP_HOST")),
            port=port,
            security=security,
            sender=sender,
            user=user,
            password=password,
            ca_file=ca_file,
            timeout=_timeout(get("SMTP_TIMEOUT")),
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checks always on; ``SMTP_CA_FILE`` adds trusted CAs."""
        ctx = ssl.create_default_context()
        if self.ca_file:
            ctx.load_verify_locations(cafile=self.ca_file)
        return ctx


def _security(text: str | None) -> str:
    security = (text or "starttls").lower()
    if security not in SECURITY_MODES:
        raise DeliveryError(
            f"SMTP_SECURITY={security!r} is not one of {', '.join(SECURITY_MODES)} "
            "(starttls: upgrade to TLS on the submission port, usually 587; ssl: TLS from the "
            "start, usually 465; none: a local relay without TLS)"
        )
    return security


def _port(text: str | None, security: str) -> int:
    if text is None:
        return DEFAULT_PORTS[security]
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise DeliveryError(f"SMTP_PORT={text!r} is not a port number (1-65535)")
    return port


def _sender(text: str) -> str:
    if not EMAIL.match(parseaddr(text)[1] or ""):
        raise DeliveryError(
            f"SMTP_FROM={text!r} has no valid email address; use e.g. "
            "'CX Research <cx@example.org>' or 'cx@example.org'"
        )
    return text


def _timeout(text: str | None) -> float:
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise DeliveryError(f"SMTP_TIMEOUT={text!r} is not a number of seconds") from None


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
        text = "; ".join(f"{r}: {code} {decode(msg)}" for r, (code, msg) in sorted(refused.items()))
        temporary = all(400 <= code < 500 for code, _ in refused.values())
        return (_Temporary if temporary else _Permanent)(
            f"the server refused the recipients: {text}"
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        cls = _Temporary if 400 <= exc.smtp_code < 500 else _Permanent
        return cls(
            f"login as SMTP_USER={settings.user!r} failed: {exc.smtp_code} "
            f"{decode(exc.smtp_error)}; check SMTP_USER and SMTP_PASSWORD"
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
        return cls(f"the server answered {code} {decode(exc.smtp_error)}")
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


def decode(value: Any) -> str:
    """An SMTP server's message (bytes) as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _smtp_send(settings: SmtpSettings, msg: EmailMessage, recipients: Sequence[str]) -> Refused:
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


def send_message(
    settings: SmtpSettings,
    msg: EmailMessage,
    recipients: Sequence[str],
    retries: int = 4,
    retry_delay: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, Refused]:
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
