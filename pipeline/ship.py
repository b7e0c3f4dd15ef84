"""Ship: send events in bulk to their data streams, idempotently and without losing any.

Every event gets a document id derived from where it came from (host, file, byte offset,
dataset), and is sent with `create`: shipping the same files again adds nothing, and the
cluster's "already exists" answers are counted as duplicates. A batch that cannot be sent
(connection lost, 429, 5xx) is retried with backoff until it goes through or the retry time is
used up; reading waits meanwhile, so memory stays bounded. Documents the cluster refuses are
written to a dead-letter NDJSON file and make the run fail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import orjson
from tenacity import (Retrying, before_sleep_log, retry_if_exception_type, stop_after_delay,
                      stop_when_event_set, wait_exponential_jitter)

from pipeline.cluster import Cluster, ClusterError, ClusterUnavailable
from pipeline.templates import data_stream

log = logging.getLogger("senderlog")

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class RetryLater(ClusterError):
    """A whole request, or some documents of it, should be sent again after a pause."""


@dataclass
class ShipStats:
    """What happened to the documents of one run."""

    sent: int = 0
    created: Counter = field(default_factory=Counter)
    duplicates: int = 0
    failed: int = 0
    retries: int = 0

    @property
    def indexed(self) -> int:
        return sum(self.created.values())


@dataclass
class Document:
    """One event ready for `_bulk`."""

    id: str
    index: str
    source: dict

    @cached_property
    def text(self) -> str:
        """The source as JSON, made once and sent as it is, however often it is retried."""
        return _serialise(self.source)


def document_id(event: dict) -> str:
    """A stable id: the same record (or attempt) of the same file always gets the same id."""
    host = event.get("host", {}).get("name", "")
    path = event["log"]["file"]["path"]
    # With a host the file name is unique (senderlog/<host>/<yymmdd>.log); without one the
    # absolute path is the best identity there is.
    where = _file_name(path) if host else str(Path(path).resolve())
    key = "|".join([event["event"]["dataset"], host, where, str(event["log"]["offset"])])
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def _serialise(source: dict) -> str:
    """The document as JSON for `_bulk`: orjson, many times faster than the json module.

    orjson refuses integers beyond 64 bits, which a damaged log can put into a numeric
    field; the json module writes them, and the cluster then says what it thinks of them.
    """
    try:
        return orjson.dumps(source).decode()
    except orjson.JSONEncodeError:
        return json.dumps(source, ensure_ascii=False)


@lru_cache(maxsize=1024)
def _file_name(path: str) -> str:
    # Every event of a file asks again, and a Path costs as much as the rest of the id.
    return Path(path).name


def documents(events: Iterable[dict], namespace: str) -> Iterator[Document]:
    """Events with their data stream and id."""
    for event in events:
        dataset = event["event"]["dataset"]
        event["data_stream"] = {"type": "logs", "dataset": dataset, "namespace": namespace}
        yield Document(document_id(event), data_stream(dataset, namespace), event)


class Shipper:
    """Sends documents in bounded batches and keeps count."""

    def __init__(self, cluster: Cluster, dead_letter: Path, batch_size: int = 1000,
                 batch_bytes: int = 5 * 1024 * 1024, retry_seconds: float = 900,
                 pipeline: str | None = None, stopping: threading.Event | None = None,
                 max_wait: float = 30):
        self.cluster = cluster
        self.dead_letter = dead_letter
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.retry_seconds = retry_seconds
        self.pipeline = pipeline
        # Set to cut a retry wait short: by a long-running caller on SIGTERM, or by `ship`
        # when reading fails or is interrupted while a batch is on its way.
        self.stopping = stopping or threading.Event()
        self.max_wait = max_wait
        self.stats = ShipStats()

    def ship(self, documents: Iterable[Document], progress=None) -> ShipStats:
        """Send every document; returns the counts.

        One batch is on its way while the next one is read and serialised: the cluster's
        indexing and the parser's work overlap instead of taking turns.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk") as sender:
            on_its_way: Future | None = None
            try:
                for batch in self._batches(documents):
                    if on_its_way is not None:
                        on_its_way.result()
                    on_its_way = sender.submit(self.send, batch, progress)
                if on_its_way is not None:
                    on_its_way.result()
            except BaseException:
                self.stopping.set()
                raise
        return self.stats

    def _batches(self, documents: Iterable[Document]) -> Iterator[list[Document]]:
        batch: list[Document] = []
        size = 0
        for document in documents:
            batch.append(document)
            size += len(document.text)
            if len(batch) >= self.batch_size or size >= self.batch_bytes:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def send(self, batch: list[Document], progress=None) -> None:
        """One batch, retried until the cluster has answered for every document."""
        pending = {document.id: document for document in batch}
        retrying = Retrying(
            stop=stop_after_delay(self.retry_seconds) | stop_when_event_set(self.stopping),
            sleep=self.stopping.wait,
            wait=wait_exponential_jitter(initial=1, max=self.max_wait),
            retry=retry_if_exception_type((ClusterUnavailable, RetryLater)),
            before_sleep=self._before_retry,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self._try(pending)
        self.stats.sent += len(batch)
        if progress is not None:
            progress(len(batch))

    def _before_retry(self, state) -> None:
        self.stats.retries += 1
        before_sleep_log(log, logging.WARNING)(state)

    def _try(self, pending: dict[str, Document]) -> None:
        operations: list[str] = []
        for document in pending.values():
            operations.append(_serialise({"create": {"_index": document.index,
                                                     "_id": document.id}}))
            operations.append(document.text)

        try:
            answer = self.cluster.bulk(operations, pipeline=self.pipeline)
        except ClusterError as error:
            if isinstance(error, ClusterUnavailable) or error.status in RETRYABLE_STATUS:
                raise RetryLater(error.status, str(error)) from None
            raise

        refused = []
        for item in answer["items"]:
            result = item["create"]
            status = result["status"]
            document = pending[result["_id"]]
            if status in (200, 201):
                self.stats.created[document.source["event"]["dataset"]] += 1
            elif status == 409:
                self.stats.duplicates += 1
            elif status in RETRYABLE_STATUS:
                continue
            else:
                refused.append((document, result.get("error")))
            del pending[result["_id"]]

        for document, error in refused:
            self._reject(document, error)
        if pending:
            raise RetryLater(429, f"{len(pending)} documents to send again")

    def _reject(self, document: Document, error) -> None:
        self.stats.failed += 1
        log.error("document refused by the cluster (%s at offset %s): %s",
                  document.source["log"]["file"]["path"], document.source["log"]["offset"],
                  (error or {}).get("reason", error))
        with open(self.dead_letter, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"error": error, "index": document.index,
                                     "id": document.id, "event": document.source},
                                    ensure_ascii=False) + "\n")
