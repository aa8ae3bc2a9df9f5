#!/usr/bin/python3
"""Runs inside a kennel sandbox and reports what it sees as JSON on stdout.

Usage: probe.py CHECK [ARGS...]. Each check is a small function below; the integration tests
bind this directory into the sandbox and read the JSON back."""
import ctypes
import errno
import json
import os
import signal
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def _errno_of(result):
    return 0 if result >= 0 else ctypes.get_errno()


def syscall(nr, *args):
    ctypes.set_errno(0)
    cargs = [ctypes.c_ulong(a & 0xFFFFFFFFFFFFFFFF) if isinstance(a, int) else a for a in args]
    return _errno_of(libc.syscall(ctypes.c_long(nr), *cargs))


def status_fields():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def check_status():
    st = status_fields()
    ns = {}
    for name in ("user", "mnt", "pid", "uts", "ipc", "net", "cgroup", "time"):
        try:
            ns[name] = os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            pass
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return {
        "uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(), "groups": sorted(os.getgroups()),
        "uid_map": open("/proc/self/uid_map").read(), "gid_map": open("/proc/self/gid_map").read(),
        "setgroups": open("/proc/self/setgroups").read().strip(),
        "CapInh": st["CapInh"], "CapPrm": st["CapPrm"], "CapEff": st["CapEff"],
        "CapBnd": st["CapBnd"], "CapAmb": st["CapAmb"],
        "NoNewPrivs": int(st["NoNewPrivs"]), "Seccomp": int(st["Seccomp"]),
        "Seccomp_filters": int(st.get("Seccomp_filters", -1)),
        "hostname": socket.gethostname(), "pid": os.getpid(), "ppid": os.getppid(),
        "ns": ns, "pids": pids, "cwd": os.getcwd(), "env": dict(os.environ),
        "interfaces": sorted(os.listdir("/sys/class/net")),
    }


# x86_64 syscall numbers.
NR = {"clone": 56, "keyctl": 250, "add_key": 248, "bpf": 321, "ptrace": 101, "setns": 308,
      "clone3": 435, "perf_event_open": 298, "io_uring_setup": 425, "init_module": 175,
      "reboot": 169, "personality": 135, "userfaultfd": 323, "unshare": 272, "mount": 165,
      "umount2": 166, "open_tree": 428, "fsopen": 430, "kexec_load": 246, "swapon": 167,
      "pivot_root": 155, "syslog": 103, "acct": 163, "settimeofday": 164, "getpid": 39,
      "chroot": 161, "socket": 41, "ioctl": 16, "lookup_dcookie": 212, "name_to_handle_at": 303}
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x00020000, 0x40000000
SIGCHLD = 17


def _clone(flags):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR["clone"]), ctypes.c_ulong(flags), ctypes.c_ulong(0),
                     ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
        return 0
    return ctypes.get_errno()


def check_syscalls():
    """Errno of each call (0 = allowed and succeeded). Arguments are harmless either way."""
    null = ctypes.c_char_p(None)
    res = {
        "unshare(CLONE_NEWUSER)": syscall(NR["unshare"], CLONE_NEWUSER),
        "unshare(CLONE_NEWNS)": syscall(NR["unshare"], CLONE_NEWNS),
        "unshare(CLONE_NEWNET)": syscall(NR["unshare"], CLONE_NEWNET),
        "mount(tmpfs)": syscall(NR["mount"], ctypes.c_char_p(b"none"), ctypes.c_char_p(b"/tmp"),
                                ctypes.c_char_p(b"tmpfs"), 0, null),
        "mount(cgroup)": syscall(NR["mount"], ctypes.c_char_p(b"cgroup"), ctypes.c_char_p(b"/tmp"),
                                 ctypes.c_char_p(b"cgroup"), 0, ctypes.c_char_p(b"memory")),
        "umount2(/proc)": syscall(NR["umount2"], ctypes.c_char_p(b"/proc"), 2),
        "keyctl": syscall(NR["keyctl"], 0, 0xFFFFFFFD, 0),
        "add_key": syscall(NR["add_key"], ctypes.c_char_p(b"user"), ctypes.c_char_p(b"k"), null, 0, 0xFFFFFFFD),
        "bpf": syscall(NR["bpf"], 0, 0, 0),
        "ptrace(ATTACH, 1)": syscall(NR["ptrace"], 16, 1, 0, 0),
        "setns(-1)": syscall(NR["setns"], 0xFFFFFFFF, 0),
        "clone(CLONE_NEWUSER)": _clone(CLONE_NEWUSER | SIGCHLD),
        "clone(CLONE_NEWNS)": _clone(CLONE_NEWNS | SIGCHLD),
        "clone(plain)": _clone(SIGCHLD),
        "clone3": syscall(NR["clone3"], 0, 0),
        "perf_event_open": syscall(NR["perf_event_open"], 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0),
        "io_uring_setup": syscall(NR["io_uring_setup"], 1, 0),
        "init_module": syscall(NR["init_module"], 0, 0, null),
        "kexec_load": syscall(NR["kexec_load"], 0, 0, 0, 0),
        "reboot": syscall(NR["reboot"], 0, 0, 0, 0),
        "userfaultfd": syscall(NR["userfaultfd"], 0),
        "open_tree": syscall(NR["open_tree"], 0xFFFFFF9C, ctypes.c_char_p(b"/"), 1),
        "fsopen": syscall(NR["fsopen"], ctypes.c_char_p(b"tmpfs"), 0),
        "pivot_root": syscall(NR["pivot_root"], ctypes.c_char_p(b"/tmp"), ctypes.c_char_p(b"/tmp")),
        "syslog": syscall(NR["syslog"], 3, null, 0),
        "settimeofday": syscall(NR["settimeofday"], null, null),
        "personality(query)": syscall(NR["personality"], 0xFFFFFFFF),
        "personality(1)": syscall(NR["personality"], 0x0001),
        "socket(AF_ALG)": syscall(NR["socket"], 38, 5, 0),
        "socket(AF_VSOCK)": syscall(NR["socket"], 40, 1, 0),
        "socket(AF_INET)": 0,
        "socket(AF_PACKET)": syscall(NR["socket"], 17, 3, 0),
        "socket(AF_INET,SOCK_RAW)": syscall(NR["socket"], 2, 3, 1),
        "getpid": syscall(NR["getpid"]),
        "name_to_handle_at": syscall(NR["name_to_handle_at"], 0xFFFFFF9C, ctypes.c_char_p(b"/"), null, null, 0),
    }
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.close()
    return res


X32 = 0x40000000  # __X32_SYSCALL_BIT


def check_x32():
    """Errno of calls made through the x32 ABI (the x32 bit on x86_64 numbers)."""
    return {
        "getpid": syscall(X32 | NR["getpid"]),
        "unshare(CLONE_NEWUSER)": syscall(X32 | NR["unshare"], CLONE_NEWUSER),
        "mount(tmpfs)": syscall(X32 | NR["mount"], ctypes.c_char_p(b"none"), ctypes.c_char_p(b"/tmp"),
                                ctypes.c_char_p(b"tmpfs"), 0, ctypes.c_char_p(None)),
    }


def check_raw_sockets():
    """Errno of creating packet and raw sockets in the sandbox's own network namespace."""
    out = {}
    for name, args in (("packet", (17, 3, 0)), ("raw", (2, 3, 1)), ("raw6", (10, 3, 58))):
        out[name] = syscall(NR["socket"], *args)
    return out


def check_fds():
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the directory listing's own descriptor, already closed
        if target.endswith("/fd") and target.startswith("/proc/"):
            continue
        fds.append(int(name))
    return {"fds": sorted(fds)}


def check_mounts():
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            l, r = left.split(), right.split()
            mounts.append({"target": l[4], "options": l[5].split(","), "fstype": r[0],
                           "super": r[2].split(",") if len(r) > 2 else []})
    return {"mounts": mounts}


def _try(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno


def check_open(*paths, mode="r"):
    """Errno of open(PATH) for writing ('w') or reading ('r'); 0 = it opened."""
    flags = os.O_WRONLY if mode == "w" else os.O_RDONLY
    out = {}
    for p in paths:
        def op(p=p):
            os.close(os.open(p, flags))
        out[p] = _try(op)
    return out


def check_write(*paths):
    out = {}
    for p in paths:
        def op(p=p):
            with open(p, "w") as f:
                f.write("1")
        out[p] = _try(op)
    return out


def check_connect(*targets):
    """Errno of connect() to HOST:PORT (any spelling getaddrinfo accepts: decimal, octal,
    [IPv6], IPv4-mapped IPv6) or to @abstract (a unix socket); 0 = connected."""
    out = {}
    for t in targets:
        if t.startswith("@"):
            s, addr = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), "\0" + t[1:]
        else:
            host, _, port = t.rpartition(":")
            try:
                family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]"), int(port), 0, socket.SOCK_STREAM)[0]
            except socket.gaierror as e:
                out[t] = f"gaierror {e}"
                continue
            s = socket.socket(family, kind, proto)
        s.settimeout(3)
        try:
            s.connect(addr)
            out[t] = 0
        except OSError as e:
            out[t] = e.errno if e.errno is not None else -1
        finally:
            s.close()
    return out


def check_tiocsti():
    """TIOCSTI on stdin with the plain and the high-bits request."""
    import fcntl
    out = {}
    for name, req in (("TIOCSTI", 0x5412), ("TIOCSTI|high", 0x5412 | (1 << 32))):
        ctypes.set_errno(0)
        c = ctypes.c_char(b"x")
        r = libc.ioctl(ctypes.c_int(0), ctypes.c_ulong(req), ctypes.byref(c))
        out[name] = _errno_of(r)
    out["isatty"] = os.isatty(0)
    return out


def check_setgroups_drop():
    return {"setgroups([])": _try(lambda: os.setgroups([]))}


def check_read(*paths):
    out = {}
    for p in paths:
        def op(p=p):
            with open(p) as f:
                f.read()
        out[p] = _try(op)
    return out


def check_listdir(*paths):
    out = {}
    for p in paths:
        try:
            out[p] = sorted(os.listdir(p))
        except OSError as e:
            out[p] = -e.errno
    return out


def check_signals(count):
    """Prints 'ready', then one line per signal received, until COUNT arrived."""
    want = int(count)
    got = []
    names = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"]

    def handler(signum, _frame):
        got.append(signal.Signals(signum).name)
        # Straight to the descriptor: the handler may run while print("ready") is still inside
        # stdout's buffered writer (its bytes already out), and print would re-enter it.
        os.write(1, (signal.Signals(signum).name + "\n").encode())

    for n in names:
        signal.signal(getattr(signal, n), handler)
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while len(got) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"received": got}


def check_echo_server(port, count):
    """Listens on the sandbox's 127.0.0.1:PORT, prints 'ready', echoes COUNT connections (all
    bytes until end of file, then closes), and reports the byte counts."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(16)
    print("ready", flush=True)
    sizes = []
    for _ in range(int(count)):
        conn, _ = srv.accept()
        total = 0
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
                total += len(data)
        except OSError:
            total = -1  # the client went away mid-reply
        conn.close()
        sizes.append(total)
    return {"echoed": sizes}


def main():
    check = sys.argv[1].replace("-", "_")
    result = globals()["check_" + check](*sys.argv[2:])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
