/// The compacted seccomp program against libseccomp's own, for the policies kennel loads:
/// Docker's default for x86_64, with and without x32, and with every capability.
import KennelSpec
import XCTest
@testable import KennelLauncher

final class SeccompCompactorTests: XCTestCase {
    let x86_64: UInt32 = 0xc000_003e, x86: UInt32 = 0x4000_0003

    func libseccompProgram(x32: Bool, capabilities: CapabilitySet = .dockerDefault) throws -> BPFProgram {
        let target = SeccompTarget(nativeArch: "x86_64", bounding: capabilities, kernel: (6, 18))
        let policy = try SeccompProfile.builtinDefault.compile(for: target)
        let bytes = try FilterBuilder.filter(for: policy, x32Supported: x32).program()
        return try XCTUnwrap(BPFProgram(bytes: bytes))
    }

    /// Every number of every architecture, with arguments that cross each constant the
    /// programs compare with, decided the same by both.
    func assertSameDecisions(_ a: BPFProgram, _ b: BPFProgram, file: StaticString = #filePath, line: UInt = #line) {
        var constants: Set<UInt64> = [0, 1, 8, 38, 39, 40, 41, 0x20000, 0x20008, 0xffff_ffff, 0x1_0000_0000, 0x7e02_0000, 0x10000, .max]
        for i in a.instructions { constants.formUnion([UInt64(i.k), UInt64(i.k) &+ 1, UInt64(i.k) &- 1]) }
        var mismatches = 0
        for arch: UInt32 in [x86_64, x86, 0xc000_00b7, 0] {
            for nr in Array(UInt32(0)...UInt32(1200)) + Array(UInt32(0x4000_0000)...UInt32(0x4000_0400)) + [0xffff_ffff, 0x8000_0000] {
                for args: [UInt64] in [[0, 0, 0, 0, 0, 0], [.max, .max, .max, .max, .max, .max]] {
                    let call = BPFProgram.Call(nr: nr, arch: arch, args: args)
                    if a.run(call) != b.run(call) { mismatches += 1 }
                }
            }
            // The argument checks: socket, personality, clone, clone3 and anything else with them.
            for nr: UInt32 in [41, 135, 56, 435, 102, 120, 359, 136, 16, 54] {
                for c in constants {
                    for index in 0..<2 {
                        var args = [UInt64](repeating: 0, count: 6)
                        args[index] = c
                        let call = BPFProgram.Call(nr: nr, arch: arch, args: args)
                        if a.run(call) != b.run(call) { mismatches += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(mismatches, 0, file: file, line: line)
    }

    func testDockersPolicyShrinksAndDecidesTheSame() throws {
        for x32 in [false, true] {
            let original = try libseccompProgram(x32: x32)
            let compact = try XCTUnwrap(SeccompCompactor.compact(original), "x32: \(x32)")
            XCTAssertLessThan(compact.instructions.count * 2, original.instructions.count,
                              "x32: \(x32): \(original.instructions.count) -> \(compact.instructions.count)")
            assertSameDecisions(original, compact)
        }
    }

    func testEveryCapabilityChangesNothing() throws {
        let original = try libseccompProgram(x32: false, capabilities: CapabilitySet(mask: 0x1ff_ffff_ffff))
        let compact = try XCTUnwrap(SeccompCompactor.compact(original))
        assertSameDecisions(original, compact)
    }
}

extension SeccompCompactorTests {
    /// The kernel's per-syscall "always allowed" cache comes out the same for the compacted
    /// program as for libseccomp's: a program that decides alike but loses the cache would
    /// make every system call run it.
    func testTheKernelsAllowCacheIsKept() throws {
        for x32 in [false, true] {
            let original = try libseccompProgram(x32: x32)
            let compact = try XCTUnwrap(SeccompCompactor.compact(original))
            var cached = 0
            for arch in [x86_64, x86] {
                for nr in UInt32(0)...1100 {
                    XCTAssertEqual(compact.kernelCachesAllow(nr: nr, arch: arch), original.kernelCachesAllow(nr: nr, arch: arch),
                                   "x32 \(x32) arch \(arch) nr \(nr)")
                    if original.kernelCachesAllow(nr: nr, arch: arch) { cached += 1 }
                }
            }
            XCTAssertGreaterThan(cached, 500)
        }
    }
}
