/// The host's resolv.conf as a bridged sandbox sees it, and the byte-level field splitter.
import XCTest
@testable import KennelSpec

final class ResolvConfTests: XCTestCase {
    func testFieldsSplitOnSpacesAndTabs() {
        XCTAssertEqual(TextFields.fields("nameserver\t 192.0.2.53  # x"), ["nameserver", "192.0.2.53", "#", "x"])
        XCTAssertEqual(TextFields.fields("   "), [])
        XCTAssertEqual(TextFields.lines("a\n\nb c\n"), ["a", "b c"])
    }

    func testNameserversAndLoopback() {
        let text = "# nameserver 192.0.2.9\nnameserver 127.0.0.53\nnameserver\t::1\nsearch example.test\nnameserver 2001:db8::53\n"
        XCTAssertEqual(ResolvConf.nameservers(text), ["127.0.0.53", "::1", "2001:db8::53"])
        XCTAssertEqual(ResolvConf.nameservers(text).map(ResolvConf.isLoopback), [true, true, false])
        XCTAssertFalse(ResolvConf.isLoopback("1270::1"))
    }

    func testFilteredKeepsWhatWorksFromInside() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver\t192.0.2.53\nsearch example.test\noptions edns0\ndomain example.test\nsortlist 192.0.2.0/24\n"
        XCTAssertEqual(ResolvConf.filtered(host),
                       "nameserver\t192.0.2.53\nsearch example.test\noptions edns0\ndomain example.test\n")
        XCTAssertEqual(try LaunchPlan.resolvConf(dns: [], host: host), ResolvConf.filtered(host))
    }
}
