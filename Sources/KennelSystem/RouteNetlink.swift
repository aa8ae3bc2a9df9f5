import Glibc

/// rtnetlink, the kernel's interface for routes, spoken directly: one socket, one
/// RTM_NEWROUTE request per route, each acknowledged. (No `ip` process per launch.)
public struct RouteNetlink {
    private let fd: Int32
    private var sequence: UInt32 = 1

    /// A NETLINK_ROUTE socket in the current network namespace.
    public init() throws(Errno) {
        fd = try retrying { socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */) }
    }

    public func close() { FD.close(fd) }

    /// Adds `prohibit ADDRESS/PREFIX` to the main table: senders get EACCES at once.
    /// `address` is 4 (IPv4) or 16 (IPv6) bytes.
    public mutating func addProhibitRoute(address: [UInt8], prefixLength: UInt8) throws(Errno) {
        let family: UInt8 = address.count == 4 ? UInt8(AF_INET) : UInt8(AF_INET6)
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags.
        let rtmsg: [UInt8] = [family, prefixLength, 0, 0, 254 /* RT_TABLE_MAIN */, 4 /* RTPROT_STATIC */,
                              0 /* RT_SCOPE_UNIVERSE */, 8 /* RTN_PROHIBIT */, 0, 0, 0, 0]
        // One attribute: RTA_DST (1), 4-byte header + address, padded to 4.
        var attribute = RouteNetlink.le16(UInt16(4 + address.count)) + RouteNetlink.le16(1) + address
        while attribute.count % 4 != 0 { attribute.append(0) }
        try request(type: 24 /* RTM_NEWROUTE */,
                    flags: 0x1 | 0x4 | 0x400 | 0x200 /* REQUEST | ACK | CREATE | EXCL */,
                    payload: rtmsg + attribute)
    }

    /// Sends one request and waits for its acknowledgement (NLMSG_ERROR with error 0).
    private mutating func request(type: UInt16, flags: UInt16, payload: [UInt8]) throws(Errno) {
        let seq = sequence
        sequence &+= 1
        let message = RouteNetlink.le32(UInt32(16 + payload.count)) + RouteNetlink.le16(type) + RouteNetlink.le16(flags)
            + RouteNetlink.le32(seq) + RouteNetlink.le32(0) + payload
        // Unaddressed, a netlink message goes to the kernel (port 0).
        _ = try retrying { message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
        var reply = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = try retrying { reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            var offset = 0
            while offset + 16 <= n {
                let length = Int(RouteNetlink.u32(reply, offset))
                let kind = RouteNetlink.u16(reply, offset + 4)
                let replySeq = RouteNetlink.u32(reply, offset + 8)
                if kind == 2 /* NLMSG_ERROR */ && replySeq == seq && offset + 20 <= n {
                    let error = Int32(bitPattern: RouteNetlink.u32(reply, offset + 16))
                    if error == 0 { return }
                    throw Errno(rawValue: -error)
                }
                guard length >= 16 else { break }
                offset += (length + 3) & ~3
            }
        }
    }

    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
    static func u16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    static func u32(_ b: [UInt8], _ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[i + $1]) << (8 * UInt32($1)) } }
}
