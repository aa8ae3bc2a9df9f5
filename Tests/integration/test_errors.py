"""Point 7: bad input gets one clear line and exit 125, with nothing left behind."""
import os

import pytest

from conftest import FIXTURE, kennel, user_namespace_pids


def bad_profile(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [ {"names": ["read"], ')
    return str(p)


CASES = {
    "missing rootfs": (["--rootfs", "/nonexistent/rootfs"], "rootfs /nonexistent/rootfs: ENOENT"),
    "unknown user": (["--user", "no-such-user"], "no such user"),
    "unknown group": (["--user", "0:no-such-group"], "no such group"),
    "malformed seccomp": (["--seccomp", "BAD"], "--seccomp"),
    "missing seccomp file": (["--seccomp", "/nonexistent.json"], "ENOENT"),
    "unknown capability": (["--cap-add", "CAP_FLY"], "unknown capability"),
    "relative bind target": (["--bind", "/tmp:relative"], "must be an absolute path"),
    "missing bind source": (["--bind", "/nonexistent-src:/x"], "ENOENT"),
    "map base too low": (["--map-base", "1000"], "at least 65536"),
    "map base overflow": (["--map-base", "4294967000"], "overflow"),
    "bad hostname": (["--hostname", "bad host"], "--hostname"),
    "unknown network": (["--net", "carrier-pigeon"], "--net"),
    "unknown option": (["--frobnicate"], "frobnicate"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_exit_125(case, tmp_path):
    opts, needle = CASES[case]
    opts = [bad_profile(tmp_path) if o == "BAD" else o for o in opts]
    before = user_namespace_pids()
    r = kennel("run", *opts, "--", "true")
    assert r.returncode == 125, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("kennel: ") and needle in first, r.stderr
    assert r.stdout == ""
    assert user_namespace_pids() - before == set()
    assert os.listdir("/run/kennel/root") == []


def test_failure_inside_the_launch_names_step_path_and_errno(tmp_path):
    # A bind target that cannot be created in the read-only root: fails after fork.
    r = kennel("run", "--bind", f"{tmp_path}:/usr/kennel-not-here", "--", "true")
    assert r.returncode == 125
    assert r.stderr.startswith("kennel: create mount target /usr/kennel-not-here: EROFS"), r.stderr
    assert r.stderr.count("\n") == 1


def test_help_teaches():
    r = kennel("run", "--help")
    assert r.returncode == 0
    for word in ("--user", "--map-base", "--seccomp", "--allow-setuid", "--status-json", "Examples"):
        assert word in r.stdout
