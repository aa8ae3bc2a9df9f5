"""Point 6 and the exit-status contract: only fds 0-2 reach the payload, the launcher binary
cannot be written from inside, signals reach the payload, a SIGKILLed kennel takes the whole
sandbox along, and the payload cannot inject input into the caller's terminal."""
import hashlib
import json
import os
import pty
import signal
import subprocess
import time

import pytest

from conftest import KENNEL, PROBE_DIR, PYTHON, kennel, probe, user_namespace_pids, wait_gone

PROBE = ["--bind", f"{PROBE_DIR}:/tmp/probe:ro"]


def test_only_fds_0_1_2_reach_the_payload():
    # Hand kennel extra descriptors, inheritable, as a careless caller would.
    r1, w1 = os.pipe()
    extra = os.open("/etc/hostname", os.O_RDONLY)
    os.set_inheritable(r1, True)
    os.set_inheritable(extra, True)
    try:
        res = probe("fds", pass_fds=(r1, extra))
    finally:
        for fd in (r1, w1, extra):
            os.close(fd)
    assert res["fds"] == [0, 1, 2]


def test_working_directory_through_a_leaked_fd_is_refused():
    r = kennel("run", "--workdir", "/proc/self/fd/3", "--", "true")
    assert r.returncode == 125 and r.stderr.startswith("kennel: --workdir")


def test_launcher_binary_cannot_be_opened_for_writing_from_inside():
    before = hashlib.sha256(open(KENNEL, "rb").read()).hexdigest()
    r = kennel("run", *PROBE, "--", PYTHON, "/tmp/probe/probe.py", "write", "/proc/1/exe", "/proc/self/exe")
    res = json.loads(r.stdout)
    assert all(v != 0 for v in res.values()), res
    # Also with every capability the bounding set allows and setuid tools on.
    r = kennel("run", *PROBE, "--allow-setuid", "--cap-add", "ALL", "--seccomp", "unconfined", "--",
               PYTHON, "/tmp/probe/probe.py", "write", "/proc/1/exe")
    res = json.loads(r.stdout)
    assert res["/proc/1/exe"] != 0, res
    after = hashlib.sha256(open(KENNEL, "rb").read()).hexdigest()
    assert before == after


def test_init_cannot_be_ptraced_or_read():
    r = kennel("run", "--cap-add", "SYS_PTRACE", "--", "sh", "-c",
               "cat /proc/1/mem 2>&1 | head -c 0; readlink /proc/1/exe || echo denied")
    assert "denied" in r.stdout
    res = probe("syscalls", opts=["--cap-add", "SYS_PTRACE"])
    assert res["ptrace(ATTACH, 1)"] == 1


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exit_status_is_the_payloads(code):
    assert kennel("run", "--", "sh", "-c", f"exit {code}").returncode == code


def test_death_by_signal_is_128_plus_n():
    assert kennel("run", "--", "sh", "-c", "kill -KILL $$").returncode == 137
    assert kennel("run", "--", "sh", "-c", "kill -TERM $$").returncode == 143


def test_not_found_and_not_executable():
    r = kennel("run", "--", "no-such-command")
    assert r.returncode == 127 and r.stderr.count("\n") == 1 and "no-such-command" in r.stderr
    r = kennel("run", "--", "/etc/hostname")
    assert r.returncode == 126 and "/etc/hostname" in r.stderr


def test_signals_sent_to_kennel_reach_the_payload():
    names = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"]
    p = subprocess.Popen([KENNEL, "run", *PROBE, "--", PYTHON, "/tmp/probe/probe.py", "signals", str(len(names))],
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        for n in names:
            p.send_signal(getattr(signal, n))
            assert p.stdout.readline().strip() == n
        out = json.loads(p.stdout.readline())
        assert out["received"] == names
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sigkill_of_kennel_ends_the_whole_sandbox(tmp_path):
    status = tmp_path / "status.json"
    before = user_namespace_pids()
    p = subprocess.Popen([KENNEL, "run", "--status-json", str(status), "--", "sh", "-c",
                          "sleep 1000 & sleep 1000 & sleep 1000"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        st = json.loads(status.read_text())
        assert st["pid"] == 2 and st["hostPid"] > 0 and st["mapBase"] == 199001
        assert os.path.exists(f"/proc/{st['hostPid']}")
        time.sleep(0.2)  # let the background sleeps start
        sandbox = user_namespace_pids() - before
        assert len(sandbox) >= 4, sandbox  # init, sh and the sleeps
    finally:
        p.kill()
        p.wait()
    assert wait_gone(sandbox) == set(), "sandbox processes survived kennel's SIGKILL"
    from conftest import host_mounts_naming_kennel
    assert host_mounts_naming_kennel() == []
    assert os.listdir("/run/kennel/root") == []
    assert status.exists()  # kennel removes nothing the user did not ask for


def test_status_json_describes_the_running_sandbox(tmp_path):
    status = tmp_path / "s.json"
    # A relative path means relative to where kennel was started.
    r = kennel("run", "--status-json", "s.json", "--user", "1000:100", "--", "sh", "-c",
               f"sleep 0.3", cwd=tmp_path)
    assert r.returncode == 0
    st = json.loads(status.read_text())
    for key in ("id", "pid", "hostPid", "initHostPid", "mapBase", "namespaces", "capabilities", "uid"):
        assert key in st
    assert st["uid"] == 1000 and st["capabilities"] == "0x00000000a80425fb"
    assert set(st["namespaces"]) >= {"user", "mnt", "pid", "net", "uts", "ipc"}
    # What an operator asks of a sandbox: what it can never reach, and why.
    assert {"destination": "169.254.169.254/32", "reason": "imds"} in st["blocked"]
    assert {"destination": "fd00:ec2::254/128", "reason": "imds"} in st["blocked"]
    assert st["published"] == [] and "bridge" not in st
    r = kennel("run", "--status-json", "t.json", "--block-efs", "203.0.113.20", "--publish", "127.0.0.1:18931:8888",
               "--", "sleep", "0.3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    st = json.loads((tmp_path / "t.json").read_text())
    assert {"destination": "203.0.113.20/32", "reason": "efs"} in st["blocked"]
    assert st["published"] == ["127.0.0.1:18931->8888/tcp"]


def test_payload_cannot_push_input_into_the_terminal():
    master, slave = pty.openpty()
    try:
        r = subprocess.run([KENNEL, "run", *PROBE, "--", PYTHON, "/tmp/probe/probe.py", "tiocsti"],
                           stdin=slave, capture_output=True, text=True, timeout=30)
        res = json.loads(r.stdout)
        assert res["isatty"] is True
        assert res["TIOCSTI"] == 1 and res["TIOCSTI|high"] == 1
    finally:
        os.close(master)
        os.close(slave)


def test_an_image_cannot_exec_through_inherited_descriptors(tmp_path):
    # The runc CVE-2024-21626 class: an image whose command is a symlink through
    # /proc/self/fd/N would run a host binary if kennel (or its caller) left a directory fd
    # open in the sandbox before execve. Give kennel extra directory fds and try every N.
    from test_filesystem import minimal_rootfs
    root = minimal_rootfs(tmp_path)
    for n in range(3, 16):
        os.symlink(f"/proc/self/fd/{n}/../../../../../../../../usr/bin/true", root / f"esc{n}")
    extra = [os.open("/", os.O_RDONLY | os.O_DIRECTORY), os.open("/usr", os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for n in range(3, 16):
            r = subprocess.run([KENNEL, "run", "--rootfs", str(root), "--", f"/esc{n}"], pass_fds=extra,
                               capture_output=True, text=True, timeout=30)
            assert r.returncode in (126, 127), (n, r.returncode, r.stderr)
    finally:
        for fd in extra:
            os.close(fd)
