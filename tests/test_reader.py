"""Framing: records from bytes, with exact offsets, whatever the input."""

from __future__ import annotations

import io

from pipeline import reader, records
from pipeline.reader import LogFile


def raw(data: bytes) -> list[reader.RawRecord]:
    return list(reader.records(io.BytesIO(data)))


def test_crlf_and_cr_cr_lf_are_stripped_and_offsets_exact():
    data = b"[10:00:00:000] [B0000000001] SendMailMess\r\n[10:00:00:001] [B0000000001] " \
           b"SendMailMess:QUIT\r\r\n"
    found = raw(data)
    assert [(r.offset, r.time, bytes(r.body)) for r in found] == [
        (0, "10:00:00:000", b"[B0000000001] SendMailMess"),
        (data.index(b"[10:00:00:001]"), "10:00:00:001", b"[B0000000001] SendMailMess:QUIT"),
    ]


def test_reply_half_splits_at_the_reply_prefix_and_keeps_continuations():
    data = (b"[10:00:00:000] [B0000000001] SendMailMess:[10:00:00:000] 250-mx\r\r\n"
            b"250-size 100\r\r\n250 8bitmime\r\r\n"
            b"[10:00:00:001] [B0000000001] SendData complete.\n")
    found = raw(data)
    assert [(r.offset, r.mid_line, bytes(r.body)) for r in found] == [
        (0, False, b"[B0000000001] SendMailMess:"),
        (data.index(b"[10:00:00:000] 250"), True, b"250-mx\n250-size 100\n250 8bitmime"),
        (data.index(b"[10:00:00:001]"), False, b"[B0000000001] SendData complete."),
    ]


def test_glued_record_after_an_answer_without_newline():
    data = (b"[10:00:00:000] [B1] SendMailMess:[10:00:00:000] 354 go\r\r\n"
            b"> While delivering, the stopping happened."
            b"[10:00:00:001] [B1] SendMailMess:QUIT\r\r\n")
    found = raw(data)
    assert [bytes(r.body) for r in found] == [
        b"[B1] SendMailMess:", b"354 go\n> While delivering, the stopping happened.",
        b"[B1] SendMailMess:QUIT"]
    assert found[2].offset == data.index(b"[10:00:00:001]")


def test_prefix_inside_a_remote_reply_does_not_split():
    data = b"[10:00:00:000] [B1] SendMailMess:[10:00:00:000] 250 ok [10:00:00:000] fine\n"
    assert [bytes(r.body) for r in raw(data)] == [
        b"[B1] SendMailMess:", b"250 ok [10:00:00:000] fine"]


def test_empty_lines_belong_to_the_record_before():
    data = b"[10:00:00:000] [B1] GetRCPFile:while(i=001):To=Recipient: <a@b.jp>\r\n\r\n" \
           b"[10:00:00:001] [B1] bRetryRule=1\n"
    found = raw(data)
    assert len(found) == 2
    assert found[0].empty_lines == 1


def test_prefix_without_milliseconds_and_records_without_prefix():
    data = b"[10:00:00] [B1] SendMailMess\n[B0000097013] [yyy.yyy.jp] GetTryServer:()\n"
    found = raw(data)
    assert [(r.time, bytes(r.body)) for r in found] == [
        ("10:00:00", b"[B1] SendMailMess"),
        (None, b"[B0000097013] [yyy.yyy.jp] GetTryServer:()")]


def test_long_line_is_cut_and_counted():
    body = b"x" * (reader.MAX_RECORD_BYTES * 2)
    data = b"[10:00:00:000] " + body + b"\n[10:00:00:001] [B1] SendMailMess\n"
    found = raw(data)
    assert len(found) == 2
    assert len(found[0].prefix) + len(found[0].body) + found[0].truncated_bytes == \
        len(data.split(b"\n")[0])
    assert found[1].offset == data.index(b"[10:00:00:001]")


def test_last_line_without_newline_is_kept():
    found = raw(b"[10:00:00:000] [B1] SendMailMess\n[10:00:00:001] [B1] SendMailMe")
    assert bytes(found[-1].body) == b"[B1] SendMailMe"


def test_decoding_never_fails():
    cp932 = "送信".encode("cp932")
    assert records.decode(b"plain") == ("plain", None)
    assert records.decode("送信".encode()) == ("送信", "utf-8")
    assert records.decode(cp932) == ("送信", "cp932")
    mixed = "送信".encode() + b" " + cp932
    assert records.decode(mixed) == ("送信 送信", "mixed")
    assert records.decode(mixed + b" \x81") == ("送信 送信 \\x81", "mixed")


def test_sibling_log_lines_are_one_record_each():
    data = b"[03/Dec/2025:10:15:00], (a), [192.0.2.1]:25, Client accept now.\r\n" \
           b"[03/Dec/2025:10:15:01], (a), [192.0.2.1]:25, Client accept now.\r\n"
    found = list(reader.lines(io.BytesIO(data)))
    assert [r.offset for r in found] == [0, data.index(b"[03/Dec/2025:10:15:01]")]


def test_file_description_from_the_path(tmp_path):
    path = tmp_path / "mail" / "senderlog" / "MAIL01" / "251203.log"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert reader.describe(path, None, None) == LogFile(
        path, "senderlog", "MAIL01", __import__("datetime").date(2025, 12, 3), "file name")
    other = tmp_path / "mail" / "faillog" / "MAIL02" / "251204_13.log"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"")
    described = reader.describe(other, None, None)
    assert (described.log, described.host, str(described.date)) == (
        "faillog", "MAIL02", "2025-12-04")
