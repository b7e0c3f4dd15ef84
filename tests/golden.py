"""Golden files: the exact events expected for every sample log.

Each sample file has one `<name>-expected.json` under tests/golden/ with the events of that
file alone, keys sorted, 4-space indent, so that a change in parsing shows as a readable diff.
Regenerate them after an intended change with `python -m tests.golden` and read the diff.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pipeline import events

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
SAMPLES = ROOT / "samples"
# The scenario files stand for one day's file, 251203.log (samples/senderlog/README).
SAMPLE_DATE = dt.date(2025, 12, 3)


def sample_files() -> list[Path]:
    """Every sample log, relative to the repository root."""
    found = [p for p in SAMPLES.rglob("*.log") if p.is_file()]
    return sorted(p.relative_to(ROOT) for p in found)


def golden_path(sample: Path) -> Path:
    """tests/golden/<folders>--<name>-expected.json for a sample path."""
    flat = "--".join(sample.relative_to("samples").parts)
    return GOLDEN / f"{flat}-expected.json"


def events_of(sample: Path) -> list[dict]:
    """The events of one sample file, read from the repository root."""
    options = events.Options(date=SAMPLE_DATE)
    return list(events.run([sample], options, events.Stats()))


def render(found: list[dict]) -> str:
    """The golden-file text of a list of events."""
    return json.dumps({"expected": found}, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    import os

    os.chdir(ROOT)
    for sample in sample_files():
        golden_path(sample).write_text(render(events_of(sample)), encoding="utf-8")
        print("wrote", golden_path(sample).relative_to(ROOT))


if __name__ == "__main__":
    main()
