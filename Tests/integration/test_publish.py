"""--publish: host ports relayed to the sandbox's own loopback (issue 3's published ports,
--net none part): data both ways, clean closes, errors, and nothing left listening."""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import KENNEL, PROBE_DIR, PYTHON, kennel, stat_fields

PROBE = ["--bind", f"{PROBE_DIR}:/tmp/probe:ro"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def echo_sandbox(host_port, count, sandbox_port=7000, extra=()):
    p = subprocess.Popen([KENNEL, "run", *PROBE, "--publish", f"{host_port}:{sandbox_port}", *extra, "--",
                          PYTHON, "/tmp/probe/probe.py", "echo-server", str(sandbox_port), str(count)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert p.stdout.readline().strip() == "ready", p.stderr.read()
    return p


def roundtrip(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            data = c.recv(65536)
            if not data:
                break
            got += data
    return bytes(got)


def test_published_port_carries_data_both_ways_and_closes_cleanly():
    port = free_port()
    p = echo_sandbox(port, 3)
    try:
        # A signal handled by the relay's loop (forwarded to the payload) must not stall it.
        p.send_signal(__import__("signal").SIGWINCH)
        small = b"hello kernel\n"
        big = os.urandom(4 << 20)
        assert roundtrip(port, small) == small
        assert roundtrip(port, big) == big
        assert roundtrip(port, b"") == b""
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["echoed"] == [len(small), len(big), 0]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # The relay ends with kennel: nothing listens on the port any more.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_published_port_with_nothing_listening_inside_closes_the_connection():
    port = free_port()
    p = subprocess.Popen([KENNEL, "run", "--publish", f"{port}:7001", "--", "sleep", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        c.settimeout(5)
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass
        c.close()
        assert p.poll() is None, "kennel must survive a failed relay connection"
        p.terminate()
        assert p.wait(timeout=10) == 128 + 15
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_port_in_use_is_refused_before_anything_starts():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = kennel("run", "--publish", str(port), "--", "true")
        assert r.returncode == 125
        assert r.stderr == f"kennel: publish 127.0.0.1:{port}: EADDRINUSE (Address already in use)\n"
    finally:
        busy.close()


@pytest.mark.parametrize("bad", ["0", "70000", "1.2.3:80", "80/udp", "a:b", "1:2:3:4"])
def test_malformed_publish_is_refused(bad):
    r = kennel("run", "--publish", bad, "--", "true")
    assert r.returncode == 125 and r.stderr.startswith("kennel: --publish"), r.stderr


def test_a_client_hanging_up_mid_reply_does_not_kill_kennel():
    # The relay then writes to a socket whose peer is gone: EPIPE, never a SIGPIPE.
    port = free_port()
    p = echo_sandbox(port, 2)
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        c.sendall(os.urandom(8 << 20))
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()
        time.sleep(0.5)
        assert p.poll() is None, "kennel died"
        assert roundtrip(port, b"still here") == b"still here"
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def cpu_seconds(pid):
    """User plus system CPU time of a process."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_relay_stops_busy_polling_when_the_connection_goes_quiet():
    # While request and reply follow each other closely the relay polls without sleeping (on
    # two CPUs or more); once they stop it must go back to sleep: an idle published port costs
    # kennel no CPU. A relay that kept spinning would burn the whole second.
    port = free_port()
    p = echo_sandbox(port, 1)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(3000):
                c.sendall(b".")
                assert c.recv(1) == b"."
            before = cpu_seconds(p.pid)
            time.sleep(1.0)
            idle = cpu_seconds(p.pid) - before
            c.sendall(b"x")
            assert c.recv(1) == b"x"
            c.shutdown(socket.SHUT_WR)
            assert c.recv(1) == b""
        p.wait(timeout=30)
        assert p.returncode == 0
        assert idle < 0.2, f"kennel used {idle:.2f} s of CPU while its published port was idle"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
