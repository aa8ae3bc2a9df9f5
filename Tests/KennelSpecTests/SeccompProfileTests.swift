/// Proves seccomp profile handling: Docker's real default profile and OCI-format profiles
/// decode; malformed JSON, unknown actions and operators and rules without names are refused
/// as `SpecError.seccompProfile`; and `compile` resolves Docker's includes/excludes for a
/// given architecture, capability bounding set and kernel the way Docker does (clone flags,
/// clone3 ENOSYS, CAP_SYS_ADMIN/CAP_SYS_PTRACE rules, minKernel, sub-architectures), with
/// `SeccompPolicy.decide` matching the kernel's view of argument filters.
import Foundation
import XCTest
@testable import KennelSpec

final class SeccompProfileTests: XCTestCase {
    private static let cloneNamespaceMask: UInt64 = 0x7E02_0000
    private static let cloneNewUser: UInt64 = 0x1000_0000

    private func decode(_ json: String, source: String = "/p.json") throws(SpecError) -> SeccompProfile {
        try SeccompProfile.decode(Array(json.utf8), source: source)
    }

    private func target(_ bounding: CapabilitySet = .dockerDefault, arch: String = "x86_64",
                        kernel: (Int, Int) = (6, 18)) -> SeccompTarget {
        SeccompTarget(nativeArch: arch, bounding: bounding, kernel: kernel)
    }

    private func caps(_ extra: String...) -> CapabilitySet {
        var set = CapabilitySet.dockerDefault
        for name in extra { set.insert(Capability(name: name)!) }
        return set
    }

    private func dockerPolicy(_ bounding: CapabilitySet = .dockerDefault, arch: String = "x86_64",
                              kernel: (Int, Int) = (6, 18)) throws -> SeccompPolicy {
        try Fixture.dockerDefault().compile(for: target(bounding, arch: arch, kernel: kernel))
    }

    private func allow(_ syscall: String) -> SeccompPolicy.Rule {
        SeccompPolicy.Rule(syscall: syscall, action: .allow, conditions: [])
    }

    // MARK: decoding

    func testDockerFixtureDecodes() throws {
        let profile = try Fixture.dockerDefault()
        XCTAssertEqual(profile.defaultAction, "SCMP_ACT_ERRNO")
        XCTAssertEqual(profile.defaultErrnoRet, 1)
        XCTAssertEqual(profile.archMap?.count, 9)
        XCTAssertEqual(profile.archMap?.first, .init(architecture: "SCMP_ARCH_X86_64",
                                                     subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]))
        XCTAssertNil(profile.architectures)
        let rules = try XCTUnwrap(profile.syscalls)
        XCTAssertEqual(rules.count, 33)
        XCTAssertGreaterThan(rules[0].names?.count ?? 0, 350, "the big allow list")
        let clone3 = try XCTUnwrap(rules.first { $0.names == ["clone3"] })
        XCTAssertEqual(clone3.action, "SCMP_ACT_ERRNO")
        XCTAssertEqual(clone3.errnoRet, 38)
        XCTAssertEqual(clone3.excludes?.caps, ["CAP_SYS_ADMIN"])
    }

    func testMalformedJSON() {
        assertSeccompProfileError(path: "/bad.json", reasonContains: "not a seccomp profile") {
            try decode("{ not json", source: "/bad.json")
        }
        assertSeccompProfileError(path: "/empty.json", reasonContains: "not a seccomp profile") {
            try decode("", source: "/empty.json")
        }
        assertSeccompProfileError(path: "/p.json", reasonContains: "missing key \"defaultAction\"") {
            try decode(#"{"syscalls": []}"#)
        }
        assertSeccompProfileError(path: "/p.json", reasonContains: "wrong type") {
            try decode(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}"#)
        }
        assertSeccompProfileError(path: "/p.json", reasonContains: "not a seccomp profile") {
            try decode("[1, 2, 3]")
        }
    }

    func testUnknownAction() {
        assertSeccompProfileError(path: "/p.json", reasonContains: "unknown action \"SCMP_ACT_PERMIT\"") {
            try decode(#"{"defaultAction": "SCMP_ACT_PERMIT", "syscalls": []}"#)
        }
        assertSeccompProfileError(path: "/p.json", reasonContains: "unknown action \"SCMP_ACT_NOPE\"") {
            try decode(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}"#)
        }
    }

    func testUnknownOperator() {
        let json = #"""
            {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]}]}
            """#
        assertSeccompProfileError(path: "/p.json", reasonContains: "unknown argument operator \"SCMP_CMP_ROUGHLY\"") {
            try decode(json)
        }
    }

    func testRuleWithoutNames() {
        assertSeccompProfileError(path: "/p.json", reasonContains: "names no syscall") {
            try decode(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#)
        }
        assertSeccompProfileError(path: "/p.json", reasonContains: "names no syscall") {
            try decode(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}"#)
        }
    }

    func testOCIProfileDecodesAndCompiles() throws {
        let json = #"""
            {
              "defaultAction": "SCMP_ACT_ERRNO",
              "defaultErrnoRet": 1,
              "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
              "flags": ["SECCOMP_FILTER_FLAG_LOG"],
              "syscalls": [
                {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 1, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
              ]
            }
            """#
        let profile = try decode(json, source: "/oci.json")
        XCTAssertNil(profile.archMap)
        XCTAssertEqual(profile.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])

        let policy = try profile.compile(for: target())
        XCTAssertEqual(policy.defaultAction, .errno(1))
        XCTAssertEqual(policy.architectures, ["x86_64", "x86"])
        XCTAssertEqual(policy.table["read"], [allow("read")])
        XCTAssertEqual(policy.table["mkdir"], [SeccompPolicy.Rule(syscall: "mkdir", action: .errno(13), conditions: [])])
        XCTAssertEqual(policy.table["socket"], [SeccompPolicy.Rule(syscall: "socket", action: .allow, conditions: [
            .init(index: 0, compare: .equal, value: 1, valueTwo: 0),
            .init(index: 1, compare: .maskedEqual, value: 1, valueTwo: 1),
        ])], "conditions on different arguments stay in one rule (all must hold)")
        XCTAssertEqual(policy.table["kill"]?.first?.action, .killProcess)
        XCTAssertEqual(policy.table["ptrace"]?.first?.action, .trace(7))

        XCTAssertEqual(policy.decide("read"), .allow)
        XCTAssertEqual(policy.decide("mkdir"), .errno(13))
        XCTAssertEqual(policy.decide("openat"), .errno(1))
        XCTAssertEqual(policy.decide("socket", args: [1, 1]), .allow)
        XCTAssertEqual(policy.decide("socket", args: [1, 2]), .errno(1))
        XCTAssertEqual(policy.decide("socket", args: [2, 1]), .errno(1))

        // Compiled for another machine, its native architecture is added in front.
        XCTAssertEqual(try profile.compile(for: target(arch: "aarch64")).architectures, ["aarch64", "x86_64", "x86"])
    }

    func testOlderSingleNameRulesAndActionSpellings() throws {
        let json = #"""
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"name": "reboot", "action": "SCMP_ACT_KILL"},
              {"name": "swapon", "action": "SCMP_ACT_ERRNO"},
              {"names": ["acct"], "action": "SCMP_ACT_TRAP"},
              {"names": ["uselib"], "action": "SCMP_ACT_LOG"},
              {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_THREAD"}
            ]}
            """#
        let policy = try decode(json).compile(for: target())
        XCTAssertEqual(policy.defaultAction, .allow)
        XCTAssertEqual(policy.decide("reboot"), .killThread)
        XCTAssertEqual(policy.decide("swapon"), .errno(1), "SCMP_ACT_ERRNO without errnoRet is EPERM")
        XCTAssertEqual(policy.decide("acct"), .trap)
        XCTAssertEqual(policy.decide("uselib"), .log)
        XCTAssertEqual(policy.decide("kexec_load"), .killThread)
        XCTAssertEqual(policy.decide("read"), .allow)
        XCTAssertEqual(policy.architectures, ["x86_64"], "no archMap or architectures: the native one only")
    }

    func testProfileJSONRoundTrip() throws {
        let profile = try Fixture.dockerDefault()
        let back = try SeccompProfile.decode(Array(JSONEncoder().encode(profile)), source: "round-trip")
        XCTAssertEqual(back, profile)
    }

    // MARK: compiling Docker's default

    func testArchitecturesFromArchMap() throws {
        XCTAssertEqual(try dockerPolicy().architectures, ["x86_64", "x86", "x32"])
        XCTAssertEqual(try dockerPolicy(arch: "aarch64").architectures, ["aarch64", "arm"])
        XCTAssertEqual(try dockerPolicy(arch: "s390x").architectures, ["s390x", "s390"])
        XCTAssertEqual(try dockerPolicy(arch: "riscv64").architectures, ["riscv64"])
        XCTAssertEqual(try dockerPolicy(arch: "ppc64le").architectures, ["ppc64le"], "not in archMap: native only")
    }

    func testDefaultCapsClone() throws {
        let policy = try dockerPolicy()
        XCTAssertEqual(policy.defaultAction, .errno(1))
        XCTAssertEqual(policy.table["clone"], [SeccompPolicy.Rule(syscall: "clone", action: .allow, conditions: [
            .init(index: 0, compare: .maskedEqual, value: Self.cloneNamespaceMask, valueTwo: 0),
        ])])
        XCTAssertEqual(policy.rules.filter { $0.syscall == "clone" }.count, 1)
        XCTAssertEqual(policy.table["clone3"], [SeccompPolicy.Rule(syscall: "clone3", action: .errno(38), conditions: [])])
        XCTAssertEqual(policy.decide("clone3"), .errno(38), "ENOSYS so that libc falls back to clone")
    }

    func testDefaultCapsRefuseNamespaceAndKernelCalls() throws {
        let policy = try dockerPolicy()
        for name in ["unshare", "mount", "umount2", "keyctl", "add_key", "request_key", "bpf", "setns",
                     "perf_event_open", "io_uring_setup", "reboot", "init_module", "open_by_handle_at",
                     "kcmp", "pidfd_getfd", "settimeofday", "syslog", "iopl"] {
            XCTAssertNil(policy.table[name], name)
            XCTAssertEqual(policy.decide(name), .errno(1), name)
        }
        // And ordinary calls are allowed, unconditionally.
        for name in ["read", "openat", "execve", "chroot", "arch_prctl", "modify_ldt", "ptrace"] {
            XCTAssertEqual(policy.table[name], [allow(name)], name)
        }
        XCTAssertNil(policy.table["cacheflush"], "ARM-only calls are absent on x86_64")
    }

    func testSysAdminAllowsNamespaces() throws {
        let policy = try dockerPolicy(caps("SYS_ADMIN"))
        for name in ["clone", "clone3", "unshare", "mount", "setns", "umount2", "bpf", "syslog"] {
            XCTAssertEqual(policy.table[name], [allow(name)], name)
        }
        XCTAssertFalse(policy.rules.contains { $0.action == .errno(38) }, "the clone3 ENOSYS rule is gone")
        XCTAssertEqual(policy.decide("clone", args: [Self.cloneNewUser]), .allow)
        XCTAssertEqual(policy.decide("clone3"), .allow)
        XCTAssertEqual(policy.decide("keyctl"), .errno(1), "not even CAP_SYS_ADMIN opens keyctl")
    }

    func testSysPtraceAllowsTracing() throws {
        let policy = try dockerPolicy(caps("SYS_PTRACE"))
        for name in ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"] {
            XCTAssertEqual(policy.decide(name), .allow, name)
        }
        XCTAssertEqual(policy.table["kcmp"], [allow("kcmp")])
        XCTAssertEqual(try dockerPolicy().decide("kcmp"), .errno(1))
    }

    func testOtherCapabilityRules() throws {
        let pairs: [(String, String)] = [("SYS_BOOT", "reboot"), ("SYS_MODULE", "finit_module"), ("SYS_TIME", "clock_settime"),
                                         ("SYSLOG", "syslog"), ("BPF", "bpf"), ("PERFMON", "perf_event_open"),
                                         ("DAC_READ_SEARCH", "open_by_handle_at"), ("SYS_NICE", "mbind"),
                                         ("SYS_PACCT", "acct"), ("SYS_RAWIO", "ioperm"), ("SYS_TTY_CONFIG", "vhangup")]
        for (cap, call) in pairs {
            XCTAssertEqual(try dockerPolicy().decide(call), .errno(1), "\(call) without \(cap)")
            XCTAssertEqual(try dockerPolicy(caps(cap)).decide(call), .allow, "\(call) with \(cap)")
        }
        // chroot needs SYS_CHROOT, which is in Docker's default set: dropping it refuses chroot.
        var noChroot = CapabilitySet.dockerDefault
        noChroot.remove(Capability(name: "SYS_CHROOT")!)
        XCTAssertEqual(try dockerPolicy(noChroot).decide("chroot"), .errno(1))
    }

    func testMinKernelDropsRuleOnOldKernels() throws {
        let old = try dockerPolicy(kernel: (4, 7))
        for name in ["ptrace", "process_vm_readv", "process_vm_writev"] {
            XCTAssertNil(old.table[name], name)
            XCTAssertEqual(old.decide(name), .errno(1), name)
        }
        XCTAssertEqual(try dockerPolicy(kernel: (4, 8)).table["ptrace"], [allow("ptrace")], "4.8 itself is enough")
        XCTAssertEqual(try dockerPolicy(kernel: (5, 0)).table["ptrace"], [allow("ptrace")])
        XCTAssertEqual(try dockerPolicy(caps("SYS_PTRACE"), kernel: (4, 7)).decide("ptrace"), .allow,
                       "CAP_SYS_PTRACE allows it on any kernel")
        // The rest of the profile does not depend on the kernel.
        var withoutPtrace = try dockerPolicy().table
        for name in ["ptrace", "process_vm_readv", "process_vm_writev"] { withoutPtrace[name] = nil }
        XCTAssertEqual(old.table, withoutPtrace)
    }

    func testKernelVersionsCompareNumerically() throws {
        let profile = SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", syscalls: [
            .init(names: ["new_call"], action: "SCMP_ACT_ALLOW", includes: .init(minKernel: "4.10")),
            .init(names: ["old_call"], action: "SCMP_ACT_ALLOW", excludes: .init(minKernel: "5.4")),
        ])
        func decide(_ name: String, _ kernel: (Int, Int)) throws -> SeccompAction {
            try profile.compile(for: target(kernel: kernel)).decide(name)
        }
        XCTAssertEqual(try decide("new_call", (4, 9)), .errno(1))
        XCTAssertEqual(try decide("new_call", (4, 10)), .allow)
        XCTAssertEqual(try decide("new_call", (4, 20)), .allow, "4.20 > 4.10 though \"4.2\" < \"4.10\" as text")
        XCTAssertEqual(try decide("new_call", (3, 99)), .errno(1))
        XCTAssertEqual(try decide("old_call", (5, 3)), .allow)
        XCTAssertEqual(try decide("old_call", (5, 4)), .errno(1))
        XCTAssertEqual(try decide("old_call", (6, 0)), .errno(1))
    }

    func testCloneFlagsDecision() throws {
        let policy = try dockerPolicy()
        XCTAssertEqual(policy.decide("clone", args: [Self.cloneNewUser]), .errno(1), "CLONE_NEWUSER is refused")
        XCTAssertEqual(policy.decide("clone", args: [0x11]), .allow, "SIGCHLD|CLONE_VM-style flags are fine")
        XCTAssertEqual(policy.decide("clone", args: [0x0001_0000 | 0x0000_0100 | 0x11]), .allow, "threads (CLONE_THREAD|CLONE_VM)")
        for flag: UInt64 in [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x2000_0000, 0x4000_0000] {
            XCTAssertEqual(policy.decide("clone", args: [flag | 0x11]), .errno(1), String(flag, radix: 16))
        }
        XCTAssertEqual(policy.decide("clone", args: [0x11, Self.cloneNewUser]), .allow, "only argument 0 is checked on x86_64")
    }

    func testS390CloneChecksTheSecondArgument() throws {
        let policy = try dockerPolicy(arch: "s390x")
        XCTAssertEqual(policy.table["clone"], [SeccompPolicy.Rule(syscall: "clone", action: .allow, conditions: [
            .init(index: 1, compare: .maskedEqual, value: Self.cloneNamespaceMask, valueTwo: 0),
        ])])
        XCTAssertEqual(policy.decide("clone", args: [0, Self.cloneNewUser]), .errno(1))
        XCTAssertEqual(policy.decide("clone", args: [Self.cloneNewUser, 0x11]), .allow)
        XCTAssertEqual(policy.decide("s390_runtime_instr"), .allow)
        XCTAssertEqual(policy.decide("arch_prctl"), .errno(1))
    }

    func testArmOnlyCalls() throws {
        let policy = try dockerPolicy(arch: "aarch64")
        for name in ["cacheflush", "set_tls", "breakpoint", "arm_fadvise64_64"] {
            XCTAssertEqual(policy.decide(name), .allow, name)
        }
        XCTAssertEqual(policy.decide("arch_prctl"), .errno(1))
        XCTAssertEqual(policy.decide("modify_ldt"), .errno(1))
    }

    func testSocketFamilies() throws {
        let policy = try dockerPolicy()
        XCTAssertEqual(policy.decide("socket", args: [38]), .errno(1), "AF_ALG refused")
        XCTAssertEqual(policy.decide("socket", args: [40]), .errno(1), "AF_VSOCK refused")
        for family: UInt64 in [1, 2, 10, 16, 17, 37, 39, 41, 44] {
            XCTAssertEqual(policy.decide("socket", args: [family]), .allow, "family \(family)")
        }
        XCTAssertEqual(policy.table["socket"]?.count, 3)
    }

    func testPersonality() throws {
        let policy = try dockerPolicy()
        for value: UInt64 in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
            XCTAssertEqual(policy.decide("personality", args: [value]), .allow, String(value, radix: 16))
        }
        for value: UInt64 in [1, 0x0040_0000, 0x1_0000_0000] {
            XCTAssertEqual(policy.decide("personality", args: [value]), .errno(1), String(value, radix: 16))
        }
    }

    // MARK: compile details

    func testSeveralConditionsOnOneArgumentBecomeSeparateRules() throws {
        let profile = SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", syscalls: [
            .init(names: ["socket"], action: "SCMP_ACT_ALLOW", args: [
                .init(index: 0, value: 1, op: "SCMP_CMP_EQ"), .init(index: 0, value: 2, op: "SCMP_CMP_EQ"),
            ]),
        ])
        let policy = try profile.compile(for: target())
        XCTAssertEqual(policy.rules.count, 2)
        XCTAssertEqual(policy.decide("socket", args: [1]), .allow)
        XCTAssertEqual(policy.decide("socket", args: [2]), .allow)
        XCTAssertEqual(policy.decide("socket", args: [3]), .errno(1))
    }

    func testMostRestrictiveMatchingActionWins() throws {
        let profile = SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
            .init(names: ["openat"], action: "SCMP_ACT_ALLOW"),
            .init(names: ["openat"], action: "SCMP_ACT_ERRNO", errnoRet: 13, args: [.init(index: 2, value: 1, op: "SCMP_CMP_GE")]),
            .init(names: ["openat"], action: "SCMP_ACT_KILL_PROCESS", args: [.init(index: 2, value: 100, op: "SCMP_CMP_GT")]),
        ])
        let policy = try profile.compile(for: target())
        XCTAssertEqual(policy.decide("openat", args: [0, 0, 0]), .allow)
        XCTAssertEqual(policy.decide("openat", args: [0, 0, 5]), .errno(13))
        XCTAssertEqual(policy.decide("openat", args: [0, 0, 101]), .killProcess)
    }

    func testComparisonOperators() {
        XCTAssertTrue(SeccompCompare.notEqual.holds(1, value: 2, valueTwo: 0))
        XCTAssertFalse(SeccompCompare.notEqual.holds(2, value: 2, valueTwo: 0))
        XCTAssertTrue(SeccompCompare.less.holds(1, value: 2, valueTwo: 0))
        XCTAssertFalse(SeccompCompare.less.holds(2, value: 2, valueTwo: 0))
        XCTAssertTrue(SeccompCompare.lessOrEqual.holds(2, value: 2, valueTwo: 0))
        XCTAssertTrue(SeccompCompare.equal.holds(7, value: 7, valueTwo: 0))
        XCTAssertTrue(SeccompCompare.greaterOrEqual.holds(2, value: 2, valueTwo: 0))
        XCTAssertFalse(SeccompCompare.greater.holds(2, value: 2, valueTwo: 0))
        XCTAssertTrue(SeccompCompare.maskedEqual.holds(0xF0, value: 0x0F, valueTwo: 0))
        XCTAssertFalse(SeccompCompare.maskedEqual.holds(0xF1, value: 0x0F, valueTwo: 0))
        XCTAssertTrue(SeccompCompare.maskedEqual.holds(0xF1, value: 0x0F, valueTwo: 1))
    }

    func testCapsIncludesNeedEveryCapAndExcludesAnyCap() throws {
        let profile = SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", syscalls: [
            .init(names: ["both"], action: "SCMP_ACT_ALLOW", includes: .init(caps: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])),
            .init(names: ["neither"], action: "SCMP_ACT_ALLOW", excludes: .init(caps: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])),
            .init(names: ["bogus"], action: "SCMP_ACT_ALLOW", includes: .init(caps: ["CAP_NOT_A_CAP"])),
        ])
        let one = try profile.compile(for: target(caps("SYS_ADMIN")))
        XCTAssertEqual(one.decide("both"), .errno(1))
        XCTAssertEqual(one.decide("neither"), .errno(1))
        let two = try profile.compile(for: target(caps("SYS_ADMIN", "NET_ADMIN")))
        XCTAssertEqual(two.decide("both"), .allow)
        let none = try profile.compile(for: target())
        XCTAssertEqual(none.decide("neither"), .allow)
        XCTAssertEqual(try profile.compile(for: target(.all)).decide("bogus"), .errno(1), "an unknown cap is never held")
    }
}
