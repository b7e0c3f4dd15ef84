"""Bad input never crashes a run and never loses a line; the run reports what it could not
parse."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import parse_file, write_log
from tests.golden import ROOT, sample_files

SENDERLOG_SAMPLES = [s for s in sample_files() if "senderlog" in s.parts]


def records_of(found):
    return [e for e in found if e["event"]["dataset"] != "epost.delivery"]


def test_binary_junk_becomes_unparsed_events(tmp_path):
    junk = bytes(random.Random(7).randrange(256) for _ in range(5000))
    write_log(tmp_path, junk)
    found, stats = parse_file(tmp_path)
    assert stats.records == len(records_of(found)) > 0
    assert stats.unparsed == sum("_grokparsefailure" in e.get("tags", []) for e in found)
    assert all("original" in e["event"] for e in records_of(found))


def test_unknown_shape_keeps_its_text_and_a_failure_tag(tmp_path):
    write_log(tmp_path, b"[10:00:00:000] [B0000000001] SomethingNew:happened\n")
    found, stats = parse_file(tmp_path)
    assert stats.unparsed == 1
    event = found[0]
    assert event["tags"] == ["_grokparsefailure"]
    assert event["event"]["original"] == "[10:00:00:000] [B0000000001] SomethingNew:happened"
    assert event["epost"]["senderlog"]["kind"] == "unknown"
    assert event["@timestamp"] == "2025-12-03T10:00:00.000+09:00"


def test_truncated_last_line_and_overlong_line(tmp_path):
    data = b"[10:00:00:000] [B1] " + b"y" * 70000 + b"\n[10:00:00:001] [B0000000001] SendMa"
    write_log(tmp_path, data)
    found, stats = parse_file(tmp_path)
    assert stats.records == 2
    assert stats.truncated == 1
    assert found[0]["tags"] == ["_grokparsefailure", "epost_record_truncated"]
    assert found[0]["epost"]["senderlog"]["truncated_bytes"] == 70020 - 65536
    assert found[1]["event"]["original"] == "[10:00:00:001] [B0000000001] SendMa"


def test_wrong_encodings_are_read(tmp_path):
    reply = "550 宛先が見つかりません".encode("cp932")
    write_log(tmp_path, b"[10:00:00:000] [B0000000001] SendMailMess:[10:00:00:000] " + reply
              + b"\r\r\n[10:00:00:001] [B0000000001] SendMailMess:QUIT\r\r\n")
    found, _ = parse_file(tmp_path)
    reply_event = found[0]
    assert reply_event["epost"]["senderlog"]["smtp"]["reply_text"] == "550 宛先が見つかりません"
    assert reply_event["epost"]["senderlog"]["encoding"] == "cp932"
    assert reply_event["epost"]["senderlog"]["cause"] == "remote_permanent_failure"


def test_empty_folder_is_an_empty_run(tmp_path):
    result = CliRunner().invoke(main, ["parse", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "0 files" in result.stderr


def test_missing_path_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["parse", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr


def _garble(data: bytes, seed: int) -> list[bytes]:
    """Variants of a sample: cut lines, flipped bytes, junk, lost prefixes, CP932 noise."""
    rng = random.Random(seed)
    lines = data.split(b"\n")
    cut = b"\n".join(line[:rng.randrange(len(line) + 1)] for line in lines)
    flipped = bytearray(data)
    for _ in range(len(data) // 50):
        flipped[rng.randrange(len(flipped))] = rng.randrange(256)
    junk = b"\n".join(line + bytes(rng.randrange(256) for _ in range(5)) for line in lines)
    no_prefix = b"\n".join(line[15:] if rng.random() < 0.3 else line for line in lines)
    noise = data.replace(b"example", "例え".encode("cp932"))
    shuffled = lines[:]
    rng.shuffle(shuffled)
    half = data[: len(data) // 2]
    return [cut, bytes(flipped), junk, no_prefix, noise, b"\n".join(shuffled), half]


@pytest.mark.parametrize("sample", SENDERLOG_SAMPLES, ids=str)
def test_garbled_samples_never_crash_or_lose_bytes(tmp_path, sample):
    data = (ROOT / sample).read_bytes()
    for number, variant in enumerate(_garble(data, seed=len(data))):
        folder = tmp_path / str(number)
        path = write_log(folder, variant)
        found, stats = parse_file(folder)
        records = records_of(found)
        assert stats.records == len(records)
        # Every non-empty line of the variant is somewhere in an event's original text.
        text = "\n".join(e["event"]["original"] for e in records)
        for line in variant.split(b"\n"):
            stripped = line.rstrip(b"\r")
            if stripped and stripped.isascii():
                # Redaction replaces what follows "SendMailMess:" when it is no SMTP command.
                kept = stripped.decode().split("SendMailMess:")[0]
                assert kept in text
        assert path.stat().st_size == len(variant)
