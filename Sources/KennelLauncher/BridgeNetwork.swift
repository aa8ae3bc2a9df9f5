import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`: a veth pair between the host's network namespace and the sandbox's. Each
/// sandbox gets one /30 of the pool (host end .1, sandbox end .2), a default route via the
/// host end, and the host masquerades the pool's egress. The pair dies with the sandbox's
/// network namespace, so it is never left behind, even when kennel is SIGKILLed. The nftables
/// table `inet kennel1_POOL` (NAT for the pool, a second layer dropping the always-blocked
/// destinations, no new traffic into the host or between sandboxes) is shared by the sandboxes of one host network namespace; `kennel gc`
/// removes it when none is left.
struct BridgeNetwork {
    let hostName: String
    /// This sandbox's own blocks beyond the always-blocked set (IPv4; IPv6 is dropped anyway),
    /// dropped on the host side too, in a table of its own: `inet kennel1_sb_<id>`.
    let extraBlocks: [BlockedDestination]
    private var extraTable: String?
    let hostAddress: [UInt8]
    let sandboxAddress: [UInt8]
    /// A NETLINK_ROUTE socket made in the host's network namespace (it stays bound there).
    private var hostNetlink: Rtnetlink
    private let hostNetwork: Int32
    /// The allocation lock, held from choosing the /30 until the host end holds its address.
    private var lock: Int32

    static let lockPath = Launch.stateDirectory + "/network.lock"
    /// Host ends are `kn-` and the sandbox id (15 characters, the kernel's limit).
    static let linkPrefix = "kn-"
    /// The pools' nftables tables: `kennel1_10_213_0_0_16`. The number changes with the rules,
    /// so a table from an older kennel is never mistaken for a current one.
    static let tablePrefix = "kennel1_"

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
        let mask: UInt32 = pool.prefixLength == 0 ? 0 : ~UInt32(0) << (32 - UInt32(pool.prefixLength))
        let ours = Set(hostAddresses(prefix: BridgeNetwork.linkPrefix))
        if hostAddresses(prefix: "").contains(where: { $0 & mask == base && !ours.contains($0) }) {
            throw LaunchError("--subnet", pool.description, Errno(rawValue: EADDRINUSE),
                              detail: "the host already uses an address in it; choose another --subnet")
        }
        let used = Set(hostAddresses(prefix: BridgeNetwork.linkPrefix).compactMap { a -> UInt32? in
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
        let defaults = Set(BlockedDestination.defaults.map(BlockedDestination.key))
        let extra = plan.blocked.filter { $0.family == .ipv4 && !defaults.contains(BlockedDestination.key($0)) }
        return BridgeNetwork(hostName: BridgeNetwork.linkPrefix + plan.id, extraBlocks: extra, hostAddress: bytes(base + 4 * k + 1), sandboxAddress: bytes(base + 4 * k + 2),
                             hostNetlink: netlink, hostNetwork: hostNetwork, lock: lock)
    }

    private init(hostName: String, extraBlocks: [BlockedDestination], hostAddress: [UInt8], sandboxAddress: [UInt8], hostNetlink: Rtnetlink,
                 hostNetwork: Int32, lock: Int32) {
        self.hostName = hostName
        self.extraBlocks = extraBlocks
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

    /// Back in the host's namespaces (nft must run there, and be born in the host's pid
    /// namespace): the sandbox's own blocks dropped on the host side of its veth as well.
    mutating func installHostBlocks() throws(LaunchError) {
        guard !extraBlocks.isEmpty else { return }
        let table = BridgeNetwork.tablePrefix + "sb_" + String(hostName.dropFirst(BridgeNetwork.linkPrefix.count))
        try BridgeNetwork.runNft("""
        table inet \(table) {
          chain prerouting {
            type filter hook prerouting priority raw; policy accept;
            iifname "\(hostName)" ip daddr { \(extraBlocks.map(\.description).joined(separator: ", ")) } drop
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

    /// The nftables table for a pool: `inet kennel1_10_213_0_0_16` for 10.213.0.0/16.
    static func tableName(_ pool: BlockedDestination) -> String {
        tablePrefix + String(pool.description.map { $0 == "." || $0 == "/" ? "_" : $0 })
    }

    /// IPv4 forwarding on, and the pool's nftables table unless it exists: masquerade for the
    /// pool's egress; from the sandboxes, the always-blocked destinations dropped before any
    /// routing or DNAT (a second layer behind the routes inside), all IPv6 dropped (bridge mode
    /// is IPv4; no link-local path to the host), nothing new into the host itself nor into
    /// another sandbox; and no new connection from outside into a sandbox.
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
        let kn = linkPrefix + "*"
        try runNft("""
        table inet \(table) {
          chain prerouting {
            type filter hook prerouting priority raw; policy accept;
            iifname "\(kn)" ip daddr { \(blocked) } drop
            iifname "\(kn)" meta nfproto ipv6 drop
          }
          chain input {
            type filter hook input priority filter; policy accept;
            iifname "\(kn)" ct state established,related accept
            iifname "\(kn)" drop
          }
          chain forward {
            type filter hook forward priority filter; policy accept;
            iifname "\(kn)" oifname "\(kn)" drop
            oifname "\(kn)" ct state new drop
          }
          chain postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            ip saddr \(pool.description) oifname != "\(kn)" masquerade
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

    /// `kennel gc`: in this network namespace, with no kennel veth left, the pools' nftables
    /// tables go (a SIGKILLed last sandbox leaves its table). Returns what was removed.
    static func collectGarbage() throws(LaunchError) -> [String] {
        let lock = try step("open", lockPath) { () throws(Errno) in try FD.open(lockPath, O_RDWR | O_CREAT, mode: 0o600) }
        defer { FD.close(lock) }
        try step("flock", lockPath) { () throws(Errno) in _ = try retrying { flock(lock, LOCK_EX) } }
        let links = Set(hostInterfaces(prefix: linkPrefix))
        guard let (_, listing) = try? nft(["list", "tables"]) else { return [] }
        var removed: [String] = []
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
            if (try? runNft("delete table inet \(name)\n")) != nil { removed.append("table inet \(name)") }
        }
        return removed
    }
}
