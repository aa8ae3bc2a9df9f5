/// Proves capability names and numbers follow <linux/capability.h>, Docker's default set is
/// exactly the 14 documented capabilities (mask 0xa80425fb), masks print as /proc does, and
/// `--cap-add`/`--cap-drop` change exactly the named bits (ALL, order, unknown names).
import Foundation
import XCTest
@testable import KennelSpec

final class CapabilityTests: XCTestCase {
    func testKernelNumbering() {
        XCTAssertEqual(Capability.names.count, 41, "CAP_LAST_CAP is 40 (CHECKPOINT_RESTORE)")
        let expected: [String: Int] = [
            "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
            "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_ADMIN": 12,
            "NET_RAW": 13, "SYS_MODULE": 16, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_ADMIN": 21,
            "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_TIME": 25, "MKNOD": 27, "AUDIT_WRITE": 29,
            "SETFCAP": 31, "SYSLOG": 34, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
        ]
        for (name, number) in expected {
            XCTAssertEqual(Capability(name: name)?.number, number, name)
            XCTAssertEqual(Capability(number: number)?.name, "CAP_" + name)
        }
        XCTAssertNil(Capability(number: 41))
        XCTAssertNil(Capability(number: -1))
    }

    func testNameParsingAcceptsPrefixAndAnyCase() {
        for spelling in ["CHOWN", "chown", "Chown", "CAP_CHOWN", "cap_chown", "Cap_Chown"] {
            XCTAssertEqual(Capability(name: spelling)?.number, 0, spelling)
        }
        XCTAssertEqual(Capability(name: "cap_sys_admin")?.name, "CAP_SYS_ADMIN")
        XCTAssertEqual(Capability(name: "net_bind_service")?.description, "CAP_NET_BIND_SERVICE")
    }

    func testUnknownNamesAreRejected() {
        for bad in ["", "CAP_", "ALL", "CAP_ALL", "CAP_CAP_CHOWN", "CHOWNX", "SYS ADMIN", "CAP-SYS_ADMIN", "21"] {
            XCTAssertNil(Capability(name: bad), "\"\(bad)\" must not name a capability")
        }
    }

    func testDockerDefaultIsExactlyTheFourteen() {
        let names = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                     "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
        let fromNames = CapabilitySet(names.compactMap { Capability(name: $0) })
        XCTAssertEqual(fromNames.members.count, 14)
        XCTAssertEqual(CapabilitySet.dockerDefault.mask, 0xa804_25fb)
        XCTAssertEqual(CapabilitySet.dockerDefault, fromNames)
        XCTAssertEqual(Set(CapabilitySet.dockerDefault.members.map(\.name)), Set(names.map { "CAP_" + $0 }))
        XCTAssertFalse(CapabilitySet.dockerDefault.contains(Capability(name: "SYS_ADMIN")!))
        XCTAssertFalse(CapabilitySet.dockerDefault.contains(Capability(name: "NET_ADMIN")!))
    }

    func testDescriptionIsSixteenHexDigits() {
        XCTAssertEqual(CapabilitySet.dockerDefault.description, "0x00000000a80425fb")
        XCTAssertEqual(CapabilitySet.empty.description, "0x0000000000000000")
        XCTAssertEqual(CapabilitySet.all.description, "0x000001ffffffffff")
        XCTAssertEqual(CapabilitySet(mask: .max).description, "0xffffffffffffffff")
    }

    func testAllAndEmpty() {
        XCTAssertEqual(CapabilitySet.all.mask, (1 << 41) - 1)
        XCTAssertEqual(CapabilitySet.all.members.count, 41)
        XCTAssertTrue(CapabilitySet.empty.isEmpty)
        XCTAssertEqual(CapabilitySet.empty.members, [])
        XCTAssertFalse(CapabilitySet.dockerDefault.isEmpty)
    }

    func testInsertAndRemove() {
        var set = CapabilitySet.empty
        let admin = Capability(name: "SYS_ADMIN")!
        set.insert(admin)
        XCTAssertEqual(set.mask, 1 << 21)
        set.insert(admin)
        XCTAssertEqual(set.mask, 1 << 21, "inserting twice changes nothing")
        set.remove(admin)
        XCTAssertTrue(set.isEmpty)
        set.remove(admin)
        XCTAssertTrue(set.isEmpty, "removing an absent cap changes nothing")
    }

    func testResolveWithNothingKeepsTheBase() throws {
        XCTAssertEqual(try CapabilitySet.resolve(base: .dockerDefault, add: [], drop: []), .dockerDefault)
    }

    func testResolveChangesExactlyTheNamedBits() throws {
        let added = try CapabilitySet.resolve(base: .dockerDefault, add: ["SYS_ADMIN", "cap_net_admin"], drop: [])
        XCTAssertEqual(added.mask, 0xa804_25fb | (1 << 21) | (1 << 12))
        let dropped = try CapabilitySet.resolve(base: .dockerDefault, add: [], drop: ["NET_RAW", "CAP_mknod"])
        XCTAssertEqual(dropped.mask, 0xa804_25fb & ~(1 << 13) & ~(1 << 27))
        // Dropping a capability the base lacks is harmless.
        XCTAssertEqual(try CapabilitySet.resolve(base: .dockerDefault, add: [], drop: ["SYS_ADMIN"]), .dockerDefault)
    }

    func testAllInDropEmpties() throws {
        XCTAssertEqual(try CapabilitySet.resolve(base: .dockerDefault, add: [], drop: ["ALL"]), .empty)
        XCTAssertEqual(try CapabilitySet.resolve(base: .dockerDefault, add: [], drop: ["all"]), .empty)
        let onlyChown = try CapabilitySet.resolve(base: .dockerDefault, add: ["CHOWN"], drop: ["ALL"])
        XCTAssertEqual(onlyChown.mask, 1)
    }

    func testAllInAddFills() throws {
        XCTAssertEqual(try CapabilitySet.resolve(base: .dockerDefault, add: ["ALL"], drop: []), .all)
        XCTAssertEqual(try CapabilitySet.resolve(base: .empty, add: ["All"], drop: []), .all)
    }

    func testDropIsAppliedBeforeAdd() throws {
        // Both name the same capability: add wins, because drops go first.
        let set = try CapabilitySet.resolve(base: .dockerDefault, add: ["NET_RAW"], drop: ["NET_RAW"])
        XCTAssertEqual(set, .dockerDefault)
        let admin = try CapabilitySet.resolve(base: .dockerDefault, add: ["SYS_ADMIN"], drop: ["SYS_ADMIN"])
        XCTAssertTrue(admin.contains(Capability(name: "SYS_ADMIN")!))
    }

    func testUnknownCapabilityIsAnError() {
        assertThrows(.unknownCapability("SYS_WIZARD")) {
            try CapabilitySet.resolve(base: .dockerDefault, add: ["SYS_WIZARD"], drop: [])
        }
        assertThrows(.unknownCapability("cap_bogus")) {
            try CapabilitySet.resolve(base: .dockerDefault, add: [], drop: ["cap_bogus"])
        }
        // Even after ALL, a bad name is still reported.
        assertThrows(.unknownCapability("NOPE")) {
            try CapabilitySet.resolve(base: .dockerDefault, add: [], drop: ["ALL", "NOPE"])
        }
        XCTAssertEqual(SpecError.unknownCapability("X").description,
                       "unknown capability \"X\" (try `kennel caps` for the list)")
    }

    func testCodableRoundTrip() throws {
        let set = CapabilitySet.dockerDefault
        XCTAssertEqual(try JSONDecoder().decode(CapabilitySet.self, from: JSONEncoder().encode(set)), set)
    }
}
