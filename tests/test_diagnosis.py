"""The diagnosis of every sample, as samples/senderlog/README.md states it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import parse_file

SAMPLES = Path("samples/senderlog")

# file: [(queue file, cause, side, error.code, socket error name, retry class, retry)]
EXPECTED = {
    "success-windows.log": [
        ("B0000097013", "delivered", "none", None, None, "none", "none"),
    ],
    "421-retries-bsd.log": [
        ("B0000097013", "remote_service_unavailable", "remote", "421", None, "line_error",
         "retry"),
        ("B0000097013-R0001", "remote_service_unavailable", "remote", "421", None,
         "line_error", "retry"),
    ],
    "451-code-0-0-connection-cut-bsd.log": [
        ("B0000097013", "connection_closed_by_peer", "remote_or_network", "0/0", None,
         "line_error", "retry"),
    ],
    "451-code-0-ffffffff-timeout-windows.log": [
        ("B0000097013", "receive_timeout", "remote_or_network", "0/ffffffff", None,
         "line_error", "retry"),
    ],
    "451-code-54-ffffffff-bsd.log": [
        ("B0000097013", "connection_reset", "remote_or_network", "54/ffffffff", "ECONNRESET",
         "line_error", "retry"),
    ],
    "connect-timeout-60-bsd.log": [
        ("B0000097013", "connect_timeout", "remote_or_network", "60", "ETIMEDOUT",
         "no_response", "retry"),
    ],
    "connect-timeout-10060-windows.log": [
        ("B0000097013", "connect_timeout", "remote_or_network", "10060", "WSAETIMEDOUT",
         "no_response", "retry"),
    ],
    "starttls-bug-windows.log": [
        ("B0000097013", "delivered", "none", None, None, "none", "none"),
        ("B0000097014", "starttls_sticky_ssl_bug", "local", "0/0", None, "line_error",
         "retry"),
    ],
    "starttls-refused-fallback-bsd.log": [
        ("B0000097013", "delivered", "none", None, None, "none", "none"),
    ],
    "550-user-unknown-windows.log": [
        ("B0000097013", "recipient_unknown", "remote", "550", None, "refusal", "retry"),
    ],
    "retry-skip-bsd.log": [],
}


def attempts(name: str) -> list[dict]:
    found, _ = parse_file(SAMPLES / name)
    return [e for e in found if e["event"]["dataset"] == "epost.delivery"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_diagnosis(name):
    got = []
    for event in attempts(name):
        delivery = event["epost"]["delivery"]
        got.append((
            delivery["queue_file"], delivery["cause"], delivery["side"],
            event.get("error", {}).get("code"), delivery.get("socket_error", {}).get("name"),
            delivery["retry_class"], delivery["retry"],
        ))
    assert got == EXPECTED[name]


def test_every_sample_has_an_expectation():
    assert sorted(p.name for p in SAMPLES.glob("*.log")) == sorted(EXPECTED)


def test_421_and_the_451_at_quit_are_one_event():
    first = attempts("421-retries-bsd.log")[0]
    assert first["epost"]["delivery"]["step"] == "greeting"
    assert first["epost"]["delivery"]["smtp"] == {
        "reply_code": 421, "reply_text": "421 Service Temporarily Unavailable"}
    assert "socket_error" not in first["epost"]["delivery"]


def test_helo_fallback_keeps_the_ehlo_failure():
    delivery = attempts("451-code-0-0-connection-cut-bsd.log")[0]["epost"]["delivery"]
    assert delivery["step"] == "EHLO"
    assert delivery["received_size"] == 0
    assert delivery["socket_error"] == {"code": 0, "description": "no error recorded",
                                        "table": "freebsd"}


def test_timeout_after_the_body_waits_for_the_end_of_data_reply():
    event = attempts("451-code-0-ffffffff-timeout-windows.log")[0]
    assert event["epost"]["delivery"]["step"] == "end of data"
    assert event["epost"]["delivery"]["received_size"] == -1
    assert event["event"]["duration"] == 2400074 * 1_000_000
    assert event["epost"]["delivery"]["smtp"]["reply_code"] == 354


def test_starttls_bug_names_the_earlier_starttls_delivery():
    bug = attempts("starttls-bug-windows.log")[1]
    assert bug["epost"]["delivery"]["confidence"] == "high"
    assert bug["epost"]["delivery"]["tls"] == "implicit"
    assert bug["epost"]["delivery"]["step"] == "greeting"


def test_refused_starttls_is_a_note_of_the_delivery():
    delivery = attempts("starttls-refused-fallback-bsd.log")[0]["epost"]["delivery"]
    assert delivery["notes"] == [
        "starttls_refused: 454 4.7.0 TLS not available due to local problem; "
        "delivered in plain text"]


def test_sibling_logs_are_diagnosed():
    found, _ = parse_file(Path("samples/mail"))
    got = sorted(
        (e["event"]["dataset"], e["epost"]["delivery"]["cause"], e["epost"]["delivery"]["side"])
        for e in found if "delivery" in e.get("epost", {})
    )
    assert got == [
        ("epost.faillog", "body_transfer_failed", "remote_or_network"),
        ("epost.faillog", "recipient_unknown", "remote"),
        ("epost.faillog", "retry_period_expired", "unknown"),
        ("epost.outlocallog", "delivered", "none"),
        ("epost.outlog", "delivered", "none"),
    ]
