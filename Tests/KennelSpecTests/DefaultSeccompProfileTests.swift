/// The key equivalence proof: kennel's built-in `--seccomp default` profile (generated into
/// Sources/KennelSpec/DefaultSeccompProfile.swift) is Docker's default profile. Both are
/// compiled for a matrix of capability bounding sets × architectures × kernels, and their
/// per-syscall rule tables, default actions and architectures must be equal, and `decide`
/// must agree for every syscall either profile names (plus unknown ones) under several
/// argument vectors. The profiles are also compared rule for rule, and a deliberately
/// altered copy is shown to be caught, so the comparison itself can fail.
import Foundation
import XCTest
@testable import KennelSpec

final class DefaultSeccompProfileTests: XCTestCase {
    /// Docker's default, each capability that unlocks rules added to it, all caps and none.
    static let boundingSets: [(String, CapabilitySet)] = {
        var sets: [(String, CapabilitySet)] = [("docker-default", .dockerDefault)]
        for name in ["SYS_ADMIN", "SYS_PTRACE", "SYS_BOOT", "SYS_MODULE", "SYS_TIME", "SYSLOG", "BPF",
                     "PERFMON", "DAC_READ_SEARCH", "SYS_NICE"] {
            var set = CapabilitySet.dockerDefault
            set.insert(Capability(name: name)!)
            sets.append(("docker-default+" + name, set))
        }
        sets.append(("all", .all))
        sets.append(("empty", .empty))
        return sets
    }()
    static let architectures = ["x86_64", "aarch64", "s390x"]
    static let kernels: [(Int, Int)] = [(6, 18), (4, 7)]

    struct Configuration: CustomStringConvertible {
        var capsName: String
        var target: SeccompTarget
        var description: String {
            "\(capsName) / \(target.nativeArch) / kernel \(target.kernel.0).\(target.kernel.1)"
        }
    }

    static var matrix: [Configuration] {
        boundingSets.flatMap { name, caps in
            architectures.flatMap { arch in
                kernels.map { Configuration(capsName: name, target: SeccompTarget(nativeArch: arch, bounding: caps, kernel: $0)) }
            }
        }
    }

    /// Calls neither profile names, or that Docker refuses by omission.
    static let unknownNames = ["io_uring_setup", "io_uring_enter", "keyctl", "add_key", "request_key",
                               "kexec_load", "open_by_handle_at_typo", "definitely_not_a_syscall", ""]
    /// Argument vectors that hit every conditional rule in the profile: clone flags (argument 0
    /// and, on s390, argument 1), socket families and personality values.
    static let conditionalArgs: [[UInt64]] = [
        [], [0x11], [0x1000_0000], [0x0002_0000 | 0x11], [0, 0x1000_0000], [0x1000_0000, 0x11],
        [38], [39], [40], [41], [0xffff_ffff], [8], [1], [0x20008],
    ]
    /// For calls whose rules have no conditions, a couple of vectors suffice.
    static let plainArgs: [[UInt64]] = [[], [0x1000_0000, 38]]

    static func syscallNames(_ profile: SeccompProfile) -> Set<String> {
        Set((profile.syscalls ?? []).flatMap(\.allNames))
    }

    // MARK: the equivalence

    func testBuiltinCompilesLikeDockerAcrossTheMatrix() throws {
        let docker = try Fixture.dockerDefault()
        let builtin = SeccompProfile.builtinDefault
        let matrix = Self.matrix
        XCTAssertEqual(matrix.count, 13 * 3 * 2)

        var distinctTables = Set<[String: Set<SeccompPolicy.Rule>]>()
        for config in matrix {
            let expected = try docker.compile(for: config.target)
            let actual = try builtin.compile(for: config.target)
            XCTAssertEqual(actual.defaultAction, expected.defaultAction, "\(config)")
            XCTAssertEqual(actual.architectures, expected.architectures, "\(config)")
            let (e, a) = (expected.table, actual.table)
            // Name each differing syscall (the whole tables would be unreadable in a failure).
            let differing = Set(a.keys).union(e.keys).filter { a[$0] != e[$0] }.sorted()
            for name in differing.prefix(10) {
                XCTFail("\(config): \(name): built-in \(a[name].map { "\($0)" } ?? "no rule") != Docker \(e[name].map { "\($0)" } ?? "no rule")")
            }
            XCTAssertTrue(a == e, "\(config): \(differing.count) syscalls have different rules")
            XCTAssertGreaterThan(e.count, 300, "\(config): a real table, not an empty one")
            distinctTables.insert(e)
        }
        // The matrix exercises real differences: capabilities, architectures and kernels all
        // change the compiled table, so equal tables are not equal by accident.
        XCTAssertGreaterThanOrEqual(distinctTables.count, 40, "only \(distinctTables.count) distinct tables in the matrix")
    }

    func testBuiltinDecidesLikeDockerForEverySyscall() throws {
        let docker = try Fixture.dockerDefault()
        let builtin = SeccompProfile.builtinDefault
        let names = Self.syscallNames(docker).union(Self.syscallNames(builtin)).union(Self.unknownNames).sorted()
        XCTAssertGreaterThan(names.count, 400)

        var cells = 0
        var decisions = 0
        var mismatches = 0
        for config in Self.matrix {
            let expected = try docker.compile(for: config.target)
            let actual = try builtin.compile(for: config.target)
            let conditional = Set((expected.rules + actual.rules).filter { !$0.conditions.isEmpty }.map(\.syscall))
            for name in names {
                cells += 1
                for args in conditional.contains(name) ? Self.conditionalArgs : Self.plainArgs {
                    decisions += 1
                    let want = expected.decide(name, args: args)
                    let got = actual.decide(name, args: args)
                    if got != want {
                        mismatches += 1
                        XCTFail("\(config): \(name)(\(args.map { "0x" + String($0, radix: 16) }.joined(separator: ", "))): built-in \(got), Docker \(want)")
                    }
                }
            }
        }
        let summary = "compared \(cells) (syscall × configuration) cells: \(names.count) syscall names × "
            + "\(Self.matrix.count) configurations, \(decisions) decisions, \(mismatches) mismatches"
        print("DefaultSeccompProfileTests: " + summary)
        XCTAssertEqual(cells, names.count * Self.matrix.count, summary)
        XCTAssertGreaterThan(cells, 30_000, summary)
        XCTAssertEqual(mismatches, 0, summary)
    }

    func testBuiltinMatchesDockerRuleForRule() throws {
        let docker = Self.normalized(try Fixture.dockerDefault())
        let builtin = Self.normalized(SeccompProfile.builtinDefault)
        XCTAssertEqual(builtin.defaultAction, docker.defaultAction)
        XCTAssertEqual(builtin.defaultErrnoRet, docker.defaultErrnoRet)
        XCTAssertEqual(builtin.archMap, docker.archMap)
        XCTAssertEqual(builtin.architectures, docker.architectures)
        let (b, d) = (builtin.syscalls ?? [], docker.syscalls ?? [])
        XCTAssertEqual(b.count, d.count, "number of rules")
        for (i, (br, dr)) in zip(b, d).enumerated() where br != dr {
            XCTFail("rule \(i) (\(dr.allNames.prefix(3).joined(separator: ","))…): built-in \(br) != Docker \(dr)")
        }
    }

    /// Differences that cannot change a filter: absent vs empty lists, comments, the one-name
    /// rule spelling, an absent valueTwo vs 0, and an empty includes/excludes vs none.
    static func normalized(_ profile: SeccompProfile) -> SeccompProfile {
        var p = profile
        p.archMap = p.archMap?.map { .init(architecture: $0.architecture, subArchitectures: $0.subArchitectures ?? []) }
        p.syscalls = p.syscalls?.map { rule in
            var r = rule
            r.names = rule.allNames
            r.name = nil
            r.comment = nil
            r.args = rule.args?.map { var a = $0; a.valueTwo = a.valueTwo ?? 0; return a }
            if r.args?.isEmpty == true { r.args = nil }
            if r.includes?.isEmpty == true { r.includes = nil }
            if r.excludes?.isEmpty == true { r.excludes = nil }
            return r
        }
        return p
    }

    // MARK: the comparison can fail

    func testAnAlteredProfileIsCaught() throws {
        let docker = try Fixture.dockerDefault()
        let defaultTarget = SeccompTarget(nativeArch: "x86_64", bounding: .dockerDefault, kernel: (6, 18))
        let adminTarget = SeccompTarget(nativeArch: "x86_64", bounding: .all, kernel: (6, 18))

        // A weaker clone mask (CLONE_NEWUSER no longer checked).
        var weakerClone = SeccompProfile.builtinDefault
        let cloneIndex = try XCTUnwrap(weakerClone.syscalls?.firstIndex { $0.names == ["clone"] && $0.args?.first?.index == 0 })
        weakerClone.syscalls![cloneIndex].args![0].value = 0x6E02_0000
        XCTAssertNotEqual(try weakerClone.compile(for: defaultTarget).table, try docker.compile(for: defaultTarget).table)
        XCTAssertEqual(try weakerClone.compile(for: defaultTarget).decide("clone", args: [0x1000_0000]), .allow)

        // One name dropped from the CAP_SYS_ADMIN rule: invisible with Docker's default caps,
        // caught once the matrix adds CAP_SYS_ADMIN.
        var missingName = SeccompProfile.builtinDefault
        let adminIndex = try XCTUnwrap(missingName.syscalls?.firstIndex { $0.includes?.caps == ["CAP_SYS_ADMIN"] })
        missingName.syscalls![adminIndex].names!.removeAll { $0 == "unshare" }
        XCTAssertEqual(try missingName.compile(for: defaultTarget).table, try docker.compile(for: defaultTarget).table)
        XCTAssertNotEqual(try missingName.compile(for: adminTarget).table, try docker.compile(for: adminTarget).table)

        // A different errno for clone3.
        var otherErrno = SeccompProfile.builtinDefault
        let clone3Index = try XCTUnwrap(otherErrno.syscalls?.firstIndex { $0.names == ["clone3"] })
        otherErrno.syscalls![clone3Index].errnoRet = 1
        XCTAssertNotEqual(try otherErrno.compile(for: defaultTarget).decide("clone3"),
                          try docker.compile(for: defaultTarget).decide("clone3"))
        XCTAssertNotEqual(Self.normalized(otherErrno), Self.normalized(docker))
    }

    // MARK: the built-in's documented behaviour

    func testBuiltinDocumentedBehaviour() throws {
        let policy = try SeccompProfile.builtinDefault.compile(
            for: SeccompTarget(nativeArch: "x86_64", bounding: .dockerDefault, kernel: (6, 18)))
        XCTAssertEqual(policy.defaultAction, .errno(1), "every syscall not named is refused with EPERM")
        XCTAssertEqual(policy.architectures, ["x86_64", "x86", "x32"])
        XCTAssertEqual(policy.decide("clone", args: [0x1000_0000]), .errno(1), "namespace flags on clone refused")
        XCTAssertEqual(policy.decide("clone", args: [0x11]), .allow)
        XCTAssertEqual(policy.decide("clone3"), .errno(38), "clone3 reports ENOSYS")
        XCTAssertEqual(policy.decide("unshare"), .errno(1))
        XCTAssertEqual(policy.decide("read"), .allow)
    }
}
