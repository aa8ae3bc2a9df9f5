"""Point 3: Docker's 14 capabilities; non-root keeps none; --cap-add/--cap-drop change exactly the named bits."""
import json
import os

from conftest import PROBE_DIR, kennel, probe


def probe_with(python, opts):
    """The status probe run by a given interpreter binary (inside the sandbox's view)."""
    inside = python.replace(os.path.dirname(python), "/tmp/w")
    r = kennel("run", "--bind", f"{PROBE_DIR}:/tmp/probe:ro", *opts, "--", inside, "/tmp/probe/probe.py", "status")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)

DEFAULT = 0xA80425FB


def caps(st):
    return {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_root_gets_exactly_docker_default():
    c = caps(probe("status"))
    assert c == {"CapInh": 0, "CapPrm": DEFAULT, "CapEff": DEFAULT, "CapBnd": DEFAULT, "CapAmb": 0}


def test_non_root_gets_nothing_but_the_bounding_set():
    c = caps(probe("status", opts=["--user", "1000:100"]))
    assert c == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": DEFAULT, "CapAmb": 0}


def test_cap_add_and_drop_change_exactly_the_named_bits():
    c = caps(probe("status", opts=["--cap-add", "SYS_PTRACE", "--cap-drop", "CAP_NET_RAW", "--cap-drop", "chown"]))
    want = (DEFAULT | (1 << 19)) & ~(1 << 13) & ~(1 << 0)
    assert c["CapBnd"] == c["CapPrm"] == c["CapEff"] == want
    assert c["CapInh"] == c["CapAmb"] == 0


def test_cap_drop_all():
    c = caps(probe("status", opts=["--cap-drop", "ALL"]))
    assert c["CapBnd"] == c["CapPrm"] == c["CapEff"] == 0


def test_no_new_privs_on_by_default_and_off_with_allow_setuid():
    assert probe("status")["NoNewPrivs"] == 1
    assert probe("status", opts=["--allow-setuid"])["NoNewPrivs"] == 0
    # With setuid allowed, the filter and the capabilities are still in place.
    st = probe("status", opts=["--allow-setuid"])
    assert st["Seccomp"] == 2 and int(st["CapBnd"], 16) == DEFAULT


def test_file_capabilities_gain_nothing_beyond_the_bounding_set(workdir):
    # The CVE-2022-29162 family: a binary with file capabilities, run by a non-root user with
    # setuid tools allowed (no_new_privs off), gets at most its file capabilities within the
    # bounding set; inheritable and ambient stay empty.
    import shutil
    import subprocess
    binary = workdir / "capsh-python"
    shutil.copy("/usr/bin/python3.11", binary)
    os.chmod(binary, 0o755)
    subprocess.run(["setcap", "cap_sys_admin,cap_net_raw,cap_chown+ip", str(binary)], check=True)
    st = probe_with(str(binary), opts=["--user", "1000:100", "--allow-setuid", "--bind", f"{workdir}:/tmp/w"])
    prm = int(st["CapPrm"], 16)
    assert prm == (1 << 13) | (1 << 0), hex(prm)  # NET_RAW and CHOWN; SYS_ADMIN is not in the bounding set
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    # With no_new_privs on (the default), file capabilities grant nothing at all.
    st = probe_with(str(binary), opts=["--user", "1000:100", "--bind", f"{workdir}:/tmp/w"])
    assert int(st["CapPrm"], 16) == 0
    # With the effective bit, the kernel refuses to run a binary that cannot get all its
    # capabilities (SYS_ADMIN is outside the bounding set): exec fails, nothing is gained.
    subprocess.run(["setcap", "cap_sys_admin,cap_net_raw+eip", str(binary)], check=True)
    r = kennel("run", "--user", "1000:100", "--allow-setuid", "--bind", f"{workdir}:/tmp/w", "--", "/tmp/w/capsh-python", "-c", "1")
    assert r.returncode == 126 and "EPERM" in r.stderr


def test_allow_setuid_lets_a_setuid_root_binary_work(workdir):
    # A setuid binary owned by container root (host 199001), like sudo in an image.
    import shutil
    binary = workdir / "id"
    shutil.copy("/usr/bin/id", binary)
    os.chown(binary, 199001, 199001)
    os.chmod(binary, 0o4755)
    base = ["run", "--user", "1000:100", "--bind", f"{workdir}:/tmp/w"]
    r = kennel(*base, "--allow-setuid", "--", "/tmp/w/id", "-u")
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout + r.stderr
    r = kennel(*base, "--", "/tmp/w/id", "-u")
    assert r.stdout.strip() == "1000", r.stdout + r.stderr
