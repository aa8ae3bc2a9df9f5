"""Point 2 of the launcher core: the id map, host ownership of files, setgroups."""
import os

from conftest import probe, kennel, PROBE_DIR, PYTHON


def test_uid_and_gid_map_are_the_full_default_range():
    st = probe("status")
    assert st["uid_map"].split() == ["0", "199001", "65536"]
    assert st["gid_map"].split() == ["0", "199001", "65536"]
    assert (st["uid"], st["gid"], st["euid"]) == (0, 0, 0)


def test_map_base_option_moves_the_range():
    st = probe("status", opts=["--map-base", "300000"])
    assert st["uid_map"].split() == ["0", "300000", "65536"]


def test_files_created_as_uid_1000_belong_to_host_uid_200001(workdir):
    r = kennel("run", "--user", "1000:100", "--bind", f"{workdir}:/tmp/out", "--",
               "sh", "-c", "touch /tmp/out/by-user && mkdir /tmp/out/dir")
    assert r.returncode == 0, r.stderr
    st = os.stat(workdir / "by-user")
    assert (st.st_uid, st.st_gid) == (200001, 199101)
    assert os.stat(workdir / "dir").st_uid == 200001


def test_files_created_as_container_root_never_belong_to_host_root(workdir):
    r = kennel("run", "--bind", f"{workdir}:/tmp/out", "--", "touch", "/tmp/out/by-root")
    assert r.returncode == 0, r.stderr
    st = os.stat(workdir / "by-root")
    assert (st.st_uid, st.st_gid) == (199001, 199001)


def test_named_user_is_resolved_in_the_sandbox_root():
    # The embedded root is the host's /: take any non-root user from its passwd.
    users = [l.split(":") for l in open("/etc/passwd") if not l.startswith("#")]
    name, uid, gid = next((u[0], int(u[2]), int(u[3])) for u in users if 0 < int(u[2]) < 65536)
    st = probe("status", opts=["--user", name])
    assert (st["uid"], st["gid"]) == (uid, gid)


def test_supplementary_groups_and_setgroups_rules(workdir):
    # A file whose group is a supplementary group and which denies that group, but not
    # others: dropping the group would grant access, and the kernel rule (CVE-2014-8989)
    # says an unprivileged process may not drop it.
    secret = workdir / "secret"
    secret.write_text("s")
    os.chown(secret, 199001, 199001 + 5000)
    os.chmod(secret, 0o604)
    opts = ["--user", "1000:100", "--group-add", "5000", "--bind", f"{workdir}:/tmp/out"]
    st = probe("status", opts=opts)
    assert 5000 in st["groups"] and st["gid"] == 100
    assert st["setgroups"] == "allow"  # privileged map: setgroups stays available to root inside
    assert probe("read", "/tmp/out/secret", opts=opts)["/tmp/out/secret"] == 13  # EACCES
    assert probe("setgroups_drop", opts=opts)["setgroups([])"] == 1  # EPERM


def test_ids_outside_the_map_are_refused():
    r = kennel("run", "--user", "70000", "--", "true")
    assert r.returncode == 125
    assert "outside the mapped range" in r.stderr
