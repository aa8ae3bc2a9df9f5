"""--net bridge (issue 3): a veth pair to the host, NAT for egress, blocked destinations at
two layers. Every test builds its own topology in network namespaces it creates: a "host" in
which kennel runs, and a "cloud" holding a fake IMDS at 169.254.169.254 and an "internet"
server at a documentation address. Nothing touches the machine's own network namespace."""
import json
import os
import subprocess
import time

import pytest

from conftest import KENNEL, PROBE_DIR, PYTHON

DNS = r'''
import socket, sys
# A minimal DNS responder: every A query for *.test gets 203.0.113.10, the rest NXDOMAIN.
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(512)
    qid, rest = q[:2], q[12:]
    end = rest.index(0) + 5
    labels, i = [], 0
    while rest[i]:
        labels.append(rest[i + 1:i + 1 + rest[i]].decode()); i += rest[i] + 1
    name, question = ".".join(labels), rest[:end]
    if name.endswith(".test") and rest[end - 4:end - 2] == b"\x00\x01":
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton("203.0.113.10")
        s.sendto(qid + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, peer)
    else:
        s.sendto(qid + b"\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00" + question, peer)
'''

SERVER = r'''
import http.server, sys
log = open(sys.argv[3], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(f"{self.client_address[0]} {self.path}\n")
        body = sys.argv[4].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
'''


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


@pytest.fixture
def topology(tmp_path):
    """Namespaces host/cloud joined by a veth (192.0.2.1 <-> 192.0.2.2); the cloud serves
    IMDS on 169.254.169.254:80 and the 'internet' on 203.0.113.10:80, logging every request."""
    tag = f"{os.getpid() % 100000}"
    host, cloud = f"kt-h{tag}", f"kt-c{tag}"
    sh("ip", "netns", "add", host)
    sh("ip", "netns", "add", cloud)
    servers = []
    try:
        sh("ip", "netns", "exec", host, "ip", "link", "add", "kt-up", "type", "veth", "peer", "name", "kt-down",
           "netns", cloud)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "192.0.2.1/24", "dev", "kt-up"],
                    ["ip", "link", "set", "kt-up", "up"], ["ip", "route", "add", "default", "via", "192.0.2.2"]):
            sh("ip", "netns", "exec", host, *cmd)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "192.0.2.2/24", "dev", "kt-down"],
                    ["ip", "link", "set", "kt-down", "up"], ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"],
                    ["ip", "addr", "add", "203.0.113.10/32", "dev", "lo"],
                    ["ip", "addr", "add", "169.254.169.253/32", "dev", "lo"]):
            sh("ip", "netns", "exec", cloud, *cmd)
        script = tmp_path / "server.py"
        script.write_text(SERVER)
        logs = {}
        for name, ip, body in (("imds", "169.254.169.254", "secret-credentials"), ("internet", "203.0.113.10", "hello")):
            logs[name] = tmp_path / f"{name}.log"
            logs[name].write_text("")
            servers.append(subprocess.Popen(["ip", "netns", "exec", cloud, "python3", str(script), ip, "80",
                                             str(logs[name]), body]))
        dns = tmp_path / "dns.py"
        dns.write_text(DNS)
        servers.append(subprocess.Popen(["ip", "netns", "exec", cloud, "python3", str(dns), "169.254.169.253"]))
        for _ in range(100):  # both listening
            r = sh("ip", "netns", "exec", cloud, "sh", "-c", "ss -ltn | grep -c ':80 '", check=False)
            if r.stdout.strip() == "2":
                break
            time.sleep(0.05)
        yield {"host": host, "cloud": cloud, "logs": logs}
    finally:
        for p in servers:
            p.kill()
            p.wait()
        sh("ip", "netns", "del", host, check=False)
        sh("ip", "netns", "del", cloud, check=False)


def run_in_host(topo, *args, timeout=60):
    return subprocess.run(["ip", "netns", "exec", topo["host"], KENNEL, "run", "--net", "bridge",
                           "--bind", f"{PROBE_DIR}:/tmp/probe:ro", *args], capture_output=True, text=True, timeout=timeout)


def probe_in_host(topo, *check, opts=()):
    r = run_in_host(topo, *opts, "--", PYTHON, "/tmp/probe/probe.py", *check)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def start_bridged(topo, status, *command, opts=()):
    """Starts a bridged sandbox in the background; returns it once --status-json exists."""
    p = subprocess.Popen(["ip", "netns", "exec", topo["host"], KENNEL, "run", "--net", "bridge", *opts,
                          "--status-json", str(status), "--", *command])
    for _ in range(250):
        if status.exists():
            return p, json.loads(status.read_text())
        time.sleep(0.02)
    p.kill()
    p.wait()
    raise AssertionError("the sandbox did not start")


def host_links(topo):
    return sh("ip", "netns", "exec", topo["host"], "ip", "-br", "link").stdout


def test_egress_works_and_metadata_is_blocked(topology):
    r = run_in_host(topology, "--", PYTHON, "-c",
                    "import urllib.request; print(urllib.request.urlopen('http://203.0.113.10/x', timeout=5).read().decode())")
    assert r.returncode == 0 and r.stdout.strip() == "hello", r.stderr
    # The internet server saw the host's address (NAT), not the sandbox's.
    assert topology["logs"]["internet"].read_text().split() == ["192.0.2.1", "/x"]
    res = probe_in_host(topology, "connect", "169.254.169.254:80", "2852039166:80", "169.254.170.2:80")
    assert all(v == 13 for v in res.values()), res
    assert topology["logs"]["imds"].read_text() == ""


def test_sandbox_network_shape_and_resolver(topology):
    r = run_in_host(topology, "--dns", "203.0.113.53", "--", "sh", "-c",
                    "ip -br addr show eth0; ip route show default; cat /etc/resolv.conf; "
                    "echo x > /etc/resolv.conf 2>/dev/null || echo ro")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "10.213." in out and "default via 10.213." in out, out
    assert "nameserver 203.0.113.53" in out and out.strip().endswith("ro")


def test_raw_and_packet_sockets_are_refused_and_imds_sees_nothing(topology):
    res = probe_in_host(topology, "raw_sockets", opts=["--cap-add", "ALL", "--seccomp", "unconfined"])
    assert res == {"packet": 1, "raw": 1, "raw6": 1}, res
    r = run_in_host(topology, "--cap-add", "ALL", "--seccomp", "unconfined", "--", "sh", "-c",
                    "ip route del 169.254.169.254 2>&1; ip route add 169.254.169.254/32 via 10.213.0.1 2>&1; true")
    assert r.stdout.count("Operation not permitted") == 2, r.stdout
    assert topology["logs"]["imds"].read_text() == ""


def test_host_side_layer_drops_metadata_traffic_even_without_the_routes(topology, tmp_path):
    # Remove the sandbox's prohibit route from outside (as host root, which the sandbox is
    # not): the host-side nftables drop still keeps every packet from the fake IMDS.
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        init = st["initHostPid"]
        sh("nsenter", f"--net=/proc/{init}/ns/net", "ip", "route", "del", "169.254.169.254")
        r = sh("nsenter", f"--net=/proc/{init}/ns/net", "python3", "-c",
               "import socket; s=socket.socket(); s.settimeout(2)\n"
               "try:\n s.connect(('169.254.169.254', 80)); print('connected')\n"
               "except OSError as e: print('failed', e)", check=False)
        assert "connected" not in r.stdout, r.stdout
        assert topology["logs"]["imds"].read_text() == ""
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_no_veth_or_table_is_left_after_many_launches_and_sigkills(topology, tmp_path):
    for i in range(6):
        if i % 2:
            r = run_in_host(topology, "--", "true")
            assert r.returncode == 0, r.stderr
        else:
            p, st = start_bridged(topology, tmp_path / f"s{i}.json", "sleep", "30")
            sh("kill", "-9", str(st["supervisorPid"]))
            p.wait(timeout=20)
    # The pairs (and their addresses) go with the sandboxes' network namespaces.
    deadline = time.monotonic() + 10
    while "kn" in host_links(topology) or "10.213." in sh("ip", "netns", "exec", topology["host"], "ip", "-br", "addr").stdout:
        assert time.monotonic() < deadline, host_links(topology)
        time.sleep(0.1)
    # The shared pool table stays for the next sandbox; `kennel gc` removes it once none is left.
    assert "kennel1_" in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
    assert json.loads(r.stdout) == {"removed": ["table inet kennel1_10_213_0_0_16"]}
    assert "kennel1_" not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout


def test_gc_leaves_the_table_while_a_sandbox_uses_it(topology, tmp_path):
    p, _ = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
        assert json.loads(r.stdout) == {"removed": []}
        assert "kennel1_" in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_dns_through_the_kept_resolver_address(topology):
    # 169.254.169.253 (the VPC resolver) stays reachable while its neighbour .254 is blocked.
    r = run_in_host(topology, "--dns", "169.254.169.253", "--", PYTHON, "-c",
                    "import socket, urllib.request; print(socket.gethostbyname('metadata-free.test')); "
                    "print(urllib.request.urlopen('http://metadata-free.test/', timeout=5).read().decode())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["203.0.113.10", "hello"]


def test_published_port_in_bridge_mode(topology):
    import socket
    p = subprocess.Popen(["ip", "netns", "exec", topology["host"], KENNEL, "run", "--net", "bridge",
                          "--bind", f"{PROBE_DIR}:/tmp/probe:ro", "--publish", "18888:7000", "--",
                          PYTHON, "/tmp/probe/probe.py", "echo-server", "7000", "1"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        r = sh("ip", "netns", "exec", topology["host"], "python3", "-c",
               "import socket; c=socket.create_connection(('127.0.0.1', 18888)); c.sendall(b'ping'); "
               "c.shutdown(socket.SHUT_WR); print(c.recv(10).decode())")
        assert r.stdout.strip() == "ping"
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_the_host_itself_is_not_reachable_from_a_bridged_sandbox(topology):
    # A service on all the host's addresses (as sshd would be): the sandbox reaches neither its
    # gateway address nor the host's other addresses. (IPv6 link-local to the host is dropped by
    # the same table's IPv6 rule; no test shows that yet.)
    import socket
    listener = subprocess.Popen(["ip", "netns", "exec", topology["host"], "python3", "-c",
                                 "import socket; s=socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); "
                                 "s.bind(('::', 18022)); s.listen(); print('ready', flush=True); s.accept(); print('accepted', flush=True)"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"
        res = probe_in_host(topology, "connect", "10.213.0.1:18022", "192.0.2.1:18022")
        assert all(v not in (0, "0") for v in res.values()), res
    finally:
        listener.kill()
        out = listener.communicate()[0]
    assert "accepted" not in out


def test_a_sandboxs_own_blocks_are_dropped_on_the_host_side_too(topology, tmp_path):
    # --block-efs: an EFS mount target (TCP 2049) in the "cloud"; with the route inside removed
    # from outside, the host-side drop still keeps every connection from reaching it.
    efs = subprocess.Popen(["ip", "netns", "exec", topology["cloud"], "python3", "-c",
                            "import socket; s=socket.socket(); s.bind(('203.0.113.20', 2049)); s.listen(); "
                            "print('ready', flush=True); s.accept(); print('accepted', flush=True)"],
                           stdout=subprocess.PIPE, text=True)
    sh("ip", "netns", "exec", topology["cloud"], "ip", "addr", "add", "203.0.113.20/32", "dev", "lo", check=False)
    p = None
    try:
        assert efs.stdout.readline().strip() == "ready"
        p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30", opts=["--block-efs", "203.0.113.20"])
        tables = sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
        assert f"kennel1_sb_{st['id']}" in tables, tables
        net = f"--net=/proc/{st['initHostPid']}/ns/net"
        sh("nsenter", net, "ip", "route", "del", "203.0.113.20")
        r = sh("nsenter", net, "python3", "-c",
               "import socket; s=socket.socket(); s.settimeout(2)\n"
               "try:\n s.connect(('203.0.113.20', 2049)); print('connected')\n"
               "except OSError as e: print('failed', e)", check=False)
        assert "connected" not in r.stdout, r.stdout
    finally:
        if p:
            p.terminate()
            p.wait(timeout=20)
        efs.kill()
        out = efs.communicate()[0]
    assert "accepted" not in out
    # The sandbox's own table went with it.
    assert "kennel1_sb_" not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout


def test_gc_removes_a_sigkilled_sandboxs_own_table(topology, tmp_path):
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30", opts=["--block", "198.51.100.0/24"])
    sh("kill", "-9", str(st["supervisorPid"]))
    p.wait(timeout=20)
    deadline = time.monotonic() + 10
    while "kn-" in host_links(topology):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert f"kennel1_sb_{st['id']}" in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    removed = json.loads(sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json").stdout)["removed"]
    assert f"table inet kennel1_sb_{st['id']}" in removed
    assert "kennel1" not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout


def test_sandboxes_cannot_reach_each_other(topology):
    a = subprocess.Popen(["ip", "netns", "exec", topology["host"], KENNEL, "run", "--net", "bridge", "--", PYTHON, "-c",
                          "import socket, subprocess\n"
                          "addr = subprocess.run(['ip', '-4', '-o', 'addr', 'show', 'eth0'], capture_output=True, text=True).stdout.split()[3].split('/')[0]\n"
                          "s = socket.socket(); s.bind(('0.0.0.0', 7000)); s.listen(); s.settimeout(8)\n"
                          "print(addr, flush=True)\n"
                          "try:\n    s.accept(); print('accepted', flush=True)\nexcept OSError:\n    print('none', flush=True)"],
                         stdout=subprocess.PIPE, text=True)
    try:
        address = a.stdout.readline().strip()
        assert address.startswith("10.213."), address
        res = probe_in_host(topology, "connect", f"{address}:7000")
        assert res[f"{address}:7000"] != 0, res
        assert a.stdout.readline().strip() == "none"
    finally:
        if a.poll() is None:
            a.kill()
        a.wait()


def test_metadata_spellings_in_bridge_mode(topology):
    res = probe_in_host(topology, "connect", "0251.0376.0251.0376:80", "0xa9fea9fe:80", "[::ffff:169.254.169.254]:80",
                        "[fd00:ec2::254]:80", "169.254.170.23:80")
    assert all(v == 13 for v in res.values()), res
    assert topology["logs"]["imds"].read_text() == ""
