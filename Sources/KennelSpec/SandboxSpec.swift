import Glibc
/// Everything a user asked for with `kennel run`, before anything is created. The CLI fills
/// it; `LaunchPlan(spec:…)` validates it and turns it into the ordered steps the launcher runs.
/// Codable so that tools (and later `kennel inspect`) can read and write it as JSON.
public struct SandboxSpec: Codable, Equatable, Sendable {
    /// A host path made visible inside.
    public struct Bind: Codable, Equatable, Sendable {
        public var source: String
        public var destination: String
        public var readOnly: Bool

        public init(source: String, destination: String, readOnly: Bool) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
        }

        /// Parses `SRC:DST[:ro|:rw]`.
        public static func parse(_ s: String) throws(SpecError) -> Bind {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .malformedOption(option: "--bind", value: s, expected: "SRC:DST[:ro]")
            }
            var ro = false
            if parts.count == 3 {
                switch parts[2] {
                case "ro": ro = true
                case "rw": ro = false
                default: throw .malformedOption(option: "--bind", value: s, expected: "SRC:DST[:ro]")
                }
            }
            guard parts[1].hasPrefix("/") else { throw .relativePath(option: "--bind", path: parts[1]) }
            guard parts[0].hasPrefix("/") else { throw .relativePath(option: "--bind", path: parts[0]) }
            // The root itself is --rootfs: a mount step at / would never be made.
            guard !parts[1].allSatisfy({ $0 == "/" }) else {
                throw .malformedOption(option: "--bind", value: s, expected: "a target below / (the root itself is --rootfs)")
            }
            return Bind(source: parts[0], destination: parts[1], readOnly: ro)
        }
    }

    /// A private tmpfs inside.
    public struct Tmpfs: Codable, Equatable, Sendable {
        public var destination: String
        /// Bytes; nil means the kernel default (half of RAM).
        public var size: UInt64?

        public init(destination: String, size: UInt64? = nil) {
            self.destination = destination
            self.size = size
        }

        /// Parses `DST[:SIZE]` where SIZE is bytes or a number with k, m or g.
        public static func parse(_ s: String) throws(SpecError) -> Tmpfs {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(parts.count), !parts[0].isEmpty else {
                throw .malformedOption(option: "--tmpfs", value: s, expected: "DST[:SIZE]")
            }
            guard parts[0].hasPrefix("/") else { throw .relativePath(option: "--tmpfs", path: parts[0]) }
            guard !parts[0].allSatisfy({ $0 == "/" }) else {
                throw .malformedOption(option: "--tmpfs", value: s, expected: "a target below / (the root itself is --rootfs)")
            }
            var size: UInt64?
            if parts.count == 2 {
                guard let n = Tmpfs.parseSize(parts[1]) else {
                    throw .malformedOption(option: "--tmpfs", value: s, expected: "DST[:SIZE] with SIZE like 64m")
                }
                size = n
            }
            return Tmpfs(destination: parts[0], size: size)
        }

        static func parseSize(_ s: String) -> UInt64? {
            let lower = s.lowercased()
            let units: [Character: UInt64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
            if let last = lower.last, let mult = units[last] {
                return UInt64(lower.dropLast()).flatMap { $0.multipliedReportingOverflow(by: mult).overflow ? nil : $0 * mult }
            }
            return UInt64(lower)
        }
    }

    /// Which seccomp policy the payload runs under.
    public enum Seccomp: Codable, Equatable, Sendable, CustomStringConvertible {
        case builtinDefault
        case unconfined
        case profile(path: String)

        /// As given on the command line: `default`, `unconfined` or the profile's path.
        public var description: String {
            switch self {
            case .builtinDefault: return "default"
            case .unconfined: return "unconfined"
            case .profile(let path): return path
            }
        }

        public static func parse(_ s: String) -> Seccomp {
            switch s {
            case "default": return .builtinDefault
            case "unconfined": return .unconfined
            default: return .profile(path: s)
            }
        }
    }

    /// A published port: connections to `hostIP:hostPort` on the host reach `sandboxPort` on
    /// the sandbox's own loopback (what lets a stock Jupyter client, which only knows
    /// 127.0.0.1 and the ports in its connection file, talk to a kernel inside).
    public struct Publish: Codable, Equatable, Sendable {
        public var hostIP: String
        public var hostPort: UInt16
        public var sandboxPort: UInt16

        public init(hostIP: String = "127.0.0.1", hostPort: UInt16, sandboxPort: UInt16) {
            self.hostIP = hostIP
            self.hostPort = hostPort
            self.sandboxPort = sandboxPort
        }

        /// Parses `[HOSTIP:]HOSTPORT[:SANDBOXPORT][/tcp]` (IPv4 host addresses).
        public static func parse(_ s: String) throws(SpecError) -> Publish {
            let expected = "[HOSTIP:]HOSTPORT[:SANDBOXPORT][/tcp]"
            var body = Substring(s)
            if let slash = body.firstIndex(of: "/") {
                guard body[body.index(after: slash)...] == "tcp" else {
                    throw .malformedOption(option: "--publish", value: s, expected: expected + " (tcp only)")
                }
                body = body[..<slash]
            }
            let parts = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            func port(_ p: String) throws(SpecError) -> UInt16 {
                guard let n = UInt16(p), n > 0 else { throw .malformedOption(option: "--publish", value: s, expected: expected) }
                return n
            }
            switch parts.count {
            case 1:
                let p = try port(parts[0])
                return Publish(hostPort: p, sandboxPort: p)
            case 2:
                if Publish.isIPv4(parts[0]) {
                    let p = try port(parts[1])
                    return Publish(hostIP: parts[0], hostPort: p, sandboxPort: p)
                }
                return Publish(hostPort: try port(parts[0]), sandboxPort: try port(parts[1]))
            case 3:
                guard Publish.isIPv4(parts[0]) else {
                    throw .malformedOption(option: "--publish", value: s, expected: expected + " with an IPv4 HOSTIP")
                }
                return Publish(hostIP: parts[0], hostPort: try port(parts[1]), sandboxPort: try port(parts[2]))
            default:
                throw .malformedOption(option: "--publish", value: s, expected: expected)
            }
        }

        /// Dotted-quad IPv4, as inet_pton(3) reads it (the address the relay will listen on).
        static func isIPv4(_ s: String) -> Bool {
            var address = in_addr()
            return inet_pton(AF_INET, s, &address) == 1
        }
    }

    /// The network the sandbox gets: `none`, loopback only; `bridge`, a veth pair to the host
    /// with an address from `subnet`, a default route and NAT for egress.
    public enum Network: String, Codable, Equatable, Sendable {
        case none
        case bridge
    }

    public var command: [String]
    public var user: String = SandboxSpec.defaultUser
    public var groupAdd: [String] = []
    public var mapBase: UInt32 = IDMapping.defaultBase
    /// nil: the embedded default, the host's `/` read-only with private scratch.
    public var rootfs: String?
    public var binds: [Bind] = []
    public var tmpfs: [Tmpfs] = []
    public var workdir: String?
    public var hostname: String = SandboxSpec.defaultHostname
    /// Ordered `KEY=VALUE` pairs added to the clean base environment (later wins).
    public var env: [String] = []
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var seccomp: Seccomp = .builtinDefault
    public var allowSetuid: Bool = false
    public var network: Network = .none
    public var statusJSON: String?
    public var publish: [Publish] = []
    /// Extra destinations to block (`--block CIDR`), and EFS mount targets (`--block-efs IP`).
    public var block: [String] = []
    /// `--net bridge`: the pool sandbox addresses come from, and the DNS servers to use.
    public var subnet: String = SandboxSpec.defaultSubnet
    /// `--net bridge`, when the host routes IPv6: the IPv6 pool (one /126 each), or `none`.
    public var subnet6: String = SandboxSpec.defaultSubnet6
    /// The defaults the command line shows: both parsers take them from here.
    public static let defaultUser = "0:0"
    public static let defaultHostname = "kennel"
    /// A /16 of the 10/8 private space that hosts rarely use.
    public static let defaultSubnet = "10.213.0.0/16"
    /// A unique-local /64 ("ken" in its global id), far from AWS's fd00:ec2::/32 services.
    public static let defaultSubnet6 = "fd6b:656e:6e65::/64"
    public var dns: [String] = []
    public var blockEFS: [String] = []
    /// Block list files (`--block-file`), read by the launcher.
    public var blockFiles: [String] = []

    public init(command: [String]) { self.command = command }
}
