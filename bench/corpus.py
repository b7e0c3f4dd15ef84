"""Corpus: large, realistic senderlog folders made from the scenario samples.

Every sample of samples/senderlog/ is one delivery scenario with a known diagnosis. The
generator copies scenarios with fresh message ids, destination domains and times into
`senderlog/<host>/<yymmdd>.log` files, several delivery threads per host whose records are
interleaved by time as E-Post writes them. Each host keeps the byte form of its platform
(Windows CR LF and CR CR LF, Unix LF; `C:\\mail` or `/var/spool/epms` paths), and some remote
replies are Japanese text in CP932. The manifest says which causes the corpus holds, so a
test can check that the parser finds exactly them.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "senderlog"
SAMPLE_IDS = (b"B0000097013", b"B0000097014")
SAMPLE_DOMAIN = b"example.jp"
TIME = re.compile(rb"(\d\d):(\d\d):(\d\d):(\d\d\d)")
# A record that names its message starts a block; records without an id (the local 451
# answer, pass bookkeeping) and continuation lines stay with the record before them, as the
# delivery thread that wrote them is the one that wrote that record.
ID_RECORD = re.compile(rb"\[\d\d:\d\d:\d\d:\d\d\d\] \[B\d")
LINE = re.compile(rb"[^\n]*\n|[^\n]+\Z")
DAY_MS = 86_400_000
# A busier server runs more delivery threads: one per this many attempts a day, at least
# the generator's own number.
ATTEMPTS_PER_THREAD = 1000
# Japanese reply texts some Japanese servers send, written by E-Post as CP932 bytes.
JAPANESE_REPLIES = {
    b"Recipient address rejected: User unknown":
        "宛先のユーザーは存在しません".encode("cp932"),
    b"Message received ok.": "メッセージを受け付けました".encode("cp932"),
}


@dataclass(frozen=True)
class Scenario:
    """One sample: its platform, how often a real server sees it, the causes it yields."""

    sample: str
    platform: str
    weight: int
    causes: tuple[str, ...]
    ids: int = 1


# The mix: most attempts deliver; the failures are those a fleet sees every day.
SCENARIOS = (
    Scenario("success-windows.log", "windows", 70, ("delivered",)),
    Scenario("550-user-unknown-windows.log", "windows", 8, ("recipient_unknown",)),
    Scenario("connect-timeout-10060-windows.log", "windows", 6, ("connect_timeout",)),
    Scenario("451-code-0-ffffffff-timeout-windows.log", "windows", 3, ("receive_timeout",)),
    Scenario("starttls-bug-windows.log", "windows", 1,
             ("delivered", "starttls_sticky_ssl_bug"), ids=2),
    Scenario("starttls-refused-fallback-bsd.log", "unix", 70, ("delivered",)),
    Scenario("421-retries-bsd.log", "unix", 5,
             ("remote_service_unavailable", "remote_service_unavailable")),
    Scenario("451-code-0-0-connection-cut-bsd.log", "unix", 4, ("connection_closed_by_peer",)),
    Scenario("451-code-54-ffffffff-bsd.log", "unix", 3, ("connection_reset",)),
    Scenario("connect-timeout-60-bsd.log", "unix", 6, ("connect_timeout",)),
    Scenario("retry-skip-bsd.log", "unix", 4, ()),
)
TLDS = ("co.jp", "ne.jp", "or.jp", "ac.jp", "jp", "com", "net")


@dataclass
class Manifest:
    """What a generated corpus holds."""

    files: list[Path] = field(default_factory=list)
    scenarios: Counter = field(default_factory=Counter)
    causes: Counter = field(default_factory=Counter)
    cp932_replies: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Block:
    """Lines one thread wrote in one go, with the time of the first."""

    time_ms: int
    data: bytes


@cache
def template(sample: str) -> tuple[tuple[int, bytes], ...]:
    """The blocks of a sample as (milliseconds after the sample's first record, bytes)."""
    data = (SAMPLES / sample).read_bytes()
    blocks: list[list[bytes]] = []
    for line in LINE.findall(data):
        if not blocks or (ID_RECORD.match(line) and any(ID_RECORD.match(x) for x in blocks[-1])):
            blocks.append([])
        blocks[-1].append(line)

    start = _ms(TIME.search(data))
    return tuple((_ms(TIME.search(b"".join(lines))) - start, b"".join(lines))
                 for lines in blocks)


def _ms(match: re.Match) -> int:
    hours, minutes, seconds, millis = (int(group) for group in match.groups())
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def _clock(ms: int) -> bytes:
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return b"%02d:%02d:%02d:%03d" % (hours, minutes, seconds, millis)


def duration_ms(sample: str) -> int:
    """How long a scenario runs, from its first to its last record."""
    return template(sample)[-1][0]


def domains(rng: random.Random, count: int) -> list[str]:
    """Destination domains; a few big providers and a long tail, as in real traffic."""
    return [f"dest{index:04d}.{rng.choice(TLDS)}" for index in range(count)]


class Generator:
    """Writes a fleet's senderlog folders; the same seed gives the same bytes."""

    def __init__(self, seed: int = 7, threads: int = 4, domain_count: int = 500):
        self.rng = random.Random(seed)
        self.threads = threads
        self.domains = domains(self.rng, domain_count)
        # Zipf-like popularity: the first domains get most of the mail.
        self.domain_weights = [1 / (rank + 1) for rank in range(domain_count)]
        self.next_id = 1_000_000
        self.manifest = Manifest()

    def write(self, root: Path, hosts: int, days: int, attempts_per_day: int,
              first_day: dt.date = dt.date(2025, 1, 1)) -> Manifest:
        """senderlog/MAILnn/yymmdd.log under root for every host and day."""
        for host in range(1, hosts + 1):
            platform = "windows" if host % 2 else "unix"
            for day in range(days):
                date = first_day + dt.timedelta(days=day)
                path = root / "senderlog" / f"MAIL{host:02d}" / f"{date:%y%m%d}.log"
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as out:
                    for block in self.day(platform, attempts_per_day):
                        out.write(block)
                self.manifest.files.append(path)
                self.manifest.bytes += path.stat().st_size
        return self.manifest

    def day(self, platform: str, attempts: int):
        """The blocks of one host's day, the threads' blocks merged by time."""
        choices = [s for s in SCENARIOS if s.platform == platform]
        weights = [s.weight for s in choices]
        threads = max(self.threads, -(-attempts // ATTEMPTS_PER_THREAD))
        starts = sorted(self.rng.randrange(DAY_MS) for _ in range(attempts))
        per_thread = [starts[index::threads] for index in range(threads)]
        streams = [self._thread(times, choices, weights) for times in per_thread]

        merged = heapq.merge(*streams, key=lambda block: block.time_ms)
        for block in merged:
            yield block.data

    def _thread(self, starts: list[int], choices: list[Scenario], weights: list[int]):
        free_at = 0
        for start in starts:
            scenario = self.rng.choices(choices, weights)[0]
            start = max(start, free_at)
            if start + duration_ms(scenario.sample) >= DAY_MS:
                # The thread's day is full: a real server would write it into tomorrow's file.
                return
            free_at = start + duration_ms(scenario.sample) + 1
            yield from self._instance(scenario, start)

    def _instance(self, scenario: Scenario, start: int):
        ids = [b"B%010d" % (self.next_id + n) for n in range(scenario.ids)]
        self.next_id += scenario.ids
        domain = self.rng.choices(self.domains, self.domain_weights)[0].encode()
        japanese = scenario.platform == "windows" and self.rng.random() < 0.3

        self.manifest.scenarios[scenario.sample] += 1
        self.manifest.causes.update(scenario.causes)
        for offset, data in template(scenario.sample):
            for sample_id, new_id in zip(SAMPLE_IDS, ids):
                data = data.replace(sample_id, new_id)
            data = data.replace(SAMPLE_DOMAIN, domain)
            if japanese:
                for english, cp932 in JAPANESE_REPLIES.items():
                    if english in data:
                        data = data.replace(english, cp932)
                        self.manifest.cp932_replies += data.count(cp932)
            data = TIME.sub(lambda m: _clock(_ms(m) - _ms_of(scenario) + start), data)
            yield Block(start + offset, data)


@cache
def _ms_of(scenario: Scenario) -> int:
    return _ms(TIME.search((SAMPLES / scenario.sample).read_bytes()))
