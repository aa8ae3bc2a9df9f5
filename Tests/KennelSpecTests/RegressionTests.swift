/// Regressions for bugs found in review: each test failed before its fix.
import Foundation
import XCTest
@testable import KennelSpec

final class RegressionTests: XCTestCase {
    /// Docker: `--cap-add ALL --cap-drop X` is every capability but X.
    func testCapAddAllThenDropKeepsTheDrop() throws {
        let set = try CapabilitySet.resolve(base: .dockerDefault, add: ["ALL"], drop: ["NET_RAW"])
        XCTAssertFalse(set.contains(Capability(name: "NET_RAW")!))
        XCTAssertTrue(set.contains(Capability(name: "SYS_ADMIN")!))
        let none = try CapabilitySet.resolve(base: .dockerDefault, add: ["CHOWN"], drop: ["ALL"])
        XCTAssertEqual(none.members, [Capability(name: "CHOWN")!])
    }

    /// The default working directory follows the resolved uid, not the spelling of --user.
    func testRootByNameStartsInSlash() throws {
        for user in ["0", "root", "root:root", "0:0"] {
            var spec = SandboxSpec(command: ["true"])
            spec.user = user
            XCTAssertEqual(try LaunchPlan(spec: spec, host: Sample.host()).workdir, "/", user)
        }
    }

    /// A bare SCMP_ACT_ERRNO rule means EPERM (OCI, runc), whatever the default errno is.
    func testErrnoRuleWithoutErrnoRetIsEperm() throws {
        let profile = SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 38, syscalls: [
            .init(names: ["mount"], action: "SCMP_ACT_ERRNO"),
        ])
        let policy = try profile.compile(for: SeccompTarget(nativeArch: "x86_64", bounding: .dockerDefault, kernel: (6, 18)))
        XCTAssertEqual(policy.decide("mount"), .errno(1))
        XCTAssertEqual(policy.decide("unshare"), .errno(38))
    }

    /// A decoded id map is validated like a constructed one.
    func testDecodedMappingIsValidated() throws {
        XCTAssertThrowsError(try JSONDecoder().decode(IDMapping.self, from: Data(#"{"base": 0}"#.utf8)))
        let ok = try JSONDecoder().decode(IDMapping.self, from: Data(#"{"base": 300000}"#.utf8))
        XCTAssertEqual(ok.base, 300000)
        XCTAssertEqual(try JSONDecoder().decode(IDMapping.self, from: JSONEncoder().encode(ok)), ok)
    }

    /// A home below a bind destination is not created: that would write into the host's bind source.
    func testHomeUnderABindIsNotCreated() throws {
        var spec = SandboxSpec(command: ["true"])
        spec.user = "sagemaker-user"
        spec.binds = [.init(source: "/efs", destination: "/home", readOnly: false)]
        let plan = try LaunchPlan(spec: spec, host: Sample.host())
        XCTAssertFalse(plan.hostMounts.contains { $0.target == "/home/sagemaker-user" })
        spec.binds = []
        XCTAssertTrue(try LaunchPlan(spec: spec, host: Sample.host()).hostMounts.contains { $0.target == "/home/sagemaker-user" })
    }
}

final class UserDatabaseShortcutTests: XCTestCase {
    /// The default launch skips reading passwd/group only when resolution would not use them.
    func testNeedsDatabase() {
        XCTAssertFalse(Identity.needsDatabase(user: "0:0", groupAdd: []))
        XCTAssertTrue(Identity.needsDatabase(user: "0", groupAdd: ["5"]), "root's memberships come from /etc/group")
        XCTAssertFalse(Identity.needsDatabase(user: "0:0", groupAdd: ["5"]))
        XCTAssertTrue(Identity.needsDatabase(user: "root", groupAdd: []))
        XCTAssertTrue(Identity.needsDatabase(user: "1000:100", groupAdd: []))
        XCTAssertTrue(Identity.needsDatabase(user: "0:0", groupAdd: ["staff"]))
        XCTAssertTrue(Identity.needsDatabase(user: "0:wheel", groupAdd: []))
        // Whatever the shortcut, resolution against an empty database gives the same identity.
        let empty = UserDatabase(passwd: "", group: "")
        let a = try? Identity.resolve(user: "0:0", groupAdd: ["5"], database: empty, passwdPath: "", groupPath: "")
        let b = try? Identity.resolve(user: "0:0", groupAdd: ["5"], database: Sample.database, passwdPath: "", groupPath: "")
        XCTAssertEqual(a, b)
    }
}

final class PublishParsingTests: XCTestCase {
    func testForms() throws {
        XCTAssertEqual(try SandboxSpec.Publish.parse("8888"), .init(hostPort: 8888, sandboxPort: 8888))
        XCTAssertEqual(try SandboxSpec.Publish.parse("8888:9999"), .init(hostPort: 8888, sandboxPort: 9999))
        XCTAssertEqual(try SandboxSpec.Publish.parse("0.0.0.0:80"), .init(hostIP: "0.0.0.0", hostPort: 80, sandboxPort: 80))
        XCTAssertEqual(try SandboxSpec.Publish.parse("127.0.0.2:80:8080/tcp"),
                       .init(hostIP: "127.0.0.2", hostPort: 80, sandboxPort: 8080))
    }

    func testRefusals() {
        for bad in ["", "0", "65536", "x", "80/udp", "1.2.3:80", "256.1.1.1:80", "a:b", "1:2:3:4", "80:", "01.2.3.4:80:81"] {
            XCTAssertThrowsError(try SandboxSpec.Publish.parse(bad), bad)
        }
    }

    func testTheRootIsNotAMountTarget() {
        // It would become a step at / that the launcher never makes: refused, not ignored.
        for bad in ["/srv:/", "/srv://", "/srv:/:ro"] {
            XCTAssertThrowsError(try SandboxSpec.Bind.parse(bad), bad)
        }
        XCTAssertThrowsError(try SandboxSpec.Tmpfs.parse("/"))
        XCTAssertThrowsError(try SandboxSpec.Tmpfs.parse("/:64m"))
    }
}

final class BlockedDestinationTests: XCTestCase {
    func testParsingAndMasking() throws {
        XCTAssertEqual(try BlockedDestination(cidr: "203.0.113.77/24").description, "203.0.113.0/24")
        XCTAssertEqual(try BlockedDestination(cidr: "169.254.169.254").description, "169.254.169.254/32")
        XCTAssertEqual(try BlockedDestination(cidr: "fd00:ec2::254").description, "fd00:ec2::254/128")
        XCTAssertEqual(try BlockedDestination(cidr: "2001:db8:ffff::1/33").description, "2001:db8:8000::/33")
        XCTAssertEqual(try BlockedDestination(cidr: "10.1.2.3/0").description, "0.0.0.0/0")
        for bad in ["", "x", "1.2.3.4/33", "::/129", "1.2.3.4/-1", "1.2.3/8"] {
            XCTAssertThrowsError(try BlockedDestination(cidr: bad), bad)
        }
    }

    func testDefaultsAndDeduplication() throws {
        XCTAssertEqual(BlockedDestination.defaults.map(\.description),
                       ["169.254.169.254/32", "fd00:ec2::254/128", "169.254.170.2/32", "169.254.170.23/32", "fd00:ec2::23/128"])
        var spec = SandboxSpec(command: ["true"])
        spec.block = ["169.254.169.254/32", "203.0.113.0/24"]
        spec.blockEFS = ["198.51.100.7"]
        let plan = try LaunchPlan(spec: spec, host: Sample.host())
        XCTAssertEqual(plan.blocked.count, 7)
        XCTAssertEqual(plan.blocked.last?.reason, "efs")
        spec.blockEFS = ["198.51.100.0/24"]
        XCTAssertThrowsError(try LaunchPlan(spec: spec, host: Sample.host()))
        // DNS and time sync are never blocked by default.
        XCTAssertFalse(plan.blocked.contains { ["169.254.169.253/32", "169.254.169.123/32"].contains($0.description) })
    }
}

final class BridgePoolTests: XCTestCase {
    func testContains() throws {
        let pool = try BlockedDestination(cidr: "10.213.0.0/16")
        XCTAssertTrue(pool.contains([10, 213, 255, 1]))
        XCTAssertFalse(pool.contains([10, 214, 0, 1]))
        XCTAssertFalse(pool.contains(Array(repeating: 0, count: 16)))  // another family
        let pool6 = try BlockedDestination(cidr: "fd6b:656e:6e65::/64")
        XCTAssertTrue(pool6.contains([0xfd, 0x6b, 0x65, 0x6e, 0x6e, 0x65, 0, 0] + Array(repeating: 0xff, count: 8)))
        XCTAssertFalse(pool6.contains([0xfd, 0x6b, 0x65, 0x6e, 0x6e, 0x65, 0, 1] + Array(repeating: 0, count: 8)))
        XCTAssertTrue(try BlockedDestination(cidr: "0.0.0.0/0").contains([192, 0, 2, 1]))
    }

    func testIPv6PoolIsValidatedOnlyForBridgeAndCanBeSwitchedOff() throws {
        var spec = SandboxSpec(command: ["true"])
        spec.subnet6 = "nonsense"
        XCTAssertNil(try LaunchPlan(spec: spec, host: Sample.host()).subnet6)  // --net none ignores it
        spec.network = .bridge
        for bad in ["nonsense", "10.0.0.0/8", "fd00::/97", "fd00::1"] {
            spec.subnet6 = bad
            XCTAssertThrowsError(try LaunchPlan(spec: spec, host: Sample.host()), bad)
        }
        spec.subnet6 = "none"
        XCTAssertNil(try LaunchPlan(spec: spec, host: Sample.host()).subnet6)
        // Pools that would put a sandbox at a metadata address, or route link-local,
        // loopback or multicast space into sandboxes, are refused.
        for bad in ["169.254.170.0/24", "169.254.0.0/16", "168.0.0.0/6", "127.0.0.0/16", "0.0.0.0/0", "230.0.0.0/8"] {
            var s = spec
            s.subnet = bad
            XCTAssertThrowsError(try LaunchPlan(spec: s, host: Sample.host()), bad)
        }
        for bad in ["fd00:ec2::/64", "fd00::/8", "fe80::/64", "::/96", "ff02::/96"] {
            var s = spec
            s.subnet6 = bad
            XCTAssertThrowsError(try LaunchPlan(spec: s, host: Sample.host()), bad)
        }
        // Each error names the option it came from.
        for (option, value, set) in [("--subnet6", "nonsense", { (s: inout SandboxSpec) in s.subnet6 = "nonsense" }),
                                     ("--subnet", "x/3", { (s: inout SandboxSpec) in s.subnet = "x/3" }),
                                     ("--block-efs", "zz", { (s: inout SandboxSpec) in s.blockEFS = ["zz"] })] {
            var s = spec
            set(&s)
            XCTAssertThrowsError(try LaunchPlan(spec: s, host: Sample.host())) { error in
                XCTAssertTrue("\(error)".contains("\(option) \(value)"), "\(error)")
            }
        }
        for good in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"] {
            var s = spec
            s.subnet = good
            XCTAssertNoThrow(try LaunchPlan(spec: s, host: Sample.host()), good)
        }
        spec.subnet6 = SandboxSpec.defaultSubnet6
        XCTAssertEqual(try LaunchPlan(spec: spec, host: Sample.host()).subnet6?.description, "fd6b:656e:6e65::/64")
        // The default pool stays clear of AWS's fd00:ec2:: services.
        let aws = try BlockedDestination(cidr: "fd00:ec2::/32")
        XCTAssertFalse(aws.contains(try XCTUnwrap(LaunchPlan(spec: spec, host: Sample.host()).subnet6).address))
    }
}

final class BlockListTests: XCTestCase {
    func testParseList() throws {
        let (block, efs) = try BlockedDestination.parseList("# c\n10.0.0.0/8\n  efs 192.0.2.9 # x\n\n2001:db8::/32\n", source: "f")
        XCTAssertEqual(block, ["10.0.0.0/8", "2001:db8::/32"])
        XCTAssertEqual(efs, ["192.0.2.9"])
        XCTAssertThrowsError(try BlockedDestination.parseList("efs\tone two\n", source: "f"))
    }
}

final class ReviewFixTests: XCTestCase {
    func testMappedIPv6BlocksAreIPv4() throws {
        let d = try BlockedDestination(cidr: "::ffff:169.254.169.254")
        XCTAssertEqual(d.family, .ipv4)
        XCTAssertEqual(d.description, "169.254.169.254/32")
        XCTAssertEqual(try BlockedDestination(cidr: "::ffff:10.0.0.0/104").description, "10.0.0.0/8")
    }

    func testDNSServersAreAddresses() {
        XCTAssertThrowsError(try LaunchPlan.resolvConf(dns: ["1.2.3.4/32"], host: ""))
        XCTAssertEqual(try LaunchPlan.resolvConf(dns: ["1.2.3.4", "fd00::1"], host: ""), "nameserver 1.2.3.4\nnameserver fd00::1\n")
    }
}
