"""Shared helpers for kennel's integration tests. They launch real sandboxes on this kernel
as root; nothing here is mocked. Every test must leave no process, mount or file behind."""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROBE_DIR = pathlib.Path(__file__).resolve().parent
FIXTURE = ROOT.parent / "shared" / "reference" / "docker-default-seccomp.json"
PYTHON = "/usr/bin/python3"


def kennel_binary():
    env = os.environ.get("KENNEL_BIN")
    if env:
        return env
    for build in ("release", "debug"):
        p = ROOT / ".build" / build / "kennel"
        if p.exists():
            return str(p)
    raise RuntimeError("no kennel binary: run `swift build -c release` or set KENNEL_BIN")


KENNEL = kennel_binary()


def kennel(*args, timeout=60, **kw):
    """Runs `kennel ARGS...` and returns the CompletedProcess (text mode)."""
    kw.setdefault("capture_output", True)
    return subprocess.run([KENNEL, *args], text=True, timeout=timeout, **kw)


def probe(check, *check_args, opts=(), expect_rc=0, **kw):
    """Runs probe.py CHECK inside a sandbox made with OPTS and returns its JSON."""
    r = kennel("run", "--bind", f"{PROBE_DIR}:/tmp/probe:ro", *opts, "--",
               PYTHON, "/tmp/probe/probe.py", check, *check_args, **kw)
    assert r.returncode == expect_rc, f"rc={r.returncode}\nstdout={r.stdout}\nstderr={r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def user_namespace_pids():
    """Pids of processes in a user namespace other than ours (sandboxes are such processes)."""
    mine = os.readlink("/proc/self/ns/user")
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{p}/ns/user") != mine:
                out.add(int(p))
        except OSError:
            pass
    return out


def wait_gone(pids, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = {p for p in pids if os.path.exists(f"/proc/{p}")}
        if not alive:
            return set()
        time.sleep(0.05)
    return {p for p in pids if os.path.exists(f"/proc/{p}")}


@pytest.fixture(autouse=True)
def leaves_nothing_behind():
    """After every test: no new process in another user namespace survives, and kennel's
    staging directory holds nothing."""
    before = user_namespace_pids()
    yield
    leftover = wait_gone(user_namespace_pids() - before, timeout=10)
    for pid in leftover:  # end what this test started, then fail it
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    assert not leftover, f"sandbox processes left behind: {sorted(leftover)}"
    staging = pathlib.Path("/run/kennel/root")
    if staging.exists():
        assert list(staging.iterdir()) == [], "kennel's staging root is not empty on the host"


@pytest.fixture
def workdir():
    """A host directory the sandbox may write into (mode 0777), removed afterwards."""
    d = tempfile.mkdtemp(prefix="kennel-test-", dir="/var/tmp")
    os.chmod(d, 0o777)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)
