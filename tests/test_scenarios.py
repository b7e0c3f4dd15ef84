"""Multi-record diagnoses on small logs written for the case (format and contract rules)."""

from __future__ import annotations

from tests.conftest import parse_file, write_log

HEAD = [
    "[09:00:00:000] [B0000000001] SendGlbalMail:domain=user@example.jp",
    "[09:00:00:000] [B0000000001] ConnectHost(mx.example.jp)",
    "[09:00:00:000] [B0000000001] ConnectHost:domain=user@example.jp",
    "[09:00:00:000] [B0000000001] getaddrinfo:domain=mx.example.jp",
    "[09:00:00:010] [B0000000001] ConnectHost: winsock connect success.",
    "[09:00:00:010] [B0000000001] ConnectHost: retrun mscok (1f4) / WSAGetLastError() = (0);",
    "[09:00:00:010] [B0000000001] SendMailMess",
    "[09:00:00:020] [B0000000001] SendMailMess:[09:00:00:020] 220 mx.example.jp ESMTP",
    "[09:00:00:020] [B0000000001] SendMailMess:EHLO mail.example.com",
    "[09:00:00:030] [B0000000001] SendMailMess:[09:00:00:030] 250 mx.example.jp",
    "[09:00:00:030] [B0000000001] SendMailMess:MAIL FROM:<sender@example.com>",
    "[09:00:00:040] [B0000000001] SendMailMess:[09:00:00:040] 250 ok",
]
WINDOWS = "[08:59:59:000] [][1] _findfirst()=C:\\mail\\incoming\\B0000000001.$CP"


def attempts_of(tmp_path, lines, name="251203.log", **options):
    write_log(tmp_path, ("\r\n".join(lines) + "\r\n").encode("utf-8"), name)
    found, stats = parse_file(tmp_path / "senderlog", **options)
    return [e for e in found if e["event"]["dataset"] == "epost.delivery"], stats


def cause(event):
    delivery = event["epost"]["delivery"]
    return delivery["cause"], delivery["side"]


def test_repeated_senddata_errors_are_one_attempt(tmp_path):
    lines = [WINDOWS, *HEAD,
             "[09:00:00:040] [B0000000001] SendMailMess:RCPT TO:<user@example.jp>",
             "[09:00:00:050] [B0000000001] SendMailMess:[09:00:00:050] 250 ok",
             "[09:00:00:050] [B0000000001] SendMailMess:DATA",
             "[09:00:00:060] [B0000000001] SendMailMess:[09:00:00:060] 354 go ahead",
             "[09:00:00:070] [B0000000001] SendData (socket error code=10054)",
             "[09:00:00:070] [B0000000001] SendData (socket error code=10054)",
             "[09:00:00:070] [B0000000001] SendData (socket error code=10054)",
             "[09:00:00:070] [B0000000001] SendMailMess:[09:00:00:070] 354 go ahead",
             "> While delivering, the stopping happened.[09:00:00:070] [B0000000001] "
             "SendMailMess:QUIT",
             "[09:00:00:080] [B0000000001] SendMailMess:[09:00:00:080] 354 go ahead",
             "> While delivering, the stopping happened.[09:00:00:080] [B0000000001] "
             "SendMailMess:return=0",
             "[09:00:00:080] [B0000000001] SendGlbalMail:return code=354",
             "[09:00:00:090] [B0000000001] SendGlobalMailStatus:example.jp:return=0"]
    found, stats = attempts_of(tmp_path, lines)
    assert len(found) == 1
    delivery = found[0]["epost"]["delivery"]
    assert cause(found[0]) == ("body_transfer_failed", "remote_or_network")
    assert delivery["chunks_failed"] == 3
    assert delivery["socket_error"]["name"] == "WSAECONNRESET"
    assert delivery["retry"] == "bounce"
    assert delivery["retry_class"] == "unclassified_3xx"
    assert stats.unparsed == 0


def test_service_stopping_answer_without_newline(tmp_path):
    lines = [WINDOWS, *HEAD,
             "[09:00:00:040] [B0000000001] SendMailMess:RCPT TO:<user@example.jp>",
             "[09:00:00:050] [B0000000001] SendMailMess:[09:00:00:050] 451 Requested action "
             "aborted: stoped in processing.[09:00:00:050] [B0000000001] SendMailMess:QUIT",
             "[09:00:00:050] [B0000000001] SendMailMess:[09:00:00:050] 451 Requested action "
             "aborted: stoped in processing.[09:00:00:050] [B0000000001] SendMailMess:return=0",
             "[09:00:00:060] [B0000000001] SendGlbalMail:return code=451"]
    found, stats = attempts_of(tmp_path, lines)
    assert cause(found[0]) == ("service_stopping", "local")
    assert found[0]["epost"]["delivery"]["step"] == "RCPT"
    assert stats.unparsed == 0


def test_local_file_conflict_carries_the_underlying_event(tmp_path):
    lines = [WINDOWS, *HEAD,
             "[09:00:00:040] [B0000000001] SendMailMess:RCPT TO:<user@example.jp>",
             "[09:20:00:040] 451 Requested action aborted: error in processing. "
             "(code=183/ffffffff)",
             "[09:20:00:040] [B0000000001] SendMailMess:[09:20:00:040] 451 Requested action "
             "aborted: error in processing.(code=183/ffffffff)",
             "[09:20:00:040] [B0000000001] SendMailMess:QUIT",
             "[09:20:00:050] [B0000000001] SendMailMess:[09:20:00:050] 451 Requested action "
             "aborted: error in processing.(code=183/ffffffff)",
             "[09:20:00:050] [B0000000001] SendMailMess:return=0",
             "[09:20:00:050] [B0000000001] SendGlbalMail:return code=451"]
    found, _ = attempts_of(tmp_path, lines)
    delivery = found[0]["epost"]["delivery"]
    assert cause(found[0]) == ("local_file_conflict", "local")
    assert delivery["underlying_cause"] == "receive_timeout"
    assert delivery["confidence"] == "low"
    assert delivery["socket_error"]["name"] == "ERROR_ALREADY_EXISTS"


def test_greylisting_and_retry_decision(tmp_path):
    lines = [WINDOWS, *HEAD,
             "[09:00:00:040] [B0000000001] SendMailMess:RCPT TO:<user@example.jp>",
             "[09:00:00:050] [B0000000001] SendMailMess:[09:00:00:050] 450 4.7.1 <user@example"
             ".jp>: Recipient address rejected: Greylisted, see http://example.jp/grey",
             "[09:00:00:050] [B0000000001] SendMailMess:QUIT",
             "[09:00:00:060] [B0000000001] SendMailMess:[09:00:00:060] 450 4.7.1 <user@example"
             ".jp>: Recipient address rejected: Greylisted, see http://example.jp/grey",
             "[09:00:00:060] [B0000000001] SendMailMess:return=450",
             "[09:00:00:060] [B0000000001] SendGlbalMail:return code=450",
             "[09:00:00:070] [B0000000001] SendGlobalMailStatus:example.jp:return=1"]
    found, _ = attempts_of(tmp_path, lines)
    delivery = found[0]["epost"]["delivery"]
    assert cause(found[0]) == ("remote_greylisting", "remote")
    assert (delivery["confidence"], delivery["retry"]) == ("medium", "retry")
    assert delivery["smtp"]["enhanced_status"] == "4.7.1"


def test_starttls_refused_without_fallback(tmp_path):
    lines = [WINDOWS, *HEAD[:9],
             "[09:00:00:030] [B0000000001] SendMailMess:[09:00:00:030] 250-mx.example.jp",
             "250 starttls",
             "[09:00:00:030] [B0000000001] SendMailMess:STARTTLS",
             "[09:00:00:040] [          ] SetSTLSFailList=[example.jp]",
             "[09:00:00:040] [B0000000001] AfterCutting(1) write success. C:\\mail\\x.$NG",
             "[09:00:00:040] [B0000000001] SendMailMess:[09:00:00:040] 454 4.7.0 TLS not "
             "available",
             "[09:00:00:040] [B0000000001] SendMailMess:QUIT",
             "[09:00:00:050] [B0000000001] SendMailMess:[09:00:00:050] 454 4.7.0 TLS not "
             "available",
             "[09:00:00:050] [B0000000001] SendMailMess:return=0",
             "[09:00:00:050] [B0000000001] SendGlbalMail:return code=454"]
    found, _ = attempts_of(tmp_path, lines)
    assert cause(found[0]) == ("starttls_refused", "remote")
    assert found[0]["epost"]["delivery"]["step"] == "STARTTLS"


def test_unresolved_host_is_a_dns_failure(tmp_path):
    lines = [WINDOWS, *HEAD[:3],
             "[09:00:01:000] [B0000000001] SendGlbalMail:return code=0"]
    found, _ = attempts_of(tmp_path, lines)
    assert cause(found[0]) == ("dns_failure", "remote")
    assert found[0]["epost"]["delivery"]["retry_class"] == "no_response"


def test_implicit_tls_gateway_without_greeting_is_a_handshake_failure(tmp_path):
    lines = [WINDOWS,
             "[09:00:00:000] [B0000000001] GetSMTPServer = SMTP GateWay(relay.example.com:465"
             "/SSL)",
             "[09:00:00:000] [B0000000001] SendGlbalMail:domain=user@example.jp",
             "[09:00:00:000] [B0000000001] ConnectHost(relay.example.com)",
             "[09:00:00:000] ConnectHost():SSL_CTX_new() = 37419872",
             *HEAD[2:7],
             "[09:00:00:030] 451 Requested action aborted: error in processing. (code=0/0)",
             "[09:00:00:030] [B0000000001] SendMailMess:[09:00:00:030] 451 Requested action "
             "aborted: error in processing.(code=0/0)",
             "[09:00:00:030] [B0000000001] SendMailMess:QUIT",
             "[09:00:00:030] [B0000000001] SendMailMess:[09:00:00:030] 451 Requested action "
             "aborted: error in processing.(code=0/0)",
             "[09:00:00:030] [B0000000001] SendMailMess:return=0",
             "[09:00:00:030] [B0000000001] SendGlbalMail:return code=451"]
    found, _ = attempts_of(tmp_path, lines)
    assert cause(found[0]) == ("tls_handshake_failed", "remote")
    assert found[0]["epost"]["delivery"]["server_role"] == "gateway"


def test_give_up_carries_the_last_real_cause_across_days(tmp_path):
    day_one = [WINDOWS, *HEAD[:4],
               "[09:00:21:000] [B0000000001] ConnectHost: winsock connect failed. "
               "(socket error code=10060)",
               "[09:00:21:000] [B0000000001] ConnectHost: retrun mscok (ffffffff) / "
               "WSAGetLastError() = (10060);",
               "[09:00:21:000] [B0000000001] SendGlbalMail:return code=0",
               "[09:00:21:000] [B0000000001] SendGlobalMailStatus:example.jp:return=1"]
    day_two = ["[09:30:00:000] [B0000000001-R0001] RetryDomain:(ltime(134092170210000000)"
               "-nlast(134091306000000000))/Status=-1",
               "[09:30:00:000] [B0000000001] GetRCPFile:rcp.mAnswer(Unable to deliver to "
               "destination domain",
               "> Cannot resolve example.jp",
               ")",
               "[09:30:00:000] [B0000000001] GetRCPFile:ReturnMail(1)",
               "[09:30:00:001] [B0000000001] faillog() thread=1."]
    write_log(tmp_path, ("\r\n".join(day_one) + "\r\n").encode(), "251203.log")
    write_log(tmp_path, ("\r\n".join(day_two) + "\r\n").encode(), "251204.log")
    found, stats = parse_file(tmp_path / "senderlog")
    attempts = [e for e in found if e["event"]["dataset"] == "epost.delivery"]

    assert [cause(e) for e in attempts] == [
        ("connect_timeout", "remote_or_network"),
        ("retry_period_expired", "remote_or_network"),
    ]
    give_up = attempts[1]
    assert give_up["@timestamp"] == "2025-12-04T09:30:00.000+09:00"
    assert give_up["epost"]["delivery"]["carried_cause"] == {
        "code": "10060", "label": "connect_timeout", "side": "remote_or_network"}
    assert give_up["epost"]["delivery"]["causes_seen"] == {"connect_timeout": 1}
    assert give_up["epost"]["delivery"]["retry"] == "bounce"
    assert give_up["destination"]["domain"] == "example.jp"
    assert stats.unparsed == 0


def test_interleaved_threads_pair_replies_by_message(tmp_path):
    lines = [
        "[09:00:00:000] [B0000000001] SendGlbalMail:domain=a@example.jp",
        "[09:00:00:000] [B0000000002] SendGlbalMail:domain=b@example.net",
        "[09:00:00:001] [B0000000001] ConnectHost(mx.example.jp)",
        "[09:00:00:001] [B0000000002] ConnectHost(mx.example.net)",
        "[09:00:00:002] [B0000000001] SendMailMess",
        "[09:00:00:002] [B0000000002] SendMailMess",
        "[09:00:00:003] [B0000000001] SendMailMess:",
        "[09:00:00:003] [B0000000002] SendMailMess:[09:00:00:003] 220 mx.example.net ok",
        "[09:00:00:003] 554 5.7.1 go away",
        "[09:00:00:004] [B0000000001] SendMailMess:QUIT",
        "[09:00:00:004] [B0000000002] SendMailMess:EHLO mail.example.com",
        "[09:00:00:005] [B0000000001] SendMailMess:[09:00:00:005] 554 5.7.1 go away",
        "[09:00:00:005] [B0000000001] SendMailMess:return=0",
        "[09:00:00:005] [B0000000001] SendGlbalMail:return code=554",
        "[09:00:00:006] [B0000000002] SendMailMess:[09:00:00:006] 250 hello",
        "[09:00:00:006] [B0000000002] SendMailMess:QUIT",
        "[09:00:00:007] [B0000000002] SendMailMess:[09:00:00:007] 221 bye",
        "[09:00:00:007] [B0000000002] SendMailMess:return=1",
        "[09:00:00:007] [B0000000002] SendGlbalMail:return code=1",
    ]
    found, stats = attempts_of(tmp_path, ["[08:00:00:000] [][1] _findfirst()=/var/x", *lines])
    by_file = {e["epost"]["delivery"]["queue_file"]: e for e in found}
    assert cause(by_file["B0000000001"]) == ("remote_permanent_failure", "remote")
    assert by_file["B0000000001"]["epost"]["delivery"]["step"] == "greeting"
    assert cause(by_file["B0000000002"]) == ("delivered", "none")
    assert stats.unparsed == 0
