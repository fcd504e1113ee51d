"""The REST client behind ``cexlink accounts …`` and ``cexlink users tokens …``: the CLI is a client of the API.

Where to connect comes from, first found wins: ``CEXLINK_URL`` / ``CEXLINK_TOKEN`` in the environment (or the
commands' ``--url`` / ``--token``), then a config file ``{"url": …, "token": …}``: ``CEXLINK_CLI_CONFIG``, else
``~/.config/cexlink/cli.json`` (``$XDG_CONFIG_HOME`` honoured), else ``var/cli.json`` in the working directory
(what ``cexlink up`` / ``make up`` writes there). The token is sent in a header only, never in a URL.

Every failure is an ``ApiError`` carrying the API's own ``{error, message, remedy, field}``, so the CLI can print
one line with the remedy; failures of our own (no server, no token) take the same shape.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .errors import CexlinkError

__all__ = ["ApiClient", "ApiError", "CliConfig", "config_paths", "exit_code", "resolve_config", "write_config"]

LOCAL_CONFIG = Path("var") / "cli.json"  # beside `make up`'s data directory
TIMEOUT_S = 120.0  # a connect or a refresh of every account waits on exchanges; the server has its own timeouts


class ApiError(CexlinkError):
    """An error answer of the API (or a failure to get one), in the API's error shape."""

    def __init__(self, http_status: int, error: str, message: str, remedy: str, field: str | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error = error
        self.message = message
        self.remedy = remedy
        self.field = field

    def line(self) -> str:
        """One line for a person: what is wrong, then what to do."""
        text = f"error: {self.message}"
        if self.remedy and self.remedy not in ("Nothing to do.",):
            text += f" — {self.remedy}"
        return " ".join(text.split())  # one line even if a message carries newlines


# HTTP status of an error answer -> the CLI's exit code (scripts test these; 0 is success).
EXIT_CODES: dict[int, int] = {401: 3, 422: 2, 400: 4, 403: 4, 409: 4, 404: 5}
EXIT_OTHER = 1  # 5xx, no answer, or a setup problem


def exit_code(error: ApiError) -> int:
    return EXIT_CODES.get(error.http_status, EXIT_OTHER)


@dataclass(frozen=True)
class CliConfig:
    url: str
    token: str


def config_paths(env: Mapping[str, str]) -> list[Path]:
    """Config files to read, in order."""
    if env.get("CEXLINK_CLI_CONFIG"):
        return [Path(env["CEXLINK_CLI_CONFIG"])]
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return [base / "cexlink" / "cli.json", LOCAL_CONFIG]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ApiError(0, "bad_cli_config", f"the CLI config file {path} cannot be read ({type(e).__name__})",
                       "Write it as a JSON object with \"url\" and \"token\", or set CEXLINK_URL and CEXLINK_TOKEN.",
                       "config") from None
    if not isinstance(data, dict):
        raise ApiError(0, "bad_cli_config", f"the CLI config file {path} is not a JSON object",
                       "Write it as a JSON object with \"url\" and \"token\".", "config")
    return data


def resolve_config(url: str | None, token: str | None, env: Mapping[str, str] | None = None) -> CliConfig:
    """The server and token to use: given values (option or environment) first, then the first config file."""
    env = os.environ if env is None else env
    if not (url and token):
        for path in config_paths(env):
            if path.is_file():
                data = _read(path)
                url = url or str(data.get("url") or "") or None
                token = token or str(data.get("token") or "") or None
                break
    if not url:
        raise ApiError(0, "no_server", "no cexlink API to talk to",
                       "Set CEXLINK_URL (and CEXLINK_TOKEN), or run `cexlink up`, which writes the CLI's config.",
                       "CEXLINK_URL")
    if not token:
        raise ApiError(401, "unauthorized", "a valid API token is required (--token or CEXLINK_TOKEN)",
                       "Set CEXLINK_TOKEN to your API token; an operator creates one with `cexlink users create`.",
                       "CEXLINK_TOKEN")
    return CliConfig(url.rstrip("/"), token)


def write_config(path: Path, url: str, token: str) -> None:
    """Write the CLI's config file, readable by its owner only (it holds an API token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable, not even briefly
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "token": token}, f, indent=2)
    os.replace(tmp, path)


class ApiClient:
    """One API session: ``call`` returns the JSON answer or raises ``ApiError``."""

    def __init__(self, config: CliConfig, timeout_s: float = TIMEOUT_S) -> None:
        self.config = config
        self._http = httpx.Client(base_url=config.url, timeout=timeout_s,
                                  headers={"authorization": f"Bearer {config.token}"})

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            r = self._http.request(method, "/api/v1" + path, json=json_body, params=params)
        except httpx.HTTPError as e:
            raise ApiError(0, "api_unreachable", f"cannot reach the cexlink API at {self.config.url} "
                           f"({type(e).__name__})", "Check CEXLINK_URL and that the server runs "
                           "(`cexlink serve` or `cexlink up`).", "CEXLINK_URL") from None
        if r.is_success:
            return r.json()
        raise _error(r)


def _error(r: httpx.Response) -> ApiError:
    try:
        data = r.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or "message" not in data:
        # A proxy's page or an older server: say what we got, never the body (it could echo anything).
        return ApiError(r.status_code, "http_error", f"the API answered HTTP {r.status_code} {r.reason_phrase}",
                        "Check CEXLINK_URL points at a cexlink API server.")
    return ApiError(r.status_code, str(data.get("error", "error")), str(data["message"]),
                    str(data.get("remedy") or ""), data.get("field"))
