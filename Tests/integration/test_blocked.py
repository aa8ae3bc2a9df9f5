"""Blocked destinations (issue 3, the part that holds in --net none): prohibit routes the
sandbox cannot change; every spelling of a blocked address fails at once with EACCES."""
import time

import pytest

from conftest import kennel, probe

EACCES, ENETUNREACH = 13, 101

IMDS_SPELLINGS = ["169.254.169.254:80", "2852039166:80", "0251.0376.0251.0376:80", "0xa9.0xfe.0xa9.0xfe:80",
                  "[fd00:ec2::254]:80", "[::ffff:169.254.169.254]:80"]
ALWAYS = ["169.254.170.2:80", "169.254.170.23:80", "[fd00:ec2::23]:80"]


def test_metadata_and_credential_endpoints_fail_at_once_in_every_spelling():
    start = time.monotonic()
    res = probe("connect", *IMDS_SPELLINGS, *ALWAYS)
    assert all(v == EACCES for v in res.values()), res
    assert time.monotonic() - start < 20  # no connect waited for a timeout (each has 3 s)


def test_dns_and_time_sync_are_not_blocked():
    res = probe("connect", "169.254.169.253:53", "169.254.169.123:123", "[fd00:ec2::253]:53")
    # Nothing is reachable with --net none, but these are not prohibited: unreachable instead.
    assert all(v == ENETUNREACH for v in res.values()), res


def test_block_and_block_efs_add_destinations():
    opts = ["--block", "203.0.113.0/24", "--block", "2001:db8::/32", "--block-efs", "198.51.100.7"]
    res = probe("connect", "203.0.113.99:443", "[2001:db8::1]:443", "198.51.100.7:2049", "198.51.100.8:2049",
                opts=opts)
    assert res["203.0.113.99:443"] == EACCES and res["[2001:db8::1]:443"] == EACCES
    assert res["198.51.100.7:2049"] == EACCES
    assert res["198.51.100.8:2049"] == ENETUNREACH  # only the mount target, not its subnet


def test_routes_cannot_be_changed_from_inside_even_with_every_capability():
    r = kennel("run", "--cap-add", "ALL", "--seccomp", "unconfined", "--", "sh", "-c",
               "ip route del 169.254.169.254 2>&1; ip route add 169.254.169.254 dev lo 2>&1; "
               "ip rule add from all lookup 100 2>&1; nft add table inet evil 2>&1; "
               "ip route show table all type prohibit | wc -l")
    lines = r.stdout.strip().splitlines()
    # Three ip commands and nft, each refused by the kernel (not, say, missing).
    assert sum("Operation not permitted" in l for l in lines) == 4, r.stdout
    assert lines[-1] == "5"


@pytest.mark.parametrize("bad", [["--block", "300.1.1.1"], ["--block", "10.0.0.0/33"], ["--block", "nope"],
                                 ["--block-efs", "198.51.100.0/24"]])
def test_malformed_blocks_are_refused(bad):
    r = kennel("run", *bad, "--", "true")
    assert r.returncode == 125 and r.stderr.startswith("kennel: --block"), r.stderr


def test_a_block_file_carries_the_list(tmp_path):
    f = tmp_path / "blocked.conf"
    f.write_text("# the team's list\n203.0.113.0/25\n\nefs 198.51.100.7   # us-east-1a mount target\n")
    res = probe("connect", "203.0.113.5:443", "203.0.113.200:443", "198.51.100.7:2049", opts=["--block-file", str(f)])
    assert res == {"203.0.113.5:443": EACCES, "203.0.113.200:443": ENETUNREACH, "198.51.100.7:2049": EACCES}
    f.write_text("203.0.113.0/25 extra words\n")
    r = kennel("run", "--block-file", str(f), "--", "true")
    assert r.returncode == 125 and f"{f}:1" in r.stderr, r.stderr
    r = kennel("run", "--block-file", str(tmp_path / "missing"), "--", "true")
    assert r.returncode == 125 and "ENOENT" in r.stderr
