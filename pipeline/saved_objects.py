"""Saved objects: install the generated dashboards through the import API.

Kibana and OpenSearch Dashboards share `POST /api/saved_objects/_import?overwrite=true` (a
multipart upload of the NDJSON file); they differ in the header that guards against
cross-site requests (`kbn-xsrf`, `osd-xsrf`). The API answers 200 even when some objects were
refused, so the answer's `errors` are read and reported object by object.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import requests
import urllib3

from pipeline import dashboards

log = logging.getLogger("senderlog")

XSRF_HEADERS = {dashboards.KIBANA: "kbn-xsrf", dashboards.OSD: "osd-xsrf"}
PRODUCTS = {dashboards.KIBANA: "Kibana", dashboards.OSD: "OpenSearch Dashboards"}
TIMEOUT = 60


class ImportFailed(RuntimeError):
    """The import request itself failed (unreachable, refused login, not the import API)."""


@dataclass(frozen=True)
class Login:
    """How to log in; the secrets stay out of repr()."""

    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = True

    def __repr__(self) -> str:
        login = "api key" if self.api_key else ("basic" if self.username else "none")
        return f"Login({login}, verify_certs={self.verify_certs})"


@dataclass
class ImportResult:
    """What the server did with the objects."""

    imported: int = 0
    errors: list[str] = field(default_factory=list)


def install(target: str, url: str, login: Login, space: str | None = None) -> ImportResult:
    """Import the dashboards of a target (kibana, opensearch-dashboards) at the given URL."""
    base = url.rstrip("/") + (f"/s/{space}" if space else "")
    headers = {XSRF_HEADERS[target]: "true"}
    if login.api_key:
        headers["Authorization"] = f"ApiKey {login.api_key}"
    auth = (login.username, login.password or "") if login.username and not login.api_key \
        else None
    verify: bool | str = login.ca_certs or login.verify_certs
    files = {"file": (dashboards.FILE_NAME, dashboards.render(target), "application/ndjson")}

    log.info("importing the %s dashboards into %s", PRODUCTS[target], base)
    try:
        with warnings.catch_warnings():
            # The operator chose --no-verify-certs; one warning per request adds nothing.
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            answer = requests.post(f"{base}/api/saved_objects/_import",
                                   params={"overwrite": "true"}, headers=headers, files=files,
                                   auth=auth, verify=verify, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise ImportFailed(f"cannot reach {url}: {type(error).__name__}") from None
    if answer.status_code != 200:
        raise ImportFailed(f"{answer.status_code} from {PRODUCTS[target]}: "
                           f"{_message(answer)}")
    try:
        body = answer.json()
    except ValueError:
        raise ImportFailed(f"{url} did not answer like the {PRODUCTS[target]} import API")
    errors = [_describe(error) for error in body.get("errors") or []]
    if body.get("success") is False and not errors:
        errors.append("the server reported a failure without naming an object")
    return ImportResult(body.get("successCount", 0), errors)


def _message(answer: requests.Response) -> str:
    try:
        return str(answer.json().get("message", answer.reason))
    except ValueError:
        return answer.reason or "no answer"


def _describe(error: dict) -> str:
    """One refused object in words: which object, and why."""
    title = error.get("meta", {}).get("title") or error.get("title") or ""
    what = f"{error.get('type')} {error.get('id')}" + (f" ({title})" if title else "")
    reason = error.get("error", {})
    kind = reason.get("type", "unknown")
    if kind == "missing_references":
        missing = ", ".join(f"{r.get('type')} {r.get('id')}" for r in reason.get("references", []))
        return f"{what}: missing references: {missing}"
    detail = reason.get("message") or reason.get("reason") or ""
    return f"{what}: {kind}" + (f": {detail}" if detail else "")
