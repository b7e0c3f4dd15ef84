"""No credential that E-Post writes into the senderlog appears in any output."""

from __future__ import annotations

import base64
import json

from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import write_log

USER, PASSWORD = "relay-user@example.com", "S3cret-Passw0rd!"
CLIENT_SECRET, REFRESH, ACCESS = "cs-9f8e7d6c5b4a", "rt-0123456789abcdef", "at-fedcba9876543210"
CODE = "auth-code-5555aaaa"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


PLAIN = b64(f"\0{USER}\0{PASSWORD}")
BEARER = b64(f"user={USER}\x01auth=Bearer {ACCESS}\x01\x01")
CRAM = b64(f"{USER} 0123456789abcdef0123456789abcdef")
REQUEST = (f"tokenget.exe -d \"client_id=abc&client_secret={CLIENT_SECRET}"
           f"&grant_type=refresh_token&refresh_token={REFRESH}&code={CODE}\"")
SECRETS = [PASSWORD, PLAIN, b64(USER), b64(PASSWORD), BEARER, CRAM, CLIENT_SECRET, REFRESH,
           ACCESS, CODE]


def senderlog() -> bytes:
    i = "[10:00:00:000] [B0000000001] SendMailMess:"
    lines = [
        "[10:00:00:000] [B0000000001] SendMailMess",
        f"{i}[10:00:00:000] 220 relay.example.com ESMTP",
        f"{i}EHLO mail.example.com",
        f"{i}[10:00:00:000] 250-relay.example.com\r\r\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2",
        f"{i}AUTH PLAIN {PLAIN}",
        f"{i}[10:00:00:000] 235 ok",
        # AUTH LOGIN: the command itself is not logged, its two answers are.
        f"{i}[10:00:00:000] 334 VXNlcm5hbWU6",
        f"{i}{b64(USER)}",
        f"{i}[10:00:00:000] 334 UGFzc3dvcmQ6",
        f"{i}{b64(PASSWORD)}",
        f"{i}AUTH CRAM-MD5",
        f"{i}[10:00:00:000] 334 PDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTA+",
        f"{i}{CRAM}",
        # XOAUTH2: the token request twice (once glued to the next record), the JSON answer.
        f"{i}{REQUEST}",
        f"{i}{REQUEST}{i}[10:00:00:000] 250 ok",
        f"{i}{{\"token_type\": \"Bearer\",\r\n \"access_token\": \"{ACCESS}\",\r\n"
        f" \"refresh_token\": \"{REFRESH}\"}}",
        f"{i}AUTH XOAUTH2",
        f"{i}[10:00:00:000] 334 ",
        f"{i}{BEARER}",
        f"{i}[10:00:00:000] 235 2.7.0 Accepted",
        f"{i}AUTH XOAUTH2 {BEARER}",
        f"{i}QUIT",
    ]
    return ("\r\r\n".join(lines) + "\r\r\n").encode()


def test_no_credential_in_any_output(tmp_path):
    path = write_log(tmp_path, senderlog())
    output = tmp_path / "events.ndjson"
    result = CliRunner().invoke(main, ["-vv", "parse", str(path), "-o", str(output)])
    assert result.exit_code == 0, result.output

    written = output.read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in written
        assert secret not in result.output
    originals = [json.loads(line)["event"]["original"] for line in written.splitlines()]
    assert sum("[REDACTED]" in original for original in originals) == 9

    commands = [json.loads(line)["epost"]["senderlog"].get("smtp", {}).get("command")
                for line in written.splitlines()]
    assert [c for c in commands if c] == [
        "EHLO mail.example.com", "AUTH PLAIN [REDACTED]", "[REDACTED]", "[REDACTED]",
        "AUTH CRAM-MD5", "[REDACTED]", "[REDACTED]", "[REDACTED]", "[REDACTED]",
        "AUTH XOAUTH2", "[REDACTED]", "AUTH XOAUTH2 [REDACTED]", "QUIT"]
