import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`: a veth pair between the host's network namespace and the sandbox's, a
/// point-to-point link without ARP or neighbour discovery (see `Rtnetlink.createVethPair`). Each
/// sandbox gets one /30 of the pool (host end .1, sandbox end .2) and, when the host routes
/// IPv6, the /126 of the IPv6 pool at the same index (no link-local addresses: nothing on the
/// link needs them); default routes via the host end, and
/// the host masquerades the pools' egress. The pair dies with the sandbox's network
/// namespace, so it is never left behind, even when kennel is SIGKILLed. The nftables table
/// `inet kennel2_POOLS` (NAT, a second layer dropping the always-blocked destinations, no new
/// traffic into the host or between sandboxes) is shared by the sandboxes of one host network
/// namespace; `kennel gc` removes it when none is left.
struct BridgeNetwork {
    let hostName: String
    /// This sandbox's own blocks beyond the always-blocked set, dropped on the host side too,
    /// in a table of its own: `inet kennel2_sb_<id>`.
    let extraBlocks: [BlockedDestination]
    private var extraTable: String?
    let hostAddress: [UInt8]
    let sandboxAddress: [UInt8]
    /// How the host forwards IPv4 for the sandbox (see `enableForwarding`): per interface, the
    /// host end needs its own switch too; not at all (no IPv4 route leaves the host), the
    /// sandbox gets no IPv4 default route, so its connects fail at once instead of hanging.
    let forwarding4: Forwarding?
    /// The sandbox's IPv6 link, when the host has an IPv6 default route and a way to forward.
    let ipv6: IPv6Link?

    /// Host and sandbox ends of a sandbox's /126.
    struct IPv6Link {
        let hostAddress: [UInt8]
        let sandboxAddress: [UInt8]
        /// The host forwards IPv6 only per interface (`force_forwarding`, Linux 6.17+): the
        /// host end needs it too. Without it sandboxes get IPv4 only.
        let perInterface: Bool
    }
    /// A NETLINK_ROUTE socket made in the host's network namespace (it stays bound there).
    private var hostNetlink: Rtnetlink
    /// The host's network namespace (the supervisor's fd; not closed here).
    private let hostNetwork: Int32
    /// The allocation lock, held from choosing the /30 until the host end holds its address.
    private var lock: Int32

    static let lockPath = Launch.stateDirectory + "/network.lock"
    /// Host ends are `kn-` and the sandbox id (15 characters, the kernel's limit).
    static let linkPrefix = "kn-"
    /// The pools' nftables tables: `kennel2_10_213_0_0_16_fd6b_656e_6e65___64`. The number
    /// changes with the rules, so a table from an older kennel is never mistaken for a current
    /// one.
    static let tablePrefix = "kennel2_"

    /// In the host's network namespace, before the sandbox exists: take the allocation lock,
    /// choose a /30 no kennel host end holds, and make sure the host forwards and masquerades.
    /// `hostNetwork`: an fd to the host's network namespace, the caller's (it outlives this).
    static func prepare(_ plan: LaunchPlan, pool: BlockedDestination, hostNetwork: Int32) throws(LaunchError) -> BridgeNetwork {
        let lock = try step("open", lockPath) { () throws(Errno) in try FD.open(lockPath, O_RDWR | O_CREAT, mode: 0o600) }
        var ok = false
        defer { if !ok { FD.close(lock) } }
        try step("flock", lockPath) { () throws(Errno) in _ = try retrying { flock(lock, LOCK_EX) } }

        let base = pool.address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let blocks = UInt32(1) << (30 - UInt32(pool.prefixLength))
        // The pool must not overlap anything the host itself holds: its /30 routes would
        // capture the host's own traffic.
        // One dump of the host's addresses, over the socket that configures the host end later.
        var netlink = try step("socket", "rtnetlink") { () throws(Errno) in try Rtnetlink() }
        var netlinkKept = false
        defer { if !netlinkKept { netlink.close() } }
        let addresses = try step("list addresses", "host") { () throws(Errno) in try hostAddresses(&netlink) }
        let ours = addresses.filter { $0.name.hasPrefix(BridgeNetwork.linkPrefix) }.map(\.address)
        if addresses.contains(where: { pool.contains($0.address) && !$0.name.hasPrefix(BridgeNetwork.linkPrefix) }) {
            throw LaunchError("--subnet", pool.description, Errno(rawValue: EADDRINUSE),
                              detail: "the host already uses an address in it; choose another --subnet")
        }
        // The slot must be free in both pools: sandboxes of another IPv4 pool may share the
        // IPv6 one, and two host ends holding one /126 would receive each other's replies.
        var used = Set(ours.compactMap { bytes -> UInt32? in
            guard bytes.count == 4 else { return nil }
            let a = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return a >= base && a - base < blocks * 4 ? (a - base) / 4 : nil
        })
        guard let markers = ForwardingMarkers.inThisNamespace() else {
            throw LaunchError("enable forwarding", Launch.stateDirectory, Errno(rawValue: EIO), detail: "cannot read the network namespace's cookie")
        }
        // Whether the host forwards each family globally, read once for the whole launch.
        let global = (ipv4: ForwardingFamily.ipv4.isGlobal, ipv6: ForwardingFamily.ipv6.isGlobal)
        // One dump of the host's routes: which interfaces to forward by, and whether it routes
        // IPv6 at all. Not needed when the host forwards IPv4 itself and no IPv6 is asked for.
        var routes = HostRoutes(routes: [])
        if plan.subnet6 != nil || !global.ipv4 {
            routes = HostRoutes(routes: try step("list routes", "host") { () throws(Errno) in try netlink.unicastRoutes() })
            try step("list bridges", "host") { () throws(Errno) in try routes.learnBridges(&netlink) }
            var released: [String] = []
            for (m, isGlobal) in [(markers.ipv4, global.ipv4), (markers.ipv6, global.ipv6)] where !isGlobal {
                releaseFilteredBridges(m, isFiltered: { routes.isFilteredBridge($0, m.family) }, removed: &released)
            }
        }
        // A way out by a bridge kennel cannot guard: refused for IPv4 before anything on the
        // host changes; for IPv6 the sandbox gets IPv4 only, as on a host without IPv6 routes.
        if let bridge = unguardableUplink(.ipv4, global: global.ipv4, routes) {
            throw LaunchError("enable forwarding", ForwardingFamily.ipv4.switchPath(bridge), Errno(rawValue: EOPNOTSUPP),
                              detail: "the host's default route leaves by bridge \(bridge), whose frames br_netfilter passes through the IP hooks, where kennel cannot guard forwarding; forward by it yourself (net.ipv4.conf.\(bridge).forwarding=1, or net.ipv4.ip_forward=1), or keep br_netfilter from it")
        }
        let routesIPv6 = plan.subnet6 != nil && routes.routesIPv6 && unguardableUplink(.ipv6, global: global.ipv6, routes) == nil
        if let pool6 = plan.subnet6, routesIPv6 {
            if addresses.contains(where: { pool6.contains($0.address) && !$0.name.hasPrefix(BridgeNetwork.linkPrefix) }) {
                throw LaunchError("--subnet6", pool6.description, Errno(rawValue: EADDRINUSE),
                                  detail: "the host already uses an address in it; choose another --subnet6 (or none)")
            }
            used.formUnion(ours.compactMap { slot(of: $0, in: pool6) })
        }
        guard let k = (0..<blocks).first(where: { !used.contains($0) }) else {
            throw LaunchError("allocate address", pool.description, Errno(rawValue: EADDRNOTAVAIL), detail: "every /30 of the pool is in use")
        }
        // The pools' table first: forwarding is switched on only once its drops are in place.
        let tables = try nftTables()
        try ensurePoolTable(pool: pool, pool6: plan.subnet6, tables: tables)
        let forwarding4 = try enableForwarding(markers.ipv4, global: global.ipv4, routes: routes, tables: tables)
        var ipv6: IPv6Link?
        if let pool6 = plan.subnet6, routesIPv6,
           let forwarding = try enableForwarding(markers.ipv6, global: global.ipv6, routes: routes, tables: tables) {
            ipv6 = IPv6Link(hostAddress: offset(pool6.address, by: 4 * UInt64(k) + 1),
                            sandboxAddress: offset(pool6.address, by: 4 * UInt64(k) + 2), perInterface: forwarding == .perInterface)
        }
        ok = true
        netlinkKept = true
        let extra = plan.blocked.filter { d in !BlockedDestination.defaults.contains(where: d.sameRoute) }
        return BridgeNetwork(hostName: BridgeNetwork.linkPrefix + plan.id, extraBlocks: extra, hostAddress: bytes(base + 4 * k + 1), sandboxAddress: bytes(base + 4 * k + 2),
                             forwarding4: forwarding4, ipv6: ipv6, hostNetlink: netlink, hostNetwork: hostNetwork, lock: lock)
    }

    private init(hostName: String, extraBlocks: [BlockedDestination], hostAddress: [UInt8], sandboxAddress: [UInt8], forwarding4: Forwarding?,
                 ipv6: IPv6Link?, hostNetlink: Rtnetlink, hostNetwork: Int32, lock: Int32) {
        self.hostName = hostName
        self.extraBlocks = extraBlocks
        self.hostAddress = hostAddress
        self.sandboxAddress = sandboxAddress
        self.forwarding4 = forwarding4
        self.ipv6 = ipv6
        self.hostNetlink = hostNetlink
        self.hostNetwork = hostNetwork
        self.lock = lock
    }

    /// From inside the sandbox's network namespace: create the pair with `eth0` here and the
    /// host end directly in the host's namespace (no link ever moves: moving one costs the
    /// kernel an RCU grace period), address both, route everything via the host end. From
    /// here on the pair lives and dies with the sandbox's network namespace.
    mutating func attach() throws(LaunchError) {
        var inside = try step("socket", "rtnetlink") { () throws(Errno) in try Rtnetlink() }
        defer { inside.close() }
        let hostNetwork = self.hostNetwork, hostName = self.hostName
        let hostAddress = self.hostAddress, sandboxAddress = self.sandboxAddress, ipv6 = self.ipv6
        let routes4 = forwarding4 != nil
        try step("create veth", hostName) { () throws(Errno) in
            try inside.createVethPair(name: "eth0", peerName: hostName, peerNamespace: hostNetwork,
                                      sharedAddress: BridgeNetwork.hardwareAddress(hostAddress: hostAddress))
        }
        try step("configure", hostName) { () throws(Errno) in
            let index = try hostNetlink.linkIndex(name: hostName)
            try hostNetlink.addAddress(hostAddress, prefixLength: 30, interface: index)
            if let ipv6 {
                try hostNetlink.addAddress(ipv6.hostAddress, prefixLength: 126, interface: index)
            }
            try hostNetlink.setUp(interface: index, linkLocalIPv6: false)
        }
        releaseLock()  // the /30 is visibly taken now
        try step("configure", "eth0") { () throws(Errno) in
            let index = try inside.linkIndex(name: "eth0")
            try inside.addAddress(sandboxAddress, prefixLength: 30, interface: index)
            if let ipv6 {
                try inside.addAddress(ipv6.sandboxAddress, prefixLength: 126, interface: index)
            }
            try inside.setUp(interface: index, linkLocalIPv6: false)
            if routes4 { try inside.addDefaultRoute(gateway: hostAddress, interface: index) }
            if let ipv6 { try inside.addDefaultRoute(gateway: ipv6.hostAddress, interface: index) }
        }
    }

    /// Back in the host's namespaces (nft must run there, and be born in the host's pid
    /// namespace; /proc/sys/net shows the host's network namespace again), before the payload
    /// starts: forwarding on the host end for each family the host forwards per interface,
    /// and the sandbox's own blocks dropped on the host side of its veth as well.
    mutating func finishHostSide() throws(LaunchError) {
        for (family, perInterface) in [(ForwardingFamily.ipv4, forwarding4 == .perInterface), (.ipv6, ipv6?.perInterface == true)] where perInterface {
            let path = family.switchPath(hostName)
            try step("enable forwarding", path) { () throws(Errno) in try FD.writeFile(path, "1") }
        }
        guard !extraBlocks.isEmpty else { return }
        let table = BridgeNetwork.tablePrefix + "sb_" + String(hostName.dropFirst(BridgeNetwork.linkPrefix.count))
        var rules: [String] = []
        for (family, keyword) in [(BlockedDestination.Family.ipv4, "ip"), (.ipv6, "ip6")] {
            let list = extraBlocks.filter { $0.family == family }.map(\.description)
            if !list.isEmpty { rules.append("iifname \"\(hostName)\" \(keyword) daddr { \(list.joined(separator: ", ")) } drop") }
        }
        try BridgeNetwork.runNft("""
        table inet \(table) {
          chain prerouting {
            type filter hook prerouting priority raw; policy accept;
            \(rules.joined(separator: "\n    "))
          }
        }

        """)
        extraTable = table
    }

    private mutating func releaseLock() {
        if lock >= 0 { FD.close(lock) }
        lock = -1
    }

    /// When the sandbox is over (or failed to start): close what kennel holds. The pair goes
    /// with the sandbox's network namespace (the kernel destroys it shortly after the last
    /// process); deleting it here would only make kennel wait for that. The pool's nftables
    /// table stays for the next bridged sandbox; `kennel gc` removes it once none is left.
    mutating func finish() {
        releaseLock()
        if let extraTable { _ = try? BridgeNetwork.runNft("delete table inet \(extraTable)\n") }
        extraTable = nil
        hostNetlink.close()
    }

    /// Every address (IPv4 as 4 bytes, IPv6 as 16) of every host interface, with its name.
    /// IPv4 addresses carry their link's name; an IPv6 address takes it from an IPv4 address
    /// on the same link (every kennel host end has one) or else asks the kernel by index.
    static func hostAddresses(_ netlink: inout Rtnetlink) throws(Errno) -> [HostAddress] {
        let all = try netlink.addresses()
        var names: [Int32: String] = [:]
        for a in all { if let label = a.label, names[a.interface] == nil { names[a.interface] = label } }
        return all.map { a in
            if let name = names[a.interface] { return HostAddress(name: name, address: a.address) }
            let name = Rtnetlink.interfaceName(a.interface) ?? ""
            names[a.interface] = name
            return HostAddress(name: name, address: a.address)
        }
    }

    /// An address of the host (4 or 16 bytes) with its link's name.
    struct HostAddress {
        let name: String
        let address: [UInt8]
    }

    /// The pair's one hardware address (both ends; see `Rtnetlink.createVethPair`): locally
    /// administered, 02:6b ("k"), then the host end's IPv4 address, unique on the host.
    static func hardwareAddress(hostAddress: [UInt8]) -> [UInt8] { [0x02, 0x6b] + hostAddress }

    static func bytes(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    /// The slot index of an IPv6 address allocated from `pool6` (the inverse of `offset`).
    static func slot(of address: [UInt8], in pool6: BlockedDestination) -> UInt32? {
        guard address.count == 16, pool6.contains(address), address.prefix(8).elementsEqual(pool6.address.prefix(8)) else { return nil }
        let low = { (b: ArraySlice<UInt8>) in b.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        let n = low(address.suffix(8)) &- low(pool6.address.suffix(8))
        return n / 4 <= UInt64(UInt32.max) ? UInt32(n / 4) : nil
    }

    /// `address` (16 bytes) plus `n` in its low 64 bits.
    static func offset(_ address: [UInt8], by n: UInt64) -> [UInt8] {
        let low = address.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } &+ n
        return Array(address.prefix(8)) + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    /// Names of host interfaces starting with `prefix`.
    static func hostInterfaces(prefix: String) -> [String] {
        guard let list = if_nameindex() else { return [] }
        defer { if_freenameindex(list) }
        var out: [String] = []
        var p = list
        while p.pointee.if_index != 0, let name = p.pointee.if_name {
            let s = String(cString: name)
            if s.hasPrefix(prefix) { out.append(s) }
            p += 1
        }
        return out
    }
}
