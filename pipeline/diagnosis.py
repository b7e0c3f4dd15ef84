"""Diagnosis: the cause, the side at fault and the evidence of one delivery attempt.

Follows the decision order of the diagnosis contract (docs/causes.md, 2.3): the outcome, the
connect step when no conversation took place, the attempt-wide signatures (the STARTTLS bug,
TLS failures, a refused STARTTLS), then the stored answer that produced the result. Follow-on
records (a 451 while reading the reply to QUIT, a repeated 451 at HELO, repeated SendData
errors) never add a second cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline import causes, errors
from pipeline.attempts import Assembler, Attempt, Reply

TLS_SETUP_FAILURES = ("SSL_CTX_new", "SSL_new")


@dataclass
class Diagnosis:
    """What an attempt tells about a delivery."""

    label: str
    side: str
    outcome: str
    retry_class: str | None
    confidence: str = "high"
    step: str | None = None
    evidence_text: str | None = None
    error_code: str | None = None
    socket_error: errors.ErrorCode | None = None
    received_size: int | None = None
    reply: Reply | None = None
    last_remote: Reply | None = None
    underlying: str | None = None
    carried: dict | None = None
    causes_seen: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)
    explanation: str = ""


def diagnose(attempt: Attempt, context: Assembler, platform: str | None) -> Diagnosis:
    """Diagnose one finished (or abandoned) attempt."""
    if attempt.kind == "give_up":
        found = _give_up(attempt, context)
    else:
        found = _attempt(attempt, context, platform)
        _remember(attempt, context, found)

    found.last_remote = next(
        (reply for reply in reversed(attempt.replies) if reply.local is None and reply.code),
        None,
    )
    host = attempt.host or "the remote server"
    name = found.socket_error.name if found.socket_error else None
    found.explanation = causes.explain(
        found.label, host=host, domain=_domain(attempt), step=found.step,
        reply=found.reply.text.splitlines()[0] if found.reply else None,
        code=found.error_code, name=name or found.error_code, underlying=found.underlying,
        carried=(found.carried or {}).get("label"),
    )
    return found


def _domain(attempt: Attempt) -> str | None:
    if attempt.domain:
        return attempt.domain
    for recipient in attempt.recipients:
        if "@" in recipient:
            return recipient.rsplit("@", 1)[1].lower()
    return None


def _make(label: str, attempt: Attempt, outcome: str = "failure", **values) -> Diagnosis:
    return Diagnosis(label, causes.side(label), outcome,
                     causes.retry_class(attempt.result), **values)


def _attempt(attempt: Attempt, context: Assembler, platform: str | None) -> Diagnosis:
    result = attempt.result
    if result is None and attempt.smtp_return == 1:
        result = 1

    refused = _starttls_refusal(attempt)
    if result == 1:
        found = _make("delivered", attempt, outcome="success", step="end of data")
        if refused:
            found.notes.append(f"starttls_refused: {refused.text}; delivered in plain text")
        return found

    if result is None and not attempt.replies and attempt.connect_result is None:
        return _make("unknown", attempt, outcome="unknown", confidence="low",
                     notes=["the attempt is incomplete in this input"])

    if result == 0 or (attempt.connect_result and attempt.connect_result != "connect success"):
        return _no_conversation(attempt, platform)

    signature = _tls_signature(attempt, context, platform)
    if signature is not None:
        return signature
    if refused is not None:
        return _from_reply("starttls_refused", attempt, refused)

    return _stored_answer(attempt, platform)


def _no_conversation(attempt: Attempt, platform: str | None) -> Diagnosis:
    if attempt.connect_error is not None:
        decoded = errors.socket_error(attempt.connect_error, platform)
        label = decoded.label_at_connect or "unknown"
        return _make(label, attempt, step="CONNECT", socket_error=decoded,
                     error_code=str(attempt.connect_error), evidence_text=attempt.connect_text)

    if attempt.connect_result == "FillAddr error" or (
        attempt.connect_domain_seen and not attempt.resolved and attempt.connect_result is None
    ):
        return _make("dns_failure", attempt, step="CONNECT",
                     evidence_text=f"{attempt.host} did not resolve")

    if attempt.connect_result == "socket()=INVALID_SOCKET":
        found = _make("unknown", attempt, step="CONNECT", evidence_text=attempt.connect_text)
        found.side = "local"
        found.notes.append("socket() failed on the E-Post host")
        return found

    found = _make("unknown", attempt, step="CONNECT")
    if attempt.host and not attempt.connect_domain_seen:
        found.side = "local"
        found.notes.append("no connection was tried: probably outside the permitted hours")
    return found


def _starttls_refusal(attempt: Attempt) -> Reply | None:
    for reply in attempt.replies:
        if reply.step == "STARTTLS" and reply.code and reply.code[0] in "45" and not reply.local:
            return reply
    return None


def _tls_signature(
    attempt: Attempt, context: Assembler, platform: str | None
) -> Diagnosis | None:
    if attempt.tls_failure:
        found = _make("tls_handshake_failed", attempt, step="STARTTLS",
                      evidence_text=f"{attempt.tls_failure}() failed")
        if attempt.tls_failure in TLS_SETUP_FAILURES:
            found.side = "local"
        return found

    first = attempt.replies[0] if attempt.replies else None
    if not (attempt.implicit_tls and attempt.smtp_started and first and first.local):
        return None
    read = causes.parse_local_451(first.text)
    if read is None:
        return None

    x, y = read
    values = dict(step="greeting", reply=first, evidence_text=first.text,
                  error_code=f"{x}/{y}", received_size=causes.received_size(y),
                  socket_error=errors.last_error(x, platform))
    if attempt.gateway_ssl:
        return _make("tls_handshake_failed", attempt, **values)

    found = _make("starttls_sticky_ssl_bug", attempt, **values)
    found.notes.append("the first read of the connection failed inside TLS: no greeting")
    found.confidence = "high" if _earlier_starttls(attempt, context) else "medium"
    if not context.v479_seen:
        found.notes.append("no v4.79+ lines in this log: a build with the STARTTLS flag bug")
    return found


def _earlier_starttls(attempt: Attempt, context: Assembler) -> bool:
    """A successful STARTTLS earlier in the same thread's pass (contract 5.1, rule 5)."""
    seen = {attempt.message}
    current = context.messages.get(attempt.message)
    while current is not None and current.previous and current.previous not in seen:
        seen.add(current.previous)
        current = context.messages.get(current.previous)
        if current is not None and current.starttls_ok:
            return True
    return False


def _stored_answer(attempt: Attempt, platform: str | None) -> Diagnosis:
    answer = attempt.return_reply or (attempt.replies[-1] if attempt.replies else None)

    if answer is None:
        if attempt.result == 551:
            return _make("local_file_error", attempt, step="MAIL")
        if attempt.result == 354 or attempt.body_errors:
            return _body_failure(attempt, None, platform)
        outcome = "unknown" if attempt.result is None else "failure"
        return _make("unknown", attempt, outcome=outcome)

    if answer.local == "local_error_451":
        return _read_failure(attempt, answer, platform)
    if answer.local == "body_transfer_failed" or (attempt.result == 354 and attempt.body_errors):
        return _body_failure(attempt, answer, platform)
    if answer.local in ("service_stopping", "reply_too_long", "local_file_error"):
        return _make(answer.local, attempt, step=_first_step(attempt, answer), reply=answer,
                     evidence_text=answer.text, error_code=answer.code)

    step = _first_step(attempt, answer)
    label = causes.classify_reply(answer.code, answer.enhanced, answer.text, step) or "unknown"
    return _from_reply(label, attempt, answer, step)


def _first_step(attempt: Attempt, answer: Reply) -> str:
    """The step that first showed this answer: later pairs repeat it after a failure."""
    for reply in attempt.replies:
        if reply.text == answer.text:
            return reply.step
    return answer.step


def _from_reply(label: str, attempt: Attempt, reply: Reply, step: str | None = None) -> Diagnosis:
    found = _make(label, attempt, step=step or reply.step, reply=reply,
                  evidence_text=reply.text, error_code=reply.code)
    if label == "remote_greylisting":
        found.confidence = "medium"
    return found


def _read_failure(attempt: Attempt, answer: Reply, platform: str | None) -> Diagnosis:
    x, y = causes.parse_local_451(answer.text)
    failure = causes.read_failure(x, y, platform, inside_tls=attempt.starttls_ok)
    found = _make(failure.label, attempt, step=_first_step(attempt, answer), reply=answer,
                  evidence_text=answer.text, error_code=f"{x}/{y}",
                  socket_error=failure.decoded, received_size=causes.received_size(y),
                  underlying=failure.underlying)
    if failure.note:
        found.notes.append(failure.note)
    if failure.label == "local_file_conflict":
        found.confidence = "low"
    return found


def _body_failure(attempt: Attempt, answer: Reply | None, platform: str | None) -> Diagnosis:
    code = attempt.body_errors[-1] if attempt.body_errors else None
    decoded = errors.socket_error(code, platform) if code is not None else None
    found = _make("body_transfer_failed", attempt, step="body", reply=answer,
                  evidence_text=answer.text if answer else None,
                  error_code=str(code) if code is not None else None, socket_error=decoded)
    if len(attempt.body_errors) > 1:
        found.notes.append(f"{len(attempt.body_errors)} body chunks failed in one transfer")
    return found


def _give_up(attempt: Attempt, context: Assembler) -> Diagnosis:
    current = context.passes.get(attempt.message)
    memory = context.messages.get(attempt.message)
    domain = _domain(attempt) or ""

    if current is not None and (current.expiry_status == 1 or (
            current.dns_failures and current.expiry_status is None)):
        found = Diagnosis("dns_failure", "remote", "failure", "terminal", step="server selection",
                          evidence_text=attempt.give_up_text)
        found.notes.extend(current.dns_failures)
        return found

    carried = memory.last_cause.get(domain) if memory else None
    found = Diagnosis("retry_period_expired", carried["side"] if carried else "unknown",
                      "failure", "terminal", step="retry period",
                      evidence_text=attempt.give_up_text,
                      confidence="medium" if carried else "low", carried=carried,
                      causes_seen=dict(memory.causes_seen.get(domain, {})) if memory else None)
    return found


def _remember(attempt: Attempt, context: Assembler, found: Diagnosis) -> None:
    """Keep the message's last real cause per domain for a later give-up (contract 5.3)."""
    if found.outcome != "failure" or found.label == "unknown":
        return
    domain = _domain(attempt) or ""
    memory = context.message(attempt.message)
    memory.last_cause[domain] = {"label": found.label, "side": found.side,
                                 "code": found.error_code}
    seen = memory.causes_seen.setdefault(domain, {})
    seen[found.label] = seen.get(found.label, 0) + 1
