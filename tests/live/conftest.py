"""Shared live fixtures: a per-test namespace sandbox that is always cleaned up, and real traffic helpers.

Every live test asks for the `sandbox` fixture. It

- skips the test (with the reason) unless this is root and `ip netns add` works here;
- gives the test a unique prefix (`sandbox.prefix`, e.g. "tg3fa1c2-") for `--sandbox PREFIX`;
- deletes, in a finalizer that runs even when the test fails, exactly the namespaces the test
  claimed (`sandbox.claim(names)` / `sandbox.claim_plan(plan)`, by exact name), after killing the
  processes it started (`sandbox.start(...)`, by exact PID);
- then checks that no namespace with the test's prefix is left (a leftover fails the test).

Traffic helpers (`ping`, `listen_tcp`, `listen_udp`, `tcp_connect`) act only between namespaces of the test.
"""

from __future__ import annotations

import functools
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from tests.live.probes import UDP_ECHO
from topograph import kernel_names
from topograph.live import marked, services, state
from topograph.model import IPAddress
from topograph.plan import Plan, StartService, StopService

NETNS_DIR = Path("/var/run/netns")

_LISTENER = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:  # a client may be gone already, or the node's own filter refuse the banner: serve the next one
        c.sendall(sys.argv[3].encode())
    except OSError:
        pass
    c.close()
"""

_CONNECT = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as c:
        c.settimeout(float(sys.argv[3]))
        sys.stdout.write(c.recv(64).decode())
except OSError as exc:
    sys.stderr.write(f"{exc}\n")
    sys.exit(1)
"""


def _run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def namespaces_now() -> set[str]:
    """Every namespace name `ip netns` knows right now."""
    out = _run("ip", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _why_no_netns() -> str | None:
    if sys.platform != "linux":
        return "live tests need Linux network namespaces"
    import os

    if os.geteuid() != 0:
        return "live tests need root (they create network namespaces)"
    if shutil.which("ip") is None:
        return "live tests need iproute2's `ip`"
    probe = f"tgprobe{secrets.token_hex(3)}"
    try:
        made = _run("ip", "netns", "add", probe)
        if made.returncode != 0:
            return f"`ip netns add` does not work here: {made.stderr.strip()}"
        return None
    finally:  # also when `ip netns add` timed out half way (seen under load): never leave the probe behind
        if (NETNS_DIR / probe).exists():
            _run("ip", "netns", "del", probe)


NO_NETEM = "this kernel has no netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM): link impairments cannot be set"


@functools.cache
def kernel_has_netem() -> bool:
    """Can a netem qdisc be set here? Tried once, on loopback in a namespace of its own (deleted by name)."""
    if _why_no_netns() is not None:
        return False
    name = unique_prefix() + "netem"
    if _run("ip", "netns", "add", name).returncode != 0:
        return False
    try:
        return _run("ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                    "delay", "1ms").returncode == 0
    finally:
        _run("ip", "netns", "del", name)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test run on a sample with link impairments (`netem:`) is skipped where the kernel cannot set them."""
    callspec = getattr(item, "callspec", None)
    files = [v for v in (callspec.params.values() if callspec is not None else ()) if isinstance(v, Path)
             and v.suffix == ".yml" and v.is_file() and "netem:" in v.read_text()]
    if files and not kernel_has_netem():
        pytest.skip(f"{files[0].name}: {NO_NETEM}")


@pytest.fixture(scope="session")
def netns_available() -> None:
    """Skip (once per session) unless namespaces can be created."""
    reason = _why_no_netns()
    if reason:
        pytest.skip(reason)


@dataclass
class Sandbox:
    """One test's own namespaces and processes; see the module docstring."""

    prefix: str
    owned: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    # -- ownership ----------------------------------------------------------------------------
    def claim(self, names: Iterable[str]) -> None:
        """Record namespaces this test creates (they must carry the prefix); the finalizer deletes them."""
        for name in names:
            if not name.startswith(self.prefix):
                raise AssertionError(f"namespace {name!r} does not carry this test's prefix {self.prefix!r}")
            if name not in self.owned:
                self.owned.append(name)

    def claim_plan(self, plan: Plan) -> None:
        self.claim(plan.namespaces)

    def left(self) -> list[str]:
        """This test's namespaces that still exist."""
        return sorted(n for n in namespaces_now() if n.startswith(self.prefix))

    # -- running things -----------------------------------------------------------------------
    def script(self, text: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a bash script (e.g. a compiled setup script) from a file, capturing its output.

        From a file, not `bash -s`: a command reading stdin would otherwise eat the rest of the script.
        """
        with tempfile.NamedTemporaryFile("w", prefix=self.prefix, suffix=".sh") as f:
            f.write(text)
            f.flush()
            return subprocess.run(["bash", f.name], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, check=False)

    def exec(self, netns: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        self._mine(netns)
        return _run("ip", "netns", "exec", netns, *argv, timeout=timeout)

    def start(self, netns: str, *argv: str) -> subprocess.Popen[str]:
        """Start a long-running process inside `netns`; the finalizer kills it by PID."""
        self._mine(netns)
        proc = subprocess.Popen(["ip", "netns", "exec", netns, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.processes.append(proc)
        return proc

    def _mine(self, netns: str) -> None:
        if not netns.startswith(self.prefix):
            raise AssertionError(f"namespace {netns!r} is not this test's (prefix {self.prefix!r})")

    # -- traffic ------------------------------------------------------------------------------
    def ping(self, netns: str, address: IPAddress | str, tries: int = 3) -> bool:
        """True when one ping of `address` from `netns` is answered (up to `tries` attempts, -W1 each)."""
        return any(self.exec(netns, "ping", "-n", "-c1", "-W1", str(address)).returncode == 0 for _ in range(tries))

    def listen_tcp(self, netns: str, address: IPAddress | str, port: int, banner: str = "topograph") -> None:
        """A TCP listener on address:port inside `netns` that greets every client with `banner`."""
        proc = self.start(netns, sys.executable, "-c", _LISTENER, str(address), str(port), banner)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"listener on {address}:{port} in {netns} did not start: {err.strip()}")

    def listen_udp(self, netns: str, port: int, banner: str = "topograph") -> None:
        """A UDP echo server on [::]:port (IPv4 too) inside `netns` that answers every datagram with `banner`
        from the address it was sent to."""
        proc = self.start(netns, sys.executable, "-c", UDP_ECHO, str(port), banner)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"UDP echo on port {port} in {netns} did not start: {err.strip()}")

    def tcp_connect(self, netns: str, address: IPAddress | str, port: int, tries: int = 2,
                    timeout: float = 2.0) -> str | None:
        """The listener's banner when a TCP connection from `netns` to address:port works, else None."""
        for _ in range(tries):
            done = self.exec(netns, sys.executable, "-c", _CONNECT, str(address), str(port), str(timeout))
            if done.returncode == 0:
                return done.stdout
        return None

    # -- cleanup ------------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Kill our processes, stop the lab's services (run:) left running in our sandbox, delete our namespaces
        by exact name; return problems met."""
        problems: list[str] = []
        for pid_file in sorted(Path(kernel_names.SYSCTL_DIR).glob(f"*@{self.prefix}*{kernel_names.SERVICE_SUFFIX}/*/*.pid")):
            # a service a failed test left, or a lab of a sub-prefix (PREFIX15-) whose namespaces it deletes: its group,
            # by the pid its own file names (only while it is the supervisor)
            node_dir = pid_file.parent
            services.stop(StopService(node_dir.name, None, pid_file.stem, str(node_dir.parent)))
            # and what carries the service's exact marker, in any namespace (a daemon out of the group)
            marked.send(str(node_dir / pid_file.stem), None, signal.SIGKILL)
        for entry in (state.state_dir() / "verify").glob(f"*@{self.prefix}*.json"):  # verify's remembered predictions
            entry.unlink(missing_ok=True)
        problems += [f"service directory left behind: {d}"
                     for d in sorted(Path(kernel_names.SYSCTL_DIR).glob(f"*@{self.prefix}*{kernel_names.SERVICE_SUFFIX}"))]
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                problems.append(f"process {proc.pid} did not stop")
        existing = namespaces_now()
        for name in reversed(self.owned):
            if name in existing:
                done = _run("ip", "netns", "del", name)
                if done.returncode != 0:
                    problems.append(f"cannot delete namespace {name}: {done.stderr.strip()}")
        return problems


def without_services(p: Plan) -> Plan:
    """`p` without starting its services (run:): for tests of the network whose own listeners stand for every
    `listen:` entry (a service would hold the port first); tests/live/test_services_live.py runs services."""
    return replace(p, operations=tuple(op for op in p.operations if not isinstance(op, StartService)))


def unique_prefix() -> str:
    """A fresh prefix such as 'tg3fa1c2-': short, shell-safe, unique per test."""
    return f"tg{secrets.token_hex(3)}-"


@pytest.fixture
def sandbox(netns_available: None) -> Iterator[Sandbox]:
    box = Sandbox(prefix=unique_prefix())
    yield box
    problems = box.cleanup()
    leftovers = box.left()
    if problems or leftovers:
        pytest.fail(f"cleanup of {box.prefix}: {'; '.join(problems)}"
                    + (f"; namespaces left behind (not claimed): {', '.join(leftovers)}" if leftovers else ""))

