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


# The map bases the tests use: only processes in user namespaces with these maps are kennel's.
TEST_MAP_BASES = {199001, 300000}


def user_namespace_pids():
    """Pids of kennel sandbox processes: in a user namespace other than ours whose uid map
    starts at one of the bases the tests use (other tools' containers are left alone)."""
    mine = os.readlink("/proc/self/ns/user")
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{p}/ns/user") == mine:
                continue
            with open(f"/proc/{p}/uid_map") as f:
                fields = f.readline().split()
            if len(fields) == 3 and fields[0] == "0" and int(fields[1]) in TEST_MAP_BASES:
                out.add(int(p))
        except (OSError, ValueError):
            pass
    return out


def host_mounts_naming_kennel():
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if "/run/kennel" in line or "kennel" in line.split()[4]]


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
    """After every test: no sandbox process this test started survives, and no mount of
    kennel's appears in the host's mount table (they belong in private namespaces only)."""
    before = user_namespace_pids()
    yield
    leftover = wait_gone(user_namespace_pids() - before, timeout=10)
    for pid in leftover:  # end what this test started, then fail it
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    assert not leftover, f"sandbox processes left behind: {sorted(leftover)}"
    assert host_mounts_naming_kennel() == [], "a kennel mount leaked into the host's mount namespace"


@pytest.fixture
def workdir():
    """A host directory the sandbox may write into (mode 0777), removed afterwards."""
    d = tempfile.mkdtemp(prefix="kennel-test-", dir="/var/tmp")
    os.chmod(d, 0o777)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)
