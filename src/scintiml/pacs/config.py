"""The PACS configuration file (YAML): where the PACS is, how to talk to it, what to fetch, how hard to retry.

Secrets (DICOMweb password or bearer token) come from the file or from an environment variable named in it;
they are never accepted on the command line and never printed: :class:`Auth` hides them from ``repr``.
Relative paths in the file (state folder, TLS files) are taken relative to the file's own folder, so a
department can keep the configuration and its state together. The layout is documented in ``docs/pacs.md``
with an example in ``docs/pacs-example.yaml``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PacsConfigError

__all__ = ["Auth", "Tls", "PacsEndpoint", "Query", "RetryPolicy", "PacsConfig", "load_config", "parse_config"]

_AE_RE = re.compile(r"^[ -~]{1,16}$")  # DICOM AE title: 1-16 printable ASCII characters


@dataclass(frozen=True)
class Auth:
    """DICOMweb credentials: basic auth (username + password) or a bearer token; secrets are not in ``repr``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Tls:
    """DIMSE over TLS: the CA that signs the PACS certificate, and our own certificate and key (optional)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self, server: bool = False):
        """An :class:`ssl.SSLContext` for an association (client) or for the listener (``server=True``)."""
        import ssl

        purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
        try:
            ctx = ssl.create_default_context(purpose, cafile=str(self.ca_file) if self.ca_file else None)
        except (ssl.SSLError, OSError) as exc:
            raise PacsConfigError(f"tls.ca_file {str(self.ca_file)!r} holds no usable CA certificate "
                                  f"({getattr(exc, 'reason', None) or exc}); give the PEM file of the CA that signs "
                                  "the PACS certificate") from None
        if self.cert_file:
            try:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
            except (ssl.SSLError, OSError) as exc:
                raise PacsConfigError(f"tls.cert_file {str(self.cert_file)!r} / tls.key_file "
                                      f"{str(self.key_file) if self.key_file else '(none)'!r} cannot be used "
                                      f"({getattr(exc, 'reason', None) or exc}); give our PEM certificate and its "
                                      "key") from None
        if server and self.ca_file:
            ctx.verify_mode = ssl.CERT_REQUIRED  # the PACS must show a certificate signed by our CA
        return ctx


@dataclass(frozen=True)
class PacsEndpoint:
    """One PACS (or one destination) reached over DICOMweb or DIMSE."""

    protocol: str  # "dicomweb" or "dimse"
    url: str | None = None  # DICOMweb base URL (QIDO/WADO/STOW below it)
    host: str | None = None  # DIMSE
    port: int | None = None
    ae_title: str | None = None  # the PACS's (called) AE title
    retrieve: str = "get"  # DIMSE retrieval: "get" (C-GET) or "move" (C-MOVE to our own AE)
    timeout_s: float = 30.0
    auth: Auth = field(default_factory=Auth)
    tls: Tls | None = None
    verify: bool | str = True  # DICOMweb https: verify certificates (or a CA bundle path)


@dataclass(frozen=True)
class Query:
    """Which studies ``triage --pacs`` fetches: modality, study-date range, study-description pattern."""

    modality: str = "NM"
    date_from: str | None = None  # YYYYMMDD
    date_to: str | None = None
    description: str | None = None  # shell-style pattern, case-insensitive ("*PERF*")
    limit: int = 1000

    def date_range(self) -> str | None:
        """The DICOM range matching value (``YYYYMMDD-YYYYMMDD``, either end open), or None for any date."""
        if not self.date_from and not self.date_to:
            return None
        return f"{self.date_from or ''}-{self.date_to or ''}"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: attempt ``k`` (from 1) waits ``min(backoff_s * 2**(k-1), max_backoff_s)`` before the next."""

    attempts: int = 5
    backoff_s: float = 2.0
    max_backoff_s: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Examples
        --------
        >>> [RetryPolicy(backoff_s=2, max_backoff_s=10).delay(k) for k in (1, 2, 3, 4)]
        [2.0, 4.0, 8.0, 10.0]
        """
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


@dataclass(frozen=True)
class PacsConfig:
    """The whole configuration: source PACS, result destination, our own AE, query, listener and retries."""

    source: PacsEndpoint
    destination: PacsEndpoint
    local_ae_title: str = "SCINTIML"
    local_host: str = "0.0.0.0"
    local_port: int = 11112
    local_tls: Tls | None = None
    query: Query = field(default_factory=Query)
    state_dir: Path = Path("scintiml-pacs")
    quiet_time_s: float = 30.0
    poll_s: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def load_config(path: str | Path) -> PacsConfig:
    """Read and validate a PACS configuration file.

    Parameters
    ----------
    path : path
        YAML file (layout in ``docs/pacs.md``).

    Returns
    -------
    PacsConfig

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pacs.yaml"
    >>> _ = p.write_text("pacs: {protocol: dicomweb, url: 'http://pacs:8042/dicom-web'}\\n")
    >>> load_config(p).source.url
    'http://pacs:8042/dicom-web'
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PacsConfigError(f"PACS configuration {str(path)!r} not found; write one from docs/pacs-example.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:  # str(exc) quotes the offending line, which may hold the password
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise PacsConfigError(f"{str(path)!r} is not readable YAML ({exc.problem or exc.context}{where})") from None
    except OSError as exc:
        raise PacsConfigError(f"{str(path)!r} cannot be read ({exc.strerror or type(exc).__name__})") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:  # no text of the file: it may hold the password
        raise PacsConfigError(f"{str(path)!r} is not readable YAML ({type(exc).__name__})") from None
    except ValueError as exc:  # YAML reads 2026-02-30 as a date and fails on it
        raise PacsConfigError(f"{str(path)!r} holds a value YAML cannot read ({exc}); check the dates "
                              "(YYYY-MM-DD)") from exc
    return parse_config(raw, base=path.parent, name=str(path))


def parse_config(raw: Any, base: str | Path = ".", name: str = "the PACS configuration",
                 environ: dict[str, str] | None = None) -> PacsConfig:
    """Validate an already-parsed configuration mapping (see :func:`load_config`).

    ``environ`` (default ``os.environ``) supplies the secrets named by ``password_env`` / ``token_env``.

    Examples
    --------
    >>> cfg = parse_config({"pacs": {"protocol": "dimse", "host": "pacs", "port": 104, "ae_title": "PACS"},
    ...                     "query": {"date_from": "2026-01-01", "description": "*perf*"}})
    >>> cfg.source.retrieve, cfg.query.date_range(), cfg.destination.host
    ('get', '20260101-', 'pacs')
    >>> parse_config({"pacs": {"protocol": "ftp"}})
    Traceback (most recent call last):
    ...
    scintiml.pacs.errors.PacsConfigError: the PACS configuration: pacs.protocol must be 'dicomweb' or 'dimse', got 'ftp'
    """
    env = os.environ if environ is None else environ
    base = Path(base)
    if not isinstance(raw, dict):
        raise PacsConfigError(f"{name}: the file must be a YAML mapping with at least a 'pacs:' section")
    unknown = set(raw) - {"pacs", "destination", "local", "query", "listener", "retry"}
    if unknown:
        raise PacsConfigError(f"{name}: unknown section(s) {sorted(unknown)}; allowed: pacs, destination, local, "
                              "query, listener, retry")
    if "pacs" not in raw:
        raise PacsConfigError(f"{name}: a 'pacs:' section is required (protocol and address of the PACS)")
    source = _endpoint(raw["pacs"], "pacs", base, name, env)
    destination = _endpoint(raw["destination"], "destination", base, name, env) if raw.get("destination") else source
    local = _section(raw, "local", name)
    query = _section(raw, "query", name)
    listener = _section(raw, "listener", name)
    retry = _section(raw, "retry", name)
    local_ae = str(local.get("ae_title", "SCINTIML"))
    _check_ae(local_ae, "local.ae_title", name)
    policy = RetryPolicy(
        attempts=_int(retry.get("attempts", 5), "retry.attempts", name, low=1),
        backoff_s=_num(retry.get("backoff_s", 2.0), "retry.backoff_s", name, low=0.0),
        max_backoff_s=_num(retry.get("max_backoff_s", 300.0), "retry.max_backoff_s", name, low=0.0),
    )
    q = Query(
        modality=str(query.get("modality", "NM")),
        date_from=_date(query.get("date_from"), "query.date_from", name),
        date_to=_date(query.get("date_to"), "query.date_to", name),
        description=None if query.get("description") in (None, "") else str(query["description"]),
        limit=_int(query.get("limit", 1000), "query.limit", name, low=1),
    )
    if "days_back" in query:  # a rolling window, e.g. "the last 2 days" for a nightly run
        days = _int(query["days_back"], "query.days_back", name, low=0, high=36500)  # 100 years: a date exists
        q = Query(q.modality, (_dt.date.today() - _dt.timedelta(days=days)).strftime("%Y%m%d"), q.date_to,
                  q.description, q.limit)
    if q.date_from and q.date_to and q.date_from > q.date_to:
        raise PacsConfigError(f"{name}: query.date_from {q.date_from} is after query.date_to {q.date_to}")
    return PacsConfig(
        source=source, destination=destination, local_ae_title=local_ae,
        local_host=str(local.get("host", "0.0.0.0")),
        local_port=_int(local.get("port", 11112), "local.port", name, low=1, high=65535),
        local_tls=_tls(local.get("tls"), "local.tls", base, name),
        query=q,
        state_dir=_path(listener.get("state_dir", "scintiml-pacs"), base),
        quiet_time_s=_num(listener.get("quiet_time_s", 30.0), "listener.quiet_time_s", name, low=0.0),
        poll_s=_num(listener.get("poll_s", 1.0), "listener.poll_s", name, low=0.01),
        retry=policy,
    )


def _section(raw: dict, key: str, name: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise PacsConfigError(f"{name}: '{key}:' must be a mapping of settings")
    return value


def _endpoint(sec: Any, key: str, base: Path, name: str, env) -> PacsEndpoint:
    if not isinstance(sec, dict):
        raise PacsConfigError(f"{name}: '{key}:' must be a mapping (protocol, url or host/port/ae_title)")
    protocol = str(sec.get("protocol", "")).lower()
    if protocol not in ("dicomweb", "dimse"):
        raise PacsConfigError(f"{name}: {key}.protocol must be 'dicomweb' or 'dimse', got {sec.get('protocol')!r}")
    if "password" in sec or "token" in sec:
        raise PacsConfigError(f"{name}: put credentials under {key}.auth (password / password_env / token_env)")
    timeout = _num(sec.get("timeout_s", 30.0), f"{key}.timeout_s", name, low=0.1)
    auth = _auth(sec.get("auth"), key, name, env)
    if protocol == "dicomweb":
        url = sec.get("url")
        if not url or not str(url).startswith(("http://", "https://")):
            raise PacsConfigError(f"{name}: {key}.url must be the DICOMweb base URL (http:// or https://...), "
                                  f"e.g. http://pacs:8042/dicom-web")
        _check_url_characters(str(url), key, name)
        try:  # a URL urllib cannot take apart ("http://", an unclosed "[::1") is named here, not as a traceback
            parts = urllib.parse.urlsplit(str(url))
            host, _ = parts.hostname, parts.port
        except ValueError as exc:
            raise PacsConfigError(f"{name}: {key}.url {str(url)!r} is not a valid URL ({exc}); e.g. "
                                  "http://pacs:8042/dicom-web") from None
        if not host:
            raise PacsConfigError(f"{name}: {key}.url {str(url)!r} names no host; e.g. http://pacs:8042/dicom-web")
        _check_url_host(host, str(url), key, name)
        if "@" in str(url).split("/")[2]:
            raise PacsConfigError(f"{name}: {key}.url must not hold credentials (user:password@); put them under "
                                  f"{key}.auth, preferably as password_env")
        if parts.query or parts.fragment:  # "?token=..." would be printed on every log line and in summary.json
            raise PacsConfigError(f"{name}: {key}.url must be the DICOMweb base URL without a query or fragment "
                                  f"(no ?… or #…): a token there would be written into every log line; put it "
                                  f"under {key}.auth (token_env)")
        verify = sec.get("verify", True)
        if isinstance(verify, str):
            verify = str(_path(verify, base))
        return PacsEndpoint("dicomweb", url=str(url).rstrip("/"), timeout_s=timeout, auth=auth, verify=verify)
    missing = [k for k in ("host", "port", "ae_title") if not sec.get(k)]
    if missing:
        raise PacsConfigError(f"{name}: a DIMSE {key} needs {', '.join(missing)} (the PACS's address and AE title)")
    retrieve = str(sec.get("retrieve", "get")).lower()
    if retrieve not in ("get", "move"):
        raise PacsConfigError(f"{name}: {key}.retrieve must be 'get' (C-GET) or 'move' (C-MOVE), got {retrieve!r}")
    _check_ae(str(sec["ae_title"]), f"{key}.ae_title", name)
    return PacsEndpoint("dimse", host=str(sec["host"]), port=_int(sec["port"], f"{key}.port", name, 1, 65535),
                        ae_title=str(sec["ae_title"]), retrieve=retrieve, timeout_s=timeout, auth=auth,
                        tls=_tls(sec.get("tls"), f"{key}.tls", base, name))


def _check_url_characters(url: str, key: str, name: str) -> None:
    """Refuse a URL with a space or an invisible character: requests refuses it only at the first query (after
    the retries, as "InvalidURL"), or quietly sends another address; urllib even drops a tab or a newline.

    Examples
    --------
    >>> _check_url_characters("http://pacs/dicom web", "pacs", "pacs.yaml")
    Traceback (most recent call last):
    ...
    scintiml.pacs.errors.PacsConfigError: pacs.yaml: pacs.url 'http://pacs/dicom web' holds a space; a URL holds
    none: write it as %20 (percent-encoded) or fix the URL
    """
    def odd(text: str) -> str | None:
        return next((c for c in text if c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp")),
                    None)

    bad = odd(url)
    if bad is None:
        return
    what = "a space" if bad == " " else f"the invisible character {ascii(bad)}"
    in_host = url.count("/") >= 2 and bad in url.split("/")[2]
    if in_host:
        fix = "a host name holds only letters, digits, '-' and '.': fix the host, e.g. http://pacs:8042/dicom-web"
    elif odd(url.strip()) is None:  # only before or after it (a quoted YAML value keeps them)
        fix = "remove it from the end of the URL"
    elif bad == " ":
        fix = "a URL holds none: write it as %20 (percent-encoded) or fix the URL"
    else:
        fix = "remove it (retype the URL if it was pasted)"
    raise PacsConfigError(f"{name}: {key}.url {url!r} holds {what}{' in its host' if in_host else ''}; {fix}")


#: A host name as DNS and requests take it: letters, digits, '-', '_' and '.' (a non-ASCII name is IDNA-encoded).
_HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def _check_url_host(host: str, url: str, key: str, name: str) -> None:
    """Refuse a host no request can reach ("pa<cs", "pa%20cs", "[zz]"): named now, not as a lookup failure that
    is retried for minutes."""
    import ipaddress

    if ":" in host:  # urlsplit gives an IPv6 literal without its brackets
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
            return
        except ValueError:
            raise PacsConfigError(f"{name}: {key}.url {url!r}: [{host}] is not an IPv6 address; e.g. "
                                  "http://[::1]:8042/dicom-web") from None
    if _HOST_RE.match(host):
        return
    if not host.isascii():
        try:
            host.encode("idna")  # an internationalised name ("pács"): requests encodes it the same way
            return
        except UnicodeError:
            pass
    bad = next((c for c in host if not (c.isalnum() or c in "._-")), None)
    what = f"has the character {bad!r} in its host {host!r}" if bad else f"names the host {host!r}, not a valid name"
    raise PacsConfigError(f"{name}: {key}.url {url!r} {what}; a host name holds only letters, digits, '-' and '.': "
                          "fix it, e.g. http://pacs:8042/dicom-web")


def _auth(sec: Any, key: str, name: str, env) -> Auth:
    if not sec:
        return Auth()
    if not isinstance(sec, dict):
        raise PacsConfigError(f"{name}: {key}.auth must be a mapping (username, password_env or token_env)")

    def secret(field_name: str) -> str | None:
        if sec.get(field_name + "_env"):
            var = str(sec[field_name + "_env"])
            if var not in env:
                raise PacsConfigError(f"{name}: environment variable {var} (named by {key}.auth.{field_name}_env) "
                                      "is not set; export it before starting scintiml")
            return env[var]
        return None if sec.get(field_name) is None else str(sec[field_name])

    username = secret("username")
    password, token = secret("password"), secret("token")
    if token and (username or password):
        raise PacsConfigError(f"{name}: {key}.auth takes either a token or a username and password, not both")
    if bool(username) != bool(password):
        raise PacsConfigError(f"{name}: {key}.auth needs both a username and a password (or password_env)")
    return Auth(username=username, password=password, token=token)


def _tls(sec: Any, key: str, base: Path, name: str) -> Tls | None:
    if not sec:
        return None
    if not isinstance(sec, dict):
        raise PacsConfigError(f"{name}: {key} must be a mapping (ca_file, cert_file, key_file)")
    paths = {k: _path(sec[k], base) if sec.get(k) else None for k in ("ca_file", "cert_file", "key_file")}
    for k, p in paths.items():
        if p is not None and not p.is_file():
            raise PacsConfigError(f"{name}: {key}.{k} {str(p)!r} does not exist")
    return Tls(**paths)


def _path(value: Any, base: Path) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else base / p


def _check_ae(value: str, key: str, name: str) -> None:
    if not _AE_RE.match(value) or value.strip() == "" or "\\" in value:
        raise PacsConfigError(f"{name}: {key} {value!r} is not a DICOM AE title (1-16 printable characters)")


#: The longest wait any setting may ask for (seconds): a day. Longer is a typo, and .inf overflows the clocks.
MAX_SECONDS = 86400.0


def _num(value: Any, key: str, name: str, low: float, high: float = MAX_SECONDS) -> float:
    """A number of seconds in [low, high] (NaN and .inf refused).

    >>> _num(float("inf"), "retry.backoff_s", "pacs.yaml", low=0.0)  # YAML's .inf
    Traceback (most recent call last):
    ...
    scintiml.pacs.errors.PacsConfigError: pacs.yaml: retry.backoff_s must be at most 86400 seconds (a day), got inf
    """
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise PacsConfigError(f"{name}: {key} must be a number, got {value!r}") from None
    if not out >= low:
        raise PacsConfigError(f"{name}: {key} must be >= {low:g}, got {value!r}")
    if not out <= high:
        raise PacsConfigError(f"{name}: {key} must be at most {high:g} seconds (a day), got {value!r}")
    return out


def _int(value: Any, key: str, name: str, low: int, high: int | None = None) -> int:
    # str.isdigit() is true of "²": ASCII digits only
    if isinstance(value, bool) or not isinstance(value, int) and not (isinstance(value, str) and value.isascii()
                                                                       and value.isdigit()):
        raise PacsConfigError(f"{name}: {key} must be a whole number, got {value!r}")
    out = int(value)
    if out < low or (high is not None and out > high):
        raise PacsConfigError(f"{name}: {key} must lie in {low}..{high if high is not None else 'inf'}, got {out}")
    return out


def _date(value: Any, key: str, name: str) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, _dt.date):
        return value.strftime("%Y%m%d")
    text = str(value).replace("-", "")
    try:
        _dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise PacsConfigError(f"{name}: {key} must be a date (YYYY-MM-DD or YYYYMMDD), got {value!r}") from None
    return text
