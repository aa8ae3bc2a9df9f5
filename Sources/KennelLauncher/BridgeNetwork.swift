import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`: a veth pair between the host's network namespace and the sandbox's. Each
/// sandbox gets one /30 of the pool (host end .1, sandbox end .2) and, when the host routes
/// IPv6, the /126 of the IPv6 pool at the same index; default routes via the host end, and
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
    /// The sandbox's IPv6 link, when the host has an IPv6 default route and a way to forward.
    let ipv6: IPv6Link?

    /// Host and sandbox ends of a sandbox's /126.
    struct IPv6Link {
        let hostAddress: [UInt8]
        let sandboxAddress: [UInt8]
        /// The host forwards IPv6 only per interface (`force_forwarding`, Linux 6.17+): the
        /// host end needs it too.
        let perInterface: Bool
    }
    /// A NETLINK_ROUTE socket made in the host's network namespace (it stays bound there).
    private var hostNetlink: Rtnetlink
    private let hostNetwork: Int32
    /// The allocation lock, held from choosing the /30 until the host end holds its address.
    private var lock: Int32

    static let lockPath = Launch.stateDirectory + "/network.lock"
    /// Host ends are `kn-` and the sandbox id (15 characters, the kernel's limit).
    static let linkPrefix = "kn-"
    /// The pools' nftables tables: `kennel2_10_213_0_0_16_fd6b_656e_6e65__64`. The number
    /// changes with the rules, so a table from an older kennel is never mistaken for a current
    /// one.
    static let tablePrefix = "kennel2_"
    /// Guards for an uplink on which kennel switched IPv6 forwarding on: `kennel2_fwd6_eth0`.
    static let uplinkGuardPrefix = tablePrefix + "fwd6_"
    /// Marker files: kennel set `force_forwarding` on that uplink of that network namespace
    /// (`/run/kennel/fwd6-4026531840-eth0`, the number being the namespace's inode).
    static func uplinkMarkerPrefix() -> String {
        var st = stat()
        let ns = stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0
        return Launch.stateDirectory + "/fwd6-\(ns)-"
    }

    /// In the host's network namespace, before the sandbox exists: take the allocation lock,
    /// choose a /30 no kennel host end holds, and make sure the host forwards and masquerades.
    static func prepare(_ plan: LaunchPlan, pool: BlockedDestination) throws(LaunchError) -> BridgeNetwork {
        let lock = try step("open", lockPath) { () throws(Errno) in try FD.open(lockPath, O_RDWR | O_CREAT, mode: 0o600) }
        var ok = false
        defer { if !ok { FD.close(lock) } }
        try step("flock", lockPath) { () throws(Errno) in _ = try retrying { flock(lock, LOCK_EX) } }

        let base = pool.address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let blocks = UInt32(1) << (30 - UInt32(pool.prefixLength))
        // The pool must not overlap anything the host itself holds: its /30 routes would
        // capture the host's own traffic.
        // One dump of the host's addresses (each getifaddrs is a netlink round trip or two).
        let addresses = hostAddresses()
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
        let uplink = plan.subnet6 == nil ? nil : ipv6Uplink()
        if let pool6 = plan.subnet6, uplink != nil {
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
        try ensureHostForwarding(pool: pool, pool6: plan.subnet6)
        var ipv6: IPv6Link?
        if let pool6 = plan.subnet6, let uplink, let forwarding = try enableIPv6Forwarding(uplink: uplink) {
            ipv6 = IPv6Link(hostAddress: offset(pool6.address, by: 4 * UInt64(k) + 1),
                            sandboxAddress: offset(pool6.address, by: 4 * UInt64(k) + 2), perInterface: forwarding == .perInterface)
        }
        let netlink = try step("socket", "rtnetlink") { () throws(Errno) in try Rtnetlink() }
        let hostNetwork: Int32
        do throws(Errno) {
            hostNetwork = try FD.open("/proc/self/ns/net", O_RDONLY)
        } catch {
            netlink.close()
            throw LaunchError("open", "/proc/self/ns/net", error)
        }
        ok = true
        let defaults = Set(BlockedDestination.defaults.map(BlockedDestination.key))
        let extra = plan.blocked.filter { !defaults.contains(BlockedDestination.key($0)) }
        return BridgeNetwork(hostName: BridgeNetwork.linkPrefix + plan.id, extraBlocks: extra, hostAddress: bytes(base + 4 * k + 1), sandboxAddress: bytes(base + 4 * k + 2),
                             ipv6: ipv6, hostNetlink: netlink, hostNetwork: hostNetwork, lock: lock)
    }

    private init(hostName: String, extraBlocks: [BlockedDestination], hostAddress: [UInt8], sandboxAddress: [UInt8], ipv6: IPv6Link?,
                 hostNetlink: Rtnetlink, hostNetwork: Int32, lock: Int32) {
        self.hostName = hostName
        self.extraBlocks = extraBlocks
        self.hostAddress = hostAddress
        self.sandboxAddress = sandboxAddress
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
        try step("create veth", hostName) { () throws(Errno) in
            try inside.createVethPair(name: "eth0", peerName: hostName, peerNamespace: hostNetwork)
        }
        let hostAddress = self.hostAddress, sandboxAddress = self.sandboxAddress, ipv6 = self.ipv6
        try step("configure", hostName) { () throws(Errno) in
            let index = try hostNetlink.linkIndex(name: hostName)
            // Neither end gets a link-local address: nothing on the link needs one (routes and
            // neighbour discovery use the /126), and the sandbox has no link-local path at all.
            try BridgeNetwork.withoutLinkLocal(&hostNetlink, index)
            try hostNetlink.addAddress(hostAddress, prefixLength: 30, interface: index)
            if let ipv6 { try hostNetlink.addAddress(ipv6.hostAddress, prefixLength: 126, interface: index) }
            try hostNetlink.setUp(interface: index)
        }
        releaseLock()  // the /30 is visibly taken now
        try step("configure", "eth0") { () throws(Errno) in
            let index = interfaceIndex("eth0")
            guard index > 0 else { throw Errno(rawValue: ENODEV) }
            try BridgeNetwork.withoutLinkLocal(&inside, index)
            try inside.addAddress(sandboxAddress, prefixLength: 30, interface: index)
            if let ipv6 { try inside.addAddress(ipv6.sandboxAddress, prefixLength: 126, interface: index) }
            try inside.setUp(interface: index)
            try inside.addDefaultRoute(gateway: hostAddress, interface: index)
            if let ipv6 { try inside.addDefaultRoute(gateway: ipv6.hostAddress, interface: index) }
        }
    }

    /// No automatic IPv6 addresses on the link; a kernel without IPv6 has none to give anyway.
    static func withoutLinkLocal(_ netlink: inout Rtnetlink, _ index: Int32) throws(Errno) {
        do {
            try netlink.disableIPv6AddressGeneration(interface: index)
        } catch where error == Errno(rawValue: EAFNOSUPPORT) {}
    }

    /// Back in the host's namespaces (nft must run there, and be born in the host's pid
    /// namespace; /proc/sys/net shows the host's network namespace again), before the payload
    /// starts: IPv6 forwarding on the host end where the host forwards per interface, and the
    /// sandbox's own blocks dropped on the host side of its veth as well.
    mutating func finishHostSide() throws(LaunchError) {
        if let ipv6, ipv6.perInterface {
            let path = "/proc/sys/net/ipv6/conf/\(hostName)/force_forwarding"
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
        FD.close(hostNetwork)
    }

    /// Every address (IPv4 as 4 bytes, IPv6 as 16) of every host interface, with its name.
    static func hostAddresses() -> [(name: String, address: [UInt8])] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: [(name: String, address: [UInt8])] = []
        var p = list
        while let entry = p {
            defer { p = entry.pointee.ifa_next }
            guard let name = entry.pointee.ifa_name, let addr = entry.pointee.ifa_addr else { continue }
            switch Int32(addr.pointee.sa_family) {
            case AF_INET:
                let bytes = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
                out.append((String(cString: name), bytes))
            case AF_INET6:
                let bytes = addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
                out.append((String(cString: name), bytes))
            default:
                continue
            }
        }
        return out
    }

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

    /// The interface of the host's IPv6 default route (/proc/net/ipv6_route of the current
    /// network namespace), or nil when the host does not route IPv6: then sandboxes get IPv4
    /// only.
    static func ipv6Uplink() -> String? {
        guard let bytes = try? FD.readFile("/proc/net/ipv6_route") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            // destination, prefix length, source, source length, next hop, metric, refs, use, flags, device
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 10, f[1] == "00", f[0].allSatisfy({ $0 == "0" }), f[9] != "lo",
                  let flags = UInt32(f[8], radix: 16), flags & 0x0200 /* RTF_REJECT */ == 0 else { continue }
            return String(f[9])
        }
        return nil
    }

    enum IPv6Forwarding { case global, perInterface }

    /// IPv6 forwarding for the sandboxes' traffic, changing as little of the host as possible.
    /// If the host already forwards IPv6 (`all.forwarding`, the operator's choice), nothing
    /// changes. Otherwise kennel does not switch global forwarding on: that also turns every
    /// interface into a router that ignores router advertisements, and the host could lose the
    /// very default route it learned from them. Instead (Linux 6.17+) it sets `force_forwarding`
    /// on the uplink (replies arrive there) and on each sandbox's host end, behind a guard
    /// table that lets the uplink forward only into sandboxes: transit packets are dropped at
    /// prerouting, before the kernel could route them or answer them as a router would (ICMPv6
    /// errors, redirects). A marker file records that the setting is kennel's: the guard is
    /// put back whenever it is missing (say after `nft flush ruleset`), and `kennel gc` undoes
    /// both when no sandbox is left. A `force_forwarding` kennel did not set is left as it is.
    /// On older kernels sandboxes get IPv4 only: returns nil.
    static func enableIPv6Forwarding(uplink: String) throws(LaunchError) -> IPv6Forwarding? {
        if (try? FD.readFile("/proc/sys/net/ipv6/conf/all/forwarding")) == Array("1\n".utf8) { return .global }
        let path = "/proc/sys/net/ipv6/conf/\(uplink)/force_forwarding"
        guard access(path, F_OK) == 0 else { return nil }
        let on = (try? FD.readFile(path)) == Array("1\n".utf8)
        let marker = uplinkMarkerPrefix() + nftName(uplink)
        let ours = access(marker, F_OK) == 0
        if on && !ours { return .perInterface }  // the operator's own setting
        let table = uplinkGuardPrefix + nftName(uplink)
        let guarded = try step("nftables", table) { () throws(Errno) in
            var nf = try Rtnetlink(protocol: 12 /* NETLINK_NETFILTER */)
            defer { nf.close() }
            return try nf.nftablesTableExists(family: 1 /* NFPROTO_INET */, name: table)
        }
        if !guarded {
            let kn = linkPrefix + "*"
            try runNft("""
            table inet \(table) {
              chain prerouting {
                type filter hook prerouting priority filter; policy accept;
                iifname "\(uplink)" meta nfproto ipv6 fib daddr type unicast fib daddr oifname != "\(kn)" drop
              }
              chain forward {
                type filter hook forward priority filter; policy accept;
                iifname "\(uplink)" oifname != "\(kn)" meta nfproto ipv6 drop
              }
            }

            """)
        }
        if !ours {
            try step("create", marker) { () throws(Errno) in
                FD.close(try FD.open(marker, O_WRONLY | O_CREAT, mode: 0o600))
            }
        }
        if !on { try step("enable forwarding", path) { () throws(Errno) in try FD.writeFile(path, "1") } }
        return .perInterface
    }

    /// `name` with every character nft does not take in a table name replaced by `_`.
    static func nftName(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
    }

    /// The nftables table for a pool pair: `inet kennel2_10_213_0_0_16_fd6b_656e_6e65__64`.
    static func tableName(_ pool: BlockedDestination, _ pool6: BlockedDestination?) -> String {
        tablePrefix + nftName(pool.description + (pool6.map { "_" + $0.description } ?? ""))
    }

    /// IPv4 forwarding on, and the pools' nftables table unless it exists: masquerade for the
    /// pools' egress; from the sandboxes, the always-blocked destinations dropped before any
    /// routing or DNAT (a second layer behind the routes inside), packets whose source address
    /// does not route back through the veth they came from dropped (a reverse-path check: no
    /// sandbox sends as another, or as anything but itself), nothing new into the host itself
    /// (neighbour discovery aside, so not over link-local either) nor into another sandbox;
    /// and no new connection from outside into a sandbox. Tables of different pools in one
    /// host add up without contradicting each other.
    static func ensureHostForwarding(pool: BlockedDestination, pool6: BlockedDestination?) throws(LaunchError) {
        try step("enable forwarding", "/proc/sys/net/ipv4/ip_forward") { () throws(Errno) in
            if (try? FD.readFile("/proc/sys/net/ipv4/ip_forward")) != Array("1\n".utf8) {
                try FD.writeFile("/proc/sys/net/ipv4/ip_forward", "1")
            }
        }
        let table = tableName(pool, pool6)
        let exists = try step("nftables", table) { () throws(Errno) in
            var nf = try Rtnetlink(protocol: 12 /* NETLINK_NETFILTER */)
            defer { nf.close() }
            return try nf.nftablesTableExists(family: 1 /* NFPROTO_INET */, name: table)
        }
        if exists { return }
        let blocked = BlockedDestination.defaults.filter { $0.family == .ipv4 }.map(\.description).joined(separator: ", ")
        let blocked6 = BlockedDestination.defaults.filter { $0.family == .ipv6 }.map(\.description).joined(separator: ", ")
        let kn = linkPrefix + "*"
        let neighbour = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255"
        let masquerade6 = pool6.map { "\n    ip6 saddr \($0.description) oifname != \"\(kn)\" masquerade" } ?? ""
        try runNft("""
        table inet \(table) {
          chain prerouting {
            type filter hook prerouting priority raw; policy accept;
            iifname "\(kn)" ip daddr { \(blocked) } drop
            iifname "\(kn)" ip6 daddr { \(blocked6) } drop
            iifname "\(kn)" fib saddr . iif oif missing drop
          }
          chain input {
            type filter hook input priority filter; policy accept;
            iifname "\(kn)" ct state established,related accept
            iifname "\(kn)" \(neighbour) accept
            iifname "\(kn)" drop
          }
          chain forward {
            type filter hook forward priority filter; policy accept;
            iifname "\(kn)" oifname "\(kn)" drop
            oifname "\(kn)" ct state new drop
          }
          chain postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            ip saddr \(pool.description) oifname != "\(kn)" masquerade\(masquerade6)
          }
        }

        """)
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

    /// `nft -f -` with `rules` on its standard input.
    static func runNft(_ rules: String) throws(LaunchError) {
        let (status, _) = try nft(["-f", "-"], input: rules)
        guard status == .exited(0) else {
            throw LaunchError("nft", "table inet kennel", Errno(rawValue: EIO), detail: "nft failed (\(status.map { "\($0)" } ?? "no status"))")
        }
    }

    /// Runs nft with `arguments`, feeding `input`; returns its status and standard output.
    static func nft(_ arguments: [String], input stdinText: String = "") throws(LaunchError) -> (ExitStatus?, String) {
        let candidates: [String] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        guard let nft = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw LaunchError("nft", nil, Errno(rawValue: ENOENT), detail: "--net bridge needs nftables (apt install nftables)")
        }
        var input: [Int32] = [-1, -1], out: [Int32] = [-1, -1]
        guard pipe(&input) == 0 else { throw LaunchError("pipe", "nft", Errno(rawValue: errno)) }
        guard pipe(&out) == 0 else {
            let e = errno
            FD.close(input[0]); FD.close(input[1])
            throw LaunchError("pipe", "nft", Errno(rawValue: e))
        }
        for fd in input + out { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do throws(Errno) {
            pid = try Proc.fork()
        } catch {
            for fd in input + out { FD.close(fd) }
            throw LaunchError("fork", "nft", error)
        }
        if pid == 0 {
            _ = dup2(input[0], 0)  // dup2'd descriptors are not close-on-exec
            _ = dup2(out[1], 1)
            SignalSet.resetDispositions([SIGPIPE])
            SignalSet.unblockAll()
            _ = Proc.exec(nft, ["nft"] + arguments, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            Proc.exitImmediately(127)
        }
        FD.close(input[0])
        FD.close(out[1])
        _ = try? FD.writeAll(input[1], stdinText)
        FD.close(input[1])
        let output = (try? FD.readAll(out[0])).map { String(decoding: $0, as: UTF8.self) } ?? ""
        FD.close(out[0])
        let status = (try? Proc.wait(pid))??.1
        return (status, output)
    }

    /// Switches off the `force_forwarding` kennel set on the uplink whose nft-safe name is
    /// `uplink` and removes its marker. False if the setting could not be written (the guard
    /// must then stay).
    static func switchOffForwarding(uplinkNamed uplink: String, removed: inout [String]) -> Bool {
        let marker = uplinkMarkerPrefix() + uplink
        let ours = access(marker, F_OK) == 0
        for interface in hostInterfaces(prefix: "") where nftName(interface) == uplink && ours {
            let path = "/proc/sys/net/ipv6/conf/\(interface)/force_forwarding"
            if access(path, F_OK) == 0 {
                guard (try? FD.writeFile(path, "0")) != nil else { return false }
                removed.append("ipv6 force_forwarding on \(interface)")
            }
        }
        if ours { unlink(marker) }
        return true
    }

    /// `kennel gc`: in this network namespace, with no kennel veth left, the pools' nftables
    /// tables go (a SIGKILLed last sandbox leaves its table). Returns what was removed.
    static func collectGarbage() throws(LaunchError) -> [String] {
        let lock = try step("open", lockPath) { () throws(Errno) in try FD.open(lockPath, O_RDWR | O_CREAT, mode: 0o600) }
        defer { FD.close(lock) }
        try step("flock", lockPath) { () throws(Errno) in _ = try retrying { flock(lock, LOCK_EX) } }
        let links = Set(hostInterfaces(prefix: linkPrefix))
        guard let (_, listing) = try? nft(["list", "tables"]) else { return [] }
        var removed: [String] = []
        // Markers whose guard table is gone (flushed) still mean kennel's forwarding: off.
        if links.isEmpty, let dir = opendir(Launch.stateDirectory) {
            let prefix = String(uplinkMarkerPrefix().dropFirst(Launch.stateDirectory.count + 1))
            var names: [String] = []
            while let entry = readdir(dir) {
                let n = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if n.hasPrefix(prefix) { names.append(String(n.dropFirst(prefix.count))) }
            }
            closedir(dir)
            let guards = Set(listing.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
            for uplink in names where !guards.contains(uplinkGuardPrefix + uplink) {
                _ = switchOffForwarding(uplinkNamed: uplink, removed: &removed)
            }
        }
        for line in listing.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 3, words[0] == "table", words[1] == "inet", words[2].hasPrefix("kennel") else { continue }
            let name = String(words[2])
            // A sandbox's own table goes with its host end; a pool's when no sandbox is left.
            let sandboxPrefix = tablePrefix + "sb_"
            let stale = name.hasPrefix(sandboxPrefix)
                ? !links.contains(linkPrefix + name.dropFirst(sandboxPrefix.count))
                : links.isEmpty
            guard stale else { continue }
            if name.hasPrefix(uplinkGuardPrefix) {
                // IPv6 forwarding that kennel switched on for an uplink goes off first, then
                // its guard (never the other way round: the uplink would forward unguarded).
                guard switchOffForwarding(uplinkNamed: String(name.dropFirst(uplinkGuardPrefix.count)), removed: &removed) else { continue }
            }
            if (try? runNft("delete table inet \(name)\n")) != nil { removed.append("table inet \(name)") }
        }
        return removed
    }
}
