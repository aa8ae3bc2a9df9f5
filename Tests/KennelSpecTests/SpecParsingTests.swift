/// Proves the option parsers of `SandboxSpec`: `--bind SRC:DST[:ro|:rw]`, `--tmpfs DST[:SIZE]`
/// with k/m/g sizes and overflow, and `--seccomp`; malformed strings and relative paths
/// become the documented `SpecError`s; the spec's defaults and its JSON form.
import Foundation
import XCTest
@testable import KennelSpec

final class SpecParsingTests: XCTestCase {
    // MARK: --bind

    func testBindDefaultsToReadWrite() throws {
        XCTAssertEqual(try SandboxSpec.Bind.parse("/srv/data:/data"),
                       SandboxSpec.Bind(source: "/srv/data", destination: "/data", readOnly: false))
    }

    func testBindReadOnlyAndReadWriteSuffixes() throws {
        XCTAssertEqual(try SandboxSpec.Bind.parse("/srv/data:/data:ro").readOnly, true)
        XCTAssertEqual(try SandboxSpec.Bind.parse("/srv/data:/data:rw").readOnly, false)
        XCTAssertEqual(try SandboxSpec.Bind.parse("/a:/b:ro"),
                       SandboxSpec.Bind(source: "/a", destination: "/b", readOnly: true))
    }

    func testBindRelativeDestination() {
        assertThrows(.relativePath(option: "--bind", path: "data")) { try SandboxSpec.Bind.parse("/srv/data:data") }
        // Both relative: the destination is reported.
        assertThrows(.relativePath(option: "--bind", path: "b")) { try SandboxSpec.Bind.parse("a:b:ro") }
    }

    func testBindRelativeSource() {
        assertThrows(.relativePath(option: "--bind", path: "srv/data")) { try SandboxSpec.Bind.parse("srv/data:/data") }
        assertThrows(.relativePath(option: "--bind", path: ".")) { try SandboxSpec.Bind.parse(".:/data") }
    }

    func testBindMalformed() {
        for bad in ["", "/only-source", ":", ":/data", "/src:", "/a:/b:", "/a:/b:RO", "/a:/b:rx",
                    "/a:/b:ro:extra", "/a::ro"] {
            assertThrows(.malformedOption(option: "--bind", value: bad, expected: "SRC:DST[:ro]")) {
                try SandboxSpec.Bind.parse(bad)
            }
        }
    }

    // MARK: --tmpfs

    func testTmpfsWithoutSizeUsesKernelDefault() throws {
        XCTAssertEqual(try SandboxSpec.Tmpfs.parse("/scratch"), SandboxSpec.Tmpfs(destination: "/scratch", size: nil))
    }

    func testTmpfsSizes() throws {
        let cases: [(String, UInt64)] = [
            ("64m", 64 << 20), ("64M", 64 << 20), ("1g", 1 << 30), ("1G", 1 << 30), ("4k", 4096),
            ("1024", 1024), ("0", 0),
            // The largest gigabyte count that fits in 64 bits.
            ("17179869183g", 17_179_869_183 << 30),
        ]
        for (text, bytes) in cases {
            XCTAssertEqual(try SandboxSpec.Tmpfs.parse("/s:" + text).size, bytes, text)
        }
    }

    func testTmpfsBadSizes() {
        let expected = "DST[:SIZE] with SIZE like 64m"
        for size in ["", "garbage", "m", "64mb", "1t", "-1", "1.5g", "64 m",
                     "17179869184g",            // 2^34 GiB = 2^64 bytes: overflows
                     "18446744073709551616",    // UInt64.max + 1
                     "99999999999999999999k"] {
            let value = "/s:" + size
            assertThrows(.malformedOption(option: "--tmpfs", value: value, expected: expected)) {
                try SandboxSpec.Tmpfs.parse(value)
            }
        }
    }

    func testTmpfsRelativeAndMalformed() {
        assertThrows(.relativePath(option: "--tmpfs", path: "scratch")) { try SandboxSpec.Tmpfs.parse("scratch:64m") }
        for bad in ["", ":64m", "/a:1m:2"] {
            assertThrows(.malformedOption(option: "--tmpfs", value: bad, expected: "DST[:SIZE]")) {
                try SandboxSpec.Tmpfs.parse(bad)
            }
        }
    }

    // MARK: --seccomp

    func testSeccompParse() {
        XCTAssertEqual(SandboxSpec.Seccomp.parse("default"), .builtinDefault)
        XCTAssertEqual(SandboxSpec.Seccomp.parse("unconfined"), .unconfined)
        XCTAssertEqual(SandboxSpec.Seccomp.parse("/etc/profile.json"), .profile(path: "/etc/profile.json"))
        XCTAssertEqual(SandboxSpec.Seccomp.parse("Default"), .profile(path: "Default"), "names are exact")
    }

    // MARK: the spec itself

    func testSpecDefaults() {
        let spec = SandboxSpec(command: ["id"])
        XCTAssertEqual(spec.command, ["id"])
        XCTAssertEqual(spec.user, "0:0")
        XCTAssertEqual(spec.mapBase, 199_001)
        XCTAssertNil(spec.rootfs)
        XCTAssertEqual(spec.hostname, "kennel")
        XCTAssertEqual(spec.seccomp, .builtinDefault)
        XCTAssertFalse(spec.allowSetuid)
        XCTAssertEqual(spec.network, .none)
        XCTAssertTrue(spec.env.isEmpty && spec.capAdd.isEmpty && spec.capDrop.isEmpty && spec.binds.isEmpty)
    }

    func testSpecJSONRoundTrip() throws {
        var spec = SandboxSpec(command: ["python3", "job.py"])
        spec.user = "sagemaker-user"
        spec.binds = [try SandboxSpec.Bind.parse("/srv/data:/data:ro")]
        spec.tmpfs = [try SandboxSpec.Tmpfs.parse("/scratch:1g")]
        spec.seccomp = .profile(path: "/p.json")
        spec.capAdd = ["SYS_PTRACE"]
        spec.env = ["A=1"]
        let back = try JSONDecoder().decode(SandboxSpec.self, from: JSONEncoder().encode(spec))
        XCTAssertEqual(back, spec)
    }

    func testEveryErrorRendersAsOneLine() {
        let all: [SpecError] = [
            .mapBaseTooLow(1), .mapBaseOverflows(2), .unknownCapability("x"), .emptyCommand, .rootfsMissing("/r"),
            .rootfsNotDirectory("/r"), .unknownUser(name: "u", passwd: "/p"), .unknownGroup(name: "g", group: "/g"),
            .idOutOfRange("uid", 70_000), .malformedID(":"), .relativePath(option: "--bind", path: "x"),
            .malformedOption(option: "--tmpfs", value: "v", expected: "e"), .bindSourceMissing("/s"),
            .seccompProfile(path: "/p", reason: "r"), .badHostname("a_b"), .badEnvironment("=x"),
        ]
        for e in all {
            XCTAssertFalse(e.description.isEmpty)
            XCTAssertFalse(e.description.contains("\n"), "\(e)")
        }
        XCTAssertEqual(SpecError.relativePath(option: "--bind", path: "x").description, "--bind x: must be an absolute path")
        XCTAssertEqual(SpecError.idOutOfRange("uid", 70_000).description, "uid 70000: outside the mapped range 0-65535")
    }
}
