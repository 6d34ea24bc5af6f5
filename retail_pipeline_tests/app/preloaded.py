"""``retail-pipeline`` commands as real processes that start without paying for their imports: forked from a
server process that has imported the CLI, Dagster, polars and deltalake once (multiprocessing's forkserver,
started on first use in each test process). Importing those costs ~2 s of every command here; the healing
tests start a dozen.

A child is an ordinary process: its own pid, environment, working directory and standard streams (files),
killable with SIGKILL, and its ``exitcode`` is the command's (``-9`` when killed). The crash hook
(``crash_hook/sitecustomize.py``) is armed in the child from the environment it is given, as it would be at
the start-up of a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys
from pathlib import Path

CRASH_HOOK = Path(__file__).resolve().parents[1] / "crash_hook" / "sitecustomize.py"
PRELOAD = ["retail_pipeline.app.cli", "retail_pipeline.app.runner", "retail_pipeline.defs.definitions", "deltalake"]

_context = None


def _forkserver():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _command(argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    os.setsid()  # its own process group, as a command started from a shell
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (the process's own streams)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    if any(name in env for name in ("RETAIL_KILL_AFTER", "RETAIL_PAUSE_AFTER", "RETAIL_CRASH_TABLE")):
        import deltalake

        original = deltalake.write_deltalake
        runpy.run_path(str(CRASH_HOOK))  # wraps deltalake.write_deltalake as at a fresh start-up
        for module in list(sys.modules.values()):  # and where it was imported by name before the fork
            if getattr(module, "write_deltalake", None) is original:
                module.write_deltalake = deltalake.write_deltalake
    from retail_pipeline.app.cli import main

    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Command:
    """A started command: ``wait()`` gives (exit code, stdout, stderr); ``output()`` what it printed so far."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, streams: Path):
        streams.mkdir(parents=True, exist_ok=True)
        n = len(list(streams.glob("*.out")))
        self.out, self.err = streams / f"{n}.out", streams / f"{n}.err"
        self.process = _forkserver().Process(
            target=_command, args=(argv, env, str(cwd), str(self.out), str(self.err)), daemon=False
        )
        self.process.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.is_alive()

    def output(self) -> str:
        return self.out.read_text() if self.out.exists() else ""

    def wait(self, timeout: float = 300) -> tuple[int, str, str]:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise TimeoutError(f"the command did not end within {timeout} s:\n{self.output()[-2000:]}")
        return self.process.exitcode, self.output(), self.err.read_text() if self.err.exists() else ""
