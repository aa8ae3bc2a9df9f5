import Glibc
import KennelSpec
import KennelSystem

/// `--net bridge`, IPv6: finding the host's uplink, and switching IPv6 forwarding on for the
/// sandboxes' traffic (and off again) while changing as little of the host as possible.
extension BridgeNetwork {
    /// Guards for an uplink on which kennel switched IPv6 forwarding on: `kennel2_fwd6_eth0`.
    static let uplinkGuardPrefix = tablePrefix + "fwd6_"
    /// Marker files: kennel set `force_forwarding` on that uplink of that network namespace
    /// (`/run/kennel/fwd6-c4096-eth0`, the number being the namespace's cookie: its inode
    /// number could come back for a later namespace, whose operator's own setting the marker
    /// would then claim). Kernels without cookies have no `force_forwarding` either.
    static func uplinkMarkerPrefix() -> String {
        let cookie = (try? NetworkNamespace.cookie()) ?? 0
        return Launch.stateDirectory + "/fwd6-c\(cookie)-"
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
        return ipv6UplinkFromRouteTable()
    }

    /// The slow path of `ipv6Uplink`: the first IPv6 default route that rejects nothing and
    /// leaves by an interface other than loopback.
    static func ipv6UplinkFromRouteTable() -> String? {
        guard let bytes = try? FD.readFile("/proc/net/ipv6_route") else { return nil }
        for line in TextFields.lines(String(decoding: bytes, as: UTF8.self)) {
            // destination, prefix length, source, source length, next hop, metric, refs, use, flags, device
            let f = TextFields.fields(line)
            guard f.count == 10, f[1] == "00", f[0].utf8.allSatisfy({ $0 == UInt8(ascii: "0") }), f[9] != "lo",
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
    /// put back whenever it is missing (say after `nft flush ruleset`: by the next launch or
    /// `kennel gc`), and `kennel gc` undoes both when no sandbox is left. A `force_forwarding`
    /// kennel did not set is left as it is; once the operator switches global forwarding on,
    /// kennel's own setting and guard go (the guard would cut their forwarding). On older
    /// kernels sandboxes get IPv4 only: returns nil. Runs under the allocation lock.
    static func enableIPv6Forwarding(uplink: String) throws(LaunchError) -> IPv6Forwarding? {
        let marker = uplinkMarkerPrefix() + nftName(uplink)
        let ours = access(marker, F_OK) == 0
        if (try? FD.readFile("/proc/sys/net/ipv6/conf/all/forwarding")) == Array("1\n".utf8) {
            if ours {
                var removed: [String] = []
                if switchOffForwarding(uplinkNamed: nftName(uplink), removed: &removed) {
                    _ = try? runNft("delete table inet \(uplinkGuardPrefix + nftName(uplink))\n")
                }
            }
            return .global
        }
        let path = "/proc/sys/net/ipv6/conf/\(uplink)/force_forwarding"
        guard access(path, F_OK) == 0 else { return nil }
        let on = (try? FD.readFile(path)) == Array("1\n".utf8)
        if on && !ours { return .perInterface }  // the operator's own setting
        try ensureUplinkGuard(uplink)
        if !ours {
            try step("create", marker) { () throws(Errno) in
                FD.close(try FD.open(marker, O_WRONLY | O_CREAT, mode: 0o600))
            }
        }
        if !on { try step("enable forwarding", path) { () throws(Errno) in try FD.writeFile(path, "1") } }
        return .perInterface
    }

    /// The guard table for `uplink` unless it exists: transit IPv6 arriving there is dropped
    /// at prerouting (before the kernel could route it, or answer it as a router: ICMPv6
    /// errors, redirects) and again at forward, unless it is bound for a sandbox's host end.
    /// Everything addressed to the host itself (local) or multicast (neighbour discovery,
    /// router advertisements) passes.
    static func ensureUplinkGuard(_ uplink: String) throws(LaunchError) {
        let table = uplinkGuardPrefix + nftName(uplink)
        if try nftTableExists(table) { return }
        let kn = linkPrefix + "*"
        try runNft("""
        table inet \(table) {
          chain prerouting {
            type filter hook prerouting priority filter; policy accept;
            iifname "\(uplink)" meta nfproto ipv6 fib daddr type != { local, multicast } fib daddr oifname != "\(kn)" drop
          }
          chain forward {
            type filter hook forward priority filter; policy accept;
            iifname "\(uplink)" oifname != "\(kn)" meta nfproto ipv6 drop
          }
        }

        """)
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
}
