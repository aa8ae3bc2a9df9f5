import CKennel
import CSeccomp
import Glibc

/// A libseccomp filter context: rules in, a classic-BPF program out (`program()`), which
/// kennel caches and the payload installs with `install(program:)`.
public final class SeccompFilter {
    private let context: scmp_filter_ctx


    public enum Action: Sendable {
        case allow, errno(UInt16), killThread, killProcess, trap, trace(UInt16), log
        var raw: UInt32 {
            switch self {
            case .allow: return SCMP_ACT_ALLOW
            case .errno(let e): return kennel_scmp_act_errno(e)
            case .killThread: return SCMP_ACT_KILL_THREAD
            case .killProcess: return SCMP_ACT_KILL_PROCESS
            case .trap: return SCMP_ACT_TRAP
            case .trace(let e): return kennel_scmp_act_trace(e)
            case .log: return SCMP_ACT_LOG
            }
        }
    }

    public enum Compare: Sendable { case ne, lt, le, eq, ge, gt, maskedEq }

    public struct Condition: Sendable {
        public var index: UInt32
        public var compare: Compare
        public var value: UInt64
        public var valueTwo: UInt64
        public init(index: UInt32, compare: Compare, value: UInt64, valueTwo: UInt64) {
            self.index = index
            self.compare = compare
            self.value = value
            self.valueTwo = valueTwo
        }
    }

    /// A new filter whose unmatched syscalls get `defaultAction`, for the native architecture
    /// plus `extraArchitectures` (libseccomp names such as "x86", "x32").
    /// `badArchitecture`: the answer to a call of an architecture the filter does not cover
    /// (libseccomp's default kills the thread).
    public init(defaultAction: Action, extraArchitectures: [String], badArchitecture: Action? = nil) throws(Errno) {
        guard let ctx = seccomp_init(defaultAction.raw) else { throw Errno(rawValue: EINVAL) }
        context = ctx
        if let badArchitecture {
            let r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badArchitecture.raw)
            if r < 0 { throw Errno(rawValue: -r) }
        }
        // A binary tree over syscall numbers instead of a linear chain: each syscall (and
        // the kernel's per-syscall cache precomputation at load) walks O(log n) instructions.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        for name in extraArchitectures {
            let arch = seccomp_arch_resolve_name(name)
            if arch == 0 || arch == seccomp_arch_native() { continue }
            let r = seccomp_arch_add(ctx, arch)
            if r < 0 && r != -EEXIST { throw Errno(rawValue: -r) }
        }
    }

    deinit { seccomp_release(context) }

    /// libseccomp's version, e.g. "2.5.4": programs it generated are cached under it.
    public static var libraryVersion: String {
        guard let v = seccomp_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
    }

    /// Adds one rule; all conditions must hold for it to match.
    public func add(syscall name: String, action: Action, conditions: [Condition]) throws(Errno) {
        let number = seccomp_syscall_resolve_name(name)
        // Syscalls this libseccomp does not know are skipped, as Docker does, so that one
        // profile serves older and newer systems.
        if number == __NR_SCMP_ERROR { return }
        var args: [scmp_arg_cmp] = conditions.map { c in
            let op: scmp_compare
            switch c.compare {
            case .ne: op = SCMP_CMP_NE
            case .lt: op = SCMP_CMP_LT
            case .le: op = SCMP_CMP_LE
            case .eq: op = SCMP_CMP_EQ
            case .ge: op = SCMP_CMP_GE
            case .gt: op = SCMP_CMP_GT
            case .maskedEq: op = SCMP_CMP_MASKED_EQ
            }
            return scmp_arg_cmp(arg: c.index, op: op, datum_a: c.value, datum_b: c.valueTwo)
        }
        let r = seccomp_rule_add_array(context, action.raw, number, UInt32(args.count), &args)
        // EEXIST: the same rule twice (Docker's profile allows ptrace in two rules).
        if r < 0 && r != -EEXIST { throw Errno(rawValue: -r) }
    }

    /// The classic-BPF program libseccomp generates for this filter (8-byte instructions),
    /// which `SeccompFilter.install` loads without libseccomp.
    public func program() throws(Errno) -> [UInt8] {
        let fd = try retrying { kennel_memfd_create("kennel-seccomp", UInt32(KENNEL_MFD_CLOEXEC)) }
        defer { FD.close(fd) }
        let r = seccomp_export_bpf(context, fd)
        if r < 0 { throw Errno(rawValue: -r) }
        _ = try retrying { Int32(truncatingIfNeeded: lseek(fd, 0, SEEK_SET)) }
        return try FD.readAll(fd)
    }

    /// Installs a BPF program on the calling thread. Needs no_new_privs or CAP_SYS_ADMIN.
    public static func install(program: [UInt8]) throws(Errno) {
        guard program.count % 8 == 0, program.count / 8 <= Int(UInt16.max), !program.isEmpty else {
            throw Errno(rawValue: EINVAL)
        }
        _ = try retrying { program.withUnsafeBytes { kennel_seccomp_set_filter($0.baseAddress, UInt16(program.count / 8)) } }
    }
}
