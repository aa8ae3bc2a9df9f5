import Glibc
import KennelSpec
import KennelSystem

/// The sandbox's own network namespace, as every sandbox gets it: loopback up (the one link
/// a new network namespace has; index 1 in every namespace), and the plan's blocked
/// destinations as `prohibit` routes. One rtnetlink socket for both.
enum BlockedRoutes {
    static func install(_ blocked: [BlockedDestination]) throws(LaunchError) {
        var netlink = try step("socket", "rtnetlink") { () throws(Errno) in try Rtnetlink() }
        defer { netlink.close() }
        try step("bring up", "lo") { () throws(Errno) in try netlink.setUp(interface: 1 /* LOOPBACK_IFINDEX */) }
        for d in blocked {
            do throws(Errno) {
                try netlink.addProhibitRoute(address: d.address, prefixLength: d.prefixLength)
            } catch where d.family == .ipv6 && (error == .addressFamilyNotSupported || error == .protocolNotSupported) {
                continue  // no IPv6 in this kernel: nothing can reach an IPv6 destination anyway
            } catch {
                throw LaunchError("add prohibit route", d.description, error)
            }
        }
    }
}
