"""Hosts on one machine: a network namespace each, a veth pair into one bridge, an address of its own.

The bridge (in the root namespace, where the test runs) has the subnet's first address, so the test
is one more machine on the LAN: every byte between two hosts crosses the bridge to the other's address,
as it would cross a switch. Cutting a host sets its cable (the veth end on the bridge) down: the host
keeps running and believes its link is up, the others simply stop hearing from it.

Needs root (CI runs as root). Names carry a random id, so parallel runs and leftovers never collide;
`Network.destroy()` removes everything it made, whatever state it is in.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import signal
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, or no `ip`)."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def require_netns() -> None:
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (CI runs as root)")
    try:
        ip("netns", "list")
    except (OSError, RuntimeError) as error:
        raise NetnsUnavailable(f"`ip netns` does not work here: {error}") from error


@dataclass
class Host:
    """One machine: its namespace, its address and the bridge end of its cable."""

    name: str
    netns: str
    address: str
    cable: str  # the veth end in the root namespace, on the bridge

    def argv(self, argv: Sequence[str]) -> list[str]:
        """argv run inside this host (`ip netns exec` enters the namespace and execs argv)."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(argv), capture_output=True, text=True, check=True)

    def cut(self) -> None:
        """The cable pulled: nothing reaches the host, nothing leaves it, and it is not told."""
        ip("link", "set", self.cable, "down")

    def reconnect(self) -> None:
        ip("link", "set", self.cable, "up")

    def pids(self) -> list[int]:
        result = ip("netns", "pids", self.netns, check=False)
        return [int(p) for p in result.stdout.split()]

    def kill_everything(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Network:
    """A bridge and the hosts on it; `add_host` makes one, `destroy` removes them all."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:5])
    subnet: ipaddress.IPv4Network = field(default_factory=lambda: free_subnet())
    hosts: dict[str, Host] = field(default_factory=dict)
    _made_bridge: bool = False

    @property
    def bridge(self) -> str:
        return f"flbr{self.run_id}"

    @property
    def gateway(self) -> str:
        """The root namespace's (the test's) address on the bridge."""
        return str(self.subnet.network_address + 1)

    def create(self) -> Network:
        ip("link", "add", self.bridge, "type", "bridge")
        self._made_bridge = True
        ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 10
        host = Host(
            name=name,
            netns=f"fl{self.run_id}-{name}",
            address=str(self.subnet.network_address + index),
            cable=f"fl{self.run_id}c{index}",
        )
        inside = f"fl{self.run_id}i{index}"
        ip("netns", "add", host.netns)
        self.hosts[name] = host
        ip("link", "add", host.cable, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", host.netns)
        ip("link", "set", host.cable, "master", self.bridge)
        ip("link", "set", host.cable, "up")
        ip("-n", host.netns, "link", "set", "lo", "up")
        ip("-n", host.netns, "link", "set", inside, "name", "eth0")
        ip("-n", host.netns, "addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", "eth0")
        ip("-n", host.netns, "link", "set", "eth0", "up")
        return host

    def destroy(self) -> list[str]:
        """Kills what runs in the hosts, deletes namespaces, cables and the bridge; returns what failed."""
        problems = []
        for host in self.hosts.values():
            host.kill_everything()
            for args in (("link", "del", host.cable), ("netns", "del", host.netns)):
                result = ip(*args, check=False)
                if result.returncode != 0 and "Cannot find" not in result.stderr:
                    problems.append(f"ip {' '.join(args)}: {result.stderr.strip()}")
        if self._made_bridge:
            result = ip("link", "del", self.bridge, check=False)
            if result.returncode != 0:
                problems.append(f"ip link del {self.bridge}: {result.stderr.strip()}")
        return problems


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.200-254.x.0 that no route of this machine already covers."""
    routes = ip("-4", "route", "show", "table", "all", check=False).stdout
    taken = []
    for line in routes.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in {"local", "broadcast", "unreachable", "prohibit"}:
            first = line.split()[1]
        with contextlib.suppress(ValueError):
            taken.append(ipaddress.ip_network(first, strict=False))
    for _ in range(500):
        candidate = ipaddress.IPv4Network(f"10.{random.randint(200, 254)}.{random.randint(0, 255)}.0/24")
        if not any(candidate.overlaps(net) for net in taken if net.prefixlen > 0):
            return candidate
    raise RuntimeError("no free 10.x.y.0/24 subnet for the test hosts")
