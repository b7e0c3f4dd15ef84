"""Following live senderlogs: framing of a growing file, crashes, an outage, rollover, truncation.

The follower runs as its own process (`python -m pipeline.cli follow`), as a service would;
a writer process appends records with E-Post's framing. At the end the node must hold exactly
the events `parse` makes of the final files: the same ids, the same documents.
"""

from __future__ import annotations

import io
import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import reader, setup as cluster_setup, ship
from pipeline.cli import main
from pipeline.cluster import Cluster, Connection
from pipeline.registry import Identity, Registry
from pipeline.tail import Stopped, Tail
from tests import logwriter
from tests.conftest import parse_file
from tests.golden import ROOT


@pytest.fixture(scope="module")
def cluster(search_node):
    found = Cluster(Connection(search_node.url))
    cluster_setup.install(found)
    return found


@pytest.fixture
def following():
    """Makes `Follow`s; a process a failed test leaves behind is killed."""
    made: list[Follow] = []

    def make(*args, **options) -> Follow:
        made.append(Follow(*args, **options))
        return made[-1]

    yield make
    for follow in made:
        if follow.process is not None and follow.process.poll() is None:
            follow.kill()


class Follow:
    """`senderlog follow` as a child process, with short poll and quiet times."""

    def __init__(self, folder: Path, cluster: Cluster, namespace: str, work: Path,
                 metrics_seconds: float = 1):
        # Documents of an earlier run against the same cluster would have the same ids.
        cluster.request("DELETE", f"/_data_stream/logs-epost.*-{namespace}")
        url = cluster.connection.url
        self.registry = work / "registry.json"
        self.metrics = work / "metrics.json"
        self.log = work / "follow.log"
        self.command = [
            sys.executable, "-m", "pipeline.cli", "-v", "follow", str(folder), "--url", url,
            "--engine", "opensearch", "--namespace", namespace, "--registry",
            str(self.registry), "--poll-seconds", "0.05", "--quiet-seconds", "1",
            "--flush-seconds", "0.2", "--batch-size", "100", "--backoff-max", "1",
            "--metrics-seconds", str(metrics_seconds), "--metrics-file", str(self.metrics),
            "--dead-letter", str(work / "dead.ndjson"),
        ]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, stderr=log,
                                            stdout=subprocess.DEVNULL)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def counters(self) -> dict:
        if not self.metrics.exists():
            return {}
        return json.loads(self.metrics.read_text(encoding="utf-8"))

    def entry(self, path: Path) -> dict:
        if not self.registry.exists():
            return {}
        files = json.loads(self.registry.read_text(encoding="utf-8"))["files"]
        return next((f for f in files if f["path"] == str(path.resolve())), {})

    def wait_until(self, condition, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, self.log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, self.log.read_text(encoding="utf-8")
            time.sleep(0.2)

    def wait_acknowledged(self, path: Path, finished: bool = False) -> None:
        size = path.stat().st_size
        self.wait_until(lambda: self.entry(path).get("offset") == size
                        and self.entry(path).get("finished", False) == finished)


def expected(path: Path, namespace: str, generation: int = 0) -> dict[str, dict]:
    """What `parse` makes of the file, by document id, as `follow` sends it."""
    found, _ = parse_file(path)
    documents = {}
    for document in ship.documents(found, namespace):
        if generation:
            document = ship.Document(ship.hashlib.sha1(
                f"{document.id}|{generation}".encode()).hexdigest(), document.index,
                document.source)
        documents[document.id] = document.source
    return documents


def indexed(cluster: Cluster, namespace: str) -> dict[str, dict]:
    """Every document of the namespace's data streams, by id; fails on a repeated id."""
    index = f"logs-epost.*-{namespace}"
    cluster.request("POST", f"/{index}/_refresh")
    answer = cluster.search(index, {"size": 10000, "query": {"match_all": {}},
                                    "track_total_hits": True})
    hits = answer["hits"]["hits"]
    assert answer["hits"]["total"]["value"] == len(hits)
    found = {hit["_id"]: hit["_source"] for hit in hits}
    assert len(found) == len(hits)
    return found


def append(target: Path, data: bytes) -> None:
    with open(target, "ab") as handle:
        handle.write(data)


def log_file(tmp_path: Path, name: str = "251203.log", host: str = "MAIL01") -> Path:
    target = tmp_path / "senderlog" / host / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch()
    return target


def test_growing_file_gives_the_records_of_the_finished_file(tmp_path):
    """Written in random pieces (cut anywhere, even inside a line), read as it grows."""
    data = logwriter.server("windows") + logwriter.server("bsd")
    target = log_file(tmp_path)
    stopping, found = threading.Event(), []

    def follow():
        with open(target, "rb") as handle:
            tail = Tail(target, handle, Identity.of(handle), poll=0.01, quiet=0.5,
                        stopping=stopping)
            try:
                for record in reader.records(tail):
                    found.append((record.offset, bytes(record.prefix + record.body)))
            except Stopped:
                pass

    thread = threading.Thread(target=follow)
    thread.start()
    rng = random.Random(7)
    with open(target, "ab") as handle:
        position = 0
        while position < len(data):
            size = rng.randint(1, 300)
            handle.write(data[position:position + size])
            handle.flush()
            position += size
            time.sleep(rng.random() * 0.002)
    time.sleep(1.0)
    stopping.set()
    thread.join()

    whole = [(r.offset, bytes(r.prefix + r.body)) for r in reader.records(io.BytesIO(data))]
    assert len(whole) == 540
    assert found == whole


def test_a_line_without_newline_waits_and_a_quiet_file_completes_its_last_record(tmp_path):
    target = log_file(tmp_path)
    target.write_bytes(b"[10:00:00:000] [B0000000001] ConnectHost(mx.example.jp)\r\n"
                       b"[10:00:00:001] 250-mx.example.jp\r\n250 8bitmime\r\n"
                       b"[10:00:00:002] [B0000000001] SendMailMess:QU")
    with open(target, "rb") as handle:
        tail = Tail(target, handle, Identity.of(handle), poll=0.01, quiet=0.3,
                    stopping=threading.Event())
        records = reader.records(tail)
        first = next(records)
        assert (first.offset, first.time) == (0, "10:00:00:000")

        # A reply may go on over more lines: it is complete once the writer is quiet.
        started = time.monotonic()
        second = next(records)
        assert time.monotonic() - started >= 0.3
        assert (second.offset, bytes(second.body)) == (57, b"250-mx.example.jp\n250 8bitmime")
        assert tail.position == 105

        append(target, b"IT\r\n")
        third = next(records)
        assert (third.offset, bytes(third.body)) == (105, b"[B0000000001] SendMailMess:QUIT")
        assert tail.lines == 4


def test_one_line_records_pass_over_a_quiet_stream(tmp_path):
    target = tmp_path / "outlog.log"
    target.write_bytes(b"first\r\n")
    with open(target, "rb") as handle:
        tail = Tail(target, handle, Identity.of(handle), poll=0.01, quiet=0.1,
                    stopping=threading.Event())
        lines = reader.lines(tail)
        assert bytes(next(lines).body) == b"first"
        later = threading.Timer(0.3, append, (target, b"second\n"))
        later.start()
        second = next(lines)
        later.join()
        assert (second.offset, bytes(second.body)) == (7, b"second")


def test_configuration_file_sets_the_cluster_and_follow_options(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("cluster:\n  url: https://cluster.example.jp:9200\n"
                      "follow:\n  registry: /var/lib/senderlog/registry.json\n"
                      "  quiet_seconds: 2\n  namespace: tokyo\n", encoding="utf-8")
    parent = main.make_context("senderlog", ["--config", str(config), "follow", "x"])
    command = main.get_command(parent, "follow")
    found = command.make_context("follow", ["x", "--namespace", "osaka"], parent=parent).params
    assert (found["url"], found["registry"], found["quiet_seconds"], found["namespace"]) == (
        "https://cluster.example.jp:9200", Path("/var/lib/senderlog/registry.json"), 2.0,
        "osaka")


def test_registry_is_written_atomically_and_read_back(tmp_path):
    target = log_file(tmp_path)
    target.write_bytes(b"[10:00:00:000] x\n")
    path = tmp_path / "state" / "registry.json"
    registry = Registry(path)
    with open(target, "rb") as handle:
        identity = Identity.of(handle)
        registry.start(str(target), identity, 0, "windows")
        registry.acknowledge(str(target), 0, 17)
        registry.acknowledge(str(target), 1, 99)   # another generation: ignored
        registry.save()
        again = Registry(path).get(str(target))
        assert (again.offset, again.generation, again.platform, again.finished) == (
            17, 0, "windows", False)
        assert again.identity.matches(handle)
    assert sorted(p.name for p in path.parent.iterdir()) == ["registry.json"]


def test_killed_twenty_times_every_record_lands_exactly_once(cluster, tmp_path, following):
    """Two servers write (Windows, with interleaved threads, and BSD) while `follow` is
    killed at random moments, at least twenty times, and started again."""
    targets = [log_file(tmp_path, host="MAIL01"), log_file(tmp_path, host="MAIL02")]
    follow = following(tmp_path / "senderlog", cluster, "crash", tmp_path)
    writers = [subprocess.Popen([sys.executable, "-m", "tests.logwriter", str(target),
                                 "--platform", platform, "--seed", str(seed), "--repeat", "3",
                                 "--pause", "0.03"], cwd=ROOT)
               for target, platform, seed in zip(targets, ("windows", "bsd"), (3, 4))]
    rng = random.Random(11)
    kills = 0
    try:
        while kills < 20 or any(writer.poll() is None for writer in writers):
            follow.start()
            time.sleep(rng.uniform(0.3, 2.0))
            follow.kill()
            kills += 1
    finally:
        for writer in writers:
            writer.wait()

    # The next day's file finishes a day: its open attempts are sent, as `parse` would.
    for target in targets:
        log_file(tmp_path, "251204.log", host=target.parent.name)
    follow.start()
    for target in targets:
        follow.wait_acknowledged(target, finished=True)
    assert follow.stop() == 0

    want = {**expected(targets[0], "crash"), **expected(targets[1], "crash")}
    got = indexed(cluster, "crash")
    assert kills >= 20
    assert len(want) == 1482
    assert sorted(got) == sorted(want)
    assert got == want


def test_outage_loses_nothing_and_metrics_tell_the_story(cluster, search_node, tmp_path,
                                                         following):
    target = log_file(tmp_path)
    follow = following(target.parent.parent, cluster, "followoutage", tmp_path)
    first = logwriter.day(["success-windows.log", "451-code-0-ffffffff-timeout-windows.log"])
    second = logwriter.day(["550-user-unknown-windows.log",
                            "connect-timeout-10060-windows.log"])
    follow.start()
    logwriter.write(target, first, seed=1, pause=0.005)
    follow.wait_acknowledged(target)

    search_node.stop()
    try:
        logwriter.write(target, second, seed=2, pause=0.005)
        # The follower retries, and the records wait in the file.
        follow.wait_until(lambda: follow.counters().get("retries", 0) >= 2)
        during = follow.counters()
        assert during["lag_bytes"] > 0
    finally:
        search_node.start()
    log_file(tmp_path, "251204.log")
    follow.wait_acknowledged(target, finished=True)
    assert follow.stop() == 0

    want = expected(target, "followoutage")
    assert indexed(cluster, "followoutage") == want
    metrics = follow.counters()
    assert metrics["lines_read"] == (first + second).count(b"\n")
    assert (metrics["events_shipped"], metrics["events_already_present"],
            metrics["events_refused"], metrics["failures"]) == (len(want), 0, 0, 0)
    assert (metrics["lag_bytes"], metrics["lag_seconds"]) == (0, 0.0)


def test_rollover_finishes_the_old_day_then_follows_the_new_one(cluster, tmp_path, following):
    today = log_file(tmp_path)
    follow = following(today.parent.parent, cluster, "rollover", tmp_path)
    follow.start()
    # The day ends in the middle of an attempt: it is sent when the day is finished.
    retries = logwriter.day(["421-retries-bsd.log"])
    logwriter.write(today, retries[:retries.index(b"\n", 3000) + 1], seed=4, pause=0)
    follow.wait_acknowledged(today)
    tomorrow = log_file(tmp_path, "251204.log")
    delivered = logwriter.day(["starttls-refused-fallback-bsd.log"])
    logwriter.write(tomorrow, delivered, seed=5, pause=0.005)
    follow.wait_acknowledged(tomorrow)
    assert follow.stop() == 0

    assert follow.entry(today)["finished"] is True
    want = {**expected(today, "rollover"), **expected(tomorrow, "rollover")}
    got = indexed(cluster, "rollover")
    assert got == want
    delivery = sorted((d["log"]["file"]["path"][-10:], d["epost"]["delivery"]["cause"])
                      for d in got.values() if d["event"]["dataset"] == "epost.delivery")
    assert delivery == [("251203.log", "remote_service_unavailable"),
                        ("251204.log", "delivered")]


def shipped(cluster, tmp_path, following, namespace: str, sample: str):
    """A follower that has shipped one sample file: the file, the follower, the documents."""
    target = log_file(tmp_path)
    follow = following(target.parent.parent, cluster, namespace, tmp_path)
    follow.start()
    logwriter.write(target, logwriter.day([sample]), seed=len(namespace), pause=0)
    follow.wait_acknowledged(target)
    return target, follow, expected(target, namespace)


def test_truncated_file_is_read_again_as_new_content(cluster, tmp_path, following):
    target, follow, before = shipped(cluster, tmp_path, following, "truncation",
                                     "success-windows.log")

    target.write_bytes(b"")
    time.sleep(0.5)
    logwriter.write(target, logwriter.day(["550-user-unknown-windows.log"]), seed=7, pause=0)
    follow.wait_until(lambda: follow.entry(target).get("generation") == 1)
    log_file(tmp_path, "251204.log")
    follow.wait_acknowledged(target, finished=True)
    assert follow.stop() == 0

    # The new content gets ids of its own: the old records keep theirs, nothing is lost.
    after = expected(target, "truncation", generation=1)
    assert (len(before), len(after)) == (43, 41)
    assert indexed(cluster, "truncation") == {**before, **after}
    assert "was truncated or rewritten (0 bytes, 3327 were read)" in follow.log.read_text(
        encoding="utf-8")


def test_replaced_file_is_finished_and_the_new_one_read_as_new_content(cluster, tmp_path,
                                                                       following):
    target, follow, before = shipped(cluster, tmp_path, following, "replacement",
                                     "success-windows.log")

    # Rotated away under another name; a new file takes the name (another inode).
    target.rename(target.with_name("251203.log.1"))
    logwriter.write(target, logwriter.day(["550-user-unknown-windows.log"]), seed=10, pause=0)
    follow.wait_until(lambda: "finished (replaced)" in follow.log.read_text(encoding="utf-8"))
    follow.wait_until(lambda: follow.entry(target).get("generation") == 1)
    log_file(tmp_path, "251204.log")
    follow.wait_acknowledged(target, finished=True)
    assert follow.stop() == 0

    after = expected(target, "replacement", generation=1)
    assert indexed(cluster, "replacement") == {**before, **after}


def test_deleted_file_is_read_to_its_end_and_its_open_attempts_sent(cluster, tmp_path,
                                                                    following):
    # The last attempt still waits for its retry decision when the file goes away.
    target, follow, want = shipped(cluster, tmp_path, following, "deletion",
                                   "550-user-unknown-windows.log")
    key = str(target.resolve())
    target.unlink()

    follow.wait_until(lambda: "finished (deleted)" in follow.log.read_text(encoding="utf-8"))
    follow.wait_until(lambda: follow.entry(target).get("finished") is True)
    assert follow.stop() == 0
    got = indexed(cluster, "deletion")
    assert got == want
    assert [d["epost"]["delivery"]["cause"] for d in got.values()
            if d["event"]["dataset"] == "epost.delivery"] == ["recipient_unknown"]
    assert [f["path"] for f in json.loads(follow.registry.read_text())["files"]] == [key]


def test_sigusr1_writes_the_metrics_file_at_once(cluster, tmp_path, following):
    target = log_file(tmp_path)
    target.write_bytes(logwriter.day(["success-windows.log"]))
    follow = following(target.parent.parent, cluster, "metrics", tmp_path, metrics_seconds=3600)
    follow.start()
    follow.wait_acknowledged(target)
    assert not follow.metrics.exists()

    follow.process.send_signal(signal.SIGUSR1)
    follow.wait_until(follow.metrics.exists, timeout=10)
    metrics = follow.counters()
    assert (metrics["lines_read"], metrics["events_shipped"], metrics["lag_bytes"]) == (45, 43, 0)
    assert metrics["files"][0]["acknowledged"] == target.stat().st_size == 3327
    assert follow.stop() == 0
