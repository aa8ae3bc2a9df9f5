import Glibc

/// rtnetlink, the kernel's interface for links, addresses and routes, spoken directly: one
/// socket, one acknowledged request per change (no `ip` process per launch). A socket belongs
/// to the network namespace it was created in, whatever namespace its user later enters.
public struct Rtnetlink {
    private let fd: Int32
    private var sequence: UInt32 = 1

    /// A netlink socket in the current network namespace: NETLINK_ROUTE (0) by default, or
    /// another protocol (NETLINK_NETFILTER = 12, for nftables).
    public init(protocol proto: Int32 = 0) throws(Errno) {
        fd = try retrying { socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto) }
    }

    public func close() { FD.close(fd) }

    // MARK: routes

    /// Adds `prohibit ADDRESS/PREFIX` to the main table: senders get EACCES at once.
    /// `address` is 4 (IPv4) or 16 (IPv6) bytes.
    public mutating func addProhibitRoute(address: [UInt8], prefixLength: UInt8) throws(Errno) {
        try addRoute(type: 8 /* RTN_PROHIBIT */, destination: address, prefixLength: prefixLength, attributes: [])
    }

    /// Adds a default route via `gateway` out of interface `index`.
    public mutating func addDefaultRoute(gateway: [UInt8], interface index: Int32) throws(Errno) {
        try addRoute(type: 1 /* RTN_UNICAST */, destination: nil, prefixLength: 0, family: gateway.count,
                     attributes: [Rtnetlink.attribute(5 /* RTA_GATEWAY */, gateway),
                                  Rtnetlink.attribute(4 /* RTA_OIF */, Rtnetlink.host32(UInt32(bitPattern: index)))])
    }

    private mutating func addRoute(type: UInt8, destination: [UInt8]?, prefixLength: UInt8, family addressLength: Int? = nil,
                                   attributes: [[UInt8]]) throws(Errno) {
        let length = destination?.count ?? addressLength ?? 4
        let family: UInt8 = length == 4 ? UInt8(AF_INET) : UInt8(AF_INET6)
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags.
        let rtmsg: [UInt8] = [family, prefixLength, 0, 0, 254 /* RT_TABLE_MAIN */, 4 /* RTPROT_STATIC */,
                              0 /* RT_SCOPE_UNIVERSE */, type, 0, 0, 0, 0]
        var payload = rtmsg
        if let destination { payload += Rtnetlink.attribute(1 /* RTA_DST */, destination) }
        for a in attributes { payload += a }
        try request(type: 24 /* RTM_NEWROUTE */, flags: Rtnetlink.create, payload: payload)
    }

    /// A unicast route of a routing table other than `local`: its family (AF_INET, AF_INET6), destination and the
    /// interfaces it leaves by (each next hop of a multipath route).
    public struct Route: Equatable {
        public let family: Int32
        public let destination: [UInt8]
        public let prefixLength: UInt8
        public let interfaces: [Int32]
        public init(family: Int32, destination: [UInt8], prefixLength: UInt8, interfaces: [Int32]) {
            self.family = family
            self.destination = destination
            self.prefixLength = prefixLength
            self.interfaces = interfaces
        }
    }

    /// The unicast routes of every routing table but `local` (the host's own addresses), IPv4
    /// and IPv6, from one RTM_GETROUTE dump (AF_UNSPEC: every family in one request; a dump
    /// covers all tables). Policy routing's tables (a VPN's, say) count like the main one. A
    /// route through a nexthop object names no interface itself where the kernel is told not to
    /// repeat the nexthop's (`nexthop_compat_mode` 0): one RTM_GETNEXTHOP dump resolves those.
    public mutating func unicastRoutes() throws(Errno) -> [Route] {
        var out: [Route] = [], unresolved: [(route: Int, nexthop: UInt32)] = []
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags.
        try request(type: 26 /* RTM_GETROUTE */, flags: Rtnetlink.dump, payload: [UInt8](repeating: 0, count: 12)) { reply in
            let m = Array(reply)
            // struct rtmsg follows the 16-byte header; its attributes start at 28.
            guard m.count >= 28, m[16] == UInt8(AF_INET) || m[16] == UInt8(AF_INET6), m[23] == 1 /* RTN_UNICAST */ else { return }
            var table = UInt32(m[20]), destination: [UInt8] = [], interfaces: [Int32] = [], nexthop: UInt32?
            Rtnetlink.forEachAttribute(m, from: 28) { type, value in
                let v = Array(value)
                switch type {
                case 1 /* RTA_DST */: destination = v
                case 30 /* RTA_NH_ID */ where v.count >= 4: nexthop = Rtnetlink.u32(v, 0)
                case 4 /* RTA_OIF */ where v.count >= 4: interfaces.append(Int32(bitPattern: Rtnetlink.u32(v, 0)))
                case 15 /* RTA_TABLE */ where v.count >= 4: table = Rtnetlink.u32(v, 0)
                case 9 /* RTA_MULTIPATH */:
                    // struct rtnexthop: u16 length, u8 flags, u8 hops, i32 interface; attributes.
                    var o = 0
                    while o + 8 <= v.count {
                        let length = Int(Rtnetlink.u16(v, o))
                        interfaces.append(Int32(bitPattern: Rtnetlink.u32(v, o + 4)))
                        guard length >= 8 else { break }
                        o += (length + 3) & ~3
                    }
                default: break
                }
            }
            guard table != 255 /* RT_TABLE_LOCAL */ else { return }
            if let nexthop, interfaces.isEmpty { unresolved.append((out.count, nexthop)) }
            out.append(Route(family: Int32(m[16]), destination: destination, prefixLength: m[17], interfaces: interfaces))
        }
        if unresolved.isEmpty { return out }
        let nexthops = try nexthopInterfaces()
        for (i, id) in unresolved {
            let r = out[i]
            out[i] = Route(family: r.family, destination: r.destination, prefixLength: r.prefixLength, interfaces: nexthops[id] ?? [])
        }
        return out
    }

    /// The interfaces of every nexthop object, by id (a group's: its members'), from one
    /// RTM_GETNEXTHOP dump.
    mutating func nexthopInterfaces() throws(Errno) -> [UInt32: [Int32]] {
        var direct: [UInt32: [Int32]] = [:], groups: [UInt32: [UInt32]] = [:]
        // struct nhmsg: family (AF_UNSPEC: all), scope, protocol, reserved; u32 flags.
        try request(type: 106 /* RTM_GETNEXTHOP */, flags: Rtnetlink.dump, payload: [UInt8](repeating: 0, count: 8)) { reply in
            let m = Array(reply)
            var id: UInt32?, oif: Int32?, members: [UInt32] = []
            // struct nhmsg follows the 16-byte header; its attributes start at 24.
            Rtnetlink.forEachAttribute(m, from: 24) { type, value in
                let v = Array(value)
                switch type {
                case 1 /* NHA_ID */ where v.count >= 4: id = Rtnetlink.u32(v, 0)
                case 5 /* NHA_OIF */ where v.count >= 4: oif = Int32(bitPattern: Rtnetlink.u32(v, 0))
                case 2 /* NHA_GROUP: struct nexthop_grp { u32 id; u8 weight, weight_high; u16 reserved } */:
                    members = stride(from: 0, to: v.count - 7, by: 8).map { Rtnetlink.u32(v, $0) }
                default: break
                }
            }
            guard let id else { return }
            if let oif { direct[id] = [oif] }
            if !members.isEmpty { groups[id] = members }
        }
        for (id, members) in groups { direct[id] = members.flatMap { direct[$0] ?? [] } }
        return direct
    }

    // MARK: links

    /// Whether the link with `index` is a bridge, and if so whether the bridge itself asks
    /// br_netfilter to pass its frames through the IPv4 and IPv6 hooks (its nf_call_iptables
    /// and nf_call_ip6tables options). Nil if it is no bridge.
    public mutating func bridgeNetfilter(index: Int32) throws(Errno) -> (ipv4: Bool, ipv6: Bool)? {
        var result: (ipv4: Bool, ipv6: Bool)?
        try request(type: 18 /* RTM_GETLINK */, flags: Rtnetlink.ack, payload: Rtnetlink.ifinfomsg(index: index, flags: 0, change: 0)) { reply in
            // struct ifinfomsg (16 bytes) follows the 16-byte header; its attributes start at 32.
            Rtnetlink.forEachAttribute(Array(reply), from: 32) { type, value in
                guard type & 0x3fff == 18 /* IFLA_LINKINFO, nested */ else { return }
                var kind = "", data: [UInt8] = []
                Rtnetlink.forEachAttribute(Array(value), from: 0) { t, v in
                    if t & 0x3fff == 1 /* IFLA_INFO_KIND */ { kind = String(decoding: v.prefix { $0 != 0 }, as: UTF8.self) }
                    if t & 0x3fff == 2 /* IFLA_INFO_DATA */ { data = Array(v) }
                }
                guard kind == "bridge" else { return }
                var options = (ipv4: false, ipv6: false)
                Rtnetlink.forEachAttribute(data, from: 0) { t, v in
                    if t & 0x3fff == 36 /* IFLA_BR_NF_CALL_IPTABLES */ { options.ipv4 = (v.first ?? 0) != 0 }
                    if t & 0x3fff == 37 /* IFLA_BR_NF_CALL_IP6TABLES */ { options.ipv6 = (v.first ?? 0) != 0 }
                }
                result = options
            }
        }
        return result
    }

    /// The name of the link with `index` in the current network namespace (if_indextoname).
    public static func interfaceName(_ index: Int32) -> String? {
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(UInt32(bitPattern: index), &name) != nil else { return nil }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Creates a veth pair: `name` here, `peerName` directly inside the network namespace
    /// `peerNamespace` (an fd to /proc/PID/ns/net), so the peer never exists on the host.
    ///
    /// A point-to-point pair: both ends get the one hardware address `sharedAddress` and
    /// IFF_NOARP. On a NOARP link the kernel addresses every frame to the sending end's own
    /// hardware address, which here is the peer's too, so neither ARP nor IPv6 neighbour
    /// discovery ever runs: no resolution delays a first packet, and bringing the link up
    /// with its addresses runs no duplicate address detection and joins no solicited-node
    /// groups (so no listener reports for them; an end that forwards IPv6 still reports the
    /// all-routers group once).
    ///
    /// One transmit and one receive queue per end: a veth otherwise allocates one per
    /// possible CPU (each with its sysfs entries) and then keeps only one in use.
    public mutating func createVethPair(name: String, peerName: String, peerNamespace: Int32, sharedAddress: [UInt8]) throws(Errno) {
        let iffNoARP: UInt32 = 0x80
        let oneQueue = Rtnetlink.attribute(31 /* IFLA_NUM_TX_QUEUES */, Rtnetlink.host32(1))
            + Rtnetlink.attribute(32 /* IFLA_NUM_RX_QUEUES */, Rtnetlink.host32(1))
        let peer = Rtnetlink.ifinfomsg(index: 0, flags: iffNoARP, change: iffNoARP)
            + Rtnetlink.attribute(3 /* IFLA_IFNAME */, Rtnetlink.cString(peerName))
            + Rtnetlink.attribute(1 /* IFLA_ADDRESS */, sharedAddress) + oneQueue
            + Rtnetlink.attribute(28 /* IFLA_NET_NS_FD */, Rtnetlink.host32(UInt32(bitPattern: peerNamespace)))
        let info = Rtnetlink.attribute(1 /* IFLA_INFO_KIND */, Rtnetlink.cString("veth"))
            + Rtnetlink.attribute(2 /* IFLA_INFO_DATA */, Rtnetlink.attribute(1 /* VETH_INFO_PEER */, peer))
        let payload = Rtnetlink.ifinfomsg(index: 0, flags: iffNoARP, change: iffNoARP)
            + Rtnetlink.attribute(3 /* IFLA_IFNAME */, Rtnetlink.cString(name))
            + Rtnetlink.attribute(1 /* IFLA_ADDRESS */, sharedAddress) + oneQueue
            + Rtnetlink.attribute(18 /* IFLA_LINKINFO */, info)
        try request(type: 16 /* RTM_NEWLINK */, flags: Rtnetlink.create, payload: payload)
    }

    /// The index of the link called `name` in this socket's network namespace (RTM_GETLINK).
    public mutating func linkIndex(name: String) throws(Errno) -> Int32 {
        var index: Int32 = 0
        try request(type: 18 /* RTM_GETLINK */, flags: Rtnetlink.ack,
                    payload: Rtnetlink.ifinfomsg(index: 0, flags: 0, change: 0) + Rtnetlink.attribute(3 /* IFLA_IFNAME */, Rtnetlink.cString(name))) { reply in
            // struct ifinfomsg follows the 16-byte header: its index is at offset 4.
            if reply.count >= 24 { index = Int32(bitPattern: Rtnetlink.u32(Array(reply), 20)) }
        }
        guard index > 0 else { throw Errno(rawValue: ENODEV) }
        return index
    }

    /// Sets a link up. Without `linkLocalIPv6`, the kernel generates no IPv6 address for it
    /// (IFLA_INET6_ADDR_GEN_MODE none, in the same request, so none exists even for a
    /// moment): no generated link-local address and no duplicate address detection for it,
    /// for a link that carries no IPv6 or needs no link-local address (a NOARP link).
    public mutating func setUp(interface index: Int32, linkLocalIPv6: Bool = true) throws(Errno) {
        let iffUp: UInt32 = 1
        let up = Rtnetlink.ifinfomsg(index: index, flags: iffUp, change: iffUp)
        if !linkLocalIPv6 {
            let inet6 = Rtnetlink.attribute(8 /* IFLA_INET6_ADDR_GEN_MODE */, [1 /* IN6_ADDR_GEN_MODE_NONE */])
            do {
                try request(type: 16 /* RTM_NEWLINK */, flags: Rtnetlink.ack,
                            payload: up + Rtnetlink.attribute(26 /* IFLA_AF_SPEC */, Rtnetlink.attribute(UInt16(AF_INET6), inet6)))
                return
            } catch where error == .addressFamilyNotSupported {
                // No IPv6 for this link (a kernel booted with ipv6.disable=1): nothing to
                // suppress, just bring it up.
            }
        }
        try request(type: 16 /* RTM_NEWLINK */, flags: Rtnetlink.ack, payload: up)
    }

    // MARK: addresses

    /// Adds ADDRESS/PREFIX on interface `index`. IPv6 addresses skip duplicate address
    /// detection (IFA_F_NODAD): kennel owns both ends of the link, and DAD would leave the
    /// address unusable ("tentative") for about a second.
    public mutating func addAddress(_ address: [UInt8], prefixLength: UInt8, interface index: Int32) throws(Errno) {
        let family: UInt8 = address.count == 4 ? UInt8(AF_INET) : UInt8(AF_INET6)
        let flags: UInt8 = address.count == 4 ? 0 : 0x02 /* IFA_F_NODAD */
        // struct ifaddrmsg: family, prefixlen, flags, scope; u32 index.
        var payload: [UInt8] = [family, prefixLength, flags, 0] + Rtnetlink.host32(UInt32(bitPattern: index))
        payload += Rtnetlink.attribute(2 /* IFA_LOCAL */, address)
        payload += Rtnetlink.attribute(1 /* IFA_ADDRESS */, address)
        try request(type: 20 /* RTM_NEWADDR */, flags: Rtnetlink.create, payload: payload)
    }

    /// One address of this namespace: its link's index, the IPv4 label (the link's name, or
    /// an alias that starts with it; IPv6 addresses have none) and the address, 4 or 16 bytes.
    public struct Address {
        public let interface: Int32
        public let label: String?
        public let address: [UInt8]
    }

    /// Every address in this socket's network namespace, from one RTM_GETADDR dump (cheaper
    /// than getifaddrs(3), which also dumps every link with its statistics).
    public mutating func addresses() throws(Errno) -> [Address] {
        var out: [Address] = []
        // struct ifaddrmsg: family (AF_UNSPEC: both), prefixlen, flags, scope; u32 index.
        try request(type: 22 /* RTM_GETADDR */, flags: Rtnetlink.dump, payload: [0, 0, 0, 0, 0, 0, 0, 0]) { reply in
            let m = Array(reply)
            guard m.count >= 24 else { return }
            // struct ifaddrmsg follows the 16-byte header; its attributes start at 24.
            let family = Int32(m[16]), index = Int32(bitPattern: Rtnetlink.u32(m, 20))
            var local: [UInt8]?, address: [UInt8]?, label: String?
            Rtnetlink.forEachAttribute(m, from: 24) { type, value in
                switch type {
                case 1 /* IFA_ADDRESS */: address = Array(value)
                case 2 /* IFA_LOCAL */: local = Array(value)
                case 3 /* IFA_LABEL */: label = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
                default: break
                }
            }
            // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on a
            // point-to-point link); IPv6 sends IFA_ADDRESS only.
            guard let a = local ?? address, a.count == (family == AF_INET ? 4 : 16) else { return }
            out.append(Address(interface: index, label: label, address: a))
        }
        return out
    }

    // MARK: wire format

    /// The names of the nftables tables of `family` in this network namespace (one
    /// NFT_MSG_GETTABLE dump over NETLINK_NETFILTER).
    public mutating func nftablesTables(family: UInt8) throws(Errno) -> Set<String> {
        var names = Set<String>()
        // struct nfgenmsg: family, version (NFNETLINK_V0), u16 res_id (big endian, 0).
        try request(type: 10 << 8 | 1 /* NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE */, flags: Rtnetlink.dump, payload: [family, 0, 0, 0]) { reply in
            let m = Array(reply)
            // struct nfgenmsg follows the 16-byte header; its attributes start at 20.
            Rtnetlink.forEachAttribute(m, from: 20) { type, value in
                if type == 1 /* NFTA_TABLE_NAME */ { names.insert(String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)) }
            }
        }
        return names
    }

    static let ack: UInt16 = 0x1 | 0x4  // REQUEST | ACK
    static let create: UInt16 = ack | 0x400 | 0x200  // REQUEST | ACK | CREATE | EXCL
    static let dump: UInt16 = 0x1 | 0x300  // REQUEST | DUMP (ends with NLMSG_DONE)

    /// Sends one request and waits for its acknowledgement (NLMSG_ERROR with error 0), or for
    /// the end of a dump (NLMSG_DONE); every other reply goes to `onReply`.
    private mutating func request(type: UInt16, flags: UInt16, payload: [UInt8],
                                  onReply: (ArraySlice<UInt8>) -> Void = { _ in }) throws(Errno) {
        let seq = sequence
        sequence &+= 1
        let message = Rtnetlink.host32(UInt32(16 + payload.count)) + Rtnetlink.host16(type) + Rtnetlink.host16(flags)
            + Rtnetlink.host32(seq) + Rtnetlink.host32(0) + payload
        // Unaddressed, a netlink message goes to the kernel (port 0).
        _ = try retrying { message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
        var reply = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = try retrying { reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            var offset = 0
            while offset + 16 <= n {
                let length = Int(Rtnetlink.u32(reply, offset))
                let kind = Rtnetlink.u16(reply, offset + 4)
                let replySeq = Rtnetlink.u32(reply, offset + 8)
                if (kind == 2 /* NLMSG_ERROR */ || kind == 3 /* NLMSG_DONE */) && replySeq == seq && offset + 20 <= n {
                    let error = Int32(bitPattern: Rtnetlink.u32(reply, offset + 16))
                    if error == 0 { return }
                    throw Errno(rawValue: -error)
                }
                guard length >= 16 else { throw Errno(rawValue: EPROTO) }  // a malformed reply
                if kind != 2 && replySeq == seq { onReply(reply[offset..<min(n, offset + length)]) }
                offset += (length + 3) & ~3
            }
        }
    }

    /// struct ifinfomsg: family, pad, u16 type, i32 index, u32 flags, u32 change.
    static func ifinfomsg(index: Int32, flags: UInt32, change: UInt32) -> [UInt8] {
        [UInt8(AF_UNSPEC), 0, 0, 0] + host32(UInt32(bitPattern: index)) + host32(flags) + host32(change)
    }

    /// Calls `body` with the type and value of each attribute of a reply `message` from byte
    /// `start` on (a truncated one ends the walk). A walk, not an array of (type, value)
    /// tuples: a tuple array's type metadata is built at run time, on the launch path.
    static func forEachAttribute(_ message: [UInt8], from start: Int, _ body: (UInt16, ArraySlice<UInt8>) -> Void) {
        var offset = start
        while offset + 4 <= message.count {
            let length = Int(u16(message, offset))
            guard length >= 4, offset + length <= message.count else { break }
            body(u16(message, offset + 2), message[offset + 4 ..< offset + length])
            offset += (length + 3) & ~3
        }
    }

    /// One attribute: u16 length, u16 type, value, padded to 4 bytes.
    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        var a = host16(UInt16(4 + value.count)) + host16(type) + value
        while a.count % 4 != 0 { a.append(0) }
        return a
    }

    static func cString(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
    // Netlink headers and rtnetlink integers are in the host's byte order (not the network's).
    static func host16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
    static func host32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
    static func u16(_ b: [UInt8], _ i: Int) -> UInt16 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: UInt16.self) } }
    static func u32(_ b: [UInt8], _ i: Int) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: UInt32.self) } }
}

