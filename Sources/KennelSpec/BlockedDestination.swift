import Glibc

/// A destination the sandbox must never reach: installed inside as a `prohibit` route, so a
/// connect fails at once with EACCES instead of hanging, in a network namespace container root
/// cannot reconfigure.
public struct BlockedDestination: Codable, Hashable, Sendable, CustomStringConvertible {
    public enum Family: String, Codable, Sendable { case ipv4, ipv6 }

    public var family: Family
    /// The network address, 4 or 16 bytes, host bits cleared.
    public var address: [UInt8]
    public var prefixLength: UInt8
    /// Why it is blocked (`imds`, `ecs`, `eks`, `user`, `efs`), for inspection.
    public var reason: String

    /// Always blocked: the instance metadata service, ECS task credentials and the EKS pod
    /// identity agent. (Route 53 DNS and time sync at 169.254.169.253/.123 stay reachable.)
    /// Spelled as bytes (169.254.169.254, fd00:ec2::254, 169.254.170.2, 169.254.170.23,
    /// fd00:ec2::23): parsing the text cost each launch some runtime type-metadata work. A
    /// unit test compares them with the parsed text.
    public static let defaults: [BlockedDestination] = [
        BlockedDestination(host: [169, 254, 169, 254], reason: "imds"),
        BlockedDestination(host: awsIPv6(0x0254), reason: "imds"),
        BlockedDestination(host: [169, 254, 170, 2], reason: "ecs"),
        BlockedDestination(host: [169, 254, 170, 23], reason: "eks"),
        BlockedDestination(host: awsIPv6(0x0023), reason: "eks"),
    ]

    /// fd00:ec2::`last`, AWS's IPv6 link-local services.
    private static func awsIPv6(_ last: UInt16) -> [UInt8] {
        [0xfd, 0x00, 0x0e, 0xc2] + [UInt8](repeating: 0, count: 10) + [UInt8(last >> 8), UInt8(last & 0xff)]
    }

    /// One host: 4 bytes (IPv4) or 16 (IPv6).
    private init(host: [UInt8], reason: String) {
        family = host.count == 4 ? .ipv4 : .ipv6
        address = host
        prefixLength = UInt8(host.count * 8)
        self.reason = reason
    }

    /// Parses `ADDRESS[/PREFIX]` (IPv4 or IPv6); a bare address is one host. `option` names
    /// the command-line option in error messages.
    public init(cidr: String, reason: String = "user", option: String = "--block") throws(SpecError) {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty else { throw .malformedOption(option: option, value: cidr, expected: "CIDR") }
        let text = String(parts[0])
        var v4 = in_addr()
        var v6 = in6_addr()
        var prefixOverride: UInt8?
        if inet_pton(AF_INET, text, &v4) == 1 {
            family = .ipv4
            address = withUnsafeBytes(of: v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            family = .ipv6
            address = withUnsafeBytes(of: v6) { Array($0) }
            // ::ffff:a.b.c.d/n is an IPv4 destination (connects to it are routed as IPv4).
            if address.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
                family = .ipv4
                address = Array(address.suffix(4))
                if parts.count == 2, let p = UInt8(parts[1]), p >= 96 { prefixOverride = p - 96 }
            }
        } else {
            throw .malformedOption(option: option, value: cidr, expected: "an IPv4 or IPv6 address or CIDR")
        }
        let maxPrefix = UInt8(address.count * 8)
        if let prefixOverride {
            prefixLength = prefixOverride
        } else if parts.count == 2 {
            guard let p = UInt8(parts[1]), p <= maxPrefix else {
                throw .malformedOption(option: option, value: cidr, expected: "a prefix length of at most \(maxPrefix)")
            }
            prefixLength = p
        } else {
            prefixLength = maxPrefix
        }
        for i in address.indices {
            let keep = max(0, min(8, Int(prefixLength) - i * 8))
            let hostBits = UInt8(truncatingIfNeeded: (1 << (8 - keep)) - 1)
            address[i] &= ~hostBits
        }
        self.reason = reason
    }

    /// Parses a block list file: one destination a line, `CIDR` or `efs IP`; `#` starts a
    /// comment. Returns (blocks, EFS targets) for `--block` and `--block-efs`.
    public static func parseList(_ text: String, source: String) throws(SpecError) -> (block: [String], efs: [String]) {
        var block: [String] = [], efs: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            switch words.count {
            case 0: continue
            case 1: block.append(words[0])
            case 2 where words[0] == "efs": efs.append(words[1])
            default:
                throw .malformedOption(option: "--block-file", value: "\(source):\(n + 1)", expected: "CIDR or `efs IP` per line")
            }
        }
        return (block, efs)
    }

    /// True if `other` (4 or 16 bytes) lies inside this prefix.
    public func contains(_ other: [UInt8]) -> Bool {
        guard other.count == address.count else { return false }
        for i in address.indices {
            let keep = max(0, min(8, Int(prefixLength) - i * 8))
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - keep))
            if other[i] & mask != address[i] { return false }
        }
        return true
    }

    /// True if the two prefixes share any address.
    public func overlaps(_ other: BlockedDestination) -> Bool {
        guard family == other.family else { return false }
        return prefixLength <= other.prefixLength ? contains(other.address) : other.contains(address)
    }

    /// Space a bridge pool must stay out of: link-local (the metadata services live there, and
    /// a host route into a sandbox would let it answer as them), loopback, "this network",
    /// multicast and reserved space; in IPv6 also AWS's fd00:ec2::/32 services.
    public static let reservedForPools: [BlockedDestination] = [
        "169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/3",
        "fe80::/10", "::/8", "ff00::/8", "fd00:ec2::/32",
    ].compactMap { try? BlockedDestination(cidr: $0, reason: "reserved") }

    /// The same route, whatever the reason: two entries for one route are one.
    public func sameRoute(as other: BlockedDestination) -> Bool {
        family == other.family && prefixLength == other.prefixLength && address == other.address
    }

    public var description: String { BlockedDestination.text(address) + "/\(prefixLength)" }

    /// An address (4 or 16 bytes) in its usual text form.
    public static func text(_ address: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let af = address.count == 4 ? AF_INET : AF_INET6
        _ = address.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
