"""The benchmark's corpus generator: deterministic, realistic, and every record parses."""

from __future__ import annotations

from collections import Counter

from bench.corpus import Generator
from tests.conftest import parse_file


def _files(root):
    return {path.relative_to(root): path.read_bytes() for path in root.rglob("*.log")}


def test_the_same_seed_writes_the_same_bytes(tmp_path):
    Generator(seed=11).write(tmp_path / "a", hosts=2, days=2, attempts_per_day=30)
    Generator(seed=11).write(tmp_path / "b", hosts=2, days=2, attempts_per_day=30)
    Generator(seed=12).write(tmp_path / "c", hosts=2, days=2, attempts_per_day=30)

    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert sorted(str(path) for path in a) == [
        "senderlog/MAIL01/250101.log", "senderlog/MAIL01/250102.log",
        "senderlog/MAIL02/250101.log", "senderlog/MAIL02/250102.log"]
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_every_record_parses_and_the_causes_are_those_claimed(tmp_path):
    manifest = Generator(seed=11).write(tmp_path, hosts=2, days=2, attempts_per_day=60)

    found, stats = parse_file(tmp_path)

    causes = Counter()
    for (cause, _side), count in stats.causes.items():
        causes[cause] += count
    assert causes == manifest.causes
    assert manifest.causes == {
        "delivered": 188, "connect_timeout": 17, "recipient_unknown": 15,
        "remote_service_unavailable": 14, "connection_reset": 6,
        "starttls_sticky_ssl_bug": 2, "connection_closed_by_peer": 2}
    assert (stats.files, stats.records, stats.attempts, stats.unparsed) == (4, 10060, 244, 0)

    # Japanese replies arrive as CP932 bytes and are read as such.
    encodings = Counter(event["epost"]["senderlog"].get("encoding") for event in found
                        if event["event"]["dataset"] == "epost.senderlog")
    assert encodings == {None: 10060 - 38, "cp932": 38}
    assert manifest.cp932_replies == 38


def test_hosts_keep_the_byte_form_of_their_platform(tmp_path):
    Generator(seed=11).write(tmp_path, hosts=2, days=1, attempts_per_day=30)

    windows = (tmp_path / "senderlog" / "MAIL01" / "250101.log").read_bytes()
    unix = (tmp_path / "senderlog" / "MAIL02" / "250101.log").read_bytes()
    assert b"\r\r\n" in windows and b"C:\\mail\\" in windows
    assert b"\r\n" in unix and b"\r\r\n" not in unix and b"/var/spool/epms/" in unix
