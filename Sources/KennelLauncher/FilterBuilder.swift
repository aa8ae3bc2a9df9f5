import Glibc
import KennelSpec
import KennelSystem

/// Turns the pure `SeccompPolicy` into a libseccomp filter (whose BPF `SeccompCache` keeps).
enum FilterBuilder {
    /// The architectures a program covers: the policy's, less x32 on a kernel that does not
    /// run x32 calls (most distributions build or boot without it). Docker's profile lists x32
    /// beside x86_64, which makes a third of the program; where the kernel has no x32 those
    /// rules can never matter, and a call with the x32 bit gets ENOSYS, as the kernel itself
    /// would answer, instead of reaching them.
    static func architectures(_ list: [String], x32Supported: Bool) -> [String] {
        x32Supported ? list : list.filter { $0 != "x32" }
    }

    /// Only where x32 was dropped: otherwise libseccomp's default (kill the thread) stays.
    private static func badArchitecture(_ list: [String], _ x32Supported: Bool) -> SeccompFilter.Action? {
        !x32Supported && list.contains("x32") ? .errno(UInt16(ENOSYS)) : nil
    }

    static func filter(for policy: SeccompPolicy, x32Supported: Bool) throws(Errno) -> SeccompFilter {
        let filter = try SeccompFilter(defaultAction: action(policy.defaultAction),
                                       extraArchitectures: architectures(policy.architectures, x32Supported: x32Supported),
                                       badArchitecture: badArchitecture(policy.architectures, x32Supported))
        for rule in policy.rules {
            try filter.add(syscall: rule.syscall, action: action(rule.action), conditions: rule.conditions.map {
                SeccompFilter.Condition(index: $0.index, compare: compare($0.compare), value: $0.value, valueTwo: $0.valueTwo)
            })
        }
        return filter
    }

    /// kennel's own hardening, stacked under any policy: the payload cannot push input into
    /// the caller's terminal (TIOCSTI, the bubblewrap CVE-2017-5226 class) or use TIOCLINUX.
    /// Only the low 32 bits of the request are compared, as the kernel does, so setting high
    /// bits does not slip past.
    static func hardening(architectures list: [String], x32Supported: Bool) throws(Errno) -> SeccompFilter {
        let filter = try SeccompFilter(defaultAction: .allow, extraArchitectures: architectures(list, x32Supported: x32Supported),
                                       badArchitecture: badArchitecture(list, x32Supported))
        for request: UInt64 in [0x5412 /* TIOCSTI */, 0x541C /* TIOCLINUX */] {
            try filter.add(syscall: "ioctl", action: .errno(UInt16(EPERM)), conditions: [
                .init(index: 1, compare: .maskedEq, value: 0xffff_ffff, valueTwo: request),
            ])
        }
        return filter
    }

    private static func action(_ a: SeccompAction) -> SeccompFilter.Action {
        switch a {
        case .allow: return .allow
        case .errno(let e): return .errno(e)
        case .killThread: return .killThread
        case .killProcess: return .killProcess
        case .trap: return .trap
        case .trace(let e): return .trace(e)
        case .log: return .log
        }
    }

    private static func compare(_ c: SeccompCompare) -> SeccompFilter.Compare {
        switch c {
        case .notEqual: return .ne
        case .less: return .lt
        case .lessOrEqual: return .le
        case .equal: return .eq
        case .greaterOrEqual: return .ge
        case .greater: return .gt
        case .maskedEqual: return .maskedEq
        }
    }
}
