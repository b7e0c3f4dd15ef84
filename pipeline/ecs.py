"""ECS: turn records and diagnosed attempts into Elastic Common Schema events.

Record events (dataset `epost.senderlog`, or `epost.<log>` for the sibling logs) carry the
typed captures of their pattern, mapped by data/fields.yaml, plus what one record tells on its
own: decoded error codes and a record-level cause. Attempt events (dataset `epost.delivery`)
carry the diagnosis. ECS fields are used where ECS has them, everything else is under epost.*.
"""

from __future__ import annotations

import datetime as dt
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from pipeline import causes, errors
from pipeline.attempts import Attempt, base_id
from pipeline.diagnosis import Diagnosis
from pipeline.records import Record

DATA = Path(__file__).resolve().parent / "data" / "fields.yaml"
FAILURE_TAG = "_grokparsefailure"
TRUNCATED_TAG = "epost_record_truncated"
MONTHS = {name: number for number, name in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
OUTCOME_OF_RETRY = {1: "retry", 0: "bounce"}


@cache
def captures() -> dict[str, dict]:
    """The capture table of data/fields.yaml."""
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))["captures"]


def put(event: dict, dotted: str, value: object) -> None:
    """Set a dotted field in a nested event."""
    parents, leaf = _path(dotted)
    node = event
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


@cache
def _path(dotted: str) -> tuple[tuple[str, ...], str]:
    # The same few hundred field names come back for every record.
    *parents, leaf = dotted.split(".")
    return tuple(parents), leaf


def timestamp(date: dt.date, time: str | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 local time with offset from the file date and a record's hh:mm:ss[:mmm]."""
    if time is None:
        return None
    # Many records share a second, and the offset cannot change within one: the date part
    # and the offset are worked out once per second, the milliseconds put between them.
    second = _second(date, time[:8], zone)
    if second is None:
        return None
    millis = time[9:] or "000"
    return f"{second[0]}.{millis}{second[1]}"


@lru_cache(maxsize=4096)
def _second(date: dt.date, time: str, zone: ZoneInfo) -> tuple[str, str] | None:
    try:
        hours, minutes, seconds = (int(part) for part in time.split(":"))
        moment = dt.datetime(date.year, date.month, date.day, hours, minutes, seconds,
                             tzinfo=zone)
    except ValueError:  # a damaged prefix such as [27:61:00:000]
        return None
    text = moment.isoformat(timespec="seconds")
    return text[:19], text[19:]


def log_date(text: str, zone: ZoneInfo) -> str:
    """ISO 8601 from the sibling logs' 03/Dec/2025:10:15:02 (local time)."""
    day, month, rest = text.split("/")
    year, hours, minutes, seconds = (int(part) for part in rest.split(":"))
    moment = dt.datetime(year, MONTHS[month], int(day), hours, minutes, seconds, tzinfo=zone)
    return moment.isoformat(timespec="milliseconds")


def typed_fields(event: dict, found: dict[str, str], log: str = "senderlog") -> None:
    """Map captures to their fields and types (data/fields.yaml).

    Captures of the sibling logs go under epost.log.* where the senderlog's would go under
    epost.senderlog.*; a sender written as "-" (mail E-Post generated itself) is left out.
    """
    for name, value in found.items():
        if log != "senderlog" and name == "sender" and value == "-":
            continue
        kind, target = _field(name, log)
        if kind == "ignore":
            continue
        if kind == "long":
            value = int(value)
        elif kind == "address_list":
            value = value.split()
            if not value:
                continue
        put(event, target, value)


@cache
def _field(name: str, log: str) -> tuple[str, str]:
    """The type and the field of a capture in the events of one log."""
    entry = captures().get(name)
    if entry is None:
        raise KeyError(f"capture {name} is missing from fields.yaml")
    kind = entry.get("type", "keyword")
    if kind == "ignore":
        return kind, ""
    target = entry["field"]
    if log != "senderlog" and target.startswith("epost.senderlog."):
        target = "epost.log." + target.removeprefix("epost.senderlog.")
    return kind, target


def _base(dataset: str, record_file, offset: int, when: str | None) -> dict:
    event: dict = {"event": {"dataset": dataset, "kind": "event", "module": "epost"},
                   "log": {"file": {"path": str(record_file.path)}, "offset": offset}}
    if when:
        event["@timestamp"] = when
    if record_file.host:
        event["host"] = {"name": record_file.host}
    return event


def record_event(record: Record, zone: ZoneInfo, platform: str | None,
                 fallback_time: str | None) -> dict:
    """The event of one senderlog record or sibling-log line."""
    log = record.file.log
    dataset = "epost.senderlog" if log == "senderlog" else f"epost.{log}"
    when = timestamp(record.file.date, record.time, zone) or timestamp(
        record.file.date, fallback_time, zone)
    if "log_date" in record.captures:
        when = log_date(record.captures["log_date"], zone)

    event = _base(dataset, record.file, record.offset, when)
    event["event"]["original"] = record.original
    typed_fields(event, record.captures, log)

    tags = []
    if record.pattern is None:
        tags.append(FAILURE_TAG)
    if record.truncated_bytes:
        tags.append(TRUNCATED_TAG)
        put(event, "epost.senderlog.truncated_bytes", record.truncated_bytes)
    if tags:
        event["tags"] = tags
    if record.encoding:
        put(event, "epost.senderlog.encoding", record.encoding)

    message = base_id(record.captures.get("message_id") or record.captures.get("email_message_id"))
    if message:
        put(event, "email.local_id", message)

    if log == "senderlog":
        put(event, "epost.senderlog.kind", record.kind)
        _record_evidence(event, record, platform)
    else:
        put(event, "epost.log.kind", record.kind)
        _sibling_diagnosis(event, record)
    return event


def _record_evidence(event: dict, record: Record, platform: str | None) -> None:
    """Decode codes and label what one senderlog record shows by itself."""
    found = record.captures
    label = None

    if "socket_error_code" in found:
        decoded = errors.socket_error(int(found["socket_error_code"]), platform)
        _put_error(event, "epost.senderlog.socket_error", decoded)
        if record.kind == "body_error":
            label = "body_transfer_failed"
        else:
            label = decoded.label_at_connect or "unknown"
    elif "error_x" in found:
        failure = causes.read_failure(int(found["error_x"]), found["error_y"], platform)
        _put_error(event, "epost.senderlog.local_error", failure.decoded)
        put(event, "epost.senderlog.local_error.received_size",
            causes.received_size(found["error_y"]))
        label = failure.label
    elif record.kind == "smtp_reply" and "reply_text" in found:
        label = _reply_label(found, platform, event)
    elif record.kind == "dns_failure":
        label = "dns_failure"
    elif record.kind == "give_up":
        label = "retry_period_expired"
    elif record.kind == "tls" and "tls_value" not in found:
        label = "tls_handshake_failed"

    if label:
        put(event, "epost.senderlog.cause", label)
        put(event, "epost.senderlog.side", causes.side(label))


def _reply_label(found: dict[str, str], platform: str | None, event: dict) -> str | None:
    text = found["reply_text"]
    local = causes.local_answer(text)
    if local == "local_error_451":
        x, y = causes.parse_local_451(text)
        failure = causes.read_failure(x, y, platform)
        _put_error(event, "epost.senderlog.local_error", failure.decoded)
        put(event, "epost.senderlog.local_error.received_size", causes.received_size(y))
        return failure.label
    if local in ("service_stopping", "reply_too_long", "local_file_error",
                 "body_transfer_failed", "retry_period_expired"):
        return local
    return causes.classify_reply(found.get("reply_code"), found.get("enhanced_status"), text)


def _put_error(event: dict, prefix: str, decoded: errors.ErrorCode) -> None:
    if decoded.name:
        put(event, prefix + ".name", decoded.name)
    if decoded.description:
        put(event, prefix + ".description", decoded.description)
    if decoded.table:
        put(event, prefix + ".table", decoded.table)


def _sibling_diagnosis(event: dict, record: Record) -> None:
    """outlog and outlocallog lines are deliveries; a faillog line carries its stored answer."""
    if record.kind in ("delivered", "delivered_local"):
        label = "delivered"
    elif record.kind == "failed":
        text = record.captures.get("reply_text", "")
        label = causes.local_answer(text)
        if label is None and text.startswith("354"):
            label = "body_transfer_failed"
        elif label == "local_error_451":
            label = "unknown"
        elif label is None:
            label = causes.classify_reply(record.captures.get("reply_code"),
                                          record.captures.get("enhanced_status"), text)
        label = label or "unknown"
    else:
        return
    put(event, "event.outcome", "success" if label == "delivered" else "failure")
    put(event, "epost.delivery.cause", label)
    put(event, "epost.delivery.side", causes.side(label))


def attempt_event(attempt: Attempt, found: Diagnosis, zone: ZoneInfo,
                  platform: str | None) -> dict:
    """The event of one delivery attempt (or give-up) with its diagnosis."""
    first = attempt.first
    start = timestamp(first.file.date, first.time, zone)
    event = _base("epost.delivery", first.file, first.offset, start)
    event["event"].update({
        "category": ["email"], "type": ["info"], "outcome": found.outcome,
        "action": "delivery-attempt" if attempt.kind == "attempt" else "delivery-give-up",
    })
    if attempt.end is not None and attempt.end.time and first.time:
        end = timestamp(attempt.end.file.date, attempt.end.time, zone)
        put(event, "event.start", start)
        put(event, "event.end", end)
        put(event, "event.duration", _nanoseconds(start, end))

    put(event, "email.local_id", attempt.message)
    recipients = [address for address in attempt.recipients if address]
    if recipients:
        put(event, "email.to.address", recipients)
    if attempt.sender is not None:
        put(event, "email.from.address", attempt.sender)
    domain = attempt.domain or next(
        (r.rsplit("@", 1)[1].lower() for r in recipients if "@" in r), None)
    if domain:
        put(event, "destination.domain", domain)
    if attempt.host:
        put(event, "server.address", attempt.host)

    delivery = {"queue_file": attempt.queue_file, "kind": attempt.kind,
                "cause": found.label, "side": found.side, "explanation": found.explanation,
                "confidence": found.confidence,
                "evidence": {"offsets": sorted(set(attempt.evidence))}}
    _optional(delivery, {
        "return_code": attempt.result, "step": found.step, "retry_class": found.retry_class,
        "server_role": attempt.server_role, "platform": platform,
        "received_size": found.received_size, "underlying_cause": found.underlying,
        "carried_cause": found.carried, "causes_seen": found.causes_seen,
        "notes": found.notes or None,
        "chunks_failed": len(attempt.body_errors) or None,
        "tls": "starttls" if attempt.starttls_ok else ("implicit" if attempt.implicit_tls
                                                       else None),
    })
    if found.outcome == "success":
        delivery["retry"] = "none"
    elif attempt.kind == "give_up":
        delivery["retry"] = "bounce"
    elif attempt.retry_status in OUTCOME_OF_RETRY:
        delivery["retry"] = OUTCOME_OF_RETRY[attempt.retry_status]

    if found.last_remote is not None:
        delivery["smtp"] = {"reply_code": int(found.last_remote.code),
                            "reply_text": found.last_remote.text}
        if found.last_remote.enhanced:
            delivery["smtp"]["enhanced_status"] = found.last_remote.enhanced
    if found.socket_error is not None:
        delivery["socket_error"] = {"code": found.socket_error.code}
        _optional(delivery["socket_error"], {
            "name": found.socket_error.name, "description": found.socket_error.description,
            "table": found.socket_error.table})
    event["epost"] = {"delivery": delivery}

    if found.outcome == "failure":
        error = {}
        _optional(error, {"code": found.error_code, "message": found.evidence_text})
        if error:
            event["error"] = error
    return event


def _optional(target: dict, values: dict) -> None:
    for key, value in values.items():
        if value is not None:
            target[key] = value


def _nanoseconds(start: str, end: str) -> int:
    delta = dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)
    if delta.total_seconds() < 0:
        delta += dt.timedelta(days=1)
    return int(delta.total_seconds() * 1000) * 1_000_000
