/// The compactor's proof on a small libseccomp-shaped program: a list of allowed numbers and
/// one call allowed only for a 64-bit argument whose two halves are both checked. A copy of
/// the argument code with one branch changed must be refused (a test-by-sampling check
/// missed exactly such a change), and the untouched result must be accepted. And the
/// interpreter both checks rely on.
import XCTest
@testable import KennelSpec

final class SeccompCompactorProofTests: XCTestCase {
    typealias I = BPFProgram.Instruction
    typealias Op = BPFProgram.Op
    let x86_64: UInt32 = 0xc000_003e
    let allow: UInt32 = 0x7fff_0000, deny: UInt32 = 0x0005_0001, kill: UInt32 = 0x8000_0000

    /// ld arch; jeq x86_64 or kill; ld nr; a jeq per allowed number (0..<60 but 16); 16 only
    /// when arg0 == 0x1_0000_0005; anything else denied.
    func program() -> BPFProgram {
        var p: [I] = [I(code: Op.loadWord, k: 4), I(code: Op.jumpEqual, jt: 0, jf: 0, k: x86_64), I(code: Op.loadWord, k: 0)]
        let allowed = (0..<60).filter { $0 != 16 }
        // Layout after the list: [ioctl check: jeq 16] [ld lo] [jeq 5] [ld hi] [jeq 1] [ret allow] [ret deny] [ret kill]
        let listStart = p.count
        let checkStart = listStart + allowed.count
        let retAllow = checkStart + 5, retDeny = retAllow + 1, retKill = retAllow + 2
        for (n, nr) in allowed.enumerated() {
            let here = listStart + n
            p.append(I(code: Op.jumpEqual, jt: UInt8(retAllow - here - 1), jf: 0, k: UInt32(nr)))
        }
        p.append(I(code: Op.jumpEqual, jt: 0, jf: UInt8(retDeny - checkStart - 1), k: 16))
        p.append(I(code: Op.loadWord, k: 16))
        p.append(I(code: Op.jumpEqual, jt: 0, jf: UInt8(retDeny - (checkStart + 2) - 1), k: 5))
        p.append(I(code: Op.loadWord, k: 20))
        p.append(I(code: Op.jumpEqual, jt: 0, jf: UInt8(retDeny - (checkStart + 4) - 1), k: 1))
        p += [I(code: Op.returnConstant, k: allow), I(code: Op.returnConstant, k: deny), I(code: Op.returnConstant, k: kill)]
        p[1].jf = UInt8(retKill - 2)
        return BPFProgram(p)
    }

    func testTheProgramMeansWhatItSays() {
        let p = program()
        XCTAssertEqual(p.run(.init(nr: 3, arch: x86_64)), allow)
        XCTAssertEqual(p.run(.init(nr: 16, arch: x86_64, args: [0x1_0000_0005])), allow)
        XCTAssertEqual(p.run(.init(nr: 16, arch: x86_64, args: [5])), deny)
        XCTAssertEqual(p.run(.init(nr: 61, arch: x86_64)), deny)
        XCTAssertEqual(p.run(.init(nr: 3, arch: 0x4000_0003)), kill)
    }

    func testTheResultIsProvenAndAChangedBranchIsNot() throws {
        let p = program()
        let leaves = try XCTUnwrap(SeccompCompactor.explore(p.instructions))
        let (candidate, copies) = try XCTUnwrap(SeccompCompactor.generate(p.instructions, leaves))
        XCTAssertLessThan(candidate.instructions.count, p.instructions.count)
        XCTAssertTrue(SeccompCompactor.proven(p.instructions, candidate.instructions, leaves: leaves, copies: copies))
        XCTAssertEqual(SeccompCompactor.compact(p), candidate)
        for call in [BPFProgram.Call(nr: 16, arch: x86_64, args: [0x1_0000_0005]), .init(nr: 16, arch: x86_64, args: [5]),
                     .init(nr: 59, arch: x86_64), .init(nr: 60, arch: x86_64), .init(nr: 0, arch: 7)] {
            XCTAssertEqual(candidate.run(call), p.run(call))
        }

        // The high-half check's mismatch branch sent to "allow" instead of "deny".
        var broken = candidate
        let high = try XCTUnwrap(broken.instructions.lastIndex { $0.code == Op.jumpEqual && $0.k == 1 })
        broken.instructions[high].jf = 0
        XCTAssertEqual(broken.run(.init(nr: 16, arch: x86_64, args: [0x2_0000_0005])), allow, "the change lets a denied call through")
        XCTAssertFalse(SeccompCompactor.proven(p.instructions, broken.instructions, leaves: leaves, copies: copies))

        // A search leaf sending one allowed number to "deny".
        var wrongLeaf = candidate
        let leaf = try XCTUnwrap(wrongLeaf.instructions.firstIndex { $0.code == Op.returnConstant && $0.k == allow })
        wrongLeaf.instructions[leaf].k = deny
        XCTAssertFalse(SeccompCompactor.proven(p.instructions, wrongLeaf.instructions, leaves: leaves, copies: copies))
    }

    func testInstructionsOutsideTheKnownSetLeaveTheProgramAlone() {
        var p = program()
        p.instructions.insert(I(code: 0x07 /* tax */), at: 2)
        XCTAssertNil(SeccompCompactor.compact(p))
    }

    func testTheInterpreter() throws {
        // ld arch; jeq x86_64 or return 2; ld high half of arg0; return 1 if it is above 7, else 2
        let p = BPFProgram([
            .init(code: BPFProgram.Op.loadWord, k: 4),
            .init(code: BPFProgram.Op.jumpEqual, jt: 0, jf: 3, k: x86_64),
            .init(code: BPFProgram.Op.loadWord, k: 20),  // high half of the first argument
            .init(code: BPFProgram.Op.jumpGreater, jt: 0, jf: 1, k: 7),
            .init(code: BPFProgram.Op.returnConstant, k: 1),
            .init(code: BPFProgram.Op.returnConstant, k: 2),
        ])
        XCTAssertEqual(p.run(.init(nr: 0, arch: x86_64, args: [8 << 32])), 1)
        XCTAssertEqual(p.run(.init(nr: 0, arch: x86_64, args: [8])), 2)
        XCTAssertEqual(p.run(.init(nr: 0, arch: 0x4000_0003 /* x86 */, args: [8 << 32])), 2)
        XCTAssertEqual(BPFProgram(bytes: p.bytes), p)
        XCTAssertNil(BPFProgram(bytes: [1, 2, 3]))
        XCTAssertNil(BPFProgram([.init(code: 0x07 /* tax */)]).run(.init(nr: 0, arch: 0)), "unknown instructions are not guessed at")
    }

    func testTheKernelsAllowCacheModel() {
        // ld nr; jeq 5 -> allow; jset 0x40 -> ld arg0 ...; ret errno
        let p = BPFProgram([
            I(code: Op.loadWord, k: 0),
            I(code: Op.jumpEqual, jt: 0, jf: 1, k: 5),
            I(code: Op.returnConstant, k: allow),
            I(code: Op.jumpSet, jt: 0, jf: 2, k: 0x40),
            I(code: Op.loadWord, k: 16),  // an argument: the kernel cannot decide this in advance
            I(code: Op.returnConstant, k: allow),
            I(code: Op.returnConstant, k: deny),
        ])
        XCTAssertTrue(p.kernelCachesAllow(nr: 5, arch: x86_64))
        XCTAssertFalse(p.kernelCachesAllow(nr: 0x40, arch: x86_64), "reads an argument")
        XCTAssertFalse(p.kernelCachesAllow(nr: 6, arch: x86_64), "denied")
        // Anything but loads of nr/arch, constant jumps, `and` and constant returns: not cached.
        for other in [I(code: Op.loadImmediate, k: 0), I(code: Op.or, k: 0), I(code: 0x07 /* tax */)] {
            var q = p
            q.instructions.insert(other, at: 0)
            XCTAssertFalse(q.kernelCachesAllow(nr: 5, arch: x86_64))
        }
        var r = p
        r.instructions.insert(I(code: Op.and, k: 0xff), at: 1)
        r.instructions.insert(I(code: Op.jump, k: 0), at: 0)
        XCTAssertTrue(r.kernelCachesAllow(nr: 0x105, arch: x86_64), "and, ja and the constant jumps are followed")
        XCTAssertFalse(BPFProgram([I(code: Op.loadWord, k: 0)]).kernelCachesAllow(nr: 0, arch: 0), "running off the end")
    }
}
