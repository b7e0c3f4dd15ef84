"""A small fleet made of the samples, and what the overview's panels must say about it.

MAIL01 runs on FreeBSD and wrote the `*-bsd.log` samples, MAIL02 on Windows wrote the
`*-windows.log` ones (all of 3 December 2025); MAIL03 failed to reach example.net on the 3rd,
gave the message up after the retry period on the 4th, and wrote one record no pattern knows.
Each sample keeps its own file name (and so its diagnosis); the expected rows below are what
`senderlog parse` says of these files, counted by hand.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from tests.golden import ROOT

DATE = dt.date(2025, 12, 3)
TIMEZONE = "Asia/Tokyo"
SAMPLES = ROOT / "samples" / "senderlog"

GIVE_UP_DAY_ONE = [
    "[08:59:59:000] [][1] _findfirst()=C:\\mail\\incoming\\B0000000301.$CP",
    "[09:00:00:000] [B0000000301] SendGlbalMail:domain=info@example.net",
    "[09:00:00:000] [B0000000301] ConnectHost(mx.example.net)",
    "[09:00:00:000] [B0000000301] ConnectHost:domain=info@example.net",
    "[09:00:00:000] [B0000000301] getaddrinfo:domain=mx.example.net",
    "[09:00:21:000] [B0000000301] ConnectHost: winsock connect failed. "
    "(socket error code=10060)",
    "[09:00:21:000] [B0000000301] ConnectHost: retrun mscok (ffffffff) / "
    "WSAGetLastError() = (10060);",
    "[09:00:21:000] [B0000000301] SendGlbalMail:return code=0",
    "[09:00:21:000] [B0000000301] SendGlobalMailStatus:example.net:return=1",
]
GIVE_UP_DAY_TWO = [
    "[09:30:00:000] [B0000000301-R0001] RetryDomain:(ltime(134092170210000000)"
    "-nlast(134091306000000000))/Status=-1",
    "[09:30:00:000] [B0000000301] GetRCPFile:rcp.mAnswer(Unable to deliver to "
    "destination domain",
    "> Cannot resolve example.net",
    ")",
    "[09:30:00:000] [B0000000301] GetRCPFile:ReturnMail(1)",
    "[09:30:00:001] [B0000000301] faillog() thread=1.",
    "[09:30:00:002] [B0000000301] QueueSweep:state=unexpected",
]


def build(root: Path) -> Path:
    """Write the fleet under root; returns its senderlog folder."""
    folder = root / "senderlog"
    for host, platform in (("MAIL01", "bsd"), ("MAIL02", "windows")):
        (folder / host).mkdir(parents=True)
        for sample in sorted(SAMPLES.glob(f"*-{platform}.log")):
            shutil.copyfile(sample, folder / host / sample.name)
    (folder / "MAIL03").mkdir()
    for name, lines in (("251203.log", GIVE_UP_DAY_ONE), ("251204.log", GIVE_UP_DAY_TWO)):
        (folder / "MAIL03" / name).write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return folder


def _rows(*rows: tuple) -> list[dict]:
    return [{"key": r[0], "count": r[1]} if len(r) == 2 else
            {"key": r[0], "split": r[1], "count": r[2]} for r in rows]


# 14 attempts: 3 delivered, 11 failed (10 to be retried, 1 given up); times in Asia/Tokyo.
EXPECTED = {
    "outcome-over-time": _rows(
        ("2025-12-03T09:00:00.000+09:00", "failure", 1),   # MAIL03 connect timeout
        ("2025-12-03T10:00:00.000+09:00", "failure", 2),   # the two 421 attempts
        ("2025-12-03T10:00:00.000+09:00", "success", 1),   # success-windows
        ("2025-12-03T11:00:00.000+09:00", "failure", 2),   # 550 and connection cut
        ("2025-12-03T13:00:00.000+09:00", "failure", 1),   # receive timeout
        ("2025-12-03T14:00:00.000+09:00", "failure", 1),   # connection reset
        ("2025-12-03T15:00:00.000+09:00", "failure", 2),   # both connect timeouts
        ("2025-12-03T16:00:00.000+09:00", "success", 2),   # STARTTLS sample, fallback
        ("2025-12-03T16:00:00.000+09:00", "failure", 1),   # the sticky-SSL bug
        ("2025-12-04T09:00:00.000+09:00", "failure", 1),   # MAIL03 gives up
    ),
    "attempt-results": _rows(("delivered", 3), ("failed, will retry", 10),
                             ("failed, returned to sender", 1)),
    "failures-by-cause": _rows(
        ("connect_timeout", 3), ("remote_service_unavailable", 2),
        ("connection_closed_by_peer", 1), ("connection_reset", 1), ("receive_timeout", 1),
        ("recipient_unknown", 1), ("retry_period_expired", 1), ("starttls_sticky_ssl_bug", 1)),
    "failures-by-side": _rows(("remote_or_network", 7), ("remote", 3), ("local", 1)),
    "failing-domains": _rows(
        ("example.jp", "connect_timeout", 2), ("example.jp", "remote_service_unavailable", 2),
        ("example.jp", "connection_closed_by_peer", 1), ("example.jp", "connection_reset", 1),
        ("example.jp", "receive_timeout", 1), ("example.jp", "recipient_unknown", 1),
        ("example.jp", "starttls_sticky_ssl_bug", 1),
        ("example.net", "connect_timeout", 1), ("example.net", "retry_period_expired", 1)),
    "remote-replies": _rows(
        ("421 Service Temporarily Unavailable", 2),
        ("550 5.1.1 <nobody@example.jp>: Recipient address rejected: User unknown", 1)),
    "socket-errors": _rows(
        ("no error recorded", "winsock", 2), ("no error recorded", "freebsd", 1),
        ("connection timed out; the peer did not respond", "winsock", 2),
        ("connection reset by peer", "freebsd", 1), ("operation timed out", "freebsd", 1)),
    "failures-by-host": _rows(
        ("MAIL01", "remote_or_network", 3), ("MAIL01", "remote", 2),
        ("MAIL02", "remote_or_network", 2), ("MAIL02", "local", 1), ("MAIL02", "remote", 1),
        ("MAIL03", "remote_or_network", 2)),
    "starttls-suspects": _rows(("MAIL02", 1)),
    "expired-real-cause": _rows(("connect_timeout", 1)),
    "unparsed-records": _rows(("MAIL03", 1)),
}
