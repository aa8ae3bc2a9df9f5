import Glibc
import KennelSystem
import XCTest
@testable import KennelLauncher

/// `BridgeNetwork.HostRoutes`: which interfaces kennel forwards by, and whether the host
/// routes IPv6, from the main table's unicast routes.
final class HostRoutesTests: XCTestCase {
    let names: [Int32: String] = [1: "lo", 2: "eth0", 3: "eth1", 4: "kn-abc", 5: "wg0", 6: "eth2"]

    func route(_ family: Int32, _ destination: [UInt8], _ prefixLength: UInt8, _ interfaces: [Int32]) -> Rtnetlink.Route {
        Rtnetlink.Route(family: family, destination: destination, prefixLength: prefixLength, interfaces: interfaces)
    }

    func testEveryInterfaceARouteLeavesByButLoopbackAndSandboxEnds() {
        let routes = BridgeNetwork.HostRoutes(routes: [
            route(AF_INET, [], 0, [2]),                    // default via eth0
            route(AF_INET, [192, 0, 2, 0], 24, [2]),
            route(AF_INET, [198, 51, 100, 0], 24, [3]),    // a private network on eth1
            route(AF_INET, [10, 213, 0, 0], 30, [4]),      // a sandbox's host end
            route(AF_INET, [127, 0, 0, 0], 8, [1]),
            route(AF_INET, [203, 0, 113, 0], 24, [5, 6]),  // multipath
        ], name: { self.names[$0] })
        XCTAssertEqual(routes.interfaces(.ipv4).map(\.name), ["eth0", "eth1", "wg0", "eth2"])
        XCTAssertEqual(routes.interfaces(.ipv4).map(\.index), [2, 3, 5, 6])
        XCTAssertEqual(routes.interfaces(.ipv6).map(\.name), [])
        XCTAssertFalse(routes.routesIPv6)
    }

    func testNamesNftWouldMisreadAreLeftOut() {
        let routes = BridgeNetwork.HostRoutes(routes: [route(AF_INET, [], 0, [2, 3, 4])],
                                              name: { [2: "eth0", 3: "we\"ird", 4: "wild*"][$0] })
        XCTAssertEqual(routes.interfaces(.ipv4).map(\.name), ["eth0"])
    }

    func testIPv6LinkLocalRoutesDoNotCountAndADefaultRouteMeansIPv6() {
        let fe80: [UInt8] = [0xfe, 0x80] + [UInt8](repeating: 0, count: 14)
        let global: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12)
        var routes = BridgeNetwork.HostRoutes(routes: [
            route(AF_INET6, fe80, 64, [2]), route(AF_INET6, fe80, 64, [3]), route(AF_INET6, global, 64, [3]),
        ], name: { self.names[$0] })
        XCTAssertEqual(routes.interfaces(.ipv6).map(\.name), ["eth1"])
        XCTAssertFalse(routes.routesIPv6)
        routes = BridgeNetwork.HostRoutes(routes: [route(AF_INET6, [UInt8](repeating: 0, count: 16), 0, [1])], name: { self.names[$0] })
        XCTAssertFalse(routes.routesIPv6, "a default route by loopback routes nothing")
        routes = BridgeNetwork.HostRoutes(routes: [route(AF_INET6, [], 0, [2])], name: { self.names[$0] })
        XCTAssertTrue(routes.routesIPv6)
        XCTAssertEqual(routes.interfaces(.ipv6).map(\.name), ["eth0"])
    }
}
