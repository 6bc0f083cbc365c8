"""Where the PACS is and how to log in: a config file or the environment, never the command line.

Credentials on a command line end up in shell history and process lists, so the URL is the only thing a
command takes; the username/password or bearer token for it come from

* the environment: ``XRAYVIEWER_PACS_URL`` (the default server), ``XRAYVIEWER_PACS_USERNAME`` and
  ``XRAYVIEWER_PACS_PASSWORD``, or ``XRAYVIEWER_PACS_TOKEN``; ``XRAYVIEWER_PACS_CA_BUNDLE``,
  ``XRAYVIEWER_PACS_TIMEOUT``;
* else the INI file ``$XRAYVIEWER_PACS_CONFIG`` or ``<user config dir>/xrayviewer/pacs.ini``, one section
  per server (``[pacs]`` is the default, ``[pacs NAME]`` others, chosen by name or by URL)::

      [pacs]
      url = https://pacs.example.org/dicom-web
      username = reader
      password = ...            ; or: token = ...
      ca_bundle = /etc/ssl/certs/hospital-ca.pem
      timeout = 30

TLS certificates are always verified (``verify_tls = no`` turns that off for a test server, with a
warning). A file's credentials are only ever sent to the URL of their own section, and never over plain
http to another machine.
"""

from __future__ import annotations

import configparser
import ipaddress
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from xrayviewer.pacs.errors import PacsError

log = logging.getLogger(__name__)

ENV_PREFIX = "XRAYVIEWER_PACS_"
CONFIG_ENV = "XRAYVIEWER_PACS_CONFIG"
DEFAULT_TIMEOUT = 30.0


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if value := env.get(CONFIG_ENV):
        return Path(value)
    return Path(platformdirs.user_config_dir("xrayviewer", appauthor=False)) / "pacs.ini"


@dataclass(frozen=True)
class PacsConfig:
    """One server and how to reach it. ``repr`` never shows a password or token."""

    url: str
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_bundle: str = ""
    timeout: float = DEFAULT_TIMEOUT
    source: str = ""  # where the credentials came from, for messages ("environment", a file path)

    @property
    def auth_kind(self) -> str:
        return "bearer" if self.token else "basic" if self.username else "none"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


def normalise_url(url: str) -> str:
    """Check a DICOMweb base URL and drop a trailing slash; refuses credentials inside the URL."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PacsError(f"not a DICOMweb URL (expected http(s)://host/path): {url!r}", "config")
    if parts.username or parts.password:
        raise PacsError(
            "credentials in the URL are refused (they would land in logs and shell history); "
            f"put them in {config_path()} or the {ENV_PREFIX}USERNAME/PASSWORD/TOKEN environment variables",
            "config",
        )
    if parts.query or parts.fragment:
        raise PacsError(f"a DICOMweb base URL has no query or fragment: {url!r}", "config")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_file(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    if not path.is_file():
        return parser
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise PacsError(f"cannot read the PACS config {path}: {exc}", "config") from None
    return parser


def _servers(parser: configparser.ConfigParser) -> dict[str, configparser.SectionProxy]:
    """Sections by server name: ``[pacs]`` is "", ``[pacs NAME]`` is NAME."""
    out = {}
    for section in parser.sections():
        words = section.split(None, 1)
        if words and words[0] == "pacs":
            out[words[1].strip() if len(words) > 1 else ""] = parser[section]
    return out


def _warn_if_readable(path: Path, section: configparser.SectionProxy) -> None:
    if not (section.get("password") or section.get("token")):
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("the PACS config %s holds a password or token and is readable by others (chmod 600 it)", path)


def _timeout(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PacsError(f"timeout in {where} is not a number of seconds: {text!r}", "config") from None
    if not 0 < value <= 3600:
        raise PacsError(f"timeout in {where} must be between 0 and 3600 seconds, got {value:g}", "config")
    return value


def _flag(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise PacsError(f"verify_tls in {where} must be yes or no, got {text!r}", "config")


def load_config(target: str | None = None, *, env: Mapping[str, str] | None = None,
                path: Path | None = None) -> PacsConfig:
    """The server to use: ``target`` is a URL, the name of a ``[pacs NAME]`` section, or None (the default).

    The environment's credentials win over the file's. Raises PacsError (kind "config") with what to fix.
    """
    env = os.environ if env is None else env
    path = path or config_path(env)
    parser = _read_file(path)
    servers = _servers(parser)
    section: configparser.SectionProxy | None = None
    if target and "://" not in target:
        if target not in servers:
            known = ", ".join(sorted(n for n in servers if n)) or "none"
            raise PacsError(f"no server named {target!r} in {path} (named servers: {known})", "config")
        section = servers[target]
        url = section.get("url", "")
        if not url:
            raise PacsError(f"[pacs {target}] in {path} has no url", "config")
    elif target:
        url = target
    else:
        url = env.get(ENV_PREFIX + "URL", "") or (servers[""].get("url", "") if "" in servers else "")
        if not url:
            raise PacsError(
                f"no PACS given: pass its DICOMweb URL, set {ENV_PREFIX}URL or add a [pacs] url to {path}", "config"
            )
    url = normalise_url(url)
    if section is None:  # a URL: the file's credentials only if a section is for exactly this URL
        for candidate in servers.values():
            if candidate.get("url") and normalise_url(candidate["url"]) == url:
                section = candidate
                break
    where = f"[{section.name}] in {path}" if section is not None else "the environment"
    values = {k: section.get(k, "") for k in ("username", "password", "token", "ca_bundle", "timeout",
                                               "verify_tls", "allow_insecure_http")} if section is not None else {}
    source = str(path) if section is not None else ""
    if section is not None:
        _warn_if_readable(path, section)
    for key in ("username", "password", "token", "ca_bundle", "timeout"):
        if value := env.get(ENV_PREFIX + key.upper()):
            values[key] = value
            if key in ("username", "password", "token"):
                source = "environment"
    if values.get("token") and values.get("username"):
        raise PacsError(f"both a token and a username are set for {url} ({where}); keep one", "config")
    if values.get("username") and not values.get("password"):
        raise PacsError(f"a username but no password is set for {url} ({where})", "config")
    verify = _flag(values["verify_tls"], where) if values.get("verify_tls") else True
    if not verify:
        log.warning("TLS certificate checks are OFF for %s (verify_tls = no in %s)", url, path)
    ca_bundle = values.get("ca_bundle", "")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise PacsError(f"the CA bundle {ca_bundle} does not exist", "config")
    config = PacsConfig(
        url=url, username=values.get("username", ""), password=values.get("password", ""),
        token=values.get("token", ""), verify_tls=verify, ca_bundle=ca_bundle,
        timeout=_timeout(values["timeout"], where) if values.get("timeout") else DEFAULT_TIMEOUT, source=source,
    )
    insecure_ok = values.get("allow_insecure_http", "").strip().lower() in ("1", "yes", "true", "on")
    if config.auth_kind != "none" and url.startswith("http://") and not _is_loopback(config.host) and not insecure_ok:
        raise PacsError(
            f"refusing to send credentials over plain http to {config.host}; use https "
            f"(or set allow_insecure_http = yes in {path} for a test server)", "config",
        )
    return config
