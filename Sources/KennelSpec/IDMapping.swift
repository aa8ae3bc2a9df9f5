/// The user-namespace id map kennel writes: container ids 0..<count land on host ids
/// base..<base+count, for uids and gids alike. Host ids below 65536 are refused so that
/// container root is never a real host account.
public struct IDMapping: Codable, Hashable, Sendable {
    /// Container uid 1000 on host uid 200001, as in the isolation model kennel reproduces.
    public static let defaultBase: UInt32 = 199_001
    /// Always a full 16-bit range, so every id an image may use is mapped.
    public static let rangeSize: UInt32 = 65_536
    /// The lowest acceptable base: everything at or above it is outside the usual host ids.
    public static let minimumBase: UInt32 = 65_536

    public let base: UInt32
    public var count: UInt32 { IDMapping.rangeSize }

    public init(base: UInt32 = IDMapping.defaultBase) throws(SpecError) {
        guard base >= IDMapping.minimumBase else { throw .mapBaseTooLow(base) }
        // The last host id, base + 65535, must fit below the kernel's (uid_t)-1, which means "no id".
        guard UInt64(base) + UInt64(IDMapping.rangeSize) <= UInt64(UInt32.max) else {
            throw .mapBaseOverflows(base)
        }
        self.base = base
    }

    private enum CodingKeys: String, CodingKey { case base }

    /// Decoding validates like `init(base:)`: a JSON plan can never map container root onto
    /// a host system id.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(base: try c.decode(UInt32.self, forKey: .base))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(base, forKey: .base)
    }

    /// The host id that a container id lands on, or nil if it is outside the range.
    public func hostID(forContainer id: UInt32) -> UInt32? {
        id < count ? base + id : nil
    }

    /// The container id that a host id shows as, or nil (the kernel shows 65534 then).
    public func containerID(forHost id: UInt32) -> UInt32? {
        id >= base && id - base < count ? id - base : nil
    }

    /// The single line written to /proc/PID/uid_map and gid_map.
    public var mapLine: String { "0 \(base) \(count)\n" }
}
