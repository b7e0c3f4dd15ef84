"""Cluster: one small interface over opensearch-py and elasticsearch-py.

The client is chosen from what the server says it is (`GET /`: `version.distribution` is
"opensearch" on OpenSearch), or forced with `--engine`. Credentials go to the client only; they
are never logged and never part of an error message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import elasticsearch
import opensearchpy
from tenacity import (Retrying, before_sleep_log, retry_if_exception_type, stop_after_delay,
                      wait_exponential_jitter)

log = logging.getLogger("senderlog")

ENGINES = ("opensearch", "elasticsearch")
REQUEST_TIMEOUT = 60


# The fields of a `_bulk` answer's items that the shipper reads.
BULK_ANSWER = "errors,items.*._id,items.*.status,items.*.error"


class ClusterError(RuntimeError):
    """The cluster answered with an error status."""

    def __init__(self, status: int | None, message: str):
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status


class ClusterUnavailable(ClusterError):
    """The cluster could not be reached (connection refused, time-out, TLS failure)."""


@dataclass(frozen=True)
class Connection:
    """Where the cluster is and how to log in; the secrets stay out of repr()."""

    url: str
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    engine: str | None = None

    def __repr__(self) -> str:
        login = "api key" if self.api_key else ("basic" if self.username else "none")
        return f"Connection({self.url!r}, login={login}, verify_certs={self.verify_certs})"


class Cluster:
    """A connected cluster of either engine."""

    def __init__(self, connection: Connection, wait_seconds: float = 0):
        self.connection = connection
        self.engine = connection.engine or self._detect(wait_seconds)
        self.client = self._client(self.engine)
        log.info("connected to %s at %s", self.engine, connection.url)

    def _detect(self, wait_seconds: float) -> str:
        probe = self._client("opensearch")
        retrying = Retrying(
            stop=stop_after_delay(wait_seconds), wait=wait_exponential_jitter(initial=1, max=30),
            retry=retry_if_exception_type(ClusterUnavailable), reraise=True,
            before_sleep=before_sleep_log(log, logging.WARNING),
        )
        info = retrying(self._call, probe.info)
        distribution = info.get("version", {}).get("distribution", "elasticsearch")
        return "opensearch" if distribution == "opensearch" else "elasticsearch"

    def _client(self, engine: str):
        c = self.connection
        options: dict = {"request_timeout" if engine == "elasticsearch" else "timeout":
                         REQUEST_TIMEOUT}
        if c.ca_certs:
            options["ca_certs"] = c.ca_certs
        options["verify_certs"] = c.verify_certs
        if not c.verify_certs:
            options["ssl_show_warn"] = False

        if engine == "elasticsearch":
            if c.api_key:
                options["api_key"] = c.api_key
            elif c.username:
                options["basic_auth"] = (c.username, c.password or "")
            return elasticsearch.Elasticsearch(c.url, max_retries=0, **options)

        if c.api_key:
            options["headers"] = {"Authorization": f"ApiKey {c.api_key}"}
        elif c.username:
            options["http_auth"] = (c.username, c.password or "")
        return opensearchpy.OpenSearch(c.url, max_retries=0, **options)

    def _call(self, method, *args, **kwargs):
        """Call a client method; turn either client's errors into ClusterError."""
        try:
            answer = method(*args, **kwargs)
        except (opensearchpy.ConnectionError, elasticsearch.ConnectionError,
                elasticsearch.ConnectionTimeout) as error:
            raise ClusterUnavailable(None, f"cannot reach {self.connection.url}: "
                                           f"{type(error).__name__}") from None
        except opensearchpy.TransportError as error:
            raise ClusterError(_status(error.status_code),
                               _reason(error.error, error.info)) from None
        except elasticsearch.ApiError as error:
            raise ClusterError(error.meta.status, _reason(error.message, error.body)) from None
        return getattr(answer, "body", answer)

    def request(self, method: str, path: str, body: dict | None = None,
                params: dict | None = None) -> dict:
        """Any REST call, answered as a dict."""
        if self.engine == "elasticsearch":
            headers = {"accept": "application/json"}
            if body is not None:
                headers["content-type"] = "application/json"
            return self._call(self.client.perform_request, method, path, params=params,
                              headers=headers, body=body)
        return self._call(self.client.transport.perform_request, method, path, params=params,
                          body=body)

    def bulk(self, operations: list[dict | str], pipeline: str | None = None) -> dict:
        """One `_bulk` request; a line given as a string is sent as it is.

        The answer carries only what the shipper reads of each item: the server renders, and
        the client parses, a third of the full answer.
        """
        if self.engine == "elasticsearch":
            return self._call(self.client.bulk, operations=operations, pipeline=pipeline,
                              filter_path=BULK_ANSWER)
        params = {"filter_path": BULK_ANSWER}
        if pipeline:
            params["pipeline"] = pipeline
        return self._call(self.client.bulk, body=operations, params=params)

    def search(self, index: str, body: dict) -> dict:
        """A search (size 0 for aggregations)."""
        return self.request("POST", f"/{index}/_search", body=body)

    def version(self) -> str:
        """The server version, e.g. 2.19.6."""
        return self.request("GET", "/").get("version", {}).get("number", "unknown")


def _status(code) -> int | None:
    return code if isinstance(code, int) else None


def _reason(kind: object, body: object) -> str:
    """The error type with the server's reason, e.g. "parse_exception: [script] ..."."""
    details = body.get("error") if isinstance(body, dict) else None
    if isinstance(details, dict):
        cause = (details.get("caused_by") or details).get("reason") or details.get("reason")
        if cause:
            return f"{kind}: {cause}"
    return str(kind)
