"""Error codes: decode the numbers E-Post prints with the tables of the server's platform.

The same number means different things on different platforms (32 is EPIPE on Unix and
ERROR_SHARING_VIOLATION on Windows), so a number is only decoded once the platform is known:
set in the configuration, or read from the paths the log prints (C:\\mail\\... or /var/...).
The tables are CSV files in data/errors/, edited without touching code.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "errors"
PLATFORMS = ("windows", "freebsd", "linux", "unix")

WINDOWS_PATH = re.compile(rb"[A-Za-z]:\\")
UNIX_PATH = re.compile(rb"[=(, ]/(?:var|usr|home|opt|srv|data|mail)/")
# Socket codes of 100 and more only exist on Linux; a Unix build with smaller codes is BSD.
LINUX_ONLY_FROM = 100


@dataclass(frozen=True)
class ErrorCode:
    """One decoded number: the table it came from, its symbolic name and what it means."""

    code: int
    table: str | None
    name: str | None
    description: str | None
    label_at_connect: str | None = None
    label_on_read: str | None = None


@cache
def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def table(name: str) -> dict[int, ErrorCode]:
    """The rows of one table keyed by number: winsock, windows_system, freebsd or linux."""
    if name == "winsock":
        rows = [(row["code"], row) for row in _rows("winsock.csv")]
    elif name == "windows_system":
        rows = [(row["code"], row) for row in _rows("windows-system.csv")]
    else:
        rows = [(row[name], row) for row in _rows("errno.csv")]

    return {
        int(code): ErrorCode(
            int(code), name, row.get("name") or None, row.get("description") or None,
            row.get("label_at_connect") or None, row.get("label_on_read") or None,
        )
        for code, row in rows
    }


def detect_platform(head: bytes) -> str | None:
    """The platform a log comes from, judged by the paths in its first bytes."""
    if WINDOWS_PATH.search(head):
        return "windows"
    if UNIX_PATH.search(head):
        return "unix"
    return None


def socket_error(code: int, platform: str | None) -> ErrorCode:
    """Decode an OS socket error (connect, send, or the X of a local 451)."""
    if code >= 10000 or platform == "windows":
        return _lookup("winsock", code)

    if platform in ("freebsd", "linux"):
        return _lookup(platform, code)

    # Windows prints socket errors as 10000 + n, so a smaller number comes from a Unix build.
    if code == 0:
        return _lookup("freebsd", 0)
    flavour = "linux" if code >= LINUX_ONLY_FROM else "freebsd"
    return _lookup(flavour, code)


def last_error(code: int, platform: str | None) -> ErrorCode:
    """Decode the X of `code=X/Y`: a socket error, or on Windows a (possibly stale) system error.

    On Windows a number below 10000 is never a socket error; with no platform known such a
    number is not decoded at all.
    """
    if code == 0 or code >= 10000:
        return socket_error(code, platform)
    if platform == "windows":
        return _lookup("windows_system", code)
    if platform is None:
        return ErrorCode(code, None, None, "not decodable without knowing the server platform")
    return socket_error(code, platform)


def system_error(code: int) -> ErrorCode:
    """Decode a Windows GetLastError() value (X_MoveFile, the token program)."""
    return _lookup("windows_system", code)


def _lookup(name: str, code: int) -> ErrorCode:
    found = table(name).get(code)
    if found is None:
        return ErrorCode(code, name, None, "not in the table of known codes")
    return found
