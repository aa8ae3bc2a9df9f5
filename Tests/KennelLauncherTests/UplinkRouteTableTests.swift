import XCTest
@testable import KennelLauncher

/// The route-table fallback of `BridgeNetwork.ipv6Uplink`: which default route names the uplink.
final class UplinkRouteTableTests: XCTestCase {
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
