import Glibc
import KennelSpec
import KennelSystem

/// Installs the plan's blocked destinations as `prohibit` routes in the current (the
/// sandbox's) network namespace.
enum BlockedRoutes {
    static func install(_ blocked: [BlockedDestination]) throws(LaunchError) {
        guard !blocked.isEmpty else { return }
        var netlink = try step("socket", "rtnetlink") { () throws(Errno) in try Rtnetlink() }
        defer { netlink.close() }
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
