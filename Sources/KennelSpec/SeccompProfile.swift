import FoundationEssentials

/// A seccomp profile as users write it: Docker's JSON format (`archMap`, `includes`/`excludes`
/// by capability, architecture and kernel) or the OCI runtime-spec `linux.seccomp` object
/// (`architectures`, no conditions). Both decode into this one type; `compile` turns it into
/// the concrete `SeccompPolicy` for one architecture and one capability bounding set.
public struct SeccompProfile: Codable, Equatable, Sendable {
    public struct ArchMapEntry: Codable, Equatable, Sendable {
        public var architecture: String
        public var subArchitectures: [String]?
        public init(architecture: String, subArchitectures: [String]? = nil) {
            self.architecture = architecture
            self.subArchitectures = subArchitectures
        }
    }

    /// Docker's rule filter: a rule applies only when every `includes` condition holds and
    /// no `excludes` condition does.
    public struct Filter: Codable, Equatable, Sendable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
        public init(caps: [String]? = nil, arches: [String]? = nil, minKernel: String? = nil) {
            self.caps = caps
            self.arches = arches
            self.minKernel = minKernel
        }
        var isEmpty: Bool { (caps ?? []).isEmpty && (arches ?? []).isEmpty && minKernel == nil }
    }

    public struct Arg: Codable, Equatable, Sendable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
        public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: String) {
            self.index = index
            self.value = value
            self.valueTwo = valueTwo
            self.op = op
        }
    }

    public struct Rule: Codable, Equatable, Sendable {
        public var names: [String]?
        /// Older Docker profiles name one syscall per rule.
        public var name: String?
        public var action: String
        public var errnoRet: UInt32?
        public var args: [Arg]?
        public var includes: Filter?
        public var excludes: Filter?
        public var comment: String?
        public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [Arg]? = nil,
                    includes: Filter? = nil, excludes: Filter? = nil) {
            self.names = names
            self.action = action
            self.errnoRet = errnoRet
            self.args = args
            self.includes = includes
            self.excludes = excludes
        }
        var allNames: [String] { (names ?? []) + (name.map { [$0] } ?? []) }
    }

    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    /// Docker: the native architecture and the ones it may also run (x86 and x32 on x86_64).
    public var archMap: [ArchMapEntry]?
    /// OCI: the architectures to accept, as `SCMP_ARCH_*` names.
    public var architectures: [String]?
    public var syscalls: [Rule]?

    public init(defaultAction: String, defaultErrnoRet: UInt32? = nil, archMap: [ArchMapEntry]? = nil,
                architectures: [String]? = nil, syscalls: [Rule]) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.archMap = archMap
        self.architectures = architectures
        self.syscalls = syscalls
    }

    /// Decodes a profile file's bytes; `source` names it in errors.
    public static func decode(_ data: [UInt8], source: String) throws(SpecError) -> SeccompProfile {
        let profile: SeccompProfile
        do {
            profile = try JSONDecoder().decode(SeccompProfile.self, from: Data(data))
        } catch {
            throw .seccompProfile(path: source, reason: "not a seccomp profile in Docker or OCI JSON format (\(SeccompProfile.shortReason(error)))")
        }
        // Surface unknown actions and operators now, not in the middle of a launch.
        do {
            _ = try SeccompAction(name: profile.defaultAction, errno: profile.defaultErrnoRet)
            for rule in profile.syscalls ?? [] {
                _ = try SeccompAction(name: rule.action, errno: rule.errnoRet)
                for arg in rule.args ?? [] { _ = try SeccompCompare(name: arg.op) }
                if rule.allNames.isEmpty { throw SeccompProfileError.ruleWithoutNames }
            }
        } catch let e as SeccompProfileError {
            throw .seccompProfile(path: source, reason: e.description)
        } catch {
            throw .seccompProfile(path: source, reason: "\(error)")
        }
        return profile
    }

    private static func shortReason(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return c.debugDescription
        case DecodingError.keyNotFound(let k, _): return "missing key \"\(k.stringValue)\""
        case DecodingError.typeMismatch(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.valueNotFound(_, let c):
            return "missing value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }

    /// Resolves the profile for one machine: which rules apply given the architecture, the
    /// capability bounding set the payload will have and the running kernel's version, as
    /// Docker does before handing rules to libseccomp.
    public func compile(for target: SeccompTarget) throws(SpecError) -> SeccompPolicy {
        do {
            return try compileUnchecked(target)
        } catch let e as SeccompProfileError {
            throw .seccompProfile(path: "profile", reason: e.description)
        } catch {
            throw .seccompProfile(path: "profile", reason: "\(error)")
        }
    }

    private func compileUnchecked(_ target: SeccompTarget) throws -> SeccompPolicy {
        let defaultAct = try SeccompAction(name: defaultAction, errno: defaultErrnoRet)
        var arches: [String] = []
        if let archMap {
            for entry in archMap where SeccompTarget.libseccompArch(entry.architecture) == target.nativeArch {
                arches = [target.nativeArch] + (entry.subArchitectures ?? []).map(SeccompTarget.libseccompArch)
            }
        } else if let architectures {
            arches = architectures.map(SeccompTarget.libseccompArch)
        }
        if !arches.contains(target.nativeArch) { arches.insert(target.nativeArch, at: 0) }

        var rules: [SeccompPolicy.Rule] = []
        for rule in syscalls ?? [] where applies(rule, target) {
            let action = try SeccompAction(name: rule.action, errno: rule.errnoRet)
            let args = try (rule.args ?? []).map { arg in
                SeccompPolicy.Condition(index: arg.index, compare: try SeccompCompare(name: arg.op),
                                        value: arg.value, valueTwo: arg.valueTwo ?? 0)
            }
            // Several conditions on the same argument cannot hold at once in one libseccomp
            // rule; Docker adds one rule per condition then (any of them allows).
            let indices = Set(args.map(\.index))
            let groups: [[SeccompPolicy.Condition]] = indices.count < args.count ? args.map { [$0] } : [args]
            for name in rule.allNames {
                for group in groups {
                    rules.append(.init(syscall: name, action: action, conditions: group))
                }
            }
        }
        return SeccompPolicy(defaultAction: defaultAct, architectures: arches, rules: rules)
    }

    private func applies(_ rule: Rule, _ target: SeccompTarget) -> Bool {
        if let inc = rule.includes, !inc.isEmpty {
            if let caps = inc.caps, !caps.isEmpty,
               !caps.allSatisfy({ Capability(name: $0).map(target.bounding.contains) ?? false }) { return false }
            if let archs = inc.arches, !archs.isEmpty, !archs.contains(target.dockerArch) { return false }
            if let k = inc.minKernel, !target.kernelAtLeast(k) { return false }
        }
        if let exc = rule.excludes, !exc.isEmpty {
            if let caps = exc.caps,
               caps.contains(where: { Capability(name: $0).map(target.bounding.contains) ?? false }) { return false }
            if let archs = exc.arches, archs.contains(target.dockerArch) { return false }
            if let k = exc.minKernel, target.kernelAtLeast(k) { return false }
        }
        return true
    }
}

enum SeccompProfileError: Error, CustomStringConvertible {
    case unknownAction(String)
    case unknownOperator(String)
    case ruleWithoutNames
    var description: String {
        switch self {
        case .unknownAction(let a): return "unknown action \"\(a)\""
        case .unknownOperator(let o): return "unknown argument operator \"\(o)\""
        case .ruleWithoutNames: return "a syscalls[] entry names no syscall"
        }
    }
}

/// The machine a profile is compiled for.
public struct SeccompTarget: Sendable {
    /// libseccomp's name for the native architecture (`x86_64`, `aarch64`, ...).
    public var nativeArch: String
    /// The capability bounding set the payload will run with.
    public var bounding: CapabilitySet
    /// The running kernel's major and minor version.
    public var kernel: (Int, Int)

    public init(nativeArch: String, bounding: CapabilitySet, kernel: (Int, Int)) {
        self.nativeArch = nativeArch
        self.bounding = bounding
        self.kernel = kernel
    }

    /// Docker's own architecture words in `includes.arches` (Go's names, mostly).
    var dockerArch: String {
        switch nativeArch {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case "x86": return "x86"
        case "loongarch64": return "loong64"
        default: return nativeArch
        }
    }

    func kernelAtLeast(_ version: String) -> Bool {
        let parts = version.split(separator: ".").map { Int($0) ?? 0 }
        let want = (parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
        return kernel.0 > want.0 || (kernel.0 == want.0 && kernel.1 >= want.1)
    }

    /// `SCMP_ARCH_X86_64` → `x86_64`, the spelling `seccomp_arch_resolve_name` takes.
    static func libseccompArch(_ name: String) -> String {
        var s = name
        if s.hasPrefix("SCMP_ARCH_") { s.removeFirst("SCMP_ARCH_".count) }
        return s.lowercased()
    }
}
