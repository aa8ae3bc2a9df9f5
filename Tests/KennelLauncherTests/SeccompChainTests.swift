/// kennel's hardening program chained before the policy, against the two loaded together as
/// the kernel runs them: Docker's default (compacted, with and without x32), and policies the
/// chain must refuse because one program could no longer stand for both.
@testable import KennelSpec
import XCTest
@testable import KennelLauncher

final class SeccompChainTests: XCTestCase {
    let x86_64: UInt32 = 0xc000_003e, x86: UInt32 = 0x4000_0003
    let tiocsti: UInt64 = 0x5412, tioclinux: UInt64 = 0x541C
    let eperm: UInt32 = 0x0005_0000 | 1, allow: UInt32 = 0x7fff_0000

    func programs(x32: Bool, policy: SeccompPolicy? = nil) throws -> (hardening: BPFProgram, policy: BPFProgram) {
        let target = SeccompTarget(nativeArch: "x86_64", bounding: .dockerDefault, kernel: (6, 18))
        let compiled = try policy ?? SeccompProfile.builtinDefault.compile(for: target)
        let generated = try XCTUnwrap(BPFProgram(bytes: try FilterBuilder.filter(for: compiled, x32Supported: x32).program()))
        let hardening = try XCTUnwrap(BPFProgram(bytes: try FilterBuilder.hardening(architectures: compiled.architectures,
                                                                                    x32Supported: x32).program()))
        return (hardening, SeccompCompactor.compact(generated) ?? generated)
    }

    /// Every number of every architecture, and ioctl and the argument-checked calls with
    /// arguments around each constant either program compares with, decided alike.
    func assertChainDecidesAsBoth(_ chained: BPFProgram, _ hardening: BPFProgram, _ policy: BPFProgram,
                                  file: StaticString = #filePath, line: UInt = #line) {
        var constants: Set<UInt64> = [0, 1, tiocsti, tioclinux, 0x1_0000_5412, 0xffff_ffff_0000_541C, 0x5413, 0x5411,
                                      0xffff_ffff, 0x1_0000_0000, .max]
        for i in policy.instructions + hardening.instructions {
            constants.formUnion([UInt64(i.k), UInt64(i.k) &+ 1, UInt64(i.k) &- 1])
        }
        var mismatches = 0
        func check(_ call: BPFProgram.Call) {
            guard let h = hardening.run(call), let p = policy.run(call) else { mismatches += 1; return }
            if chained.run(call) != SeccompChain.together(h, p) { mismatches += 1 }
        }
        for arch: UInt32 in [x86_64, x86, 0xc000_00b7, 0] {
            for nr in Array(UInt32(0)...UInt32(1200)) + Array(UInt32(0x4000_0000)...UInt32(0x4000_0400)) + [0xffff_ffff] {
                check(BPFProgram.Call(nr: nr, arch: arch))
                check(BPFProgram.Call(nr: nr, arch: arch, args: [.max, .max, .max, .max, .max, .max]))
            }
            for nr: UInt32 in [16, 54, 0x4000_0000 | 514, 41, 135, 56, 120] {
                for c in constants {
                    for index in 0..<2 {
                        var args = [UInt64](repeating: 0, count: 6)
                        args[index] = c
                        check(BPFProgram.Call(nr: nr, arch: arch, args: args))
                    }
                }
            }
        }
        XCTAssertEqual(mismatches, 0, file: file, line: line)
    }

    func testDockersPolicyChainsAndTheTerminalRequestsStayRefused() throws {
        for withX32 in [false, true] {
            let (hardening, policy) = try programs(x32: withX32)
            let chained = try XCTUnwrap(SeccompChain.chain(hardening, then: policy), "x32: \(withX32)")
            XCTAssertEqual(chained.instructions.count, hardening.instructions.count + policy.instructions.count)
            assertChainDecidesAsBoth(chained, hardening, policy)
            // The kernel's "always allowed" cache as with the two loaded: most calls run no
            // program at all, ioctl (arguments) and the argument-checked calls do.
            var cached = 0
            for arch in [x86_64, x86] {
                for nr in UInt32(0)...1100 {
                    let both = hardening.kernelCachesAllow(nr: nr, arch: arch) && policy.kernelCachesAllow(nr: nr, arch: arch)
                    XCTAssertEqual(chained.kernelCachesAllow(nr: nr, arch: arch), both, "arch \(arch) nr \(nr)")
                    if both { cached += 1 }
                }
                XCTAssertFalse(chained.kernelCachesAllow(nr: arch == x86_64 ? 16 : 54, arch: arch), "ioctl reads its arguments")
            }
            XCTAssertGreaterThan(cached, 500, "most of Docker's allowed calls are cached")
            // ioctl (16 on x86_64, 54 on x86): the two requests refused in the low 32 bits,
            // whatever the high ones; others allowed.
            for (arch, nr) in [(x86_64, UInt32(16)), (x86, UInt32(54))] {
                for request in [tiocsti, tioclinux, 0x1_0000_5412, 0xffff_ffff_0000_541C] {
                    XCTAssertEqual(chained.run(BPFProgram.Call(nr: nr, arch: arch, args: [0, request, 0, 0, 0, 0])), eperm)
                }
                XCTAssertEqual(chained.run(BPFProgram.Call(nr: nr, arch: arch, args: [0, 0x5401 /* TCGETS */, 0, 0, 0, 0])), allow)
            }
        }
    }

    func testAPolicyThatDecidesIoctlOtherwiseKeepsTwoPrograms() throws {
        let target = SeccompTarget(nativeArch: "x86_64", bounding: .dockerDefault, kernel: (6, 18))
        var policy = try SeccompProfile.builtinDefault.compile(for: target)
        // ioctl killed: together, kill wins over the hardening's EPERM; a chain would say EPERM.
        var killed = policy
        killed.rules.removeAll { $0.syscall == "ioctl" }
        killed.rules.append(SeccompPolicy.Rule(syscall: "ioctl", action: .killProcess, conditions: []))
        let (h1, p1) = try programs(x32: false, policy: killed)
        XCTAssertNil(SeccompChain.chain(h1, then: p1))
        // ioctl allowed for some requests only: the policy looks at the arguments.
        policy.rules.removeAll { $0.syscall == "ioctl" }
        policy.rules.append(SeccompPolicy.Rule(syscall: "ioctl", action: .allow,
                                               conditions: [.init(index: 1, compare: .equal, value: 0x5401, valueTwo: 0)]))
        let (h2, p2) = try programs(x32: false, policy: policy)
        XCTAssertNil(SeccompChain.chain(h2, then: p2))
    }

    func testTheKernelsPrecedence() {
        let killProcess: UInt32 = 0x8000_0000, killThread: UInt32 = 0, trap: UInt32 = 0x0003_0000, log: UInt32 = 0x7ffc_0000
        XCTAssertEqual(SeccompChain.together(eperm, allow), eperm)
        XCTAssertEqual(SeccompChain.together(eperm, killProcess), killProcess)
        XCTAssertEqual(SeccompChain.together(killThread, trap), killThread)
        XCTAssertEqual(SeccompChain.together(log, allow), log)
        XCTAssertEqual(SeccompChain.together(0x0005_0002, 0x0005_0001), 0x0005_0001, "a tie goes to the program loaded last")
    }
}
