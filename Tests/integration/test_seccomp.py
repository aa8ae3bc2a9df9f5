"""Point 4: the default policy refuses what Docker's does, on the real kernel; the built-in
policy, Docker's own file and an OCI-format profile behave the same; programs work."""
import json

import pytest

from conftest import FIXTURE, KENNEL, kennel, probe

EPERM, ENOSYS = 1, 38

REFUSED = ["unshare(CLONE_NEWUSER)", "unshare(CLONE_NEWNS)", "unshare(CLONE_NEWNET)", "mount(tmpfs)",
           "mount(cgroup)", "umount2(/proc)", "keyctl", "add_key", "bpf", "setns(-1)",
           "clone(CLONE_NEWUSER)", "clone(CLONE_NEWNS)", "perf_event_open", "io_uring_setup",
           "init_module", "kexec_load", "reboot", "userfaultfd", "open_tree", "fsopen", "pivot_root",
           "syslog", "settimeofday", "personality(1)", "socket(AF_ALG)", "socket(AF_VSOCK)"]


def test_default_policy_refuses_escapes_with_eperm():
    res = probe("syscalls")
    st = probe("status")
    # One program: kennel's hardening runs first inside the policy (SeccompChain); the
    # terminal test in test_process shows TIOCSTI still refused.
    assert st["Seccomp"] == 2 and st["Seccomp_filters"] == 1
    wrong = {k: res[k] for k in REFUSED if res[k] != EPERM}
    assert not wrong, f"not refused with EPERM: {wrong}"
    assert res["clone3"] == ENOSYS
    assert res["clone(plain)"] == 0 and res["getpid"] == 0 and res["personality(query)"] == 0
    # ptrace of anything outside the sandbox: nothing outside is visible; pid 1 is kennel's init.
    assert res["ptrace(ATTACH, 1)"] == EPERM


def test_raw_and_packet_sockets_need_a_capability_the_network_namespace_does_not_grant():
    res = probe("syscalls")
    # NET_RAW is in the default set, but the network namespace belongs to the host's user
    # namespace, so container root holds no NET_RAW over it.
    assert res["socket(AF_PACKET)"] == EPERM
    assert res["socket(AF_INET,SOCK_RAW)"] == EPERM


def test_docker_fixture_and_builtin_default_agree_on_the_kernel():
    assert FIXTURE.exists(), f"missing fixture {FIXTURE}"
    builtin = probe("syscalls")
    from_file = probe("syscalls", opts=["--seccomp", str(FIXTURE)])
    assert builtin == from_file


def test_oci_format_profile(tmp_path):
    docker = json.loads(FIXTURE.read_text())
    # An OCI linux.seccomp object: no archMap, no includes/excludes; keep only the rules
    # Docker applies unconditionally, plus the clone rule without namespace flags.
    rules = [{k: v for k, v in r.items() if k != "includes"} for r in docker["syscalls"]
             if "excludes" not in r and set(r.get("includes", {})) <= {"arches", "minKernel"}
             and "amd64" in r.get("includes", {}).get("arches", ["amd64"])]
    rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]})
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})
    oci = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": rules}
    path = tmp_path / "oci.json"
    path.write_text(json.dumps(oci))
    os_res = probe("syscalls", opts=["--seccomp", str(path)])
    # A profile from a file is loaded late, on its own, after the hardening program.
    assert probe("status", opts=["--seccomp", str(path)])["Seccomp_filters"] == 2
    assert os_res["unshare(CLONE_NEWUSER)"] == EPERM and os_res["clone3"] == ENOSYS
    assert os_res["clone(plain)"] == 0 and os_res["clone(CLONE_NEWUSER)"] == EPERM


def test_unconfined_lifts_the_policy_but_keeps_the_hardening_filter():
    st = probe("status", opts=["--seccomp", "unconfined"])
    # kennel's small hardening filter (TIOCSTI) always stays.
    assert st["Seccomp"] == 2 and st["Seccomp_filters"] == 1
    res = probe("syscalls", opts=["--seccomp", "unconfined"])
    assert res["clone3"] != ENOSYS
    assert res["keyctl"] != EPERM
    # What the policy refused is now up to the kernel: a nested user namespace is allowed.
    assert res["unshare(CLONE_NEWUSER)"] == 0


@pytest.mark.parametrize("cmd", [
    ["python3", "-c", "import ssl, sqlite3, subprocess; print(subprocess.run(['true']).returncode)"],
    ["bash", "-c", "for i in 1 2 3; do :; done; echo $((6*7))"],
    ["sh", "-c", "cd /tmp && git init -q repo && cd repo && git config user.email a@b && git config user.name a && touch f && git add f && git commit -qm x && git log --oneline | wc -l"],
    ["python3", "-m", "pip", "--version"],
])
def test_ordinary_programs_work_under_the_default_policy(cmd):
    r = kennel("run", "--", *cmd)
    assert r.returncode == 0, r.stderr


def test_x32_calls_are_refused_and_never_kill_the_caller():
    # Docker's profile lists x32 beside x86_64 (a third of the program). Where the kernel runs
    # no x32 calls, kennel leaves those rules out: a call with the x32 bit gets ENOSYS, as the
    # kernel itself would answer, and the caller lives on. Where it does, the rules stay.
    import ctypes
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("x32 exists only on x86_64")
    libc = ctypes.CDLL(None, use_errno=True)
    kernel_has_x32 = libc.syscall(ctypes.c_long(0x40000000 | 39)) >= 0  # getpid, outside the sandbox
    for opts in ([], ["--seccomp", "unconfined"], ["--seccomp", str(FIXTURE)]):
        res = probe("x32", opts=opts)
        if kernel_has_x32:
            assert res["getpid"] == 0, (opts, res)
            if opts != ["--seccomp", "unconfined"]:
                assert res["unshare(CLONE_NEWUSER)"] == EPERM and res["mount(tmpfs)"] == EPERM, (opts, res)
        else:
            assert set(res.values()) == {ENOSYS}, (opts, res)


OUTER_FILTER = r'''
import ctypes, os, sys
# A seccomp filter of the caller's own, as a service manager's SystemCallArchitectures=native
# installs: a call with the x32 bit kills the process; everything else is allowed.
class Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Insn))]
insns = (Insn * 4)((0x20, 0, 0, 0),            # A = syscall number
                   (0x45, 0, 1, 0x40000000),   # A & __X32_SYSCALL_BIT ?
                   (0x06, 0, 0, 0x80000000),   # kill the process
                   (0x06, 0, 0, 0x7fff0000))   # allow
prog = Prog(4, insns)
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0, ctypes.get_errno()  # PR_SET_SECCOMP, FILTER
os.execv(sys.argv[1], sys.argv[1:])
'''


def test_kennel_under_a_callers_filter_that_kills_x32_calls_still_starts(tmp_path):
    # kennel learns whether the kernel runs x32 calls by making one, but never under a filter
    # of its caller's, which may answer such a call with SIGSYS.
    import platform
    import subprocess
    if platform.machine() != "x86_64":
        pytest.skip("x32 exists only on x86_64")
    script = tmp_path / "outer.py"
    script.write_text(OUTER_FILTER)
    r = subprocess.run(["python3", str(script), KENNEL, "run", "--", "true"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stderr)
