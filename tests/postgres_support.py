"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary folder,
listening on 127.0.0.1 only, removed afterwards.

The binaries come from ``PATH`` or the Debian layout (``/usr/lib/postgresql/*/bin``; ``.ci/run``
installs the ``postgresql`` package). ``initdb`` refuses to run as root, so as root the server
runs as an unprivileged user: uid 1000 of a user namespace of its own (``unshare``, which
needs no account and leaves the files owned by us), else the ``nobody`` account (``runuser``). Without binaries the tests that
need PostgreSQL fail, except outside CI (``CI`` unset), where they are skipped with the reason.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

__all__ = ["PostgresServer", "postgres_binaries", "start_postgres"]

_names = itertools.count(1)


def postgres_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server; :meth:`database` gives each test a fresh, empty database."""

    port: int
    folder: Path
    binaries: Path
    as_user: list[str]

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database(self) -> str:
        """A new empty database's DSN."""
        name = f"t{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.pause("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def pause(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (every connection to it is cut)."""
        pg_ctl = str(self.binaries / "pg_ctl")
        subprocess.run(
            [*self.as_user, pg_ctl, "-D", str(self.folder / "data"), "-m", mode, "-w", "stop"],
            capture_output=True,
            timeout=60,
        )

    def resume(self) -> None:
        """Start the server again on the same port with the same data."""
        _pg_ctl_start(self.as_user, self.binaries, self.folder, self.port)


def _unprivileged() -> list[str]:
    """A command prefix that runs a program as a user that is not root."""
    for prefix in (
        ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--"],
        ["runuser", "-u", "nobody", "--"],
    ):
        probe = subprocess.run(
            [*prefix, "sh", "-c", "test $(id -u) != 0 && : > /dev/null"],
            capture_output=True,
            timeout=30,
        )
        if probe.returncode == 0:
            return prefix
    pytest.fail("running as root, and no way to run PostgreSQL as another user (unshare, runuser)")


def start_postgres() -> PostgresServer:
    """Start a server in a temporary folder (see the module docstring)."""
    binaries = postgres_binaries()
    if binaries is None:
        message = "PostgreSQL binaries (initdb, pg_ctl) not found: install the postgresql package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="connector-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = _unprivileged()
        if as_user[0] == "runuser":
            os.chmod(folder, 0o755)
            shutil.chown(folder, "nobody")
    data, port = folder / "data", _free_port()
    subprocess.run(
        [
            *as_user,
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    _pg_ctl_start(as_user, binaries, folder, port)
    return PostgresServer(port, folder, binaries, as_user)


def _pg_ctl_start(as_user: list[str], binaries: Path, folder: Path, port: int) -> None:
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    log = str(folder / "server.log")
    subprocess.run(
        [
            *as_user,
            str(binaries / "pg_ctl"),
            "-D",
            str(folder / "data"),
            "-o",
            options + " -c max_connections=200",
            "-l",
            log,
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
