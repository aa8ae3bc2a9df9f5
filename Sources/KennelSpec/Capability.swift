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

    /// Applies `--cap-drop` then `--cap-add` the way Docker does: `ALL` in drop empties the
    /// set; `ALL` in add fills it; otherwise exactly the named bits change.
    public static func resolve(base: CapabilitySet, add: [String], drop: [String]) throws(SpecError) -> CapabilitySet {
        var set = base
        for name in drop {
            if name.uppercased() == "ALL" { set = .empty; continue }
            guard let cap = Capability(name: name) else { throw .unknownCapability(name) }
            set.remove(cap)
        }
        for name in add {
            if name.uppercased() == "ALL" { set = .all; continue }
            guard let cap = Capability(name: name) else { throw .unknownCapability(name) }
            set.insert(cap)
        }
        return set
    }
}
