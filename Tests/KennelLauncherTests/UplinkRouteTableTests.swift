import XCTest
@testable import KennelLauncher

/// The route-table fallback of `BridgeNetwork.uplink`: which default route names the uplink.
final class UplinkRouteTableTests: XCTestCase {
    let header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

    func testIPv4TakesTheFirstUsableDefaultRoute() {
        let table = header
            + "eth1\t00000080\t0202000A\t0003\t0\t0\t0\t00000080\t0\t0\t0\n"  // 128.0.0.0/1: not a default route
            + "lo\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"    // by loopback
            + "eth2\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0\n"  // a reject route
            + "eth3\t00000000\t0202000A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"  // not up
            + "eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
            + "eth4\t00000000\t0104000A\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
        XCTAssertEqual(BridgeNetwork.ipv4Uplink(routeTable: table), "eth0")
    }

    func testIPv4WithoutADefaultRouteHasNoUplink() {
        let table = header + "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        XCTAssertNil(BridgeNetwork.ipv4Uplink(routeTable: table))
        XCTAssertNil(BridgeNetwork.ipv4Uplink(routeTable: header))
    }

    func testIPv6TakesTheFirstDefaultRouteThatRejectsNothing() {
        let zero = String(repeating: "0", count: 32)
        let table = "20000000000000000000000000000000 03 \(zero) 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth1\n"
            + "\(zero) 00 \(zero) 00 \(zero) ffffffff 00000001 00000000 00200200 lo\n"
            + "\(zero) 00 \(zero) 00 \(zero) ffffffff 00000001 00000000 00000201 eth2\n"
            + "\(zero) 00 \(zero) 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n"
        XCTAssertEqual(BridgeNetwork.ipv6Uplink(routeTable: table), "eth0")
        XCTAssertNil(BridgeNetwork.ipv6Uplink(routeTable: ""))
    }
}
