"""A throwaway PostgreSQL server on 127.0.0.1, started by the test setup for the tests marked postgres.

Every pytest process (each xdist worker too) starts its own from the installed
binaries (Debian's `postgresql` package), so the fault suite can stop, restart and
freeze its server without touching another process's tests. PostgreSQL refuses to
run as root, so under root the server runs as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import free_port

__all__ = ["PostgresServer"]


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return folders[-1].parent if folders else None


class PostgresServer:
    """One private server: its data folder, port and pg_ctl, with stop, start and a hang."""

    def __init__(self, bin_dir: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="planbot-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w"]
        try:
            self._initialise(bin_dir)
        except BaseException:
            self.destroy()
            raise

    def _initialise(self, bin_dir: Path) -> None:
        self._run(str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{self.folder}'\nfsync = off\n"
            )
        for attempt in range(3):  # another process may take the free port before the server binds it
            try:
                self.start()
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                self.port = free_port()

    @classmethod
    def create(cls) -> PostgresServer | None:
        """A started server, or None when PostgreSQL is not installed."""
        bin_dir = _binaries()
        return cls(bin_dir) if bin_dir else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True)

    def start(self) -> None:
        """Started (again) on its port, with its data as it was."""
        self._run(*self._ctl, "-o", f"-p {self.port}", "start")

    def stop(self) -> None:
        """Stopped as a crash would: no checkpoint, every connection cut."""
        self._run(*self._ctl, "-m", "immediate", "stop")

    def _processes(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    @contextlib.contextmanager
    def hung(self) -> Iterator[None]:
        """Every server process stopped: connections stay open, nothing answers.

        A process that ends before it is stopped (an autovacuum worker, a backend whose client
        left) is skipped, and whatever was stopped is resumed whatever happens.
        """
        pids: list[int] = []
        try:
            # The postmaster first, so that it forks nothing new; then its children until none is left.
            while new := [pid for pid in self._processes() if pid not in pids]:
                for pid in new:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGSTOP)
                pids += new
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(*self._ctl, "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
