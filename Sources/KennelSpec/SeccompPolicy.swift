/// What a seccomp rule does to a matching syscall.
public enum SeccompAction: Hashable, Sendable, CustomStringConvertible {
    case allow
    case errno(UInt16)
    case killThread
    case killProcess
    case trap
    case trace(UInt16)
    case log

    /// Parses Docker/OCI action names (`SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, ...).
    init(name: String, errno: UInt32?) throws {
        switch name {
        case "SCMP_ACT_ALLOW": self = .allow
        case "SCMP_ACT_ERRNO": self = .errno(UInt16(truncatingIfNeeded: errno ?? 1))
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": self = .killThread
        case "SCMP_ACT_KILL_PROCESS": self = .killProcess
        case "SCMP_ACT_TRAP": self = .trap
        case "SCMP_ACT_TRACE": self = .trace(UInt16(truncatingIfNeeded: errno ?? 1))
        case "SCMP_ACT_LOG": self = .log
        default: throw SeccompProfileError.unknownAction(name)
        }
    }

    public var description: String {
        switch self {
        case .allow: return "allow"
        case .errno(let e): return "errno(\(e))"
        case .killThread: return "kill-thread"
        case .killProcess: return "kill-process"
        case .trap: return "trap"
        case .trace(let e): return "trace(\(e))"
        case .log: return "log"
        }
    }
}

/// Argument comparison operators, as libseccomp's `SCMP_CMP_*`.
public enum SeccompCompare: String, Hashable, Sendable {
    case notEqual = "SCMP_CMP_NE"
    case less = "SCMP_CMP_LT"
    case lessOrEqual = "SCMP_CMP_LE"
    case equal = "SCMP_CMP_EQ"
    case greaterOrEqual = "SCMP_CMP_GE"
    case greater = "SCMP_CMP_GT"
    case maskedEqual = "SCMP_CMP_MASKED_EQ"

    init(name: String) throws {
        guard let op = SeccompCompare(rawValue: name) else { throw SeccompProfileError.unknownOperator(name) }
        self = op
    }

    /// Evaluates the comparison as the kernel filter would on a 64-bit argument.
    public func holds(_ arg: UInt64, value: UInt64, valueTwo: UInt64) -> Bool {
        switch self {
        case .notEqual: return arg != value
        case .less: return arg < value
        case .lessOrEqual: return arg <= value
        case .equal: return arg == value
        case .greaterOrEqual: return arg >= value
        case .greater: return arg > value
        case .maskedEqual: return arg & value == valueTwo
        }
    }
}

/// A profile resolved for one machine: a default action, the architectures to accept and
/// concrete per-syscall rules. This is what gets handed to libseccomp, and what the tests
/// compare to prove the built-in policy equals Docker's.
public struct SeccompPolicy: Equatable, Sendable {
    public struct Condition: Hashable, Sendable {
        public var index: UInt32
        public var compare: SeccompCompare
        public var value: UInt64
        public var valueTwo: UInt64
    }

    public struct Rule: Hashable, Sendable {
        public var syscall: String
        public var action: SeccompAction
        public var conditions: [Condition]
    }

    public var defaultAction: SeccompAction
    public var architectures: [String]
    public var rules: [Rule]

    /// The set of (action, conditions) for each syscall: two policies with equal tables
    /// make equal filters, whatever the order of their rules.
    public var table: [String: Set<Rule>] {
        Dictionary(grouping: rules, by: \.syscall).mapValues(Set.init)
    }

    /// The action for one call, as the filter decides it: a matching rule with conditions
    /// wins over the default; among matches the most restrictive action wins, as in the kernel.
    public func decide(_ syscall: String, args: [UInt64] = []) -> SeccompAction {
        let matches = rules.filter { rule in
            rule.syscall == syscall && rule.conditions.allSatisfy { c in
                let a = Int(c.index) < args.count ? args[Int(c.index)] : 0
                return c.compare.holds(a, value: c.value, valueTwo: c.valueTwo)
            }
        }
        guard !matches.isEmpty else { return defaultAction }
        return matches.map(\.action).min(by: { $0.precedence < $1.precedence }) ?? defaultAction
    }
}

extension SeccompAction {
    /// Lower is more restrictive, following the kernel's ordering of filter return values.
    var precedence: Int {
        switch self {
        case .killProcess: return 0
        case .killThread: return 1
        case .trap: return 2
        case .errno: return 3
        case .trace: return 4
        case .log: return 5
        case .allow: return 6
        }
    }
}
