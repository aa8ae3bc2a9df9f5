"""Shared helpers for kennel's integration tests. They launch real sandboxes on this kernel
as root; nothing here is mocked. Every test must leave no process, mount or file behind."""
import ctypes
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

# This test run is a child subreaper: whatever its sandboxes leave behind (a SIGKILLed kennel's
# init, a payload's daemon) is re-parented to it, never to the host's init. So "ours" can be
# told by descent, and a test suite running beside this one on the same machine is never
# mistaken for a leftover, let alone killed.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def stat_fields(pid):
    """/proc/PID/stat from field 3 (the state) on: index 1 is the ppid, 11 and 12 utime and
    stime, 19 the start time. The command name before them may hold spaces and parentheses.
    Raises OSError when there is no such process."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def descends_from_this_run(pid):
    me, seen = os.getpid(), 0
    while pid > 1 and seen < 64:
        if pid == me:
            return True
        try:
            pid = int(stat_fields(pid)[1])
        except (OSError, ValueError, IndexError):
            return False
        seen += 1
    return False


def user_namespace_pids():
    """Pids of this run's kennel sandbox processes: descendants of this test run, in a user
    namespace other than ours whose uid map starts at one of the bases the tests use (other
    tools' containers and other runs' sandboxes are left alone)."""
    mine = os.readlink("/proc/self/ns/user")
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{p}/ns/user") == mine or not descends_from_this_run(int(p)):
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


def start_time(pid):
    """PID's start time (field 22 of /proc/PID/stat), telling it from a later process that
    reuses the number; None when there is no such process."""
    try:
        return int(stat_fields(pid)[19])
    except (OSError, IndexError, ValueError):
        return None


def running(pid, started=None):
    """True while PID runs (and, given `started`, is still the process that started then). A
    dead one re-parented to this run (the subreaper) is reaped here; a zombie counts as gone."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        fields = stat_fields(pid)
        return fields[0] != "Z" and (started is None or int(fields[19]) == started)
    except (OSError, IndexError, ValueError):
        return False


def wait_gone(pids, timeout=10.0):
    import time
    started = {p: start_time(p) for p in pids}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not {p for p in pids if running(p, started[p])}:
            return set()
        time.sleep(0.05)
    return {p for p in pids if running(p, started[p])}


@pytest.fixture(autouse=True)
def leaves_nothing_behind():
    """After every test: no sandbox process this test started survives, and no mount of
    kennel's appears in the host's mount table (they belong in private namespaces only)."""
    before = user_namespace_pids()
    yield
    candidates = user_namespace_pids() - before
    started = {p: start_time(p) for p in candidates}
    leftover = wait_gone(candidates, timeout=10)
    for pid in leftover:  # end what this test started (the same process, checked), then fail it
        try:
            if start_time(pid) == started[pid] and descends_from_this_run(pid):
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
