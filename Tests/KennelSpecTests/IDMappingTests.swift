/// Proves the user-namespace id map: the default base puts container uid 1000 on host uid
/// 200001, the arithmetic is exact at the edges of the 65536-id range, the map line is the
/// exact text the kernel gets, and bases that would map onto host system ids or past
/// (uid_t)-1 are refused.
import Foundation
import XCTest
@testable import KennelSpec

final class IDMappingTests: XCTestCase {
    func testDefaultBaseMapsContainer1000ToHost200001() throws {
        let map = try IDMapping()
        XCTAssertEqual(IDMapping.defaultBase, 199_001)
        XCTAssertEqual(map.base, 199_001)
        XCTAssertEqual(map.count, 65_536)
        XCTAssertEqual(map.hostID(forContainer: 1000), 200_001)
        XCTAssertEqual(map.containerID(forHost: 200_001), 1000)
    }

    func testHostIDAtTheEdgesOfTheRange() throws {
        let map = try IDMapping()
        XCTAssertEqual(map.hostID(forContainer: 0), 199_001)
        XCTAssertEqual(map.hostID(forContainer: 65_535), 199_001 + 65_535)
        XCTAssertNil(map.hostID(forContainer: 65_536))
        XCTAssertNil(map.hostID(forContainer: UInt32.max))
    }

    func testContainerIDAtTheEdgesOfTheRange() throws {
        let map = try IDMapping()
        XCTAssertNil(map.containerID(forHost: 0), "host root is not mapped")
        XCTAssertNil(map.containerID(forHost: 199_000), "one below the base is not mapped")
        XCTAssertEqual(map.containerID(forHost: 199_001), 0)
        XCTAssertEqual(map.containerID(forHost: 199_001 + 65_535), 65_535)
        XCTAssertNil(map.containerID(forHost: 199_001 + 65_536))
        XCTAssertNil(map.containerID(forHost: UInt32.max))
    }

    func testHostAndContainerIDsRoundTrip() throws {
        let map = try IDMapping(base: 300_000)
        for id: UInt32 in [0, 1, 5, 100, 1000, 65_534, 65_535] {
            let host = try XCTUnwrap(map.hostID(forContainer: id))
            XCTAssertEqual(host, 300_000 + id)
            XCTAssertEqual(map.containerID(forHost: host), id)
        }
    }

    func testMapLineIsExactlyTheKernelFormat() throws {
        XCTAssertEqual(try IDMapping().mapLine, "0 199001 65536\n")
        XCTAssertEqual(try IDMapping(base: 65_536).mapLine, "0 65536 65536\n")
    }

    func testBaseBelowMinimumIsRefused() {
        assertThrows(.mapBaseTooLow(65_535)) { try IDMapping(base: 65_535) }
        assertThrows(.mapBaseTooLow(0)) { try IDMapping(base: 0) }
        assertThrows(.mapBaseTooLow(1000)) { try IDMapping(base: 1000) }
    }

    func testMinimumBaseIsAccepted() throws {
        let map = try IDMapping(base: 65_536)
        XCTAssertEqual(map.base, IDMapping.minimumBase)
        XCTAssertEqual(map.hostID(forContainer: 0), 65_536)
        XCTAssertEqual(map.hostID(forContainer: 65_535), 131_071)
    }

    func testBaseWhoseRangeReachesUIDMinusOneIsRefused() {
        // base + 65535 == UInt32.max would map container id 65535 onto (uid_t)-1.
        let reachesMax = UInt32.max - 65_535
        assertThrows(.mapBaseOverflows(reachesMax)) { try IDMapping(base: reachesMax) }
        // One more and the range no longer fits in 32 bits at all.
        let overflows = UInt32.max - 65_535 + 1
        assertThrows(.mapBaseOverflows(overflows)) { try IDMapping(base: overflows) }
        assertThrows(.mapBaseOverflows(UInt32.max)) { try IDMapping(base: UInt32.max) }
    }

    func testLargestAcceptableBase() throws {
        let largest = UInt32.max - 65_536
        let map = try IDMapping(base: largest)
        XCTAssertEqual(map.hostID(forContainer: 0), largest)
        XCTAssertEqual(map.hostID(forContainer: 65_535), UInt32.max - 1, "last host id stays below (uid_t)-1")
        XCTAssertNil(map.hostID(forContainer: 65_536))
        XCTAssertEqual(map.containerID(forHost: UInt32.max - 1), 65_535)
        XCTAssertNil(map.containerID(forHost: UInt32.max))
        XCTAssertEqual(map.mapLine, "0 \(largest) 65536\n")
    }

    func testErrorsRenderAsOneLine() {
        XCTAssertEqual(SpecError.mapBaseTooLow(65_535).description,
                       "--map-base 65535: must be at least 65536, so that container ids never land on host system ids")
        XCTAssertEqual(SpecError.mapBaseOverflows(4_294_901_760).description,
                       "--map-base 4294901760: 4294901760 + 65536 ids would overflow the 32-bit id space")
    }

    func testCodableRoundTrip() throws {
        let map = try IDMapping(base: 123_456)
        let back = try JSONDecoder().decode(IDMapping.self, from: JSONEncoder().encode(map))
        XCTAssertEqual(back, map)
    }
}
