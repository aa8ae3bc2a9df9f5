"""Point 1: every namespace is new; the payload sits under a minimal init; no host process
is visible; the network namespace has only loopback and reaches nothing on the host."""
import os
import socket
import threading

from conftest import kennel, probe


def test_every_namespace_differs_from_the_host():
    st = probe("status")
    kinds = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"]
    if os.path.exists("/proc/self/ns/time"):
        kinds.append("time")
    else:
        print("kernel has no time namespaces: not checked")
    for kind in kinds:
        assert st["ns"][kind] != os.readlink(f"/proc/self/ns/{kind}"), kind


def test_payload_runs_under_init_and_sees_no_host_process():
    st = probe("status")
    assert st["ppid"] == 1 and st["pid"] == 2
    assert st["pids"] == [1, 2]


def test_hostname_and_clean_environment():
    os.environ["AWS_SECRET_ACCESS_KEY"] = "leak-me"
    try:
        st = probe("status", opts=["--hostname", "nb-1", "--env", "A=1", "--pass-env", "AWS_SECRET_ACCESS_KEY",
                                   "--env", "A=2"])
        assert st["hostname"] == "nb-1"
        assert st["env"]["A"] == "2" and st["env"]["AWS_SECRET_ACCESS_KEY"] == "leak-me"
        st = probe("status")
        assert "AWS_SECRET_ACCESS_KEY" not in st["env"]
        assert set(st["env"]) <= {"PATH", "HOME", "HOSTNAME", "TERM", "LC_CTYPE"}
        assert st["env"]["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    finally:
        del os.environ["AWS_SECRET_ACCESS_KEY"]


def cpu_list(text):
    """The CPUs of a Cpus_allowed_list ("0-3,6")."""
    cpus = set()
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def test_sandbox_keeps_the_cpus_kennel_was_given():
    # kennel keeps the child that makes the network namespace off the supervisor's CPU (see
    # NetworkBuilder); none of that may reach the sandbox, whatever CPUs kennel may use.
    allowed = sorted(os.sched_getaffinity(0))
    for cpus in ({allowed[0]}, {allowed[-1]}, set(allowed)):
        r = kennel("run", "--", "/bin/grep", "Cpus_allowed_list", "/proc/self/status",
                   preexec_fn=lambda cpus=cpus: os.sched_setaffinity(0, cpus))
        assert r.returncode == 0, r.stderr
        assert cpu_list(r.stdout.split(":")[1]) == cpus, (cpus, r.stdout)


def test_network_is_loopback_only():
    st = probe("status")
    assert st["interfaces"] == ["lo"]


def test_host_loopback_and_abstract_sockets_are_unreachable():
    # The containerd CVE-2020-15257 class: a sandbox with its own network namespace must not
    # reach host abstract unix sockets nor host loopback listeners.
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    port = tcp.getsockname()[1]
    name = f"kennel-test-{os.getpid()}"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind("\0" + name)
    unix.listen(8)
    accepted = []

    def accept(s):
        s.settimeout(5)
        try:
            accepted.append(s.accept())
        except OSError:
            pass

    threads = [threading.Thread(target=accept, args=(s,)) for s in (tcp, unix)]
    for t in threads:
        t.start()
    try:
        res = probe("connect", f"127.0.0.1:{port}", f"@{name}")
    finally:
        tcp.close()
        unix.close()
        for t in threads:
            t.join()
    assert res[f"127.0.0.1:{port}"] == 111  # ECONNREFUSED: the sandbox's own empty loopback
    assert res[f"@{name}"] == 111
    assert accepted == []


def test_time_namespace_does_not_change_the_clock():
    import time
    from conftest import kennel
    out = kennel("run", "--", "date", "+%s")
    assert abs(int(out.stdout) - time.time()) < 30
