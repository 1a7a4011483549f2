"""`topograph capture` for real, in a sandbox: the seed's port-forwarded connection seen on blue's interface.

The lan node connects to the host's address port 80; the host DNATs it to blue (192.168.15.2:80), where
a listener of the test answers. The capture on blue:veth-blue must hold those packets, rewritten: to
192.168.15.2:80, from lan's own 192.168.1.3 (the host masquerades only 192.168.15.0/24). The pcap is read
by a small reader here and, as a cross-check, by `tcpdump -r`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live.conftest import Sandbox
from topograph.live.execute import FAIL_AT_ENV
from topograph.pipeline import check_file
from topograph.plan import plan

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "samples" / "06-port-forward.yml"

Packet = tuple[str, int, str, int, int]  # source, source port, destination, destination port, TCP flags


def read_pcap(data: bytes) -> list[Packet]:
    """The IPv4 TCP packets of a pcap file (Ethernet link type), in order; raises ValueError on a broken file."""
    if len(data) < 24:
        raise ValueError(f"no pcap header ({len(data)} bytes)")
    magic = data[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<",
             b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if order is None:
        raise ValueError(f"not a pcap file (magic {magic.hex()})")
    linktype = struct.unpack(order + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError(f"link type {linktype}, not Ethernet")
    out: list[Packet] = []
    at = 24
    while at < len(data):
        if at + 16 > len(data):
            raise ValueError(f"a record header cut short at byte {at}")
        caplen = struct.unpack(order + "I", data[at + 8:at + 12])[0]
        frame = data[at + 16:at + 16 + caplen]
        if len(frame) != caplen:
            raise ValueError(f"a record cut short at byte {at}")
        at += 16 + caplen
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:  # IPv4, TCP
            continue
        ip = frame[14:]
        tcp = ip[(ip[0] & 0x0F) * 4:]
        out.append((str(ipaddress.IPv4Address(ip[12:16])), struct.unpack("!H", tcp[0:2])[0],
                    str(ipaddress.IPv4Address(ip[16:20])), struct.unpack("!H", tcp[2:4])[0], tcp[13]))
    return out


def tg(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "topograph", *args], capture_output=True, text=True, env=_env(state),
                          timeout=120, check=False, stdin=subprocess.DEVNULL)


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != FAIL_AT_ENV}
    return env | {"TOPOGRAPH_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}


def start_capture(state: Path, *args: str) -> subprocess.Popen[str]:
    """`topograph capture ARGS` in the background, once tcpdump says it is listening."""
    proc = subprocess.Popen([sys.executable, "-m", "topograph", "capture", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(state))
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if "listening on" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.communicate()
    raise AssertionError(f"capture did not start: {''.join(seen)}")


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, err


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump (apt-get install tcpdump)")
def test_the_port_forwarded_connection_is_in_the_pcap(sandbox: Sandbox, tmp_path: Path) -> None:
    checked = check_file(SEED)
    assert checked.topology is not None
    sandbox.claim_plan(plan(checked.topology, sandbox_prefix=sandbox.prefix))
    state, box = tmp_path / "state", ("--sandbox", sandbox.prefix)
    try:
        up = tg(state, "apply", *box, str(SEED))
        assert up.returncode == 0, up.stdout + up.stderr
        blue, lan = sandbox.prefix + "blue", sandbox.prefix + "lan"
        sandbox.listen_tcp(blue, "192.168.15.2", 80, banner="blue")

        pcap = tmp_path / "forward.pcap"
        proc = start_capture(state, *box, str(SEED), "blue:veth-blue", "-c", "3", "-w", str(pcap), "tcp", "port", "80")
        assert sandbox.tcp_connect(lan, "192.168.1.2", 80) == "blue"
        code, err = finish(proc)
        assert code == 0, err
        packets = read_pcap(pcap.read_bytes())
        assert len(packets) == 3, packets  # -c 3: the handshake
        syn, syn_ack, ack = packets
        assert syn[:4] == ("192.168.1.3", syn[1], "192.168.15.2", 80) and syn[4] & 0x12 == 0x02  # SYN, DNATed
        assert syn_ack[:4] == ("192.168.15.2", 80, "192.168.1.3", syn[1]) and syn_ack[4] & 0x12 == 0x12
        assert ack[:4] == syn[:4]
        listed = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True, check=False)
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 3, listed.stdout + listed.stderr
        assert "192.168.1.3." in listed.stdout and "> 192.168.15.2.80:" in listed.stdout

        # no count: Ctrl-C (SIGINT to topograph alone) ends it, and the pcap is whole
        stopped = tmp_path / "stopped.pcap"
        proc = start_capture(state, *box, str(SEED), "host:v-net-0", "-w", str(stopped), "tcp")
        assert sandbox.tcp_connect(lan, "192.168.1.2", 80) == "blue"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        code, err = finish(proc)
        assert code == 0, err
        seen = read_pcap(stopped.read_bytes())
        assert ("192.168.1.3", seen[0][1], "192.168.15.2", 80, 0x02) in seen, seen  # the SYN on the bridge

        missing = tg(state, "capture", *box, str(SEED), "blue:eth9")
        assert missing.returncode == 1 and "node blue has no interface 'eth9'" in missing.stderr
        assert "Traceback" not in missing.stderr
    finally:
        down = tg(state, "destroy", *box, str(SEED))
        assert down.returncode == 0, down.stdout + down.stderr
    assert sandbox.left() == []
