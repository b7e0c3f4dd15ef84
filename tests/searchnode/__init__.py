"""A real single-node OpenSearch server that the test suite starts and stops itself.

The pipeline under test talks to OpenSearch over HTTP (ingest pipelines, data streams,
bulk indexing), and fakes of those APIs drift from the real behaviour; so the tests run
against a genuine OpenSearch 2.19 node.  The only sources this workplace can reach are
package registries, so the node is assembled from Maven Central artifacts (see pom.xml)
rather than from the distribution tarball:

    .cache/searchnode/opensearch-<version>/lib/        server jar + dependencies (classpath)
    .cache/searchnode/opensearch-<version>/modules/    transport-netty4, lang-painless,
                                                       lang-mustache,
                                                       ingest-common, mapper-extras,
                                                       analysis-common

Each SearchNode owns a working directory (config, data, logs) that survives stop() and
start(), together with its ports, so a test can take the node down to simulate an outage
and bring it back with its data.

Usage from Python::

    node = SearchNode()           # working directory in a new temporary folder
    url = node.start()            # e.g. "http://127.0.0.1:41234"
    node.stop(); node.start()     # same port, same data
    node.close()                  # stop and delete the temporary working directory

From a shell (the node outlives the command; its pid file is under .cache/searchnode/node)::

    python -m tests.searchnode build|start|stop|status
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

OPENSEARCH_VERSION = "2.19.6"

_HERE = Path(__file__).resolve().parent
_POM = _HERE / "pom.xml"
CACHE_DIR = _HERE.parents[1] / ".cache" / "searchnode"
HOME_DIR = CACHE_DIR / f"opensearch-{OPENSEARCH_VERSION}"
CLI_WORKDIR = CACHE_DIR / "node"

# Plugin descriptors and security policies are part of the distribution zip, not of the
# jars on Maven Central, so they are written here: module folder -> (plugin class,
# plugins it extends through SPI, plugin-security.policy or "" if it needs none).
# The policies repeat the grants of the upstream modules; without them the security
# manager that OpenSearch installs stops netty from opening sockets and painless from
# defining the classes it compiles scripts into.
_MODULES: dict[str, tuple[str, str, str]] = {
    "transport-netty4": (
        "org.opensearch.transport.Netty4Plugin",
        "",
        """grant {
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "*", "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
""",
    ),
    "lang-painless": (
        "org.opensearch.painless.PainlessPlugin",
        "",
        """grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
""",
    ),
    # ingest-common and analysis-common add painless whitelists, hence the SPI link.
    "lang-mustache": (
        "org.opensearch.script.mustache.MustachePlugin",
        "",
        """grant {
  permission java.lang.RuntimePermission "accessDeclaredMembers";
  permission java.lang.reflect.ReflectPermission "suppressAccessChecks";
};
""",
    ),
    "ingest-common": ("org.opensearch.ingest.common.IngestCommonPlugin", "lang-painless", ""),
    "mapper-extras": ("org.opensearch.index.mapper.MapperExtrasPlugin", "", ""),
    "analysis-common": (
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "lang-painless",
        "",
    ),
}

# The system options that bin/opensearch would add, minus the ones that only matter for
# production (pre-touching the heap, GC logs, heap dumps).  The security manager must be
# allowed explicitly on Java 18+; Java 24+ removed it and cannot run OpenSearch 2.x.
_JVM_OPTIONS = [
    "-Xms512m",
    "-Xmx512m",
    "-Xss1m",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-Djava.security.manager=allow",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
    "-Djava.locale.providers=SPI,COMPAT",
    "-Djna.nosys=true",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dio.netty.allocator.numDirectArenas=0",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.disable.jmx=true",
    "-Dopensearch.networkaddress.cache.ttl=60",
    "-Dopensearch.networkaddress.cache.negative.ttl=10",
]

# Everything goes to the console, which start() sends to one file: the node's own log
# and any JVM failure before logging is set up then end up in the same place.
_LOG4J_CONFIG = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
"""

_NODE_CONFIG = """cluster.name: searchnode
node.name: searchnode-0
node.roles: [cluster_manager, data, ingest]
discovery.type: single-node
network.host: 127.0.0.1
http.port: {http_port}
transport.port: {transport_port}
path.data: {data}
path.logs: {logs}
cluster.routing.allocation.disk.threshold_enabled: false
"""

_MAIN_CLASS = "org.opensearch.bootstrap.OpenSearch"
_STOP_GRACE_SECONDS = 30.0
_LOG_TAIL_LINES = 60

# Health checks go straight to the loopback node, never through an HTTP proxy from
# the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SearchNodeError(RuntimeError):
    """Building, starting or stopping the node failed; the message has the log tail."""


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last lines of a log file, or a note that there is none yet."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _free_ports(count: int) -> list[int]:
    """Ask the kernel for distinct free loopback ports.

    All sockets stay open until every port is known, so the ports differ.
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _build_stamp() -> str:
    """Fingerprint of everything that shapes the assembled node, to detect a stale cache."""
    digest = hashlib.sha256(_POM.read_bytes())
    digest.update(json.dumps(_MODULES, sort_keys=True).encode())
    return digest.hexdigest()


def build(home: Path = HOME_DIR) -> Path:
    """Assemble the node's lib/ and modules/ under home once; return home.

    Maven copies the jars (keeping its downloads in ~/.m2), then the module descriptors
    are written.  The result is assembled in a scratch folder and renamed into place, and
    a file lock serialises concurrent builds, so an interrupted or parallel build never
    leaves a half-made node behind.
    """
    stamp = _build_stamp()
    stamp_file = home / ".build-stamp"

    def up_to_date() -> bool:
        return stamp_file.is_file() and stamp_file.read_text(encoding="utf-8") == stamp

    # Checked before locking too, so that using a finished node needs no write access.
    if up_to_date():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / ".build.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if up_to_date():
            return home
        mvn = shutil.which("mvn")
        if mvn is None:
            raise SearchNodeError("mvn is not on PATH; it is needed to fetch OpenSearch")
        scratch = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=home.parent))
        try:
            command = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(_POM), "package",
                       f"-Dsearchnode.home={scratch}"]
            result = subprocess.run(command, capture_output=True, text=True, check=False,
                                    stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                output = (result.stdout + result.stderr).splitlines()[-_LOG_TAIL_LINES:]
                raise SearchNodeError(
                    f"{' '.join(command)} failed (exit {result.returncode}):\n"
                    + "\n".join(output))
            for name, (classname, extends, policy) in _MODULES.items():
                folder = scratch / "modules" / name
                (folder / "plugin-descriptor.properties").write_text(
                    f"description={name} module (assembled from Maven Central)\n"
                    f"version={OPENSEARCH_VERSION}\n"
                    f"name={name}\n"
                    f"classname={classname}\n"
                    "java.version=11\n"
                    f"opensearch.version={OPENSEARCH_VERSION}\n"
                    f"extended.plugins={extends}\n"
                    "has.native.controller=false\n",
                    encoding="utf-8")
                if policy:
                    (folder / "plugin-security.policy").write_text(policy, encoding="utf-8")
            # The scratch folder is private (mkdtemp); the node reads it like any install.
            scratch.chmod(0o755)
            (scratch / ".build-stamp").write_text(stamp, encoding="utf-8")
            shutil.rmtree(home, ignore_errors=True)
            scratch.rename(home)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return home


class SearchNode:
    """One OpenSearch node on 127.0.0.1, with a working directory that outlives restarts.

    The working directory holds config/, data/, logs/node.log, the chosen ports
    (ports.json) and, while the node runs, node.pid.  Several instances may run at once
    as long as their working directories differ.
    """

    def __init__(self, workdir: Path | None = None) -> None:
        """Use workdir for config, data and logs; by default a new temporary folder."""
        self._owns_workdir = workdir is None
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="searchnode-"))
        self.workdir = Path(workdir).resolve()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, int] | None = None
        self._stop_at_exit = False

    @property
    def log_path(self) -> Path:
        """The node's log: OpenSearch's own log lines and any JVM start-up failure."""
        return self.workdir / "logs" / "node.log"

    @property
    def url(self) -> str:
        """Base URL of the node's HTTP API; fixed for the life of the working directory."""
        return f"http://127.0.0.1:{self._port_pair()[0]}"

    @property
    def _pid_file(self) -> Path:
        return self.workdir / "node.pid"

    def build(self) -> Path:
        """Assemble the node in the shared cache if not done yet; return its home folder."""
        return build()

    def _port_pair(self) -> tuple[int, int]:
        """The (HTTP, transport) ports, chosen once and kept in the working directory.

        Keeping them lets a restarted node answer on the URL the tests already hold.
        """
        if self._ports is None:
            ports_file = self.workdir / "ports.json"
            if ports_file.is_file():
                saved = json.loads(ports_file.read_text(encoding="utf-8"))
                self._ports = (saved["http"], saved["transport"])
            else:
                http, transport = _free_ports(2)
                self.workdir.mkdir(parents=True, exist_ok=True)
                ports_file.write_text(json.dumps({"http": http, "transport": transport}),
                                      encoding="utf-8")
                self._ports = (http, transport)
        return self._ports

    def is_running(self) -> bool:
        """Whether the node of this working directory is alive (healthy or not)."""
        return self._running_pid() is not None

    def _running_pid(self) -> int | None:
        """Pid of this working directory's node if it is alive, else None.

        The pid file may come from another process (the CLI) or be stale, so the pid
        only counts if its command line still names this working directory.
        """
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        try:
            pid = int(self._pid_file.read_text(encoding="utf-8"))
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        # Arguments in /proc/PID/cmdline end with NUL, which makes this an exact match.
        return pid if f"{self._conf_option}\0".encode() in cmdline else None

    @property
    def _conf_option(self) -> str:
        """The JVM option naming this working directory's config, as passed to java."""
        return f"-Dopensearch.path.conf={self.workdir / 'config'}"

    def _command(self, home: Path) -> list[str]:
        """The java command line, wrapped so that it never runs as root.

        OpenSearch refuses to start when geteuid() is 0, and the tests and CI run as
        root.  A user namespace that maps an unprivileged id onto the caller gives the
        JVM a non-zero uid without a user account, and its files stay owned by the
        caller, so any folder the caller can use works (pytest's tmp_path included).
        """
        java = os.environ.get("SEARCHNODE_JAVA") or shutil.which("java")
        if java is None:
            raise SearchNodeError("no java on PATH (or set SEARCHNODE_JAVA); use Java 17-21")
        command = [
            java, *_JVM_OPTIONS,
            f"-Djava.io.tmpdir={self.workdir / 'tmp'}",
            f"-Dopensearch.path.home={home}",
            self._conf_option,
            "-Dopensearch.distribution.type=tar",
            "-cp", str(home / "lib" / "*"),
            _MAIN_CLASS,
        ]
        if os.geteuid() != 0:
            return command
        unshare = shutil.which("unshare")
        if unshare is None:
            raise SearchNodeError("running as root needs unshare (util-linux) to drop root")
        return [unshare, "--user", "--map-user=65534", "--map-group=65534", *command]

    def _write_config(self) -> None:
        """(Re)write config/ and create the folders the node expects."""
        http, transport = self._port_pair()
        for sub in ("config", "data", "logs", "tmp"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "config" / "opensearch.yml").write_text(
            _NODE_CONFIG.format(http_port=http, transport_port=transport,
                                data=self.workdir / "data", logs=self.workdir / "logs"),
            encoding="utf-8")
        (self.workdir / "config" / "log4j2.properties").write_text(
            _LOG4J_CONFIG, encoding="utf-8")

    def _health(self) -> str | None:
        """Cluster health status ("green", "yellow", "red"), or None if not answering."""
        try:
            with _HTTP.open(f"{self.url}/_cluster/health", timeout=5) as response:
                return json.load(response).get("status")
        except (OSError, ValueError):
            return None

    def start(self, timeout: float = 180, *, detach: bool = False) -> str:
        """Start the node in the background and wait until it is green or yellow.

        Returns the base URL.  Building on first use is included in the wait.  A node
        that is already running for this working directory is reused.  Unless detach is
        true (the CLI), the node is stopped when this Python process exits, so a test
        run that forgets stop() leaves no JVM behind.
        """
        deadline = time.monotonic() + timeout
        home = self.build()
        pid = self._running_pid()
        if pid is None:
            self._write_config()
            with open(self.log_path, "ab") as log:
                log.write(f"\n=== searchnode start {time.strftime('%F %T')} ===\n".encode())
                log.flush()
                self._proc = subprocess.Popen(
                    self._command(home), cwd=self.workdir, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT,
                    # Own session: a Ctrl-C meant for pytest does not kill the node
                    # before the fixtures stop it cleanly.
                    start_new_session=True)
            pid = self._proc.pid
            self._pid_file.write_text(str(pid), encoding="utf-8")
            if not detach and not self._stop_at_exit:
                atexit.register(self.stop)
                self._stop_at_exit = True
        while time.monotonic() < deadline:
            if self._health() in ("green", "yellow"):
                return self.url
            if self._running_pid() is None:
                code = self._proc.poll() if self._proc is not None else "unknown"
                self._pid_file.unlink(missing_ok=True)
                raise SearchNodeError(
                    f"OpenSearch exited during start-up (exit code {code}); "
                    f"last lines of {self.log_path}:\n{_tail(self.log_path)}")
            time.sleep(0.25)
        self.stop()
        raise SearchNodeError(
            f"OpenSearch did not report green or yellow health within {timeout:.0f}s; "
            f"last lines of {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        """Stop the node (SIGTERM, then SIGKILL after a grace period); keep its data.

        Safe to call when the node is not running.
        """
        pid = self._running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not self._wait_for_exit(pid, _STOP_GRACE_SECONDS):
                os.kill(pid, signal.SIGKILL)
                if not self._wait_for_exit(pid, _STOP_GRACE_SECONDS):
                    raise SearchNodeError(
                        f"OpenSearch (pid {pid}) survived SIGKILL; "
                        f"last lines of {self.log_path}:\n{_tail(self.log_path)}")
        self._proc = None
        self._pid_file.unlink(missing_ok=True)

    def _wait_for_exit(self, pid: int, seconds: float) -> bool:
        """Wait up to seconds for the node to exit; True if it did."""
        if self._proc is not None:
            try:
                self._proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                return False
            return True
        # Not our child (started by an earlier CLI call): watch /proc instead.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._running_pid() != pid:
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        """Stop the node and delete the working directory if this instance created it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: build the node, or start/stop/query the one in .cache/searchnode/node."""
    parser = argparse.ArgumentParser(prog="python -m tests.searchnode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["build", "start", "stop", "status"])
    parser.add_argument("--workdir", type=Path, default=CLI_WORKDIR,
                        help="config, data and logs of the node (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=180,
                        help="seconds to wait for the node to be healthy")
    args = parser.parse_args(argv)
    node = SearchNode(args.workdir)
    try:
        if args.action == "build":
            print(node.build())
        elif args.action == "start":
            print(node.start(args.timeout, detach=True))
        elif args.action == "stop":
            node.stop()
        elif not node.is_running():
            print("stopped")
            return 1
        else:
            print(f"running {node.url} (pid file {node.workdir / 'node.pid'})")
    except SearchNodeError as error:
        print(error, file=sys.stderr)
        return 1
    return 0
