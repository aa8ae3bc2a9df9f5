import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`: a veth pair between the host's network namespace and the sandbox's. Each
/// sandbox gets one /30 of the pool (host end .1, sandbox end .2), a default route via the
/// host end, and the host masquerades the pool's egress. The pair dies with the sandbox's
/// network namespace, so it is never left behind, even when kennel is SIGKILLed. The nftables
/// table `inet kennel_POOL` (NAT for the pool, and a second layer dropping the always-blocked
/// destinations) is shared by the sandboxes of one host network namespace; `kennel gc`
/// removes it when none is left.
struct BridgeNetwork {
    let hostName: String
    let hostAddress: [UInt8]
    let sandboxAddress: [UInt8]
    /// A NETLINK_ROUTE socket made in the host's network namespace (it stays bound there).
    private var hostNetlink: Rtnetlink
    private let hostNetwork: Int32
    /// The allocation lock, held from choosing the /30 until the host end holds its address.
    private var lock: Int32

    static let lockPath = Launch.stateDirectory + "/network.lock"

    /// In the host's network namespace, before the sandbox exists: take the allocation lock,
    /// choose a /30 no kennel host end holds, and make sure the host forwards and masquerades.
    static func prepare(_ plan: LaunchPlan, pool: BlockedDestination) throws(LaunchError) -> BridgeNetwork {
        let lock = try step("open", lockPath) { () throws(Errno) in try FD.open(lockPath, O_RDWR | O_CREAT, mode: 0o600) }
        var ok = false
        defer { if !ok { FD.close(lock) } }
        try step("flock", lockPath) { () throws(Errno) in _ = try retrying { flock(lock, LOCK_EX) } }

        let base = pool.address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let blocks = UInt32(1) << (30 - UInt32(pool.prefixLength))
        let used = Set(hostAddresses(prefix: "kn").compactMap { a -> UInt32? in
            a >= base && a - base < blocks * 4 ? (a - base) / 4 : nil
        })
        guard let k = (0..<blocks).first(where: { !used.contains($0) }) else {
            throw LaunchError("allocate address", pool.description, Errno(rawValue: EADDRNOTAVAIL), detail: "every /30 of the pool is in use")
        }
        try ensureHostForwarding(pool: pool)
        let netlink = try step("socket", "rtnetlink") { () throws(Errno) in try Rtnetlink() }
        let hostNetwork: Int32
        do throws(Errno) {
            hostNetwork = try FD.open("/proc/self/ns/net", O_RDONLY)
        } catch {
            netlink.close()
            throw LaunchError("open", "/proc/self/ns/net", error)
        }
        ok = true
        return BridgeNetwork(hostName: "kn" + plan.id, hostAddress: bytes(base + 4 * k + 1), sandboxAddress: bytes(base + 4 * k + 2),
                             hostNetlink: netlink, hostNetwork: hostNetwork, lock: lock)
    }

    private init(hostName: String, hostAddress: [UInt8], sandboxAddress: [UInt8], hostNetlink: Rtnetlink,
                 hostNetwork: Int32, lock: Int32) {
        self.hostName = hostName
        self.hostAddress = hostAddress
        self.sandboxAddress = sandboxAddress
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
        let hostAddress = self.hostAddress, sandboxAddress = self.sandboxAddress
        try step("configure", hostName) { () throws(Errno) in
            let index = try hostNetlink.linkIndex(name: hostName)
            try hostNetlink.addAddress(hostAddress, prefixLength: 30, interface: index)
            try hostNetlink.setUp(interface: index)
        }
        releaseLock()  // the /30 is visibly taken now
        try step("configure", "eth0") { () throws(Errno) in
            let index = interfaceIndex("eth0")
            guard index > 0 else { throw Errno(rawValue: ENODEV) }
            try inside.addAddress(sandboxAddress, prefixLength: 30, interface: index)
            try inside.setUp(interface: index)
            try inside.addDefaultRoute(gateway: hostAddress, interface: index)
        }
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
        hostNetlink.close()
        FD.close(hostNetwork)
    }

    /// IPv4 addresses held by host interfaces whose names start with `prefix`.
    static func hostAddresses(prefix: String) -> [UInt32] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: [UInt32] = []
        var p = list
        while let entry = p {
            defer { p = entry.pointee.ifa_next }
            guard let name = entry.pointee.ifa_name, String(cString: name).hasPrefix(prefix),
                  let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            let v4 = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
            out.append(UInt32(bigEndian: v4))
        }
        return out
    }

    static func bytes(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    /// The nftables table for a pool: `inet kennel_10_213_0_0_16` for 10.213.0.0/16.
    static func tableName(_ pool: BlockedDestination) -> String {
        "kennel_" + String(pool.description.map { $0 == "." || $0 == "/" ? "_" : $0 })
    }

    /// IPv4 forwarding on, and the pool's nftables table (masquerade for the pool's egress,
    /// and a second layer dropping the always-blocked destinations) unless it exists.
    static func ensureHostForwarding(pool: BlockedDestination) throws(LaunchError) {
        try step("enable forwarding", "/proc/sys/net/ipv4/ip_forward") { () throws(Errno) in
            if (try? FD.readFile("/proc/sys/net/ipv4/ip_forward")) != Array("1\n".utf8) {
                try FD.writeFile("/proc/sys/net/ipv4/ip_forward", "1")
            }
        }
        let table = tableName(pool)
        let exists = try step("nftables", table) { () throws(Errno) in
            var nf = try Rtnetlink(protocol: 12 /* NETLINK_NETFILTER */)
            defer { nf.close() }
            return try nf.nftablesTableExists(family: 1 /* NFPROTO_INET */, name: table)
        }
        if exists { return }
        let blocked = BlockedDestination.defaults.filter { $0.family == .ipv4 }.map(\.description).joined(separator: ", ")
        try runNft("""
        table inet \(table) {
          chain forward {
            type filter hook forward priority -10; policy accept;
            iifname "kn*" ip daddr { \(blocked) } drop
          }
          chain postrouting {
            type nat hook postrouting priority 100; policy accept;
            ip saddr \(pool.description) oifname != "kn*" masquerade
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
    static func nft(_ arguments: [String], input: String = "") throws(LaunchError) -> (ExitStatus?, String) {
        let candidates: [String] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        guard let nft = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw LaunchError("nft", nil, Errno(rawValue: ENOENT), detail: "--net bridge needs nftables (apt install nftables)")
        }
        let stdin = try step("socketpair") { () throws(Errno) in try SocketPair.make() }
        var out: [Int32] = [-1, -1]
        guard pipe(&out) == 0 else { throw LaunchError("pipe", nil, Errno(rawValue: errno)) }
        let pid: pid_t
        do throws(Errno) {
            pid = try Proc.fork()
        } catch {
            FD.close(out[0]); FD.close(out[1]); FD.close(stdin.parent); FD.close(stdin.child)
            throw LaunchError("fork", "nft", error)
        }
        if pid == 0 {
            _ = dup2(stdin.child, 0)
            _ = dup2(out[1], 1)
            SignalSet.unblockAll()
            _ = Proc.exec(nft, ["nft"] + arguments, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            Proc.exitImmediately(127)
        }
        FD.close(stdin.child)
        FD.close(out[1])
        _ = try? FD.writeAll(stdin.parent, input)
        shutdown(stdin.parent, Int32(SHUT_WR))
        FD.close(stdin.parent)
        let output = (try? FD.readAll(out[0])).map { String(decoding: $0, as: UTF8.self) } ?? ""
        FD.close(out[0])
        let status = (try? Proc.wait(pid))??.1
        return (status, output)
    }

    /// `kennel gc`: in this network namespace, with no kennel veth left, the pools' nftables
    /// tables go (a SIGKILLed last sandbox leaves its table). Returns what was removed.
    static func collectGarbage() throws(LaunchError) -> [String] {
        let lock = try step("open", lockPath) { () throws(Errno) in try FD.open(lockPath, O_RDWR | O_CREAT, mode: 0o600) }
        defer { FD.close(lock) }
        try step("flock", lockPath) { () throws(Errno) in _ = try retrying { flock(lock, LOCK_EX) } }
        guard hostInterfaces(prefix: "kn").isEmpty else { return [] }
        guard let (_, listing) = try? nft(["list", "tables"]) else { return [] }
        var removed: [String] = []
        for line in listing.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 3, words[0] == "table", words[1] == "inet", words[2].hasPrefix("kennel_") else { continue }
            if (try? runNft("delete table inet \(words[2])\n")) != nil { removed.append("table inet \(words[2])") }
        }
        return removed
    }
}
