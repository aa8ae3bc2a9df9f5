/// A Linux capability, numbered as in <linux/capability.h>.
public struct Capability: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let number: Int

    public init?(number: Int) {
        guard Capability.names.indices.contains(number) else { return nil }
        self.number = number
    }

    /// Accepts `chown`, `CHOWN`, `cap_chown` and `CAP_CHOWN`.
    public init?(name: String) {
        var upper = name.uppercased()
        if upper.hasPrefix("CAP_") { upper.removeFirst(4) }
        guard let index = Capability.names.firstIndex(of: upper) else { return nil }
        self.number = index
    }

    public var name: String { "CAP_" + Capability.names[number] }
    public var description: String { name }
    public static func < (a: Capability, b: Capability) -> Bool { a.number < b.number }

    /// Every capability this build knows, in kernel order (CAP_LAST_CAP = 40 on Linux 5.9+).
    public static let names: [String] = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    ]

    public static var all: [Capability] { names.indices.compactMap { Capability(number: $0) } }
}

/// A set of capabilities as the kernel's 64-bit mask (the form /proc/PID/status prints).
public struct CapabilitySet: Hashable, Codable, Sendable, CustomStringConvertible {
    public var mask: UInt64

    public init(mask: UInt64) { self.mask = mask }
    public init<S: Sequence>(_ caps: S) where S.Element == Capability {
        mask = caps.reduce(0) { $0 | (1 << UInt64($1.number)) }
    }

    public static let empty = CapabilitySet(mask: 0)
    public static let all = CapabilitySet(Capability.all)

    /// Docker's default 14: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
    /// SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE, i.e. 0x00000000a80425fb.
    public static let dockerDefault = CapabilitySet(mask: 0x0000_0000_a804_25fb)

    public func contains(_ cap: Capability) -> Bool { mask & (1 << UInt64(cap.number)) != 0 }
    public mutating func insert(_ cap: Capability) { mask |= 1 << UInt64(cap.number) }
    public mutating func remove(_ cap: Capability) { mask &= ~(1 << UInt64(cap.number)) }
    public var members: [Capability] { Capability.all.filter(contains) }
    public var isEmpty: Bool { mask == 0 }

    /// `0x00000000a80425fb`, as /proc/self/status prints it.
    public var description: String {
        let hex = String(mask, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    /// Applies `--cap-add` and `--cap-drop` the way Docker does: `ALL` in add starts from
    /// every capability and then drops; `ALL` in drop starts from none and then adds;
    /// otherwise exactly the named bits change (drop first, then add).
    public static func resolve(base: CapabilitySet, add: [String], drop: [String]) throws(SpecError) -> CapabilitySet {
        func caps(_ names: [String]) throws(SpecError) -> [Capability] {
            var out: [Capability] = []
            for name in names where name.uppercased() != "ALL" {
                guard let cap = Capability(name: name) else { throw .unknownCapability(name) }
                out.append(cap)
            }
            return out
        }
        let adding = try caps(add), dropping = try caps(drop)
        let addAll = add.contains { $0.uppercased() == "ALL" }
        let dropAll = drop.contains { $0.uppercased() == "ALL" }
        var set = addAll ? .all : (dropAll ? .empty : base)
        if addAll {
            for cap in dropping { set.remove(cap) }
        } else {
            for cap in dropping { set.remove(cap) }
            for cap in adding { set.insert(cap) }
        }
        return set
    }
}
