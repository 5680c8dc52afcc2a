"""A PostgreSQL primary with a streaming replica, and a Redis Cluster of three masters, of one's own.

For ``tests/server/test_replica.py``, ``tests/server/test_redis_cluster.py`` and ``bench/cluster.py``.
Everything runs on spare ports in temporary folders (never the machine's own services) and is
removed by ``close()``. Each process may be started through a prefix (``ip netns exec NAME``) and
bound to an address of that namespace; by default 127.0.0.1.
PostgreSQL runs as the ``postgres`` user when this runs as root (``initdb`` refuses root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench._services import free_port, pg_bin, why_no_own_postgres, why_no_own_redis

__all__ = ["PgPair", "RedisClusterNodes", "free_port", "why_no_own_postgres", "why_no_own_redis"]


def wait_port(
    host: str, port: int, *, up: bool = True, timeout_s: float = 20.0, prefix: Sequence[str] = ()
) -> None:
    """Wait until ``host:port`` accepts (or refuses) connections; inside a namespace through ``prefix``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if prefix:
            probe = subprocess.run(
                [*prefix, "bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            listening = probe.returncode == 0
        else:
            with socket.socket() as s:
                s.settimeout(0.2)
                listening = s.connect_ex((host, port)) == 0
        if listening == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} is still {'closed' if up else 'open'} after {timeout_s} s")


class PgPair:
    """A primary and a hot-standby replica (``pg_basebackup -R``), streaming, on two spare ports."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ports: tuple[int, int] | None = None,
        prefix: Sequence[str] = (),
        allow: str = "127.0.0.1/32",
    ):
        folder = pg_bin()
        if folder is None:
            raise RuntimeError("PostgreSQL's initdb is not installed")
        self.bin, self.host, self.prefix = folder, host, list(prefix)
        self.port, self.replica_port = ports or (free_port(), free_port())
        self.root = Path(tempfile.mkdtemp(prefix="xinyi-pgpair-"))
        self.primary_data, self.replica_data = self.root / "primary", self.root / "replica"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb", "-D", str(self.primary_data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        with (self.primary_data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                f"listen_addresses = '{host}'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 200\n"
                "shared_buffers = 32MB\n"
                "fsync = off\n"
                "full_page_writes = off\n"
                "wal_level = replica\n"
                "max_wal_senders = 5\n"
                "hot_standby = on\n"
                "hot_standby_feedback = on\n"
                "wal_receiver_status_interval = 1s\n"
                "logging_collector = off\n"
            )
        with (self.primary_data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {allow} trust\nhost replication all {allow} trust\n")
        self._started: set[str] = set()

    @property
    def url(self) -> str:
        return f"postgres://postgres@{self.host}:{self.port}/postgres"

    def url_of(self, database: str, *, replica: bool = False) -> str:
        return f"postgres://postgres@{self.host}:{self.replica_port if replica else self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self.prefix, *self._as, str(self.bin / tool), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )
        if result.returncode:
            raise RuntimeError(f"{tool} failed: {result.stderr.decode(errors='replace')[-800:]}")

    def _ctl(self, data: Path, action: str, log: str) -> None:
        self._run(
            "pg_ctl", "-D", str(data), "-l", str(self.root / log), "-m", "fast", "-w", "-t", "30", action
        )

    def start(self) -> None:
        """The primary, then a base backup of it started as its streaming replica."""
        self._ctl(self.primary_data, "start", "primary.log")
        self._started.add("primary")
        self._run(
            "pg_basebackup", "-h", self.host, "-p", str(self.port), "-U", "postgres",
            "-D", str(self.replica_data), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        with (self.replica_data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\n")
        self.start_replica()

    def start_replica(self) -> None:
        self._ctl(self.replica_data, "start", "replica.log")
        self._started.add("replica")

    def stop_replica(self) -> None:
        self._ctl(self.replica_data, "stop", "replica.log")
        self._started.discard("replica")

    def close(self) -> None:
        for data in (self.replica_data, self.primary_data):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def cluster_port() -> int:
    """A spare port whose cluster bus port (+10000) is spare too (and exists)."""
    import random

    for _ in range(200):
        port = random.randint(20000, 45000)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port
    raise RuntimeError("no spare port pair for a Redis Cluster node")


class RedisClusterNodes:
    """Three ``redis-server --cluster-enabled yes`` masters (no persistence), joined by ``redis-cli --cluster create``."""

    def __init__(
        self, *, host: str = "127.0.0.1", ports: Sequence[int] | None = None, prefix: Sequence[str] = ()
    ):
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise RuntimeError("redis-server is not installed")
        self.host, self.prefix = host, list(prefix)
        self.ports = list(ports or [cluster_port() for _ in range(3)])
        self.root = Path(tempfile.mkdtemp(prefix="xinyi-redis-cluster-"))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """``REDIS_URL`` for the app: every master a startup node."""
        return "redis+cluster://" + ",".join(f"{self.host}:{p}" for p in self.ports)

    def start_node(self, port: int) -> None:
        folder = self.root / str(port)
        folder.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                *self.prefix, "redis-server", "--port", str(port), "--bind", self.host,
                "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"),
                "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no",
                "--dir", str(folder), "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        wait_port(self.host, port, prefix=self.prefix)

    def start(self) -> None:
        for port in self.ports:
            self.start_node(port)
        subprocess.run(
            [*self.prefix, "redis-cli", "--cluster", "create", *(f"{self.host}:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = subprocess.run(
                [*self.prefix, "redis-cli", "-h", self.host, "-p", str(self.ports[0]), "cluster", "info"],
                capture_output=True,
                text=True,
            ).stdout
            if "cluster_state:ok" in info:
                return
            time.sleep(0.1)
        raise TimeoutError("the Redis Cluster did not reach cluster_state:ok")

    def flush(self) -> None:
        for port in self.ports:
            subprocess.run(
                [*self.prefix, "redis-cli", "-h", self.host, "-p", str(port), "flushall"],
                stdout=subprocess.DEVNULL,
                check=False,
            )

    def kill_node(self, port: int) -> None:
        process = self.processes.pop(port, None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def close(self) -> None:
        for port in list(self.processes):
            process = self.processes.pop(port)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
