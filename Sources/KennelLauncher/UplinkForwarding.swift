import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`: switching forwarding on for the sandboxes' traffic (and off again) while
/// changing as little of the host as possible: per interface, on the interfaces the host routes
/// by and on each sandbox's host end, behind guards; and what the host's routes say.
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
        /// True if br_netfilter passes the frames of every bridge in this network namespace
        /// through this family's IP hooks (`bridge-nf-call-iptables`, per namespace).
        var bridgesCallHooks: Bool {
            let call = "/proc/sys/net/bridge/bridge-nf-call-" + (family == .ipv4 ? "iptables" : "ip6tables")
            return (try? FD.readFile(call)) == Array("1\n".utf8)
        }

        /// True if br_netfilter passes the frames of a bridge with these options (nil: no
        /// bridge) through this family's IP hooks.
        func filters(bridge options: (ipv4: Bool, ipv6: Bool)?) -> Bool {
            guard let options else { return false }
            return (family == .ipv4 ? options.ipv4 : options.ipv6) || bridgesCallHooks
        }

        /// True if the host forwards this family on every interface.
        var isGlobal: Bool { (try? FD.readFile(globalSwitch)) == Array("1\n".utf8) }
    }

    /// kennel's marker files for one family in this network namespace: kennel set the switch
    /// on that interface (`/run/kennel/fwd4-c4096-eth0`, named after the interface's nft-safe
    /// name when marked, holding its index; the number is the namespace's cookie: its inode
    /// number could come back for a later namespace, whose operator's own setting the marker
    /// would then claim). Kernels before 5.14 have no cookies: there the inode number
    /// (`fwd4-i4026531840-eth0`) keeps namespaces apart at least while they live.
    struct ForwardingMarkers {
        let family: ForwardingFamily
        /// `/run/kennel/fwd4-c4096-`.
        let prefix: String

        /// Both families' markers, the namespace asked once. Nil if the cookie could not be
        /// read for another reason than an old kernel (no socket to ask with): then kennel
        /// leaves its markers, and what they stand for, as they are.
        static func inThisNamespace() -> (ipv4: ForwardingMarkers, ipv6: ForwardingMarkers)? {
            var tag: String
            do throws(Errno) {
                tag = "c\(try NetworkNamespace.cookie())"
            } catch where error.rawValue != ENOPROTOOPT {
                return nil
            } catch {
                var st = stat()
                tag = "i\(stat("/proc/self/ns/net", &st) == 0 ? UInt64(st.st_ino) : 0)"
            }
            let markers = { (f: ForwardingFamily) in ForwardingMarkers(family: f, prefix: Launch.stateDirectory + "/fwd\(f.digit)-\(tag)-") }
            return (markers(.ipv4), markers(.ipv6))
        }

        /// The nft-safe names of the interfaces marked.
        func uplinks() -> [String] {
            let name = String(prefix.dropFirst(Launch.stateDirectory.count + 1))
            return FD.directoryEntries(Launch.stateDirectory).filter { $0.hasPrefix(name) }.map { String($0.dropFirst(name.count)) }
        }

        /// The index a marker records (0 for a marker of an older kennel, which recorded none),
        /// or nil without a marker.
        func recordedIndex(_ uplink: String) -> Int32? {
            guard let bytes = try? FD.readFile(prefix + uplink) else { return nil }
            return Int32(String(decoding: bytes.filter { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)) ?? 0
        }

        /// The index of the interface a marker is about (the one it records, whatever the
        /// interface is called now; by name for a marker of an older kennel). Nil if it is gone.
        func interfaceIndex(_ uplink: String) -> Int32? {
            guard let index = recordedIndex(uplink) else { return nil }
            if index != 0 {
                // Gone only if the kernel says there is no such interface: any other failure
                // keeps the marker, and the guard with it.
                var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
                if if_indextoname(UInt32(bitPattern: index), &name) == nil, errno == ENXIO || errno == ENODEV { return nil }
                return index
            }
            return hostInterfaces(prefix: "").first { nftName($0) == uplink }.map { Int32(bitPattern: if_nametoindex($0)) }
        }

        /// Marks `uplink` (an nft-safe name) as the interface with `index`.
        func create(_ uplink: String, index: Int32) throws(LaunchError) {
            let marker = prefix + uplink
            try step("create", marker) { () throws(Errno) in
                let fd = try FD.open(marker, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
                defer { FD.close(fd) }
                try FD.writeAll(fd, "\(index)\n")
            }
        }

        /// A marker whose interface is gone goes, with its guard: nothing forwards there any more.
        func drop(_ uplink: String, removed: inout [String]) {
            unlink(prefix + uplink)
            BridgeNetwork.deleteGuard(family.guardPrefix + uplink, removed: &removed)
        }

        /// Switches off the forwarding kennel set on the interface the marker `uplink` records,
        /// and removes the marker. An IPv4 interface is left forwarding once the host forwards
        /// IPv4 globally: `ip_forward` set every interface's own switch, which is now the
        /// operator's. False if the setting could not be written (the guard must then stay).
        func switchOff(_ uplink: String, removed: inout [String]) -> Bool {
            let marker = prefix + uplink
            guard access(marker, F_OK) == 0 else { return true }
            if !(family.family == .ipv4 && family.isGlobal), let index = interfaceIndex(uplink) {
                // The interface exists; without its name now (a failure other than its being
                // gone) the switch cannot be written, so the guard must stay.
                guard let interface = Rtnetlink.interfaceName(index) else { return false }
                let path = family.switchPath(interface)
                if access(path, F_OK) == 0 {
                    guard (try? FD.writeFile(path, "0")) != nil else { return false }
                    removed.append(family.report(interface))
                }
            }
            unlink(marker)
            return true
        }

        /// `switchOff`, then the guard (never the other way round: the interface would forward
        /// unguarded).
        func takeBack(_ uplink: String, removed: inout [String]) {
            if switchOff(uplink, removed: &removed) { BridgeNetwork.deleteGuard(family.guardPrefix + uplink, removed: &removed) }
        }
    }

    /// Deletes the guard table `table` if it exists, reporting it.
    static func deleteGuard(_ table: String, removed: inout [String]) {
        if (try? runNft("delete table inet \(table)\n")) != nil { removed.append("table inet \(table)") }
    }

    /// What the host's routing tables say for `--net bridge`, from one dump of both families'
    /// routes: which interfaces to forward by, and whether the host routes IPv6.
    struct HostRoutes {
        let routes: [Rtnetlink.Route]
        /// The names of the interfaces the routes leave by, looked up once.
        let names: [Int32: String]
        /// Which of them are bridges, with the bridge's own br_netfilter options (`learnBridges`).
        var bridges: [Int32: (ipv4: Bool, ipv6: Bool)] = [:]
        /// Interfaces gone since the route dump (`learnBridges`): nothing is set by them.
        var gone = Set<Int32>()

        init(routes: [Rtnetlink.Route], name: (Int32) -> String? = Rtnetlink.interfaceName) {
            self.routes = routes
            var names: [Int32: String] = [:]
            for index in Set(routes.flatMap(\.interfaces)) { names[index] = name(index) }
            self.names = names
        }

        /// The interfaces replies to the sandboxes' traffic of `family` can arrive on: those the
        /// host's unicast routes leave by (a reply comes back the way its request left), other
        /// than loopback and the sandboxes' own host ends. IPv6 routes into link-local space
        /// (fe80::/64 is on every interface with IPv6) do not count.
        func interfaces(_ family: ForwardingFamily) -> [(name: String, index: Int32)] {
            let af = family.family == .ipv4 ? AF_INET : AF_INET6
            var indexes = Set<Int32>()
            for r in routes where r.family == af {
                if af == AF_INET6, r.prefixLength >= 10, r.destination.count == 16, r.destination[0] == 0xfe,
                   r.destination[1] & 0xc0 == 0x80 { continue }
                indexes.formUnion(r.interfaces)
            }
            return indexes.subtracting(gone).sorted().compactMap { i in names[i].map { (name: $0, index: i) } }
                .filter { $0.name != "lo" && !$0.name.hasPrefix(linkPrefix) && isPlainName($0.name) }
        }

        /// Interface names kennel writes into nft rules as they are: letters, digits and `_.-@:+`
        /// (Linux also allows quotes and `*`, which nft would read as syntax or a wildcard).
        func isPlainName(_ name: String) -> Bool {
            name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "_.-@:+".utf8.contains(c)
            }
        }

        /// Asks the kernel which of the interfaces the routes leave by are bridges (one
        /// RTM_GETLINK each: sysfs could show another network namespace's links).
        mutating func learnBridges(_ netlink: inout Rtnetlink) throws(Errno) {
            for (index, name) in names where name != "lo" && !name.hasPrefix(linkPrefix) {
                do {
                    if let options = try netlink.bridgeNetfilter(index: index) { bridges[index] = options }
                } catch where error.rawValue == ENODEV {
                    gone.insert(index)  // gone since the route dump
                }
            }
        }

        /// True if the interface with `index` is a bridge whose frames br_netfilter passes
        /// through `family`'s IP hooks (the namespace's switch, or the bridge's own), where they
        /// reach a guard as the bridge's own and a guard cannot tell them from transit.
        func isFilteredBridge(_ index: Int32, _ family: ForwardingFamily) -> Bool {
            family.filters(bridge: bridges[index])
        }

        /// The interfaces `family`'s default routes leave by.
        func defaults(_ family: ForwardingFamily) -> Set<Int32> {
            let af = family.family == .ipv4 ? AF_INET : AF_INET6
            return Set(routes.filter { $0.family == af && $0.prefixLength == 0 }.flatMap(\.interfaces))
        }

        /// True if the host has an IPv6 default route leaving by an interface other than
        /// loopback; otherwise sandboxes get IPv4 only.
        var routesIPv6: Bool {
            routes.contains { r in r.family == AF_INET6 && r.prefixLength == 0 && r.interfaces.contains { names[$0].map { $0 != "lo" } ?? false } }
        }
    }

    /// Forwarding of `family` for the sandboxes' traffic, changing as little of the host as
    /// possible. If the host already forwards it on every interface (`ip_forward`,
    /// `all.forwarding`: the operator's choice, or Docker's), nothing changes. Otherwise kennel
    /// does not switch global forwarding on: that would make the host a router between all its
    /// networks (and, for IPv6, also one that ignores router advertisements, so the host could
    /// lose the very default route it learned from them). Instead it sets the per-interface
    /// switch on each of `interfaces`, those the host routes by (`HostRoutes`: IPv4
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
    /// `force_forwarding`). `global`: the family's `isGlobal`, read once per launch; `tables`:
    /// the inet tables that exist. Runs under the allocation lock.
    static func enableForwarding(_ markers: ForwardingMarkers, global: Bool, routes: HostRoutes, tables: Set<String>) throws(LaunchError) -> Forwarding? {
        let family = markers.family
        var removed: [String] = []
        if yieldToGlobalForwarding(markers, global: global, removed: &removed) { return .global }
        // kennel's markers by the interface they record: a renamed interface keeps its marker
        // and guard, named after what it was called when kennel marked it.
        var marked: [Int32: String] = [:], tables = tables
        for name in markers.uplinks() {
            guard let index = markers.interfaceIndex(name) else {
                // Its interface is gone (a VPN reconnected, a NIC replugged): the marker and
                // the guard, which names the dead interface, go; a new one is claimed afresh.
                markers.drop(name, removed: &removed)
                tables.remove(family.guardPrefix + name)
                continue
            }
            marked[index] = name
        }
        var forwarding: Forwarding?, switchedOn = false
        for (interface, index) in routes.interfaces(family) {
            let path = family.switchPath(interface)
            guard access(path, F_OK) == 0 else { continue }
            // br_netfilter shows the frames a bridge passes between its ports to the IP hooks as
            // the bridge's own, where a guard cannot tell them from transit: kennel sets nothing
            // on such a bridge (`releaseFilteredBridges` took back what it had set there), and
            // forwards by it only if the operator does.
            if routes.isFilteredBridge(index, family) {
                if marked[index] == nil, (try? FD.readFile(path)) == Array("1\n".utf8) { forwarding = .perInterface }
                continue
            }
            forwarding = .perInterface
            let on = (try? FD.readFile(path)) == Array("1\n".utf8)
            let name: String
            if let ours = marked[index] {
                name = ours
            } else {
                if on { continue }  // the operator's own setting
                // Marked under its nft-safe name, unless another interface's marker has that
                // name (a-b and a_b): then this one is left alone, neither claimed nor guarded.
                name = nftName(interface)
                if marked.values.contains(name) { continue }
            }
            // The switch and the guard go by name: the name must still be this index's (an
            // interface replaced under its name since the route dump is left to the next launch).
            guard Int32(bitPattern: if_nametoindex(interface)) == index else { continue }
            try ensureUplinkGuard(interface, family, table: family.guardPrefix + name, tables: tables)
            if marked[index] == nil {
                try markers.create(name, index: index)
                marked[index] = name
            }
            if !on {
                try step("enable forwarding", path) { () throws(Errno) in try FD.writeFile(path, "1") }
                switchedOn = true
                if Int32(bitPattern: if_nametoindex(interface)) != index {
                    // Replaced in between: the switch just written is the new interface's. Off
                    // again; the marker (of the old index) and its guard go with the next launch.
                    try? FD.writeFile(path, "0")
                    continue
                }
            }
        }
        // An interface's switch was off: the first launch here, or the host's global switch went
        // on and off again since (which sets every interface's switch, the running sandboxes'
        // host ends too). Those host ends get theirs back, or their sandboxes stay cut off.
        if switchedOn {
            for end in hostInterfaces(prefix: linkPrefix) where (try? FD.readFile(family.switchPath(end))) == Array("0\n".utf8) {
                try? FD.writeFile(family.switchPath(end), "1")
            }
        }
        return forwarding
    }

    /// Takes back what kennel set on interfaces that are now bridges br_netfilter filters
    /// (`isFiltered`, by index): switch off first, then guard and marker, since the guard would
    /// cut the bridge's own frames. Launches call it before anything else (`releaseFilteredBridges`
    /// then `unguardableUplink`), gc for every marked interface.
    static func releaseFilteredBridges(_ markers: ForwardingMarkers, isFiltered: (Int32) -> Bool, removed: inout [String]) {
        for name in markers.uplinks() {
            if let index = markers.interfaceIndex(name), isFiltered(index) { markers.takeBack(name, removed: &removed) }
        }
    }

    /// The bridge by which `family`'s default route leaves when kennel would have to forward
    /// by it but cannot guard it (`HostRoutes.isFilteredBridge`): its switch is off. A switch
    /// the operator turned on is theirs, guard and all (after `releaseFilteredBridges`, none is
    /// kennel's). Nil if there is none, or the host forwards `family` globally, or cannot
    /// forward it per interface at all (IPv6 before Linux 6.17).
    static func unguardableUplink(_ family: ForwardingFamily, global: Bool, _ routes: HostRoutes) -> String? {
        guard !global else { return nil }
        for (interface, index) in routes.interfaces(family)
        where routes.defaults(family).contains(index) && routes.isFilteredBridge(index, family) {
            let path = family.switchPath(interface)
            guard access(path, F_OK) == 0 else { continue }
            if (try? FD.readFile(path)) != Array("1\n".utf8) { return interface }
        }
        return nil
    }

    /// The guard `table` for `uplink` (an interface the host routes by) and `family` unless it
    /// is among `tables`. It names the interface by `iif`, which nft resolves to its index: the
    /// guard follows the interface if it is renamed (its forwarding switch does too). Transit
    /// arriving there is dropped at prerouting (before the kernel could route it, or answer it
    /// as a router: ICMP errors, redirects) and again at forward, unless it is bound for a
    /// sandbox's host end (back out of the same link too: the host relays nothing between
    /// neighbours).
    /// Replies to the sandboxes' masqueraded traffic have their sandbox address back by then
    /// (NAT runs earlier in prerouting). Everything addressed to the host itself (local,
    /// broadcast) or multicast (neighbour discovery, router advertisements) passes.
    static func ensureUplinkGuard(_ uplink: String, _ family: ForwardingFamily, table: String, tables: Set<String>) throws(LaunchError) {
        if tables.contains(table) { return }
        let kn = linkPrefix + "*", proto = family.nfproto
        try runNft("""
        table inet \(table) {
          chain prerouting {
            type filter hook prerouting priority filter; policy accept;
            iif "\(uplink)" meta nfproto \(proto) fib daddr type != { \(family.localTypes) } fib daddr oifname != "\(kn)" drop
          }
          chain forward {
            type filter hook forward priority filter; policy accept;
            iif "\(uplink)" oifname != "\(kn)" meta nfproto \(proto) drop
          }
        }

        """)
    }

    /// If the host forwards the markers' family globally, kennel's own settings in this network
    /// namespace (whatever interface they were for) go, guards included: a guard would cut the
    /// host's own forwarding. Returns whether the host forwards globally. Used by launches and
    /// `kennel gc`.
    static func yieldToGlobalForwarding(_ markers: ForwardingMarkers, global: Bool, removed: inout [String]) -> Bool {
        guard global else { return false }
        for uplink in markers.uplinks() { markers.takeBack(uplink, removed: &removed) }
        return true
    }
}
