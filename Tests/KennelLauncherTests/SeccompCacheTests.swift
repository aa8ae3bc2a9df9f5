/// The seccomp cache's file format: what is written reads back the same, and anything else
/// (another key, a damaged or truncated entry, a chained policy without a policy) is a miss.
import XCTest
@testable import KennelLauncher

final class SeccompCacheTests: XCTestCase {
    let key = Array("builtin:x86_64:6.18".utf8)

    func testEntriesReadBackAsWritten() {
        for programs in [SeccompPrograms(policy: [1, 2, 3, 4, 5, 6, 7, 8], hardening: [9, 9, 9, 9, 9, 9, 9, 9]),
                         SeccompPrograms(policy: [1, 2, 3, 4, 5, 6, 7, 8], hardening: [], hardeningInPolicy: true),
                         SeccompPrograms(policy: nil, hardening: [9, 9, 9, 9, 9, 9, 9, 9])] {
            let bytes = SeccompCache.encode(programs, key: key)
            XCTAssertEqual(SeccompCache.decode(bytes, key: key), programs)
            XCTAssertNil(SeccompCache.decode(bytes, key: key + [0]), "another key")
            XCTAssertNil(SeccompCache.decode(Array(bytes.dropLast()), key: key), "truncated")
            XCTAssertNil(SeccompCache.decode(bytes + [0], key: key), "trailing bytes")
        }
    }

    func testADamagedChainFlagIsAMiss() {
        var bytes = SeccompCache.encode(SeccompPrograms(policy: [1, 2, 3, 4, 5, 6, 7, 8], hardening: []), key: key)
        bytes[bytes.count - 1] = 2
        XCTAssertNil(SeccompCache.decode(bytes, key: key), "a flag other than 0 or 1")
        // "Hardening inside the policy" with no policy would load no hardening at all.
        let none = SeccompCache.encode(SeccompPrograms(policy: nil, hardening: [], hardeningInPolicy: true), key: key)
        XCTAssertNil(SeccompCache.decode(none, key: key))
        // An entry of the previous format (no flag field) is not read.
        var old = Array("KENNEL-SECCOMP-1\n".utf8)
        old += bytes[SeccompCache.magic.count...].dropLast(5)
        XCTAssertNil(SeccompCache.decode(old, key: key))
    }
}
