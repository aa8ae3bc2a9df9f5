"""--net bridge (issue 3): a veth pair to the host, NAT for egress (IPv4, and IPv6 when the
host routes it), blocked destinations at two layers. Every test builds its own topology in
network namespaces it creates: a "host" in which kennel runs, and a "cloud" holding a fake IMDS
at 169.254.169.254 and fd00:ec2::254, an "internet" server at documentation addresses, and a
packet capture on the cloud's side of the link. Nothing touches the machine's own network
namespace."""
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
import http.server, socket, sys
log = open(sys.argv[3], "a", buffering=1)
if ":" in sys.argv[1]:
    http.server.HTTPServer.address_family = socket.AF_INET6
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(f"{self.client_address[0]} {self.path}\n")
        body = sys.argv[4].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
'''


KEPT = r'''
import selectors, socket
# TCP listeners on port 80 of the addresses that stay reachable: the resolver and time sync
# (their real protocols are UDP; a connect is what a test can tell from a drop).
sel = selectors.DefaultSelector()
for family, addr in ((socket.AF_INET, "169.254.169.123"), (socket.AF_INET6, "fd00:ec2::253"), (socket.AF_INET6, "fd00:ec2::123")):
    s = socket.socket(family); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 80)); s.listen(8); sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept(); c.close()
'''

CAPTURE = r'''
import socket, struct, sys
# Every frame arriving at the cloud from the host: one line "SOURCE DESTINATION" (IPv4/IPv6).
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
s.bind((sys.argv[1], 0))
log = open(sys.argv[2], "a", buffering=1)
log.write("ready\n")
while True:
    frame, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    kind = struct.unpack("!H", frame[12:14])[0]
    if kind == 0x0800:
        log.write(socket.inet_ntop(socket.AF_INET, frame[26:30]) + " " + socket.inet_ntop(socket.AF_INET, frame[30:34]) + "\n")
    elif kind == 0x86DD:
        log.write(socket.inet_ntop(socket.AF_INET6, frame[22:38]) + " " + socket.inet_ntop(socket.AF_INET6, frame[38:54]) + "\n")
'''

BLOCKED = {"169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23"}
# Bridged sandboxes get IPv6 where the host forwards it per interface (Linux 6.17+), the test
# "host" namespaces not forwarding IPv6 globally. On older kernels they are IPv4 only.
IPV6 = os.path.exists("/proc/sys/net/ipv6/conf/all/force_forwarding")
needs_ipv6 = pytest.mark.skipif(not IPV6, reason="no per-interface IPv6 forwarding (force_forwarding, Linux 6.17+)")
POOL_TABLE = "kennel2_10_213_0_0_16_fd6b_656e_6e65___64"
# kennel forwards each family per interface (on the uplink, kt-up here, and the sandboxes'
# host ends) behind a guard table, unless the host forwards it globally already.
FAMILY = {
    4: {"switch": "/proc/sys/net/ipv4/conf/kt-up/forwarding", "global": "/proc/sys/net/ipv4/ip_forward",
        "guard": "kennel2_fwd4_kt_up", "report": "ipv4 forwarding on kt-up", "url": "http://203.0.113.10/", "body": "hello"},
    6: {"switch": "/proc/sys/net/ipv6/conf/kt-up/force_forwarding", "global": "/proc/sys/net/ipv6/conf/all/forwarding",
        "guard": "kennel2_fwd6_kt_up", "report": "ipv6 force_forwarding on kt-up", "url": "http://[2001:db8:ff::10]/",
        "body": "hello6"},
}
FAMILIES = [4] + ([6] if IPV6 else [])
both_families = pytest.mark.parametrize("v", [4, pytest.param(6, marks=needs_ipv6)])


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


@pytest.fixture
def topology(tmp_path):
    """Namespaces host/cloud joined by a veth (192.0.2.1 <-> 192.0.2.2, 2001:db8:1::1 <->
    2001:db8:1::2, default routes both families); the cloud serves IMDS on 169.254.169.254:80
    and [fd00:ec2::254]:80, the 'internet' on 203.0.113.10:80 and [2001:db8:ff::10]:80, logging
    every request, and records the destination of every packet it receives."""
    tag = f"{os.getpid() % 100000}"
    host, cloud = f"kt-h{tag}", f"kt-c{tag}"
    servers = []
    try:
        sh("ip", "netns", "add", host)  # inside the try: a failure after it still deletes it
        sh("ip", "netns", "add", cloud)
        # A new namespace takes its IPv4 settings from the machine's own (ip_forward = 1 on a
        # host with Docker): the "host" starts out forwarding nothing, as a plain host does.
        sh("ip", "netns", "exec", host, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward; "
           "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding")
        sh("ip", "netns", "exec", host, "ip", "link", "add", "kt-up", "type", "veth", "peer", "name", "kt-down",
           "netns", cloud)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "192.0.2.1/24", "dev", "kt-up"],
                    ["ip", "addr", "add", "2001:db8:1::1/64", "dev", "kt-up", "nodad"],
                    ["ip", "link", "set", "kt-up", "up"], ["ip", "route", "add", "default", "via", "192.0.2.2"],
                    ["ip", "-6", "route", "add", "default", "via", "2001:db8:1::2"]):
            sh("ip", "netns", "exec", host, *cmd)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "192.0.2.2/24", "dev", "kt-down"],
                    ["ip", "addr", "add", "2001:db8:1::2/64", "dev", "kt-down", "nodad"],
                    ["ip", "link", "set", "kt-down", "up"], ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"],
                    ["ip", "addr", "add", "203.0.113.10/32", "dev", "lo"],
                    ["ip", "addr", "add", "169.254.169.253/32", "dev", "lo"],
                    ["ip", "addr", "add", "169.254.169.123/32", "dev", "lo"],
                    ["ip", "addr", "add", "fd00:ec2::253/128", "dev", "lo", "nodad"],
                    ["ip", "addr", "add", "fd00:ec2::123/128", "dev", "lo", "nodad"],
                    ["ip", "addr", "add", "fd00:ec2::254/128", "dev", "lo"],
                    ["ip", "addr", "add", "2001:db8:ff::10/128", "dev", "lo"]):
            sh("ip", "netns", "exec", cloud, *cmd)
        logs = {"capture": tmp_path / "capture.log"}
        logs["capture"].write_text("")
        capture = tmp_path / "capture.py"
        capture.write_text(CAPTURE)
        servers.append(subprocess.Popen(["ip", "netns", "exec", cloud, "python3", str(capture), "kt-down",
                                         str(logs["capture"])]))
        script = tmp_path / "server.py"
        script.write_text(SERVER)
        for name, ip, body in (("imds", "169.254.169.254", "secret-credentials"), ("internet", "203.0.113.10", "hello"),
                               ("imds6", "fd00:ec2::254", "secret-credentials"), ("internet6", "2001:db8:ff::10", "hello6")):
            logs[name] = tmp_path / f"{name}.log"
            logs[name].write_text("")
            servers.append(subprocess.Popen(["ip", "netns", "exec", cloud, "python3", str(script), ip, "80",
                                             str(logs[name]), body]))
        dns = tmp_path / "dns.py"
        dns.write_text(DNS)
        servers.append(subprocess.Popen(["ip", "netns", "exec", cloud, "python3", str(dns), "169.254.169.253"]))
        kept = tmp_path / "kept.py"
        kept.write_text(KEPT)
        servers.append(subprocess.Popen(["ip", "netns", "exec", cloud, "python3", str(kept)]))
        for _ in range(100):  # both listening
            r = sh("ip", "netns", "exec", cloud, "sh", "-c", "ss -ltn | grep -c ':80 '", check=False)
            if r.stdout.strip() == "7" and logs["capture"].read_text().startswith("ready"):
                break
            time.sleep(0.05)
        else:  # an empty server log must mean "nothing arrived", never "nothing listened"
            raise AssertionError("the cloud's servers did not start")
        # Nor may a lost packet mean "the cloud was not ready": an IPv6 address added a moment
        # ago may not answer neighbour solicitations yet, and the first packets forwarded to
        # the cloud would wait on a resolution that fails. The host resolves the cloud first.
        resolve_neighbour(host, "2001:db8:1::2")
        yield {"host": host, "cloud": cloud, "logs": logs}
    finally:
        for p in servers:
            p.kill()
            p.wait()
        # What kennel set up in the "host" goes with `kennel gc` (markers under /run/kennel
        # included), before the namespace itself goes.
        cookie = netns_cookie(host)
        deadline = time.monotonic() + 10  # the last sandboxes' veths go with their namespaces
        while "kn-" in sh("ip", "netns", "exec", host, "ip", "-br", "link", check=False).stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        sh("ip", "netns", "exec", host, KENNEL, "gc", check=False)
        sh("ip", "netns", "del", host, check=False)
        sh("ip", "netns", "del", cloud, check=False)
        left = forwarding_markers(cookie)
        for f in left:
            os.unlink(os.path.join("/run/kennel", f))
        assert not left, f"markers left behind: {left}"


def resolve_neighbour(host, address):
    """Makes the "host" namespace resolve the cloud's IPv6 `address` (see the fixture)."""
    nudge = f"import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b'', ('{address}', 9))"
    for _ in range(100):
        sh("ip", "netns", "exec", host, "python3", "-c", nudge, check=False)
        if "lladdr" in sh("ip", "netns", "exec", host, "ip", "-6", "neigh", "show", address).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"the cloud does not answer IPv6 neighbour discovery for {address}")


def netns_cookie(name):
    """The network namespace's cookie (SO_NETNS_COOKIE), which names kennel's marker files."""
    return sh("ip", "netns", "exec", name, "python3", "-c",
              "import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM);"
              " print(int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 71, 8), 'little'))", check=False).stdout.strip()


def forwarding_markers(cookie, families=(4, 6)):
    """kennel's forwarding markers for the network namespace with this cookie."""
    return sorted(f for f in os.listdir("/run/kennel") for v in families if cookie and f.startswith(f"fwd{v}-c{cookie}-"))


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
        if p.poll() is not None:
            raise AssertionError(f"the sandbox did not start (exit {p.returncode})")
        time.sleep(0.02)
    p.kill()
    p.wait()
    raise AssertionError("the sandbox did not start")


def FORWARDING(topo, v=6, switch="switch"):
    """The command reading the "host" uplink's per-interface forwarding switch for IPv`v`
    (or, with switch="global", the host's global one)."""
    return ["ip", "netns", "exec", topo["host"], "cat", FAMILY[v][switch]]


def connect_from(net, *targets):
    """probe.py's connect check, run as host root in a sandbox's network namespace (`net`,
    an nsenter --net= argument), outside its seccomp policy and capabilities."""
    r = sh("nsenter", net, "python3", str(PROBE_DIR / "probe.py"), "connect", *targets)
    return json.loads(r.stdout.strip().splitlines()[-1])


def captured_pairs(topo):
    """(source, destination) of every packet the cloud received so far."""
    return {tuple(line.split()) for line in topo["logs"]["capture"].read_text().splitlines()[1:]}


def captured(topo):
    """Destinations of the packets the cloud received so far."""
    return {dst for _, dst in captured_pairs(topo)}


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
                    "ip -br addr show eth0; ip route show default; ip -6 route show default; cat /etc/resolv.conf; "
                    "echo x > /etc/resolv.conf 2>/dev/null || echo ro")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "10.213.0.2/30" in out and "default via 10.213.0.1" in out, out
    # The host routes IPv6, so the sandbox gets the /126 at the same index of the IPv6 pool.
    if IPV6:
        assert "fd6b:656e:6e65::2/126" in out and "default via fd6b:656e:6e65::1" in out, out
    assert "nameserver 203.0.113.53" in out and out.strip().endswith("ro")


def test_resolv_conf_is_readable_whatever_the_callers_umask(topology):
    # The file kennel writes for --dns is 0644 even when kennel runs under umask 077, so a
    # non-root payload can resolve names.
    r = subprocess.run(["sh", "-c", 'umask 077; exec ip netns exec "$0" "$1" run --net bridge --dns 203.0.113.53 '
                        '--user 65534:65534 -- sh -c "stat -c %a /etc/resolv.conf; cat /etc/resolv.conf"',
                        topology["host"], KENNEL], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["644", "nameserver 203.0.113.53"], r.stdout


def test_the_pair_is_a_point_to_point_link(topology, tmp_path):
    # Both ends: one hardware address (02:6b, then the host end's IPv4 address), NOARP (no ARP
    # or neighbour discovery ever runs on the link), one queue each way.
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        mac = "02:6b:" + ":".join(f"{int(x):02x}" for x in st["bridge"]["gateway"].split("."))
        inside = sh("nsenter", f"--net=/proc/{st['hostPid']}/ns/net", "ip", "-d", "-o", "link", "show", "eth0").stdout
        host_end = sh("ip", "netns", "exec", topology["host"], "ip", "-d", "-o", "link", "show", f"kn-{st['id']}").stdout
        for out in (inside, host_end):
            assert "NOARP" in out.split(">")[0] and f"link/ether {mac} " in out, out
            assert "numtxqueues 1 numrxqueues 1" in out, out
    finally:
        p.kill()
        p.wait()


def test_raw_and_packet_sockets_are_refused_and_imds_sees_nothing(topology):
    res = probe_in_host(topology, "raw_sockets", opts=["--cap-add", "ALL", "--seccomp", "unconfined"])
    assert res == {"packet": 1, "raw": 1, "raw6": 1}, res
    r = run_in_host(topology, "--cap-add", "ALL", "--seccomp", "unconfined", "--", "sh", "-c",
                    "ip route del 169.254.169.254 2>&1; ip route add 169.254.169.254/32 via 10.213.0.1 2>&1; "
                    "ip -6 route del fd00:ec2::254 2>&1; ip rule add from all lookup 100 2>&1; "
                    "nft add table inet evil 2>&1; true")
    # Routes of both families, policy rules and nftables: all refused by the kernel.
    assert r.stdout.count("Operation not permitted") == 5, r.stdout
    assert topology["logs"]["imds"].read_text() == ""


def test_host_side_layer_drops_metadata_traffic_even_without_the_routes(topology, tmp_path):
    # Remove the sandbox's prohibit route from outside (as host root, which the sandbox is
    # not): the host-side nftables drop still keeps every packet from the fake IMDS.
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        init = st["initHostPid"]
        sh("nsenter", f"--net=/proc/{init}/ns/net", "ip", "route", "del", "169.254.169.254")
        res = connect_from(f"--net=/proc/{init}/ns/net", "169.254.169.254:80")
        assert res == {"169.254.169.254:80": -1}, res  # dropped on the host side: a timeout
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
    assert "kennel2_" in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    # The host forwarded only because kennel set each family's per-interface switch on its
    # uplink (behind a guard table), never the global one; gc switches them off again, then
    # removes the guards.
    expected = [f"table inet {POOL_TABLE}"]
    cookie = netns_cookie(topology["host"])
    for v in FAMILIES:
        assert sh(*FORWARDING(topology, v)).stdout.strip() == "1"
        assert sh(*FORWARDING(topology, v, "global")).stdout.strip() == "0"
        expected += [f"table inet {FAMILY[v]['guard']}", FAMILY[v]["report"]]
    # The markers that say so are named after the namespace's cookie, never reused.
    assert forwarding_markers(cookie) == [f"fwd{v}-c{cookie}-kt_up" for v in FAMILIES]
    r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
    assert sorted(json.loads(r.stdout)["removed"]) == sorted(expected)
    assert "kennel2_" not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    for v in FAMILIES:
        assert sh(*FORWARDING(topology, v)).stdout.strip() == "0"
    assert not forwarding_markers(cookie)


def test_gc_leaves_the_table_while_a_sandbox_uses_it(topology, tmp_path):
    p, _ = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
        assert json.loads(r.stdout) == {"removed": []}
        assert "kennel2_" in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
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
        # 4 MiB both ways, then end of file on both sides: all of it back, and a clean close.
        r = sh("ip", "netns", "exec", topology["host"], "python3", "-c",
               "import hashlib, os, socket, threading\n"
               "data = os.urandom(4 << 20)\n"
               "c = socket.create_connection(('127.0.0.1', 18888))\n"
               "def send():\n    c.sendall(data); c.shutdown(socket.SHUT_WR)\n"
               "t = threading.Thread(target=send); t.start()\n"
               "got = bytearray()\n"
               "while (d := c.recv(1 << 16)):\n    got += d\n"
               "t.join()\n"
               "print(len(got), hashlib.sha256(got).digest() == hashlib.sha256(data).digest())")
        assert r.stdout.split() == [str(4 << 20), "True"], r.stdout + r.stderr
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_the_host_itself_is_not_reachable_from_a_bridged_sandbox(topology, tmp_path):
    # A service on all the host's addresses (as sshd would be): the sandbox reaches neither its
    # gateway address nor the host's other addresses, IPv4 or IPv6, nor a link-local one.
    import socket
    listener = subprocess.Popen(["ip", "netns", "exec", topology["host"], "python3", "-c",
                                 "import socket; s=socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); "
                                 "s.bind(('::', 18022)); s.listen(); print('ready', flush=True); s.accept(); print('accepted', flush=True)"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"
        res = probe_in_host(topology, "connect", "10.213.0.1:18022", "192.0.2.1:18022", "[fd6b:656e:6e65::1]:18022",
                            "[2001:db8:1::1]:18022")
        # Dropped by the host's input chain: each times out (without IPv6, there is no route).
        assert res["10.213.0.1:18022"] == -1 and res["192.0.2.1:18022"] == -1, res
        v6 = -1 if IPV6 else 101  # ENETUNREACH
        assert res["[fd6b:656e:6e65::1]:18022"] == v6 and res["[2001:db8:1::1]:18022"] == v6, res
        # The pair is a NOARP link: no link-local address on either end. A link-local address
        # of the host's (its uplink's) is handed to a waiting sandbox, which tries it over eth0.
        exchange = tmp_path / "x"
        exchange.mkdir()
        exchange.chmod(0o777)  # container root is host uid 199001
        script = ("import json, os, socket, subprocess, time\n"
                  "own = subprocess.run(['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'],\n"
                  "                     capture_output=True, text=True).stdout\n"
                  "while not os.path.exists('/tmp/x/ll'): time.sleep(0.05)\n"
                  "s = socket.socket(socket.AF_INET6); s.settimeout(3)\n"
                  "try:\n    s.connect((open('/tmp/x/ll').read().strip(), 18022, 0, socket.if_nametoindex('eth0'))); r = 0\n"
                  "except OSError as e:\n    r = e.errno if e.errno is not None else -1\n"
                  "open('/tmp/x/result.new', 'w').write(json.dumps({'own': own, 'connect': r}))\n"
                  "os.rename('/tmp/x/result.new', '/tmp/x/result')\n"
                  "while not os.path.exists('/tmp/x/done'): time.sleep(0.05)\n")
        p, st = start_bridged(topology, tmp_path / "s.json", PYTHON, "-c", script, opts=["--bind", f"{exchange}:/tmp/x"])
        try:
            host_end = sh("ip", "netns", "exec", topology["host"], "ip", "-6", "-o", "addr", "show", "dev", f"kn-{st['id']}",
                          "scope", "link").stdout
            assert host_end.strip() == "", host_end
            out = sh("ip", "netns", "exec", topology["host"], "ip", "-6", "-o", "addr", "show", "dev", "kt-up",
                     "scope", "link").stdout
            link_local = out.split()[3].split("/")[0]
            assert link_local.startswith("fe80::"), out
            (exchange / "ll.new").write_text(link_local)
            (exchange / "ll.new").rename(exchange / "ll")
            for _ in range(300):
                if (exchange / "result").exists():
                    break
                time.sleep(0.02)
            result = json.loads((exchange / "result").read_text())
            # From inside: no link-local route on eth0, so nothing leaves (ENETUNREACH).
            assert result["own"].strip() == "" and result["connect"] == 101, result
            # The second layer: host root in the sandbox's network namespace gives it the
            # route it lacks; the host still delivers nothing (the listener must not accept).
            net = f"--net=/proc/{st['hostPid']}/ns/net"
            sh("nsenter", net, "ip", "-6", "route", "add", "fe80::/64", "dev", "eth0")
            forced = connect_from(net, f"[{link_local}%eth0]:18022")
            assert forced[f"[{link_local}%eth0]:18022"] != 0, forced
            (exchange / "done").touch()
            assert p.wait(timeout=30) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
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
        assert f"kennel2_sb_{st['id']}" in tables, tables
        net = f"--net=/proc/{st['initHostPid']}/ns/net"
        sh("nsenter", net, "ip", "route", "del", "203.0.113.20")
        res = connect_from(net, "203.0.113.20:2049")
        assert res == {"203.0.113.20:2049": -1}, res  # dropped on the host side: a timeout
    finally:
        if p:
            p.terminate()
            p.wait(timeout=20)
        efs.kill()
        out = efs.communicate()[0]
    assert "accepted" not in out
    # The sandbox's own table went with it.
    assert "kennel2_sb_" not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout


def test_gc_removes_a_sigkilled_sandboxs_own_table(topology, tmp_path):
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30", opts=["--block", "198.51.100.0/24"])
    sh("kill", "-9", str(st["supervisorPid"]))
    p.wait(timeout=20)
    deadline = time.monotonic() + 10
    while "kn-" in host_links(topology):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert f"kennel2_sb_{st['id']}" in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    removed = json.loads(sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json").stdout)["removed"]
    assert f"table inet kennel2_sb_{st['id']}" in removed
    assert "kennel2" not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout


def test_a_bridged_launch_sigkilled_at_any_point_leaves_nothing(topology):
    # SIGKILL at staggered moments of the set-up: holding the allocation lock, with the pair
    # half configured, while the sandbox's own host-side table is made, or once it runs. The
    # next launch must still get an address, and after `kennel gc` nothing of them is left.
    host = topology["host"]
    for i in range(16):
        p = subprocess.Popen(["ip", "netns", "exec", host, KENNEL, "run", "--net", "bridge",
                              "--block", "198.51.100.7/32", "--", "sleep", "30"])
        time.sleep(i * 0.002)
        p.kill()  # `ip netns exec` execs kennel: this is kennel's pid
        p.wait(timeout=20)
    r = run_in_host(topology, "--", "true")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while "kn-" in host_links(topology) or "10.213." in sh("ip", "netns", "exec", host, "ip", "-br", "addr").stdout:
        assert time.monotonic() < deadline, host_links(topology)
        time.sleep(0.1)
    sh("ip", "netns", "exec", host, KENNEL, "gc")
    assert "kennel2" not in sh("ip", "netns", "exec", host, "nft", "list", "tables").stdout


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
        assert res[f"{address}:7000"] == -1, res  # dropped between the veths: a timeout
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


@needs_ipv6
def test_ipv6_egress_is_natted_and_metadata_is_blocked(topology):
    r = run_in_host(topology, "--", PYTHON, "-c",
                    "import urllib.request; print(urllib.request.urlopen('http://[2001:db8:ff::10]/y', timeout=5).read().decode())")
    assert r.returncode == 0 and r.stdout.strip() == "hello6", r.stderr
    # The internet saw the host's IPv6 address (NAT), not the sandbox's ULA.
    assert topology["logs"]["internet6"].read_text().split() == ["2001:db8:1::1", "/y"]
    res = probe_in_host(topology, "connect", "[fd00:ec2::254]:80", "[fd00:ec2::23]:80")
    assert all(v == 13 for v in res.values()), res
    assert topology["logs"]["imds6"].read_text() == ""


def test_ipv4_only_with_subnet6_none_or_without_a_host_ipv6_route(topology):
    # No IPv6 address at all on the sandbox's end, not even a link-local one (the kernel is
    # told to generate none, which spares the launch duplicate address detection and
    # multicast reports on a link that carries no IPv6).
    global_v6 = ["--", "sh", "-c", "ip -6 -o addr show dev eth0; ip -6 -o addr show scope global; ip -6 route show default"]
    r = run_in_host(topology, "--subnet6", "none", *global_v6)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr
    sh("ip", "netns", "exec", topology["host"], "ip", "-6", "route", "del", "default")
    r = run_in_host(topology, *global_v6)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr
    # Without an IPv6 route kennel changes nothing about the host's IPv6 forwarding.
    assert sh("ip", "netns", "exec", topology["host"], "cat",
              "/proc/sys/net/ipv6/conf/kt-up/force_forwarding").stdout.strip() == "0"


@needs_ipv6
def test_the_ipv6_uplink_is_found_behind_a_more_specific_route_too(topology):
    # kennel asks the kernel which route 2000:: takes; when that is not the default route
    # itself (here 2000::/3 via the same gateway), it reads the whole route table instead.
    host = topology["host"]
    sh("ip", "netns", "exec", host, "ip", "-6", "route", "add", "2000::/3", "via", "2001:db8:1::2")
    r = run_in_host(topology, "--", "sh", "-c", "ip -6 -o addr show scope global; ip -6 route show default")
    assert r.returncode == 0, r.stderr
    assert "fd6b:656e:6e65::" in r.stdout and "default via fd6b:656e:6e65::" in r.stdout, r.stdout


ATTEMPT = r'''
import socket, urllib.request
for family, addr in ((socket.AF_INET, "169.254.169.254"), (socket.AF_INET, "169.254.170.2"),
                     (socket.AF_INET, "169.254.170.23"), (socket.AF_INET6, "fd00:ec2::254"),
                     (socket.AF_INET6, "fd00:ec2::23")):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(family, kind)
        s.settimeout(1)
        try:
            s.connect((addr, 80))
            s.send(b"GET / HTTP/1.0\r\n\r\n")
        except OSError:
            pass
for args in ((17, 3, 0), (2, 3, 255), (10, 3, 255)):  # packet, raw IPv4, raw IPv6
    try:
        socket.socket(*args)
        print("raw-socket-made")
    except OSError:
        pass
for url in ("http://203.0.113.10/z", "http://[2001:db8:ff::10]/z"):
    print(urllib.request.urlopen(url, timeout=5).read().decode())
'''


def test_a_packet_capture_in_the_cloud_sees_nothing_for_the_blocked_destinations(topology, tmp_path):
    # Everything a sandbox with every capability and no seccomp filter can try: TCP and UDP to
    # each blocked address in both families, raw and packet sockets. Then, from outside, the
    # in-sandbox routes deleted and the same again (the host-side layer alone; as host root,
    # so raw sockets work there). The capture on the cloud's side of the link must record the
    # allowed traffic and nothing for the blocked destinations.
    hello = ["hello", "hello6"] if IPV6 else ["hello"]
    attempt = ATTEMPT if IPV6 else ATTEMPT.replace(', "http://[2001:db8:ff::10]/z"', "")
    r = run_in_host(topology, "--cap-add", "ALL", "--seccomp", "unconfined", "--", PYTHON, "-c", attempt)
    assert r.returncode == 0 and r.stdout.split() == hello, r.stdout + r.stderr
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        net = f"--net=/proc/{st['initHostPid']}/ns/net"
        for route in ("169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23"):
            sh("nsenter", net, "ip", "route", "del", route)
        r = sh("nsenter", net, "python3", "-c", attempt, check=False)
        assert r.stdout.split()[-len(hello):] == hello, r.stdout + r.stderr
    finally:
        p.terminate()
        p.wait(timeout=20)
    seen = captured(topology)
    assert {"203.0.113.10", "2001:db8:ff::10"} & seen == ({"203.0.113.10", "2001:db8:ff::10"} if IPV6 else {"203.0.113.10"}), seen
    assert not seen & BLOCKED, seen & BLOCKED
    assert topology["logs"]["imds"].read_text() == "" and topology["logs"]["imds6"].read_text() == ""


def test_pools_overlapping_host_addresses_are_refused(topology):
    for option, pool in (("--subnet", "192.0.2.0/24"), ("--subnet6", "2001:db8:1::/64")):
        r = run_in_host(topology, option, pool, "--", "true")
        assert r.returncode == 125 and "EADDRINUSE" in r.stderr and option in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "kn-" not in host_links(topology)


SPOOF = r'''
import socket, struct, sys
# As host root inside the sandbox's network namespace (what container root cannot do): UDP
# packets with a header of our own, to the cloud, from SOURCE. IPPROTO_RAW: the header is ours.
def checksum(data):
    data += b"\0" * (len(data) % 2)
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
for src, dst in (a.split(">") for a in sys.argv[1:]):
    payload = b"spoof"
    if ":" in dst:
        udp = struct.pack("!HHHH", 40000, 9999, 8 + len(payload), 0) + payload
        pseudo = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + struct.pack("!I3xB", len(udp), 17)
        udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp)) + udp[8:]
        ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        s.sendto(ip + udp, (dst, 0))
    else:
        udp = struct.pack("!HHHH", 40000, 9999, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        s.sendto(ip + udp, (dst, 0))
print("sent")
'''


def test_packets_with_a_forged_source_never_leave_the_host(topology, tmp_path):
    # The host-side reverse-path check: a packet whose source does not route back through the
    # veth it came from (another sandbox, the outside) is dropped before routing. Raw packets
    # are sent from inside the sandbox's namespace as host root; the control packets, with the
    # sandbox's own source, do arrive (NATed), so the capture would see forged ones too.
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        net = f"--net=/proc/{st['initHostPid']}/ns/net"
        packets = ["10.213.0.2>203.0.113.12", "198.51.100.99>203.0.113.11", "10.213.0.6>203.0.113.13"]
        if IPV6:
            packets += ["fd6b:656e:6e65::2>2001:db8:ff::12", "2001:db8:dead::1>2001:db8:ff::11",
                        "fd6b:656e:6e65::6>2001:db8:ff::13"]
        r = sh("nsenter", net, "python3", "-c", SPOOF, *packets, check=False)
        assert r.stdout.strip() == "sent", r.stderr
        time.sleep(0.5)
    finally:
        p.terminate()
        p.wait(timeout=20)
    seen = captured(topology)
    assert "203.0.113.12" in seen, seen  # the control packet
    assert not {"203.0.113.11", "203.0.113.13"} & seen, seen
    if IPV6:
        assert "2001:db8:ff::12" in seen, seen
        assert not {"2001:db8:ff::11", "2001:db8:ff::13"} & seen, seen


@needs_ipv6
def test_sandboxes_of_two_ipv4_pools_sharing_the_ipv6_pool_get_different_addresses(topology, tmp_path):
    a, sa = start_bridged(topology, tmp_path / "a.json", "sleep", "30")
    started = [a]
    try:
        b, sb = start_bridged(topology, tmp_path / "b.json", "sleep", "30", opts=["--subnet", "10.214.0.0/16"])
        started.append(b)
        addresses = [sh("nsenter", f"--net=/proc/{s['initHostPid']}/ns/net", "ip", "-6", "-o", "addr", "show", "dev",
                        "eth0", "scope", "global").stdout.split()[3] for s in (sa, sb)]
        assert addresses[0] != addresses[1], addresses
        assert all(x.startswith("fd6b:656e:6e65::") and x.endswith("/126") for x in addresses), addresses
    finally:
        for p in started:
            p.terminate()
            p.wait(timeout=20)


def test_the_uplink_guards_come_back_after_the_ruleset_is_flushed(topology, tmp_path):
    # `nft flush ruleset` removes kennel's tables while the uplink still forwards for it: the
    # next bridged sandbox puts the guards back, and gc still switches forwarding off.
    r = run_in_host(topology, "--", "true")
    assert r.returncode == 0, r.stderr
    tables = ["ip", "netns", "exec", topology["host"], "nft", "list", "tables"]
    guards = [FAMILY[v]["guard"] for v in FAMILIES]
    assert all(g in sh(*tables).stdout for g in guards)
    sh("ip", "netns", "exec", topology["host"], "nft", "flush", "ruleset")
    assert "kennel2" not in sh(*tables).stdout
    assert all(sh(*FORWARDING(topology, v)).stdout.strip() == "1" for v in FAMILIES)
    # gc with no sandbox: the markers say the forwarding is kennel's, the guards being gone.
    wait_for_no_sandbox_links(topology)
    r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
    assert sorted(json.loads(r.stdout)["removed"]) == sorted(FAMILY[v]["report"] for v in FAMILIES)
    assert all(sh(*FORWARDING(topology, v)).stdout.strip() == "0" for v in FAMILIES)
    r = run_in_host(topology, "--", "true")
    assert r.returncode == 0, r.stderr
    sh("ip", "netns", "exec", topology["host"], "nft", "flush", "ruleset")
    p, _ = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        assert all(g in sh(*tables).stdout for g in guards), "the guards were not put back"
        # Flushed again while that sandbox runs: gc puts the guards back (forwarding is in use).
        sh("ip", "netns", "exec", topology["host"], "nft", "flush", "ruleset")
        r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
        assert sorted(json.loads(r.stdout).get("restored", [])) == sorted(f"table inet {g}" for g in guards), r.stdout
        assert all(g in sh(*tables).stdout for g in guards)
        assert all(sh(*FORWARDING(topology, v)).stdout.strip() == "1" for v in FAMILIES)
    finally:
        p.terminate()
        p.wait(timeout=20)


@both_families
def test_a_forwarding_setting_kennel_did_not_make_is_left_alone(topology, v):
    sh("ip", "netns", "exec", topology["host"], "sh", "-c", f"echo 1 > {FAMILY[v]['switch']}")
    r = run_in_host(topology, "--", "true")
    assert r.returncode == 0, r.stderr
    assert FAMILY[v]["guard"] not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
    assert FAMILY[v]["report"] not in json.loads(r.stdout)["removed"]
    assert sh(*FORWARDING(topology, v)).stdout.strip() == "1"


def add_other_network(topo):
    """A second network on the "host" (198.51.100.0/24 and 2001:db8:77::/64, on a veth of its
    own, nothing behind it) that the cloud routes via the host: transit the host must not
    carry."""
    host, cloud = topo["host"], topo["cloud"]
    sh("ip", "netns", "exec", host, "ip", "link", "add", "kt-other", "type", "veth", "peer", "name", "kt-otherp")
    sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-otherp", "up")
    sh("ip", "netns", "exec", host, "ip", "addr", "add", "198.51.100.1/24", "dev", "kt-other")
    sh("ip", "netns", "exec", host, "ip", "addr", "add", "2001:db8:77::1/64", "dev", "kt-other", "nodad")
    sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-other", "up")
    sh("ip", "netns", "exec", cloud, "ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.1")
    sh("ip", "netns", "exec", cloud, "ip", "-6", "route", "add", "2001:db8:77::/64", "via", "2001:db8:1::1")


OTHER = {4: ("AF_INET", "198.51.100.5"), 6: ("AF_INET6", "2001:db8:77::5")}


def forwarded(topo, v):
    """The "host"'s count of forwarded IPv`v` datagrams."""
    if v == 6:
        for line in sh("ip", "netns", "exec", topo["host"], "cat", "/proc/net/snmp6").stdout.splitlines():
            if line.startswith("Ip6OutForwDatagrams"):
                return int(line.split()[1])
    else:
        ip = [l.split() for l in sh("ip", "netns", "exec", topo["host"], "cat", "/proc/net/snmp").stdout.splitlines()
              if l.startswith("Ip:")]
        return int(ip[1][ip[0].index("ForwDatagrams")])
    raise AssertionError("no forwarding counter")


@both_families
def test_the_uplink_forwards_only_into_sandboxes(topology, tmp_path, v):
    # The "host" has a second network on a veth of its own; the cloud routes it via the host.
    # While a sandbox runs, the uplink forwards: the guard must keep the host from forwarding
    # the cloud's packets into that other network.
    add_other_network(topology)
    family, target = OTHER[v]
    assert_not_forwarded(topology, tmp_path, v, family, target, "from its uplink into another network")


def assert_not_forwarded(topo, tmp_path, v, family, target, what):
    """While a bridged sandbox runs (its uplink forwarding), the cloud sends the host 20 UDP
    packets for `target`: the host's count of forwarded IPv`v` datagrams must not move."""
    p, _ = start_bridged(topo, tmp_path / "s.json", "sleep", "30")
    try:
        assert sh(*FORWARDING(topo, v)).stdout.strip() == "1"
        before = forwarded(topo, v)
        sh("ip", "netns", "exec", topo["cloud"], "python3", "-c",
           f"import socket\ns = socket.socket(socket.{family}, socket.SOCK_DGRAM)\n"
           f"for _ in range(20): s.sendto(b'x', ('{target}', 9))")
        time.sleep(0.3)
        assert forwarded(topo, v) == before, f"the host forwarded IPv{v} {what}"
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_the_resolver_and_time_sync_addresses_stay_reachable(topology):
    # Next to the blocked metadata addresses: 169.254.169.253 (DNS, tested above with a
    # resolver), 169.254.169.123 and, over IPv6, fd00:ec2::253 and fd00:ec2::123.
    targets = ["169.254.169.123:80"] + (["[fd00:ec2::253]:80", "[fd00:ec2::123]:80"] if IPV6 else [])
    res = probe_in_host(topology, "connect", *targets)
    assert all(v == 0 for v in res.values()), res
    res = probe_in_host(topology, "connect", "[fd00:ec2::254]:80", "169.254.169.254:80")
    assert all(v == 13 for v in res.values()), res


def test_status_json_names_the_bridge(topology, tmp_path):
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        b = st["bridge"]
        assert b["hostInterface"] == f"kn-{st['id']}" and b["address"] == "10.213.0.2/30" and b["gateway"] == "10.213.0.1"
        inside = sh("nsenter", f"--net=/proc/{st['initHostPid']}/ns/net", "ip", "-o", "addr", "show", "dev", "eth0").stdout
        assert b["address"] in inside, inside
        if IPV6:
            assert b["address6"] == "fd6b:656e:6e65::2/126" and b["gateway6"] == "fd6b:656e:6e65::1"
            assert b["address6"] in inside, inside
        else:
            assert "address6" not in b
    finally:
        p.terminate()
        p.wait(timeout=20)


@both_families
def test_a_host_that_already_forwards_is_used_as_it_is(topology, v):
    # ip_forward or all.forwarding = 1 is the operator's choice (or Docker's): kennel adds no
    # guard for that family and sets nothing.
    sh("ip", "netns", "exec", topology["host"], "sh", "-c", f"echo 1 > {FAMILY[v]['global']}")
    r = run_in_host(topology, "--", PYTHON, "-c",
                    f"import urllib.request; print(urllib.request.urlopen('{FAMILY[v]['url']}g', timeout=5).read().decode())")
    assert r.returncode == 0 and r.stdout.strip() == FAMILY[v]["body"], r.stdout + r.stderr
    assert FAMILY[v]["guard"] not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    assert not forwarding_markers(netns_cookie(topology["host"]), families=(v,))


def test_the_hosts_resolver_file_is_used_as_it_is_when_it_needs_no_change(topology):
    # This host's /etc/resolv.conf is a plain file naming a reachable server: the sandbox sees
    # it through the read-only root, without a file of its own mounted over it.
    host_file = open("/etc/resolv.conf").read()
    if os.path.islink("/etc/resolv.conf") or any(
            l.split()[1].startswith("127.") or l.split()[1] == "::1"
            for l in host_file.splitlines() if l.startswith("nameserver") and len(l.split()) > 1):
        pytest.skip("this host's /etc/resolv.conf is a link or names a loopback resolver")
    r = run_in_host(topology, "--", "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    content, mounts = r.stdout.split("---\n", 1)
    filtered = [l for l in host_file.splitlines() if l.split()[:1] and l.split()[0] in ("nameserver", "search", "options", "domain")]
    if filtered == [l for l in host_file.splitlines()]:
        assert content == host_file and " /etc/resolv.conf " not in mounts, mounts
    else:
        assert content.splitlines() == filtered and " /etc/resolv.conf " in mounts


@both_families
def test_kennels_forwarding_goes_once_the_host_forwards_itself(topology, v):
    # The operator switches global forwarding on after kennel set its own: the guard would
    # cut their forwarding, so the next launch takes kennel's guard and marker away, and its
    # own setting too where that is a switch of its own (IPv6's force_forwarding; for IPv4,
    # ip_forward has set every interface's switch, which is the operator's now).
    r = run_in_host(topology, "--", "true")
    assert r.returncode == 0, r.stderr
    tables = ["ip", "netns", "exec", topology["host"], "nft", "list", "tables"]
    assert FAMILY[v]["guard"] in sh(*tables).stdout
    sh("ip", "netns", "exec", topology["host"], "sh", "-c", f"echo 1 > {FAMILY[v]['global']}")
    r = run_in_host(topology, "--", PYTHON, "-c",
                    f"import urllib.request; print(urllib.request.urlopen('{FAMILY[v]['url']}o', timeout=5).read().decode())")
    assert r.returncode == 0 and r.stdout.strip() == FAMILY[v]["body"], r.stdout + r.stderr
    assert FAMILY[v]["guard"] not in sh(*tables).stdout
    assert sh(*FORWARDING(topology, v)).stdout.strip() == ("1" if v == 4 else "0")
    assert not forwarding_markers(netns_cookie(topology["host"]), families=(v,))
    r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
    assert FAMILY[v]["report"] not in json.loads(r.stdout)["removed"]
    assert sh(*FORWARDING(topology, v)).stdout.strip() == ("1" if v == 4 else "0")


@both_families
def test_gc_drops_kennels_guard_once_the_host_forwards_itself_while_sandboxes_run(topology, tmp_path, v):
    # Docker started while bridged sandboxes run switches global forwarding on; kennel's guard
    # would drop its containers' traffic. gc does not wait for the sandboxes to end.
    p, _ = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        sh("ip", "netns", "exec", topology["host"], "sh", "-c", f"echo 1 > {FAMILY[v]['global']}")
        r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
        removed = json.loads(r.stdout)["removed"]
        assert f"table inet {FAMILY[v]['guard']}" in removed and POOL_TABLE not in str(removed), removed
        assert FAMILY[v]["guard"] not in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
        assert not forwarding_markers(netns_cookie(topology["host"]), families=(v,))
    finally:
        p.terminate()
        p.wait(timeout=20)


@both_families
def test_the_host_answers_no_transit_as_a_router_would(topology, tmp_path, v):
    # A packet from the cloud with a hop limit of 1, routed via the host to a network that is
    # not a sandbox: a router would answer "time exceeded" before any forward rule could act.
    # The guard drops it at prerouting, so the cloud hears nothing back.
    cloud = topology["cloud"]
    add_other_network(topology)
    family, target = OTHER[v]
    icmp, hops, exceeded = (("IPPROTO_ICMP", "IPPROTO_IP, socket.IP_TTL", 11) if v == 4 else
                            ("IPPROTO_ICMPV6", "IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS", 3))
    p, _ = start_bridged(topology, tmp_path / "s.json", "sleep", "30")
    try:
        r = sh("ip", "netns", "exec", cloud, "python3", "-c",
               "import socket\n"
               f"icmp = socket.socket(socket.{family}, socket.SOCK_RAW, socket.{icmp}); icmp.settimeout(1)\n"
               f"s = socket.socket(socket.{family}, socket.SOCK_DGRAM)\n"
               f"s.setsockopt(socket.{hops}, 1)\n"
               f"for _ in range(5): s.sendto(b'x', ('{target}', 9))\n"
               "types = []\n"
               "try:\n"
               "    while True:\n"
               "        data, addr = icmp.recvfrom(2048)\n"
               # A raw IPv4 socket receives the IP header too.
               f"        types.append(data[(data[0] & 15) * 4] if {v} == 4 else data[0])\n"
               "except socket.timeout:\n"
               "    pass\n"
               "print(sorted(set(types)))")
        assert exceeded not in json.loads(r.stdout), f"the host answered as a router: ICMP types {r.stdout}"
    finally:
        p.terminate()
        p.wait(timeout=20)


def add_second_uplink(topo, table="main"):
    """A second link between the "host" and the cloud (198.51.100.1/30 <-> .2, 2001:db8:2::1/64
    <-> ::2) by which the host routes the 'internet' servers, its default routes staying on
    kt-up: replies to the sandboxes' traffic arrive on kt-up2. With a `table` other than main,
    every route by kt-up2 is in that table of policy routing (as a VPN's are), with rules
    sending traffic to the link's network and the servers there. With "nexthop", the routes by
    kt-up2 go through nexthop objects (a group for the IPv4 server) and the kernel is told not
    to repeat their interfaces in the routes (nexthop_compat_mode 0), as routing daemons do."""
    host, cloud = topo["host"], topo["cloud"]
    policy = table not in ("main", "nexthop")
    sh("ip", "netns", "exec", host, "ip", "link", "add", "kt-up2", "type", "veth", "peer", "name", "kt-down2", "netns", cloud)
    for ns, dev, a4, a6 in ((host, "kt-up2", "198.51.100.1/30", "2001:db8:2::1/64"), (cloud, "kt-down2", "198.51.100.2/30", "2001:db8:2::2/64")):
        extra = ["noprefixroute"] if table != "main" and ns == host else []
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", a4, "dev", dev, *extra)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", a6, "dev", dev, "nodad", *extra)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
    if table == "nexthop":
        sh("ip", "netns", "exec", host, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/nexthop_compat_mode")
        for v, base, net, server, gateway in (("-4", 10, "198.51.100.0/30", "203.0.113.10/32", "198.51.100.2"),
                                              ("-6", 20, "2001:db8:2::/64", "2001:db8:ff::10/128", "2001:db8:2::2")):
            ns = ["ip", "netns", "exec", host, "ip", v]
            sh(*ns, "nexthop", "add", "id", str(base + 1), "dev", "kt-up2")
            sh(*ns, "route", "add", net, "nhid", str(base + 1))
            sh(*ns, "nexthop", "add", "id", str(base + 2), "via", gateway, "dev", "kt-up2", "onlink")
            if v == "-4":
                sh(*ns[:-1], "nexthop", "add", "id", str(base + 3), "group", str(base + 2))
            sh(*ns, "route", "add", server, "nhid", str(base + (3 if v == "-4" else 2)))
        resolve_neighbour(host, "2001:db8:2::2")
        return
    for v, net, server, gateway in (("-4", "198.51.100.0/30", "203.0.113.10/32", "198.51.100.2"),
                                    ("-6", "2001:db8:2::/64", "2001:db8:ff::10/128", "2001:db8:2::2")):
        if policy:
            sh("ip", "netns", "exec", host, "ip", v, "route", "add", net, "dev", "kt-up2", "table", table)
            for to in (net, server):
                sh("ip", "netns", "exec", host, "ip", v, "rule", "add", "to", to, "lookup", table)
        sh("ip", "netns", "exec", host, "ip", v, "route", "add", server, "via", gateway, "dev", "kt-up2", "table", table)
    resolve_neighbour(host, "2001:db8:2::2")


@pytest.mark.parametrize("table", ["main", "100", "nexthop"])
@both_families
def test_replies_arriving_on_another_routed_interface_are_forwarded_too(topology, v, table):
    # The host routes the 'internet' server by a second link, not by its default route's (in
    # its main table, or in a table of policy routing, as VPNs do): replies arrive there, so
    # kennel forwards on every interface the host routes by (each behind a guard of its own),
    # not only the default route's.
    add_second_uplink(topology, table)
    r = run_in_host(topology, "--", PYTHON, "-c",
                    f"import urllib.request; print(urllib.request.urlopen('{FAMILY[v]['url']}2', timeout=5).read().decode())")
    assert r.returncode == 0 and r.stdout.strip() == FAMILY[v]["body"], r.stdout + r.stderr
    second = FAMILY[v]["switch"].replace("kt-up", "kt-up2")
    assert sh("ip", "netns", "exec", topology["host"], "cat", second).stdout.strip() == "1"
    assert FAMILY[v]["guard"].replace("kt_up", "kt_up2") in sh("ip", "netns", "exec", topology["host"], "nft", "list", "tables").stdout
    wait_for_no_sandbox_links(topology)
    r = sh("ip", "netns", "exec", topology["host"], KENNEL, "gc", "--json")
    assert FAMILY[v]["report"].replace("kt-up", "kt-up2") in json.loads(r.stdout)["removed"], r.stdout
    assert sh("ip", "netns", "exec", topology["host"], "cat", second).stdout.strip() == "0"


@needs_ipv6
def test_a_host_without_ipv4_routes_gets_ipv6_and_nothing_set_for_ipv4(topology):
    # An IPv6-only host: no IPv4 route leaves it, so there is no interface to forward IPv4 by;
    # the launch goes on, with IPv6 egress, and nothing is switched on for IPv4. The sandbox
    # gets no IPv4 default route: an IPv4 connect fails at once instead of hanging.
    host = topology["host"]
    sh("ip", "netns", "exec", host, "ip", "route", "del", "default")
    sh("ip", "netns", "exec", host, "ip", "addr", "del", "192.0.2.1/24", "dev", "kt-up")
    r = run_in_host(topology, "--", PYTHON, "-c",
                    f"import urllib.request; print(urllib.request.urlopen('{FAMILY[6]['url']}v6only', timeout=5).read().decode())")
    assert r.returncode == 0 and r.stdout.strip() == FAMILY[6]["body"], r.stdout + r.stderr
    assert FAMILY[4]["guard"] not in sh("ip", "netns", "exec", host, "nft", "list", "tables").stdout
    assert sh(*FORWARDING(topology, 4)).stdout.strip() == "0"
    assert not forwarding_markers(netns_cookie(host), families=(4,))
    assert probe_in_host(topology, "connect", "203.0.113.10:80") == {"203.0.113.10:80": 101}  # ENETUNREACH


def wait_for_no_sandbox_links(topo):
    """The last sandboxes' host ends go with their namespaces, in a kernel worker, a moment
    after kennel returns; gc leaves everything while any is left."""
    deadline = time.monotonic() + 10
    while "kn-" in host_links(topo):
        assert time.monotonic() < deadline, host_links(topo)
        time.sleep(0.05)


def add_routed_link(topo, name, network):
    """A veth `name` on the "host" (its peer stays there too) holding the first address of
    `network`: an interface the host routes by."""
    host = topo["host"]
    sh("ip", "netns", "exec", host, "ip", "link", "add", "name", name, "type", "veth", "peer", "name", name + "p")
    sh("ip", "netns", "exec", host, "ip", "addr", "add", network.replace(".0/", ".1/"), "dev", name)
    sh("ip", "netns", "exec", host, "ip", "link", "set", name, "up")
    sh("ip", "netns", "exec", host, "ip", "link", "set", name + "p", "up")


def test_kennels_forwarding_follows_an_interface_that_is_renamed(topology):
    # The forwarding switch stays with the interface when it is renamed; so do the guard (it
    # names the interface by index) and gc's undoing (the marker records the index).
    host = topology["host"]
    add_routed_link(topology, "kt-side", "198.51.100.0/24")
    assert run_in_host(topology, "--", "true").returncode == 0
    cat = lambda name: sh("ip", "netns", "exec", host, "cat", f"/proc/sys/net/ipv4/conf/{name}/forwarding").stdout.strip()
    assert cat("kt-side") == "1"
    sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-side", "down")
    sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-side", "name", "kt-renamed")
    sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-renamed", "up")
    guard = ["ip", "netns", "exec", host, "nft", "list", "table", "inet", "kennel2_fwd4_kt_side"]
    assert 'iif "kt-renamed"' in sh(*guard).stdout
    # Flushed, the guard comes back with the next launch: the marker is found by the index.
    sh("ip", "netns", "exec", host, "nft", "flush", "ruleset")
    assert run_in_host(topology, "--", "true").returncode == 0
    assert 'iif "kt-renamed"' in sh(*guard).stdout
    wait_for_no_sandbox_links(topology)
    r = sh("ip", "netns", "exec", host, KENNEL, "gc", "--json")
    assert "ipv4 forwarding on kt-renamed" in json.loads(r.stdout)["removed"], r.stdout
    assert cat("kt-renamed") == "0"


def test_interfaces_with_one_nft_name_are_told_apart(topology):
    # kt-ab and kt_ab share the nft-safe name kt_ab. kennel forwards by kt-ab, whose marker
    # records its index; kt_ab forwards by the operator's own choice and stays untouched.
    host = topology["host"]
    add_routed_link(topology, "kt-ab", "198.51.100.0/25")
    add_routed_link(topology, "kt_ab", "198.51.100.128/25")
    sh("ip", "netns", "exec", host, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/kt_ab/forwarding")
    assert run_in_host(topology, "--", "true").returncode == 0
    cat = lambda name: sh("ip", "netns", "exec", host, "cat", f"/proc/sys/net/ipv4/conf/{name}/forwarding").stdout.strip()
    assert cat("kt-ab") == "1" and cat("kt_ab") == "1"
    wait_for_no_sandbox_links(topology)
    r = sh("ip", "netns", "exec", host, KENNEL, "gc", "--json")
    removed = json.loads(r.stdout)["removed"]
    assert "ipv4 forwarding on kt-ab" in removed and "ipv4 forwarding on kt_ab" not in removed, removed
    assert cat("kt-ab") == "0" and cat("kt_ab") == "1"


def test_running_sandboxes_forward_again_after_global_forwarding_went_on_and_off(topology, tmp_path):
    # ip_forward = 1 and back to 0 sets every interface's switch, the uplink's and the running
    # sandboxes' host ends' too, to 0. The next launch turns the uplink's back on, and with it
    # the host ends of the sandboxes that were cut off.
    host = topology["host"]
    p, st = start_bridged(topology, tmp_path / "s.json", "sleep", "60")
    try:
        net = f"--net=/proc/{st['initHostPid']}/ns/net"
        assert connect_from(net, "203.0.113.10:80") == {"203.0.113.10:80": 0}
        sh("ip", "netns", "exec", host, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward; echo 0 > /proc/sys/net/ipv4/ip_forward")
        end = f"/proc/sys/net/ipv4/conf/{st['bridge']['hostInterface']}/forwarding"
        assert sh("ip", "netns", "exec", host, "cat", end).stdout.strip() == "0"
        assert run_in_host(topology, "--", "true").returncode == 0
        assert sh("ip", "netns", "exec", host, "cat", end).stdout.strip() == "1"
        assert connect_from(net, "203.0.113.10:80") == {"203.0.113.10:80": 0}
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_a_recreated_interface_is_claimed_afresh(topology):
    # A VPN reconnecting, a NIC replugged: the interface comes back under its name with a new
    # index. The old marker and guard (which name the dead index) go, the new one is guarded.
    host = topology["host"]
    add_routed_link(topology, "kt-side", "198.51.100.0/24")
    assert run_in_host(topology, "--", "true").returncode == 0
    sh("ip", "netns", "exec", host, "ip", "link", "del", "kt-side")
    add_routed_link(topology, "kt-side", "198.51.100.0/24")
    assert run_in_host(topology, "--", "true").returncode == 0
    assert sh("ip", "netns", "exec", host, "cat", "/proc/sys/net/ipv4/conf/kt-side/forwarding").stdout.strip() == "1"
    assert 'iif "kt-side"' in sh("ip", "netns", "exec", host, "nft", "list", "table", "inet", "kennel2_fwd4_kt_side").stdout
    index = sh("ip", "netns", "exec", host, "cat", "/sys/class/net/kt-side/ifindex").stdout.strip()
    marker = [f for f in forwarding_markers(netns_cookie(host), families=(4,)) if f.endswith("-kt_side")]
    assert [open(os.path.join("/run/kennel", f)).read().strip() for f in marker] == [index]


def add_bridge(topo, ends):
    """A bridge kt-br on the "host" (198.51.100.1/24) with two ports leading to namespaces
    `ends` (198.51.100.11 and .12)."""
    host = topo["host"]
    sh("ip", "netns", "exec", host, "ip", "link", "add", "kt-br", "type", "bridge")
    sh("ip", "netns", "exec", host, "ip", "addr", "add", "198.51.100.1/24", "dev", "kt-br")
    sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-br", "up")
    for i, ns in enumerate(ends, 1):
        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "exec", host, "ip", "link", "add", f"kt-port{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "netns", "exec", host, "ip", "link", "set", f"kt-port{i}", "master", "kt-br", "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"198.51.100.1{i}/24", "dev", "eth0")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")


needs_br_netfilter = pytest.mark.skipif(not os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"),
                                        reason="no br_netfilter in this kernel")


@needs_br_netfilter
def test_a_bridge_br_netfilter_filters_is_left_alone(topology):
    # br_netfilter shows the frames a bridge passes between its ports to the IP hooks as the
    # bridge's own (when the namespace's switch or the bridge's own option says so), where a
    # guard would take them for transit and cut them: kennel forwards nothing by such a
    # bridge, takes back what it set there before, and refuses one as the way out.
    host = topology["host"]
    ends = [f"{host}-p{i}" for i in (1, 2)]
    call = "/proc/sys/net/bridge/bridge-nf-call-iptables"
    tables = ["ip", "netns", "exec", host, "nft", "list", "tables"]
    switch = ["ip", "netns", "exec", host, "cat", "/proc/sys/net/ipv4/conf/kt-br/forwarding"]
    server = None

    def bridged():
        r = sh("nsenter", f"--net=/run/netns/{ends[0]}", "python3", str(PROBE_DIR / "probe.py"), "connect", "198.51.100.12:80")
        return json.loads(r.stdout.strip().splitlines()[-1]) == {"198.51.100.12:80": 0}

    try:
        add_bridge(topology, ends)
        server = subprocess.Popen(["ip", "netns", "exec", ends[1], "python3", "-c",
                                   "import socket; s = socket.create_server(('198.51.100.12', 80)); print('ready', flush=True)\n"
                                   "while True: s.accept()[0].close()"], stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        # Without br_netfilter on it, the bridge is an interface like any other.
        sh("ip", "netns", "exec", host, "sh", "-c", f"echo 0 > {call}")
        assert run_in_host(topology, "--", "true").returncode == 0
        assert "kennel2_fwd4_kt_br" in sh(*tables).stdout and sh(*switch).stdout.strip() == "1"
        # The bridge's own option: what kennel set there goes with the next launch.
        sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-br", "type", "bridge", "nf_call_iptables", "1")
        assert run_in_host(topology, "--", "true").returncode == 0
        assert "kennel2_fwd4_kt_br" not in sh(*tables).stdout and sh(*switch).stdout.strip() == "0"
        assert not [f for f in forwarding_markers(netns_cookie(host)) if f.endswith("-kt_br")]
        assert bridged()
        # The namespace's switch alike.
        sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-br", "type", "bridge", "nf_call_iptables", "0")
        sh("ip", "netns", "exec", host, "sh", "-c", f"echo 1 > {call}")
        assert run_in_host(topology, "--", "true").returncode == 0
        assert "kennel2_fwd4_kt_br" not in sh(*tables).stdout and sh(*switch).stdout.strip() == "0"
        assert sh(*FORWARDING(topology, 4)).stdout.strip() == "1"  # the plain uplink is forwarded
        assert bridged()
        # As the host's way out, such a bridge is refused before anything changes.
        wait_for_no_sandbox_links(topology)
        sh("ip", "netns", "exec", host, KENNEL, "gc")
        sh("ip", "netns", "exec", host, "ip", "route", "replace", "default", "via", "198.51.100.12", "dev", "kt-br")
        r = run_in_host(topology, "--", "true")
        assert r.returncode == 125 and "br_netfilter" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "kennel2" not in sh(*tables).stdout
        assert not forwarding_markers(netns_cookie(host))
    finally:
        if server:
            server.kill()
            server.wait()
        for ns in ends:
            sh("ip", "netns", "del", ns, check=False)


@needs_br_netfilter
def test_a_bridge_that_carries_the_default_route_and_comes_under_br_netfilter(topology, tmp_path):
    # kennel forwards by the default route's bridge while br_netfilter leaves it alone. Once
    # the bridge's option passes its frames through the IP hooks, gc takes kennel's settings
    # there back (the guard would cut the bridge) although a sandbox still runs; launches are
    # then refused until the operator forwards by the bridge, and then use it.
    host = topology["host"]
    ends = [f"{host}-p{i}" for i in (1, 2)]
    switch = ["ip", "netns", "exec", host, "cat", "/proc/sys/net/ipv4/conf/kt-br/forwarding"]
    p = None
    try:
        add_bridge(topology, ends)
        sh("ip", "netns", "exec", host, "sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables")
        sh("ip", "netns", "exec", host, "ip", "route", "replace", "default", "via", "198.51.100.12", "dev", "kt-br")
        p, _ = start_bridged(topology, tmp_path / "s.json", "sleep", "60")
        assert sh(*switch).stdout.strip() == "1"
        sh("ip", "netns", "exec", host, "ip", "link", "set", "kt-br", "type", "bridge", "nf_call_iptables", "1")
        r = sh("ip", "netns", "exec", host, KENNEL, "gc", "--json")
        assert {"ipv4 forwarding on kt-br", "table inet kennel2_fwd4_kt_br"} <= set(json.loads(r.stdout)["removed"]), r.stdout
        assert sh(*switch).stdout.strip() == "0"
        r = run_in_host(topology, "--", "true")
        assert r.returncode == 125 and "br_netfilter" in r.stderr, r.stderr
        sh("ip", "netns", "exec", host, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/kt-br/forwarding")
        r = run_in_host(topology, "--", "ip", "-4", "route", "show", "default")
        assert r.returncode == 0 and "default via 10.213." in r.stdout, r.stdout + r.stderr
        assert "kennel2_fwd4_kt_br" not in sh("ip", "netns", "exec", host, "nft", "list", "tables").stdout
    finally:
        if p:
            p.terminate()
            p.wait(timeout=20)
        for ns in ends:
            sh("ip", "netns", "del", ns, check=False)


@both_families
def test_the_host_relays_nothing_between_neighbours_on_its_uplink(topology, tmp_path, v):
    # The cloud, a neighbour on the uplink, sends the host packets for a destination the host
    # routes back out of that same link (its default route): a router would pass them on (and
    # answer with redirects). The guard drops them.
    family, target = ("AF_INET", "203.0.113.99") if v == 4 else ("AF_INET6", "2001:db8:ff::99")
    via = "192.0.2.1" if v == 4 else "2001:db8:1::1"
    sh("ip", "netns", "exec", topology["cloud"], "ip", f"-{v}", "route", "add", target, "via", via)
    assert_not_forwarded(topology, tmp_path, v, family, target, "between neighbours on its uplink")


def test_concurrent_launches_all_succeed_while_others_end(topology):
    # Launches run while other sandboxes end: their host ends vanish between a launch's route
    # dump and what it asks of each interface afterwards, which must not fail it.
    for _ in range(4):
        procs = []
        try:
            for _ in range(30):
                procs.append(subprocess.Popen(["ip", "netns", "exec", topology["host"], KENNEL, "run", "--net", "bridge",
                                               "--", "true"], stderr=subprocess.PIPE, text=True))
            results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        finally:
            for p in procs:  # none left running if one hung or failed to start
                if p.poll() is None:
                    p.kill()
                    p.wait()
        failures = [r for r in results if r[0] != 0]
        assert not failures, failures[:3]
