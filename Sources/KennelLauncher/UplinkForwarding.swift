import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`: switching forwarding on for the sandboxes' traffic (and off again) while
/// changing as little of the host as possible: per interface, on the interfaces the host routes
/// by and on each sandbox's host end, behind guards; and whether the host routes IPv6 at all.
extension BridgeNetwork {
    /// How the host forwards one family for the sandboxes.
    enum Forwarding {
        /// The host forwards that family on every interface already (the operator's choice).
        case global
        /// Only on the uplink and on the sandboxes' host ends: each host end needs the switch.
        case perInterface
    }

    /// One address family's forwarding switches, and the names of kennel's records of them.
    struct ForwardingFamily: Equatable {
        let family: BlockedDestination.Family
        /// The switch that makes every interface forward (and sets each one's own switch, for IPv4).
        let globalSwitch: String
        /// The directory of the per-interface switches, and the switch's name in it.
        let interfaceDirectory: String, interfaceSwitch: String
        /// The nftables `meta nfproto` keyword, and the address types a guard lets through to
        /// the host itself.
        let nfproto: String, localTypes: String

        static let ipv4 = ForwardingFamily(family: .ipv4, globalSwitch: "/proc/sys/net/ipv4/ip_forward",
                                           interfaceDirectory: "/proc/sys/net/ipv4/conf/", interfaceSwitch: "forwarding",
                                           nfproto: "ipv4", localTypes: "local, broadcast, multicast")
        /// IPv6's per-interface switch is `force_forwarding` (Linux 6.17+): its `forwarding`
        /// also makes the interface a router that ignores router advertisements.
        static let ipv6 = ForwardingFamily(family: .ipv6, globalSwitch: "/proc/sys/net/ipv6/conf/all/forwarding",
                                           interfaceDirectory: "/proc/sys/net/ipv6/conf/", interfaceSwitch: "force_forwarding",
                                           nfproto: "ipv6", localTypes: "local, multicast")
        static let both = [ipv4, ipv6]

        /// "4" or "6".
        var digit: String { family == .ipv4 ? "4" : "6" }
        /// The per-interface switch of `interface`.
        func switchPath(_ interface: String) -> String { interfaceDirectory + interface + "/" + interfaceSwitch }
        /// Guard tables for an uplink on which kennel switched forwarding on: `kennel2_fwd4_eth0`.
        var guardPrefix: String { tablePrefix + "fwd\(digit)_" }
        /// What `kennel gc` reports when it switches the uplink's forwarding off.
        func report(_ interface: String) -> String { "\(family.rawValue) \(interfaceSwitch) on \(interface)" }
        /// True if the host forwards this family on every interface.
        var isGlobal: Bool { (try? FD.readFile(globalSwitch)) == Array("1\n".utf8) }

        /// Marker files: kennel set the switch on that uplink of that network namespace
        /// (`/run/kennel/fwd4-c4096-eth0`, the number being the namespace's cookie: its inode
        /// number could come back for a later namespace, whose operator's own setting the marker
        /// would then claim).
        func markerPrefix() -> String {
            let cookie = (try? NetworkNamespace.cookie()) ?? 0
            return Launch.stateDirectory + "/fwd\(digit)-c\(cookie)-"
        }
    }

    /// The interface of the host's IPv6 default route, or nil when the host does not route
    /// IPv6: then sandboxes get IPv4 only. Asked of the kernel first, for 2000:: (the start of
    /// global unicast space): a unicast default route with an interface answers at once, no
    /// route at all means none. Anything else (a more specific route there, several paths, a
    /// reject route) is settled by reading the route table, /proc/net/ipv6_route, whose
    /// generation costs a launch ~0.15 ms.
    static func ipv6Uplink(_ netlink: inout Rtnetlink) -> String? {
        var probe = [UInt8](repeating: 0, count: 16)
        probe[0] = 0x20
        do throws(Errno) {
            let route = try netlink.routeMatch(probe)
            if route.prefixLength == 0, route.type == 1 /* RTN_UNICAST */, let index = route.interface,
               let uplink = Rtnetlink.interfaceName(index), uplink != "lo" {
                return uplink
            }
        } catch where error == .networkUnreachable {
            return nil
        } catch {}
        guard let bytes = try? FD.readFile("/proc/net/ipv6_route") else { return nil }
        return ipv6Uplink(routeTable: String(decoding: bytes, as: UTF8.self))
    }

    /// The interfaces replies to the sandboxes' traffic of `family` can arrive on: those the
    /// host's routes leave by (main table; a reply comes back the way its request left), other
    /// than loopback and the sandboxes' own host ends.
    static func routedInterfaces(_ family: ForwardingFamily, _ netlink: inout Rtnetlink) -> [String] {
        let indexes = (try? netlink.routeInterfaces(family: family.family == .ipv4 ? AF_INET : AF_INET6)) ?? []
        return indexes.sorted().compactMap { Rtnetlink.interfaceName($0) }.filter { $0 != "lo" && !$0.hasPrefix(linkPrefix) }
    }

    /// The slow path of `ipv6Uplink`, from /proc/net/ipv6_route: the first default route that
    /// rejects nothing and leaves by an interface other than loopback.
    static func ipv6Uplink(routeTable: String) -> String? {
        for line in TextFields.lines(routeTable) {
            // destination, prefix length, source, source length, next hop, metric, refs, use, flags, device
            let f = TextFields.fields(line)
            guard f.count == 10, f[1] == "00", f[0].utf8.allSatisfy({ $0 == UInt8(ascii: "0") }), f[9] != "lo",
                  let flags = UInt32(f[8], radix: 16), flags & 0x0200 /* RTF_REJECT */ == 0 else { continue }
            return String(f[9])
        }
        return nil
    }

    /// Forwarding of `family` for the sandboxes' traffic, changing as little of the host as
    /// possible. If the host already forwards it on every interface (`ip_forward`,
    /// `all.forwarding`: the operator's choice, or Docker's), nothing changes. Otherwise kennel
    /// does not switch global forwarding on: that would make the host a router between all its
    /// networks (and, for IPv6, also one that ignores router advertisements, so the host could
    /// lose the very default route it learned from them). Instead it sets the per-interface
    /// switch on each of `interfaces`, those the host routes by (`routedInterfaces`: IPv4
    /// forwards by the interface a packet arrives on, and replies arrive there), and on each
    /// sandbox's host end, behind a guard table per interface that lets it forward only into
    /// sandboxes: transit packets are dropped at prerouting, before the kernel could route them
    /// or answer them as a router would (ICMP errors, redirects).
    ///
    /// A marker file per interface records that the setting is kennel's: the guard is put back
    /// whenever it is missing (say after `nft flush ruleset`: by the next launch or `kennel
    /// gc`), and `kennel gc` undoes both when no sandbox is left. A per-interface setting kennel
    /// did not make is left as it is (and gets no guard of kennel's); once the host forwards
    /// globally, kennel's guards and markers go (a guard would cut that forwarding). Returns nil
    /// when there is nothing to forward by, or for IPv6 on kernels before 6.17 (no
    /// `force_forwarding`). `tables`: the inet tables that exist. Runs under the allocation lock.
    static func enableForwarding(_ family: ForwardingFamily, interfaces: [String], tables: Set<String>) throws(LaunchError) -> Forwarding? {
        var removed: [String] = []
        if yieldToGlobalForwarding(family, removed: &removed) { return .global }
        let markers = family.markerPrefix()
        var forwarding: Forwarding?
        for interface in interfaces {
            let path = family.switchPath(interface)
            guard access(path, F_OK) == 0 else { continue }
            forwarding = .perInterface
            let marker = markers + nftName(interface)
            let ours = access(marker, F_OK) == 0
            let on = (try? FD.readFile(path)) == Array("1\n".utf8)
            if on && !ours { continue }  // the operator's own setting
            try ensureUplinkGuard(interface, family, tables: tables)
            if !ours {
                try step("create", marker) { () throws(Errno) in
                    FD.close(try FD.open(marker, O_WRONLY | O_CREAT, mode: 0o600))
                }
            }
            if !on { try step("enable forwarding", path) { () throws(Errno) in try FD.writeFile(path, "1") } }
        }
        return forwarding
    }

    /// The guard table for `uplink` (an interface the host routes by) and `family` unless it
    /// is among `tables`: transit arriving there is
    /// dropped at prerouting (before the kernel could route it, or answer it as a router: ICMP
    /// errors, redirects) and again at forward, unless it is bound for a sandbox's host end.
    /// Replies to the sandboxes' masqueraded traffic have their sandbox address back by then
    /// (NAT runs earlier in prerouting). Everything addressed to the host itself (local,
    /// broadcast) or multicast (neighbour discovery, router advertisements) passes.
    static func ensureUplinkGuard(_ uplink: String, _ family: ForwardingFamily, tables: Set<String>) throws(LaunchError) {
        let table = family.guardPrefix + nftName(uplink)
        if tables.contains(table) { return }
        let kn = linkPrefix + "*", proto = family.nfproto
        try runNft("""
        table inet \(table) {
          chain prerouting {
            type filter hook prerouting priority filter; policy accept;
            iifname "\(uplink)" meta nfproto \(proto) fib daddr type != { \(family.localTypes) } fib daddr oifname != "\(kn)" drop
          }
          chain forward {
            type filter hook forward priority filter; policy accept;
            iifname "\(uplink)" oifname != "\(kn)" meta nfproto \(proto) drop
          }
        }

        """)
    }

    /// If the host forwards `family` globally, kennel's own settings in this network namespace
    /// (whatever uplink they were for) go, guards included: a guard would cut the host's own
    /// forwarding. Returns whether the host forwards globally. Used by launches and `kennel gc`.
    static func yieldToGlobalForwarding(_ family: ForwardingFamily, removed: inout [String]) -> Bool {
        guard family.isGlobal else { return false }
        for uplink in markedUplinks(family) where switchOffForwarding(family, uplinkNamed: uplink, removed: &removed) {
            let table = family.guardPrefix + uplink
            if (try? runNft("delete table inet \(table)\n")) != nil { removed.append("table inet \(table)") }
        }
        return true
    }

    /// The nft-safe names of the uplinks in this network namespace on which kennel set
    /// `family`'s forwarding (its marker files).
    static func markedUplinks(_ family: ForwardingFamily) -> [String] {
        let prefix = String(family.markerPrefix().dropFirst(Launch.stateDirectory.count + 1))
        return FD.directoryEntries(Launch.stateDirectory).filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// Switches off the per-interface forwarding kennel set on the uplink whose nft-safe name
    /// is `uplink` and removes its marker. An IPv4 uplink is left forwarding once the host
    /// forwards IPv4 globally: `ip_forward` set every interface's own switch, which is now the
    /// operator's. False if the setting could not be written (the guard must then stay).
    static func switchOffForwarding(_ family: ForwardingFamily, uplinkNamed uplink: String, removed: inout [String]) -> Bool {
        let marker = family.markerPrefix() + uplink
        let ours = access(marker, F_OK) == 0
        let globalOwnsIt = family.family == .ipv4 && family.isGlobal
        for interface in hostInterfaces(prefix: "") where nftName(interface) == uplink && ours && !globalOwnsIt {
            let path = family.switchPath(interface)
            if access(path, F_OK) == 0 {
                guard (try? FD.writeFile(path, "0")) != nil else { return false }
                removed.append(family.report(interface))
            }
        }
        if ours { unlink(marker) }
        return true
    }
}
