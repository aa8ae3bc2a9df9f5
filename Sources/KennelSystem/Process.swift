import CKennel
import Glibc

/// How a child ended.
public enum ExitStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus: Int32) {
        if kennel_wifsignaled(waitStatus) != 0 {
            self = .signaled(kennel_wtermsig(waitStatus))
        } else {
            self = .exited(kennel_wexitstatus(waitStatus))
        }
    }

    /// The shell convention kennel promises: the code, or 128+N for signal N.
    public var shellCode: Int32 {
        switch self {
        case .exited(let c): return c
        case .signaled(let s): return 128 + s
        }
    }
}

/// Process-level syscalls: fork, wait, exec, credentials and prctl.
public enum Proc {
    /// fork(2). Only async-signal-safe work may follow in the child while another thread
    /// could exist; kennel stays single-threaded so the child may run ordinary Swift.
    public static func fork() throws(Errno) -> pid_t {
        try retrying { Glibc.fork() }
    }

    /// Waits for `pid` (or any child, -1); nil with `nohang` when none has ended.
    public static func wait(_ pid: pid_t, nohang: Bool = false) throws(Errno) -> (pid_t, ExitStatus)? {
        var status: Int32 = 0
        let r = try retrying { waitpid(pid, &status, nohang ? WNOHANG : 0) }
        return r == 0 ? nil : (r, ExitStatus(waitStatus: status))
    }

    /// execve(2); returns only when it failed, with the reason.
    public static func exec(_ path: String, _ argv: [String], _ env: [String]) -> Errno {
        withCStringArray(argv) { a in
            withCStringArray(env) { e in
                _ = execve(path, a, e)
                return Errno(rawValue: errno)  // before the strings are freed
            }
        }
    }

    /// _exit(2): leaves without running atexit handlers or flushing stdio shared with the parent.
    public static func exitImmediately(_ code: Int32) -> Never { _exit(code) }

    public static func prctl(_ option: Int32, _ a2: UInt = 0, _ a3: UInt = 0, _ a4: UInt = 0, _ a5: UInt = 0) throws(Errno) -> Int32 {
        try retrying { kennel_prctl(option, a2, a3, a4, a5) }
    }

    /// The CPU the caller runs on (sched_getcpu(3)), or -1.
    public static func currentCPU() -> Int32 { kennel_sched_getcpu() }

    /// Reads the CPU affinity mask of `process` (0: the caller) into `mask` (16 words: up to
    /// 1024 CPUs); returns its size in bytes as the kernel reports it, 0 if it cannot be read.
    static func affinity(_ process: pid_t, into mask: inout [UInt64]) -> Int {
        mask = [UInt64](repeating: 0, count: 16)
        return max(0, mask.withUnsafeMutableBytes { kennel_sched_getaffinity(process, $0.count, $0.baseAddress) })
    }

    /// How many CPUs the caller may run on, or -1.
    public static func cpusAllowed() -> Int {
        var mask: [UInt64] = []
        return affinity(0, into: &mask) > 0 ? mask.reduce(0) { $0 + $1.nonzeroBitCount } : -1
    }

    /// Keeps the caller off `cpu` from now on: it runs on the other CPUs it may use (when
    /// there is none, nothing changes). A child forked to work beside its parent otherwise
    /// often starts on the parent's CPU and preempts it there, while another CPU idles.
    public static func avoidCPU(_ cpu: Int32, process: pid_t = 0) {
        var mask: [UInt64] = []
        let size = affinity(process, into: &mask)
        guard cpu >= 0, size > 0, Int(cpu) < size * 8 else { return }
        let word = Int(cpu) / 64, bit = UInt64(1) << UInt64(cpu % 64)
        guard mask[word] & bit != 0 else { return }
        mask[word] &= ~bit
        guard mask.contains(where: { $0 != 0 }) else { return }
        _ = mask.withUnsafeBytes { kennel_sched_setaffinity(process, size, $0.baseAddress) }
    }

    /// Asks the kernel to SIGKILL this process when its parent dies.
    public static func dieWithParent() throws(Errno) {
        _ = try prctl(Int32(KENNEL_PR_SET_PDEATHSIG), UInt(SIGKILL))
    }

    /// PR_SET_DUMPABLE. Not dumpable: no ptrace, no /proc/PID/{mem,exe,fd} for others.
    /// The kernel resets it on every credential change and on execve.
    public static func setDumpable(_ on: Bool) throws(Errno) {
        _ = try prctl(Int32(KENNEL_PR_SET_DUMPABLE), on ? 1 : 0)
        if try prctl(Int32(KENNEL_PR_GET_DUMPABLE)) != (on ? 1 : 0) { throw Errno(rawValue: EPERM) }
    }

    public static func setNoNewPrivileges() throws(Errno) {
        _ = try prctl(Int32(KENNEL_PR_SET_NO_NEW_PRIVS), 1)
    }

    /// Groups first, then gid, then uid: once the uid changes the right to change the others is gone.
    public static func setIdentity(uid: uid_t, gid: gid_t, groups: [gid_t]) throws(Errno) {
        _ = try retrying { groups.withUnsafeBufferPointer { setgroups($0.count, $0.baseAddress) } }
        _ = try retrying { kennel_setresgid(gid, gid, gid) }
        _ = try retrying { kennel_setresuid(uid, uid, uid) }
    }

    public static func setHostname(_ name: String) throws(Errno) {
        _ = try retrying { kennel_sethostname(name, name.utf8.count) }
    }

    public static func send(_ signal: Int32, to pid: pid_t) {
        _ = kill(pid, signal)
    }
}
