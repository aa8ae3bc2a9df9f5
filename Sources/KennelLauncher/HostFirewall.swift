import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`, the host side in nftables: the pools' table (NAT, the second layer of blocked
/// destinations, no new traffic into the host or between sandboxes), running nft, and
/// `kennel gc` (which also switches off the forwarding kennel set, see `enableForwarding`).
extension BridgeNetwork {
    /// `name` with every character nft does not take in a table name replaced by `_`.
    static func nftName(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
    }

    /// The nftables table for a pool pair: `inet kennel2_10_213_0_0_16_fd6b_656e_6e65___64`.
    static func tableName(_ pool: BlockedDestination, _ pool6: BlockedDestination?) -> String {
        tablePrefix + nftName(pool.description + (pool6.map { "_" + $0.description } ?? ""))
    }

    /// The pools' nftables table unless it exists: masquerade for the pools' egress; from the
    /// sandboxes, the always-blocked destinations dropped before any routing or DNAT (a second
    /// layer behind the routes inside), packets whose source address does not route back
    /// through the veth they came from dropped (a reverse-path check: no sandbox sends as
    /// another, or as anything but itself), nothing new into the host itself (neighbour
    /// discovery aside, so not over link-local either) nor into another sandbox; and no new
    /// connection from outside into a sandbox. Tables of different pools in one host add up
    /// without contradicting each other. Forwarding is switched on after it
    /// (`enableForwarding`): never a moment of forwarding without these drops.
    /// `tables`: the inet tables that exist (`nftTables`).
    static func ensurePoolTable(pool: BlockedDestination, pool6: BlockedDestination?, tables: Set<String>) throws(LaunchError) {
        let table = tableName(pool, pool6)
        if tables.contains(table) { return }
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

    /// The names of the `inet` nftables tables in this network namespace (asked over netlink,
    /// once per launch: no nft process on the way of a launch).
    static func nftTables() throws(LaunchError) -> Set<String> {
        try step("nftables", "list tables") { () throws(Errno) in
            var nf = try Rtnetlink(protocol: 12 /* NETLINK_NETFILTER */)
            defer { nf.close() }
            return try nf.nftablesTables(family: 1 /* NFPROTO_INET */)
        }
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
    static func collectGarbage() throws(LaunchError) -> GarbageReport {
        let lock = try step("open", lockPath) { () throws(Errno) in try FD.open(lockPath, O_RDWR | O_CREAT, mode: 0o600) }
        defer { FD.close(lock) }
        try step("flock", lockPath) { () throws(Errno) in _ = try retrying { flock(lock, LOCK_EX) } }
        let links = Set(hostInterfaces(prefix: linkPrefix))
        guard let (_, listing) = try? nft(["list", "tables"]) else { return GarbageReport() }
        var removed: [String] = [], restored: [String] = []
        // Once the host forwards a family globally, kennel's settings for it go. Otherwise
        // markers whose guard table is gone (a flushed ruleset) still mean kennel's forwarding:
        // off when no sandbox is left, or the guard put back while sandboxes run.
        let guards = Set(listing.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        var netlink = try? Rtnetlink()
        defer { netlink?.close() }
        let markers = ForwardingMarkers.inThisNamespace()
        for m in markers.map({ [$0.ipv4, $0.ipv6] }) ?? [] where !yieldToGlobalForwarding(m, global: m.family.isGlobal, removed: &removed) {
            // Interfaces that became bridges br_netfilter filters: kennel's settings there go.
            releaseFilteredBridges(m, isFiltered: { index in
                m.family.filters(bridge: (try? netlink?.bridgeNetfilter(index: index)) ?? nil)
            }, removed: &removed)
            for uplink in m.uplinks() {
                guard let index = m.interfaceIndex(uplink) else {
                    m.drop(uplink, removed: &removed)  // its interface is gone
                    continue
                }
                guard let interface = Rtnetlink.interfaceName(index) else { continue }  // left as it is
                let table = m.family.guardPrefix + uplink
                guard !guards.contains(table) else { continue }
                if links.isEmpty {
                    _ = m.switchOff(uplink, removed: &removed)
                } else if (try? ensureUplinkGuard(interface, m.family, table: table, tables: guards)) != nil {
                    restored.append("table inet \(table)")
                }
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
            guard stale, !removed.contains("table inet \(name)") else { continue }
            if let family = ForwardingFamily.both.first(where: { name.hasPrefix($0.guardPrefix) }) {
                // Forwarding that kennel switched on for an uplink goes off first, then its
                // guard (never the other way round: the uplink would forward unguarded); with
                // no markers to read, the guard stays.
                guard let m = markers.map({ family == .ipv4 ? $0.ipv4 : $0.ipv6 }),
                      m.switchOff(String(name.dropFirst(family.guardPrefix.count)), removed: &removed) else { continue }
            }
            if (try? runNft("delete table inet \(name)\n")) != nil { removed.append("table inet \(name)") }
        }
        return GarbageReport(removed: removed, restored: restored)
    }
}
