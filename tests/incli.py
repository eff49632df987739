"""``bianmin`` commands run inside the test process, for setting tests up."""

from __future__ import annotations

from click.testing import CliRunner

from bianmin.cli import main as bianmin_main
from bianmin.procs import CommandFailed, Run


def setup(*args: str) -> Run:
    """A ``bianmin`` command run inside the test process, for setting a test up (hub init,
    operators, tokens, node init): the very same command code as in a subprocess, without the
    second of interpreter start and imports that a subprocess costs. What a test examines --
    servers, syncs, the commands under test -- still runs as real processes."""
    result = CliRunner().invoke(bianmin_main, list(args), catch_exceptions=False)
    done = Run(args=args, returncode=result.exit_code, stdout=result.stdout,
               stderr=result.stderr)
    if result.exit_code != 0:
        raise CommandFailed(done)
    return done
