"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temporary folder,
listen on 127.0.0.1 (and a unix socket in that folder) on a free port, stop and delete it
when done. Run as root, it runs the server as the ``postgres`` system user (PostgreSQL refuses
to run as root).

    python tests/pgcluster.py start    # prints BIANMIN_TEST_PG_URL=... and the folder
    python tests/pgcluster.py stop FOLDER
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cluster", "find_bin", "start", "stop"]


def find_bin() -> Path | None:
    """The folder of initdb and pg_ctl, if PostgreSQL is installed."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass(frozen=True)
class Cluster:
    folder: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(bindir: Path | None = None) -> Cluster:
    bindir = bindir or find_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb found)")
    folder = Path(tempfile.mkdtemp(prefix="bianmin-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                                 "-U", "postgres", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=on "
               "-c max_connections=200")
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                                 "-t", "60", "-l", str(folder / "server.log"), "start"]),
                   check=True, capture_output=True, timeout=90)
    return Cluster(folder=folder, port=port, bindir=bindir)


def stop(cluster: Cluster) -> None:
    subprocess.run(_as_postgres([str(cluster.bindir / "pg_ctl"), "-D",
                                 str(cluster.folder / "data"), "-m", "fast", "-w", "stop"]),
                   check=False, capture_output=True, timeout=60)
    shutil.rmtree(cluster.folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        c = start()
        print(f"BIANMIN_TEST_PG_URL={c.url}")
        print(f"BIANMIN_TEST_PG_DIR={c.folder}")
        print(f"BIANMIN_TEST_PG_BIN={c.bindir}")
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        folder = Path(sys.argv[2])
        stop(Cluster(folder=folder, port=0, bindir=find_bin() or Path("/usr/bin")))
    else:
        sys.exit(__doc__)
