"""Point 5: pivot_root into a read-only root, fresh /proc, minimal /dev, read-only /sys,
Docker's masked and read-only paths, scratch that vanishes, and no mount ever steered out of
a custom rootfs by a symlink."""
import os
import pathlib
import shutil
import subprocess
import threading

import pytest

from conftest import KENNEL, kennel, probe, PROBE_DIR, PYTHON

EROFS, EACCES, ENOENT, EPERM = 30, 13, 2, 1


def mounts():
    return {m["target"]: m for m in probe("mounts")["mounts"]}


def test_root_is_pivoted_and_read_only():
    m = mounts()
    assert "ro" in m["/"]["options"]
    # pivot_root detached the host's tree: no mount outside the sandbox root is listed,
    # and the staging directory is not visible.
    assert not any(t.startswith("/run/kennel") for t in m)
    assert probe("write", "/etc/kennel-test")["/etc/kennel-test"] == EROFS


def test_proc_is_fresh_and_hardened():
    m = mounts()
    assert m["/proc"]["fstype"] == "proc"
    assert {"nosuid", "nodev", "noexec"} <= set(m["/proc"]["options"])
    for ro in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"):
        if ro in m:
            assert "ro" in m[ro]["options"], ro
    assert "/proc/sys" in m
    res = probe("write", "/proc/sys/kernel/hostname", "/proc/sysrq-trigger")
    assert res["/proc/sys/kernel/hostname"] == EROFS


def test_masked_paths_show_nothing():
    files = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats")
             if os.path.exists(p)]
    assert files, "this kernel has none of the masked /proc files"
    res = probe("read", *files)
    assert all(v == 0 for v in res.values()), res
    r = kennel("run", "--", "sh", "-c", "cat " + " ".join(files) + " | wc -c; ls -A /sys/firmware | wc -l")
    assert r.stdout.split() == ["0", "0"], r.stdout + r.stderr


def test_sys_is_read_only_and_cgroups_cannot_be_written():
    m = mounts()
    assert m["/sys"]["fstype"] == "sysfs" and "ro" in m["/sys"]["options"]
    cg = [t for t in m if t.startswith("/sys/fs/cgroup")]
    assert cg, "no cgroup mount visible"
    for t in cg:
        assert "ro" in m[t]["options"], t
    targets = [str(p) for p in pathlib.Path("/sys/fs/cgroup").glob("*/cgroup.procs")][:4]
    res = probe("write", *targets)
    assert targets and all(v in (EROFS, EACCES) for v in res.values()), res


def test_dev_is_minimal():
    ls = probe("listdir", "/dev")["/dev"]
    assert sorted(ls) == sorted(["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue",
                                 "fd", "stdin", "stdout", "stderr", "ptmx"])
    m = mounts()
    assert m["/dev/pts"]["fstype"] == "devpts"
    assert m["/dev/mqueue"]["fstype"] == "mqueue"
    assert m["/dev/shm"]["fstype"] == "tmpfs"
    r = kennel("run", "--", "sh", "-c", "head -c 4 /dev/urandom | wc -c; echo x > /dev/null; ls /dev/fd/")
    assert r.returncode == 0 and r.stdout.split()[0] == "4", r.stderr


def test_host_homes_and_runtime_dirs_are_hidden():
    res = probe("listdir", "/root", "/home", "/run", "/tmp")
    assert res["/root"] == [] and res["/home"] == [] and res["/run"] == []
    assert res["/tmp"] == ["probe"]


def test_scratch_is_gone_when_the_sandbox_ends():
    r = kennel("run", "--", "sh", "-c", "echo data > /tmp/scratch && cat /tmp/scratch")
    assert r.stdout.strip() == "data"
    r = kennel("run", "--", "sh", "-c", "ls /tmp")
    assert r.stdout.strip() == ""


def test_scratch_directories_are_separate_and_belong_to_container_root():
    # /tmp, /dev and the hidden host paths are directories of one scratch tmpfs: a file in one
    # never shows in another, links and renames between them fail as across file systems,
    # and each belongs to container root (uid 0 inside is host uid 199001: host root's
    # objects would show as the overflow id).
    script = ("import errno, json, os\n"
              "open('/tmp/only-here', 'w').close()\n"
              "seen = {d: sorted(os.listdir(d)) for d in ('/root', '/home', '/run')}\n"
              "def err(f, *a):\n    try:\n        f(*a); return 0\n    except OSError as e:\n        return e.errno\n"
              "out = {'seen': seen, 'dev': 'only-here' in os.listdir('/dev'),\n"
              "       'link': err(os.link, '/tmp/only-here', '/home/x'), 'rename': err(os.rename, '/tmp/only-here', '/run/x'),\n"
              "       'stat': {d: [os.stat(d).st_uid, oct(os.stat(d).st_mode & 0o7777)] for d in ('/tmp', '/dev', '/root', '/home', '/run')}}\n"
              "print(json.dumps(out))\n")
    r = kennel("run", "--", PYTHON, "-c", script)
    assert r.returncode == 0, r.stderr
    out = __import__("json").loads(r.stdout)
    assert out["seen"] == {"/root": [], "/home": [], "/run": []} and out["dev"] is False, out
    assert out["link"] == 18 and out["rename"] == 18, out  # EXDEV
    assert out["stat"] == {"/tmp": [0, "0o1777"], "/dev": [0, "0o755"], "/root": [0, "0o755"],
                           "/home": [0, "0o755"], "/run": [0, "0o755"]}, out


def test_bind_read_only_and_tmpfs(workdir):
    (workdir / "in").write_text("hello\n")
    r = kennel("run", "--bind", f"{workdir}:/tmp/w:ro", "--tmpfs", "/tmp/scratch:1m", "--workdir", "/tmp/w", "--",
               "sh", "-c", "cat in; touch x 2>/dev/null && echo wrote; df -k /tmp/scratch | tail -1; pwd")
    lines = r.stdout.split("\n")
    assert lines[0] == "hello" and "wrote" not in r.stdout
    assert lines[1].split()[1] == "1024"
    assert lines[2] == "/tmp/w"


def minimal_rootfs(base: pathlib.Path) -> pathlib.Path:
    """A tiny image: empty mount points, /usr bound from the host, its own passwd."""
    root = base / "rootfs"
    for d in ("proc", "dev", "sys", "tmp", "usr", "etc", "home", "opt"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            os.symlink(os.readlink(f"/{link}"), root / link)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nalice:x:1500:1600::/home/alice:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nscience:x:1600:\nlab:x:1700:bob,alice\nwheel:x:10:root\n")
    return root


def test_custom_rootfs_with_its_own_users(tmp_path):
    root = minimal_rootfs(tmp_path)
    r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--user", "alice:science", "--", "id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("uid=1500(alice) gid=1600(science)")
    r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--user", "bob", "--", "id")
    assert r.returncode == 125 and "bob" in r.stderr


def test_supplementary_groups_from_the_images_group_file(tmp_path):
    # As in Docker: without an explicit group, the groups /etc/group lists the user in (by
    # name, also for a uid given as a number); with one, none of them; --group-add after.
    root = minimal_rootfs(tmp_path)
    for user, extra, groups in (("alice", [], "1600,1700"), ("1500", ["--group-add", "42"], "1600,1700,42"),
                                ("alice:science", [], "1600"), ("0", [], "0,10"), ("0:0", [], "0")):
        r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--user", user, *extra,
                   "--", "id", "-G")
        assert r.returncode == 0, r.stderr
        # `id -G`: the primary group, then the supplementary ones (the kernel sorts those).
        got, want = r.stdout.split(), groups.split(",")
        assert got[0] == want[0] and set(got) == set(want) and len(got) == len(want), (user, r.stdout)


def test_a_group_file_cut_at_the_read_limit_loses_its_partial_last_line(tmp_path):
    # kennel reads at most 4 MiB of an image's /etc/group. Here the limit falls inside the
    # member list of the last line ("lab:x:1700:carol,bobby" cut after "carol,bob"): counted,
    # that partial line would make bob a member of lab.
    root = minimal_rootfs(tmp_path)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nbob:x:1501:1601::/home/bob:/bin/sh\n")
    limit = 4 << 20
    head = "root:x:0:\nbobs:x:1601:\n"
    last = "lab:x:1700:carol,bobby\n"
    cut = last.index("bobby") + len("bob")
    # 18-byte group lines up to the limit, then one line that pads to it exactly.
    count, rest = divmod(limit - len(head) - cut, 18)
    filler = "".join(f"g{i:07d}:x:20000:\n" for i in range(count)) + ("x" * (rest - 1) + "\n" if rest else "")
    text = head + filler + last
    assert text[:limit].endswith("lab:x:1700:carol,bob"), text[limit - 30:limit]
    (root / "etc/group").write_text(text)
    r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--user", "bob", "--", "id", "-G")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1601"], r.stdout


@pytest.mark.parametrize("target", ["dev", "proc", "tmp"])
def test_mount_target_symlinks_never_lead_out_of_the_rootfs(tmp_path, target):
    root = minimal_rootfs(tmp_path)
    host_dir = tmp_path / "host-side"
    host_dir.mkdir()
    (root / target).rmdir()
    os.symlink(str(host_dir), root / target)  # absolute: would be the host's dir if followed
    r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--", "true")
    assert r.returncode == 125, r.stderr
    assert r.stderr.count("\n") == 1 and "symbolic link" in r.stderr
    assert list(host_dir.iterdir()) == []


def test_relative_escape_symlinks_resolve_inside(tmp_path):
    root = minimal_rootfs(tmp_path)
    host_dir = tmp_path / "host-side"
    host_dir.mkdir()
    (root / "home").rmdir()
    os.symlink("../../../../../../../../" + str(host_dir).lstrip("/"), root / "home")
    src = tmp_path / "src"
    src.mkdir()
    r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--bind", f"{src}:/home/alice", "--", "true")
    # The target resolves inside the read-only image (where it cannot be created): refused.
    assert r.returncode == 125
    assert list(host_dir.iterdir()) == []


def test_fake_proc_directory_is_replaced_by_a_real_procfs(tmp_path):
    root = minimal_rootfs(tmp_path)
    (root / "proc" / "self").mkdir()
    (root / "proc" / "self" / "status").write_text("fake\n")
    r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--", "sh", "-c", "head -1 /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Name:")


def test_rename_race_on_a_mount_target_never_reaches_the_host(tmp_path):
    root = minimal_rootfs(tmp_path)
    host_dir = tmp_path / "host-side"
    host_dir.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("x")
    link = root / "opt-link"
    os.symlink(str(host_dir), link)
    real = root / "opt"
    stop = threading.Event()

    def flip():
        # Swap /opt between the real directory and a symlink to the host directory.
        spare = root / "opt-real"
        while not stop.is_set():
            try:
                os.rename(real, spare)
                os.rename(link, real)
                os.rename(real, link)
                os.rename(spare, real)
            except OSError:
                pass

    t = threading.Thread(target=flip)
    t.start()
    try:
        codes = set()
        for _ in range(30):
            r = kennel("run", "--rootfs", str(root), "--bind", "/usr:/usr:ro", "--bind", f"{src}:/opt/data",
                       "--", "true")
            codes.add(r.returncode)
    finally:
        stop.set()
        t.join()
    assert codes <= {0, 125}
    assert list(host_dir.iterdir()) == [], "a mount or file landed on the host"


def test_proc_and_masks_stay_locked_even_for_cap_sys_admin():
    # /proc, its masks and read-only paths, /sys and the root are made by host root and reach
    # the sandbox locked: with every capability and no seccomp policy, unmounting fails and
    # no host process ever shows.
    r = kennel("run", "--cap-add", "ALL", "--seccomp", "unconfined", "--", "sh", "-c",
               "for m in /proc/keys /proc/sys /proc /sys/firmware /sys /; do umount $m 2>/dev/null; "
               "umount -l $m 2>/dev/null; done; ls /proc | grep -c '^[0-9]'; cat /proc/keys | wc -c; "
               "touch /proc/sys/kernel/x 2>/dev/null || echo ro; "
               # The masked directories (one shared empty directory of the scratch tmpfs under
               # /sys, a tmpfs of its own under /proc): nothing can be written into them, not
               # even by remounting, and they stay empty.
               "for d in /sys/firmware /proc/acpi; do [ -d $d ] || continue; mount -o remount,rw $d 2>/dev/null; "
               "mount -o remount,bind,rw $d 2>/dev/null; mkdir $d/x 2>/dev/null || touch $d/y 2>/dev/null || "
               "echo $d:ro; ls -A $d | wc -l; done")
    assert r.returncode == 0, r.stderr
    pids, keys, ro, *masks = r.stdout.split()
    assert int(pids) <= 4 and keys == "0" and ro == "ro", r.stdout
    assert masks == ["/sys/firmware:ro", "0", "/proc/acpi:ro", "0"] or masks == ["/sys/firmware:ro", "0"], r.stdout


def test_no_host_mount_lies_hidden_under_the_sandboxs_own_file_systems():
    # The host's mounts at /proc, /sys, /dev (with their submounts such as /dev/pts) are not
    # kept underneath the sandbox's own: one mount at each of those points. Nor are host mounts
    # below a covered path that is no mount point itself: `ip netns add` makes /run/netns a
    # mount with the namespace's nsfs file mounted in it; on a host whose /run is a plain
    # directory (this VM) they used to stay in the sandbox's mount table, listed in its
    # mountinfo and pinning that network namespace for the sandbox's lifetime.
    name = f"kt-cover-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        r = kennel("run", "--", "cat", "/proc/self/mountinfo")
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(["ip", "netns", "del", name])
    points = [line.split()[4] for line in r.stdout.splitlines()]
    for p in ("/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run", "/tmp"):
        assert points.count(p) == 1, (p, points)
    for covered in ("/run", "/tmp", "/root", "/home"):
        assert not [p for p in points if p.startswith(covered + "/")], (covered, points)


def test_host_mounts_hidden_underneath_a_covering_mount_leave_too():
    # In a mount namespace of the test's own: a tmpfs at /root/kt-under-PID, then a tmpfs on
    # /root itself that hides it (/root is a plain directory on most hosts; moving the cover out
    # of the sandbox's root used to leave the older mount behind, still listed in its
    # mountinfo); and a file bound onto /tmp/kt-file-PID, as tools bind network namespaces
    # onto files under /run (a file mount cannot be moved onto a directory: it used to stay).
    under, file = f"/root/kt-under-{os.getpid()}", f"/tmp/kt-file-{os.getpid()}"
    script = (f"set -e; mount -t tmpfs kt-under {under}; mount -t tmpfs kt-cover /root; "
              f"mount --bind /etc/hostname {file}; exec {KENNEL} run -- cat /proc/self/mountinfo")
    os.mkdir(under)
    open(file, "w").close()
    try:
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=60)
    finally:
        os.rmdir(under)
        os.unlink(file)
    assert r.returncode == 0, r.stderr
    points = [line.split()[4] for line in r.stdout.splitlines()]
    assert under not in points and file not in points, points
    assert points.count("/root") == 1 and points.count("/tmp") == 1, points


def test_proc_without_the_pidns_option():
    # Kernels before 6.18 have no procfs pidns option: kennel then mounts /proc from a child
    # born in the sandbox's pid namespace. KENNEL_TEST_PROC_FROM_CHILD forces that way here.
    env = dict(os.environ, KENNEL_TEST_PROC_FROM_CHILD="1")
    st = probe("status", env=env)
    # The mounter came and went as pid 2 and set the namespace's last pid back: the payload
    # is pid 2 as always, init's child; only the sandbox's own processes show.
    assert st["pid"] == 2 and st["ppid"] == 1 and st["pids"] == [1, 2], st
    m = {x["target"]: x for x in probe("mounts", env=env)["mounts"]}
    assert m["/proc"]["fstype"] == "proc" and {"nosuid", "nodev", "noexec"} <= set(m["/proc"]["options"])
    assert "ro" in m["/proc/sys"]["options"]
    r = kennel("run", "--cap-add", "ALL", "--seccomp", "unconfined", "--", "sh", "-c",
               "umount /proc 2>/dev/null; umount -l /proc 2>/dev/null; cat /proc/keys | wc -c; ls /proc | grep -c '^[0-9]'",
               env=env)
    assert r.returncode == 0 and r.stdout.split()[0] == "0" and int(r.stdout.split()[1]) <= 4, r.stdout + r.stderr
