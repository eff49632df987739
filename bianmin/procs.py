"""Running ``bianmin`` commands as real processes: for the demo and the end-to-end tests.

Every process started here is bounded in time and stopped by whoever started it (``with``
blocks, or ``stop()``), so nothing outlives the demo or a test.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CommandFailed", "Run", "ServerProcess", "bianmin_argv", "run"]


def bianmin_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bianmin", *args]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BIANMIN_HOME"}
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("GRPC_VERBOSITY", "ERROR")
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class CommandFailed(Exception):
    def __init__(self, run: Run) -> None:
        super().__init__(f"bianmin {' '.join(run.args)} exited {run.returncode}: "
                         f"{run.stderr.strip() or run.stdout.strip()}")
        self.run = run


def run(*args: str, check: bool = True, timeout_s: float = 60.0,
        env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """``bianmin ARGS`` to completion. ``cwd``: run another checkout's code (its folder comes
    first on ``sys.path`` with ``python -m``), for benchmarks against an older revision."""
    done = subprocess.run(bianmin_argv(*args), capture_output=True, text=True,
                          timeout=timeout_s, env=_env(env), check=False, cwd=cwd)
    result = Run(args=args, returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)
    if check and done.returncode != 0:
        raise CommandFailed(result)
    return result


class ServerProcess:
    """A long-running ``bianmin ... serve --json`` process and the address it reported."""

    def __init__(self, args: Sequence[str], *, ready_timeout_s: float = 30.0,
                 env: dict[str, str] | None = None, log: Path | None = None,
                 cwd: Path | None = None) -> None:
        self.args = list(args)
        self._log = log.open("ab") if log is not None else None
        self.proc = subprocess.Popen(
            bianmin_argv(*args), stdout=subprocess.PIPE,
            stderr=self._log if self._log is not None else subprocess.DEVNULL,
            env=_env(env), cwd=cwd,
        )
        lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        try:
            first = lines.get(timeout=ready_timeout_s)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"bianmin {' '.join(args)} did not report ready within "
                               f"{ready_timeout_s:.0f} s") from None
        try:
            self.info: dict[str, Any] = json.loads(first)
        except json.JSONDecodeError:
            self.stop()
            raise RuntimeError(f"bianmin {' '.join(args)} printed {first!r} instead of its "
                               "address") from None

    @property
    def sync_address(self) -> str:
        return str(self.info["sync"])

    @property
    def enrol_address(self) -> str:
        return str(self.info["enrol"])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout_s)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

