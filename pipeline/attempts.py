"""Attempts: rebuild delivery attempts from the records of interleaved threads.

An attempt runs from `[id] SendGlbalMail:domain=` to `[id] SendGlbalMail:return code=N` of the
same queue file (from `ConnectHost(host)` to the next one in a protocol-only log). Records that
carry no id (the local 451, TLS lines, the receive trace) join the attempt they belong to by
socket handle or, failing that, the attempt most recently active. Replies are logged one
command late; each reply is paired here with the command it answers. A failed attempt is
finished when the retry decision that follows it (`SendGlobalMailStatus`) arrives.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline import causes
from pipeline.records import Record

BASE_ID = re.compile(r"B\d{10}(?:\d{2})?")
GIVE_UP_DOMAIN = re.compile(r"Cannot resolve (\S+)")
# Messages remembered for carried causes and the STARTTLS chain; the oldest are forgotten.
MESSAGE_MEMORY = 100_000

STEP_OF_VERB = {
    "EHLO": "EHLO", "HELO": "HELO", "STARTTLS": "STARTTLS", "MAIL": "MAIL", "RCPT": "RCPT",
    "DATA": "DATA", "QUIT": "QUIT", "RSET": "RSET", "AUTH": "AUTH",
}


def base_id(message_id: str | None) -> str | None:
    """The message id without queue-file suffixes: B0000097013-R0001 -> B0000097013."""
    if not message_id:
        return None
    match = BASE_ID.match(message_id)
    return match.group(0) if match else None


@dataclass
class Reply:
    """A stored reply and the step of the conversation it answers."""

    step: str
    text: str
    code: str | None
    enhanced: str | None
    offset: int
    local: str | None


@dataclass
class Pass:
    """What the records of one queue pass say about a message before its attempt starts."""

    previous: str | None = None
    gateway_ssl: bool = False
    server_role: str | None = None
    expiry_status: int | None = None
    dns_failures: list[str] = field(default_factory=list)


@dataclass
class Message:
    """What is remembered about a message across its attempts and files."""

    previous: str | None = None
    starttls_ok: bool = False
    last_cause: dict[str, dict] = field(default_factory=dict)
    causes_seen: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Attempt:
    """The records of one delivery attempt, as far as they are known."""

    first: Record
    queue_file: str
    message: str
    kind: str = "attempt"
    end: Record | None = None
    recipients: list[str] = field(default_factory=list)
    sender: str | None = None
    host: str | None = None
    server_role: str | None = None
    gateway_ssl: bool = False
    connect_domain_seen: bool = False
    resolved: bool = False
    connect_result: str | None = None
    connect_error: int | None = None
    connect_text: str | None = None
    socket_handle: str | None = None
    implicit_tls: bool = False
    tls_failure: str | None = None
    smtp_started: bool = False
    pending_step: str | None = None
    last_verb: str | None = None
    replies: list[Reply] = field(default_factory=list)
    starttls_ok: bool = False
    body_sent: bool = False
    body_errors: list[int] = field(default_factory=list)
    local_451: list[tuple[int, str, int]] = field(default_factory=list)
    smtp_return: int | None = None
    return_reply: Reply | None = None
    result: int | None = None
    retry_status: int | None = None
    forced_cut: bool = False
    stls_list: list[str] = field(default_factory=list)
    evidence: list[int] = field(default_factory=list)
    give_up_text: str | None = None
    domain: str | None = None
    last_kind: str | None = None


class Assembler:
    """Feed records in file order; finished attempts come out."""

    def __init__(self) -> None:
        self.open: dict[str, Attempt] = {}
        self.waiting: dict[str, Attempt] = {}
        self.passes: dict[str, Pass] = {}
        self.messages: OrderedDict[str, Message] = OrderedDict()
        self.handles: dict[int, Attempt] = {}
        self.active: Attempt | None = None
        self.connecting: Attempt | None = None
        self.starttls: Attempt | None = None
        self.v479_seen = False

    def message(self, message: str) -> Message:
        """The memory of one message, kept in least-recently-used order."""
        found = self.messages.get(message)
        if found is None:
            found = self.messages[message] = Message()
            if len(self.messages) > MESSAGE_MEMORY:
                self.messages.popitem(last=False)
        else:
            self.messages.move_to_end(message)
        return found

    def feed(self, record: Record) -> Iterator[Attempt]:
        """Take one record; yield the attempts it completes."""
        handler = getattr(self, "_on_" + record.kind, None)
        if handler is not None:
            yield from handler(record) or ()

    def flush(self) -> Iterator[Attempt]:
        """Everything still open or waiting for its retry decision, at the end of the input."""
        for attempt in [*self.waiting.values(), *self.open.values()]:
            yield attempt
        self.waiting.clear()
        self.open.clear()
        self.handles.clear()

    # --- pass-level records ------------------------------------------------------------

    def _pass(self, record: Record) -> Pass | None:
        message = base_id(record.message_id)
        if message is None:
            return None
        return self.passes.setdefault(message, Pass())

    def _on_message_pickup(self, record: Record):
        current = base_id(record.captures.get("path", "").rsplit("\\", 1)[-1].rsplit("/", 1)[-1])
        if current is None:
            return
        previous = base_id(record.captures.get("message_id"))
        self.passes[current] = Pass(previous=previous)
        if previous:
            self.message(current).previous = previous
        yield from self._close_waiting(current)

    def _on_server_selection(self, record: Record):
        current = self._pass(record)
        if current is None:
            return
        if record.captures.get("gateway_host"):
            current.server_role = "gateway"
            current.gateway_ssl = bool(record.captures.get("gateway_ssl"))
        choice = record.captures.get("server_choice", "")
        if choice.startswith("Direct"):
            current.server_role = "direct"
        elif choice.startswith("Search MX") or record.captures.get("mx_host"):
            current.server_role = current.server_role or "mx"

    def _on_expiry_check(self, record: Record):
        current = self._pass(record)
        if current is not None:
            current.expiry_status = int(record.captures["expiry_status"])

    def _on_dns_failure(self, record: Record):
        current = self._pass(record)
        if current is not None:
            current.dns_failures.append(record.captures.get("dns_failure", "illegal domain"))

    def _on_recipient_loop(self, record: Record):
        message = base_id(record.message_id)
        if message and "rcpt_index" in record.captures:
            yield from self._close_waiting(message)

    def _on_give_up(self, record: Record):
        message = base_id(record.message_id)
        if message is None:
            return
        yield from self._close_waiting(message)

        text = record.captures.get("give_up_text", "")
        found = GIVE_UP_DOMAIN.search(text)
        attempt = Attempt(record, record.message_id, message, kind="give_up",
                          give_up_text=text, domain=found.group(1) if found else None)
        attempt.evidence.append(record.offset)
        yield attempt

    def _on_retry_decision(self, record: Record):
        message = base_id(record.message_id)
        attempt = self.waiting.pop(message, None) if message else None
        if attempt is not None:
            attempt.retry_status = int(record.captures["retry_status"])
            attempt.evidence.append(record.offset)
            yield attempt

    def _close_waiting(self, message: str) -> Iterator[Attempt]:
        attempt = self.waiting.pop(message, None)
        if attempt is not None:
            yield attempt

    # --- the attempt itself ------------------------------------------------------------

    def _start(self, record: Record) -> Iterator[Attempt]:
        queue_file = record.message_id
        message = base_id(queue_file)
        yield from self._close_waiting(message)
        previous = self.open.pop(queue_file, None)
        if previous is not None:
            yield previous

        attempt = Attempt(record, queue_file, message)
        current = self.passes.get(message)
        if current is not None:
            attempt.server_role = current.server_role
            attempt.gateway_ssl = current.gateway_ssl
        self.open[queue_file] = attempt
        self.active = attempt
        return attempt

    def _attempt(self, record: Record) -> Attempt | None:
        attempt = self.open.get(record.message_id or "")
        if attempt is not None:
            self.active = attempt
            attempt.evidence.append(record.offset)
            attempt.last_kind = record.kind
        return attempt

    def _on_attempt_start(self, record: Record):
        if not record.message_id:
            return
        attempt = yield from self._start(record)
        attempt.recipients.append(record.captures.get("recipient", ""))
        attempt.evidence.append(record.offset)

    def _on_connect_host(self, record: Record):
        if not record.message_id:
            return
        attempt = self.open.get(record.message_id)
        # In a protocol-only log there is no SendGlbalMail line: ConnectHost opens the attempt.
        if attempt is None or attempt.host is not None:
            attempt = yield from self._start(record)
        attempt.host = record.captures.get("host")
        attempt.evidence.append(record.offset)
        self.connecting = attempt

    def _on_tls(self, record: Record):
        caller = record.captures.get("tls_caller", "")
        failed = "tls_value" not in record.captures
        attempt = self.connecting if caller == "ConnectHost()" else self.starttls
        if attempt is None:
            return
        attempt.evidence.append(record.offset)
        if caller == "ConnectHost()":
            attempt.implicit_tls = True
        if failed:
            attempt.tls_failure = record.captures.get("tls_function")

    def _on_connect_step(self, record: Record):
        attempt = self._attempt(record)
        if attempt is None:
            return
        if record.pattern == "EPOST_SL_CONNECT_RECIPIENT":
            attempt.connect_domain_seen = True
        else:
            attempt.resolved = True

    def _on_connect_result(self, record: Record):
        attempt = self._attempt(record)
        if attempt is None:
            return
        attempt.connect_result = record.captures.get("connect_result")
        attempt.connect_text = record.body
        if "socket_error_code" in record.captures:
            attempt.connect_error = int(record.captures["socket_error_code"])

    def _on_connect_end(self, record: Record):
        attempt = self._attempt(record)
        if attempt is None:
            return
        attempt.socket_handle = record.captures.get("socket_handle")
        if attempt.socket_handle and attempt.socket_handle != "ffffffff":
            self.handles[int(attempt.socket_handle, 16)] = attempt
        self.connecting = None

    def _on_smtp_start(self, record: Record):
        attempt = self._attempt(record)
        if attempt is not None:
            attempt.smtp_started = True
            attempt.pending_step = "greeting"

    def _on_smtp_reply(self, record: Record):
        attempt = self._attempt(record)
        if attempt is None or "reply_time" not in record.captures:
            return
        text = record.captures.get("reply_text", "")
        step = attempt.pending_step or (attempt.replies[-1].step if attempt.replies else "unknown")
        reply = Reply(step, text, record.captures.get("reply_code"),
                      record.captures.get("enhanced_status"), record.offset,
                      causes.local_answer(text))
        attempt.replies.append(reply)
        attempt.pending_step = None
        if step == "STARTTLS" and reply.code == "220":
            attempt.starttls_ok = True
            self.message(attempt.message).starttls_ok = True

    def _on_smtp_command(self, record: Record):
        attempt = self._attempt(record)
        if attempt is None:
            return
        verb = (record.captures.get("smtp_verb") or "").upper()
        # Commands without an SMTP verb are AUTH answers and XOAUTH2 lines (redacted).
        step = STEP_OF_VERB.get(verb, "AUTH")
        attempt.pending_step = step
        attempt.last_verb = step
        if step == "MAIL":
            attempt.sender = record.captures.get("sender", "")
        elif step == "RCPT":
            recipient = record.captures.get("recipient", "")
            if recipient and recipient not in attempt.recipients:
                attempt.recipients.append(recipient)
        elif step == "STARTTLS":
            self.starttls = attempt

    def _on_body_sent(self, record: Record):
        attempt = self._attempt(record)
        if attempt is not None:
            attempt.body_sent = True
            attempt.pending_step = "end of data"

    def _on_body_error(self, record: Record):
        attempt = self._attempt(record)
        if attempt is not None:
            attempt.body_errors.append(int(record.captures["socket_error_code"]))
            attempt.pending_step = "end of data"

    def _on_forced_cut(self, record: Record):
        attempt = self._attempt(record) or self.open.get(self._open_id_for(record) or "")
        if attempt is not None:
            attempt.forced_cut = True

    def _open_id_for(self, record: Record) -> str | None:
        # AfterCutting prints the envelope id; the open attempt may use the retry file id.
        message = base_id(record.message_id)
        for queue_file, attempt in self.open.items():
            if attempt.message == message:
                return queue_file
        return None

    def _on_local_error(self, record: Record):
        attempt = self.active
        if attempt is None or attempt.queue_file not in self.open:
            return
        attempt.local_451.append(
            (int(record.captures["error_x"]), record.captures["error_y"], record.offset))
        attempt.evidence.append(record.offset)

    def _on_reply_trace(self, record: Record):
        self.v479_seen = True
        attempt = self.handles.get(int(record.captures.get("socket", "-1")))
        if attempt is not None:
            attempt.evidence.append(record.offset)

    def _on_starttls_list(self, record: Record):
        self.v479_seen = True
        domain = record.captures.get("domain")
        for attempt in self.open.values():
            if attempt.recipients and attempt.recipients[0].endswith("@" + str(domain)):
                attempt.stls_list.append(record.body.strip("[ ]"))
                attempt.evidence.append(record.offset)

    def _on_smtp_end(self, record: Record):
        attempt = self.open.get(record.message_id or "")
        # The return pair: the reply half written just before `SendMailMess:return=N`.
        after_reply = attempt is not None and attempt.last_kind == "smtp_reply"
        attempt = self._attempt(record)
        if attempt is None:
            return
        attempt.smtp_return = int(record.captures["return_code"])
        if after_reply and attempt.replies:
            attempt.return_reply = attempt.replies[-1]

    def _on_attempt_end(self, record: Record):
        attempt = self._attempt(record)
        if attempt is None:
            return
        del self.open[attempt.queue_file]
        attempt.end = record
        attempt.result = int(record.captures["return_code"])
        if attempt.result == 1:
            yield attempt
            return
        self.waiting[attempt.message] = attempt

