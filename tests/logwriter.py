"""A stand-in for E-Post's delivery service: appends senderlog records to a file over time.

Each record of the bundled samples (with its CR CR LF endings, reply halves written without
a newline, multi-line replies and the empty lines some records leave) is written the way the
service writes it: one write per record, or line by line with short pauses, flushed at once.
Two delivery threads that interleave are part of the text. Run as a process by the tests:

    python -m tests.logwriter TARGET --platform windows|bsd --seed N [--repeat N] [--pause S]
"""

from __future__ import annotations

import argparse
import io
import random
import time
from pathlib import Path

from pipeline import reader

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "senderlog"

# Two threads at once: the reply half of B..01 gets its text on a line of its own, after a
# record of B..02 (CR LF endings, as the Windows service writes SMTP text).
INTERLEAVED = b"".join(line + b"\r\n" for line in [
    b"[09:00:00:000] [B0000000001] SendGlbalMail:domain=a@example.jp",
    b"[09:00:00:000] [B0000000002] SendGlbalMail:domain=b@example.net",
    b"[09:00:00:001] [B0000000001] ConnectHost(mx.example.jp)",
    b"[09:00:00:001] [B0000000002] ConnectHost(mx.example.net)",
    b"[09:00:00:002] [B0000000001] SendMailMess",
    b"[09:00:00:002] [B0000000002] SendMailMess",
    b"[09:00:00:003] [B0000000001] SendMailMess:",
    b"[09:00:00:003] [B0000000002] SendMailMess:[09:00:00:003] 220 mx.example.net ok",
    b"[09:00:00:003] 554 5.7.1 go away",
    b"[09:00:00:004] [B0000000001] SendMailMess:QUIT",
    b"[09:00:00:004] [B0000000002] SendMailMess:EHLO mail.example.com",
    b"[09:00:00:005] [B0000000001] SendMailMess:[09:00:00:005] 554 5.7.1 go away",
    b"[09:00:00:005] [B0000000001] SendMailMess:return=0",
    b"[09:00:00:005] [B0000000001] SendGlbalMail:return code=554",
    b"[09:00:00:006] [B0000000002] SendMailMess:[09:00:00:006] 250-mx.example.net",
    b"250-size 10240000",
    b"250 8bitmime",
    b"[09:00:00:006] [B0000000002] SendMailMess:QUIT",
    b"[09:00:00:007] [B0000000002] SendMailMess:[09:00:00:007] 221 bye",
    b"[09:00:00:007] [B0000000002] SendMailMess:return=1",
    b"[09:00:00:007] [B0000000002] SendGlbalMail:return code=1",
])


def day(names: list[str], repeat: int = 1) -> bytes:
    """A day's log made of the named samples."""
    return b"".join((SAMPLES / name).read_bytes() for name in names) * repeat


def server(platform: str, repeat: int = 1) -> bytes:
    """A day of one server: the samples of its platform (windows, bsd); on Windows, with the
    interleaved threads."""
    files = sorted(SAMPLES.glob(f"*-{platform}.log"))
    extra = [INTERLEAVED] if platform == "windows" else []
    return b"".join([*(f.read_bytes() for f in files), *extra] * repeat)


def writes(data: bytes, rng: random.Random) -> list[bytes]:
    """The pieces the service writes: one per record, some records line by line."""
    starts = [record.offset for record in reader.records(io.BytesIO(data))] + [len(data)]
    pieces = []
    for start, end in zip(starts, starts[1:]):
        record = data[start:end]
        lines = record.splitlines(keepends=True)
        if len(lines) > 1 and rng.random() < 0.5:
            pieces.extend(lines)
        else:
            pieces.append(record)
    return pieces


def write(target: Path, data: bytes, seed: int, pause: float) -> None:
    """Append `data` to `target` piece by piece, with random pauses up to `pause`."""
    rng = random.Random(seed)
    with open(target, "ab") as handle:
        for piece in writes(data, rng):
            handle.write(piece)
            handle.flush()
            time.sleep(rng.random() * pause)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target", type=Path)
    parser.add_argument("--platform", choices=("windows", "bsd"), required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--pause", type=float, default=0.01)
    arguments = parser.parse_args()
    write(arguments.target, server(arguments.platform, arguments.repeat), arguments.seed,
          arguments.pause)


if __name__ == "__main__":
    main()
