"""`senderlog parse` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from pipeline.cli import main


def test_parse_writes_ndjson_to_stdout_and_a_summary_to_stderr():
    result = CliRunner().invoke(
        main, ["parse", "samples/senderlog/550-user-unknown-windows.log", "--date", "2025-12-03"])
    assert result.exit_code == 0
    found = [json.loads(line) for line in result.stdout.splitlines()]
    attempts = [e for e in found if e["event"]["dataset"] == "epost.delivery"]
    assert (len(found), len(attempts)) == (41, 1)
    assert attempts[0]["epost"]["delivery"]["cause"] == "recipient_unknown"
    assert "1 files (1 senderlog), 40 records, 1 delivery attempts" in result.stderr
    assert "0 unparsed records" in result.stderr
    assert "recipient_unknown" in result.stderr
    assert "example.jp" in result.stderr


def test_parse_options_change_time_zone_and_platform(tmp_path):
    output = tmp_path / "out.ndjson"
    result = CliRunner().invoke(main, [
        "parse", "samples/senderlog/connect-timeout-60-bsd.log", "--date", "2025-12-03",
        "--timezone", "UTC", "--platform", "linux", "-o", str(output)])
    assert result.exit_code == 0
    found = [json.loads(line) for line in output.read_text().splitlines()]
    attempt = next(e for e in found if e["event"]["dataset"] == "epost.delivery")
    assert attempt["@timestamp"] == "2025-12-03T15:30:00.011+00:00"
    # 60 is not a socket error on Linux (ETIMEDOUT is 110): no label at connect.
    assert attempt["epost"]["delivery"]["socket_error"]["table"] == "linux"
    assert attempt["epost"]["delivery"]["cause"] == "unknown"


def test_bad_time_zone_is_refused():
    result = CliRunner().invoke(main, ["parse", "samples", "--timezone", "Mars/Olympus"])
    assert result.exit_code == 2
    assert "unknown time zone" in result.stderr


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "parse", "samples/senderlog", "--date",
         "2025-12-03", "-o", "-"], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 462 + 12
    assert "11 files" in result.stderr
