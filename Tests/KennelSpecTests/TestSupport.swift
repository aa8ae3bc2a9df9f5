/// Shared helpers for the KennelSpec unit tests: typed-error assertions, the Docker seccomp
/// fixture (located from this file's path, failing loudly when it is missing), and a small
/// passwd/group pair with a matching `LaunchPlan.Host`.
import Foundation
import XCTest
@testable import KennelSpec

/// Runs `body` and returns the `SpecError` it threw, or nil (and a failure) if it returned.
/// (Closures do not infer typed throws, so the body is untyped and the error is checked here.)
func specError<T>(_ body: () throws -> T,
                  file: StaticString = #filePath, line: UInt = #line) -> SpecError? {
    do {
        let value = try body()
        XCTFail("expected a SpecError, got \(value)", file: file, line: line)
        return nil
    } catch let error as SpecError {
        return error
    } catch {
        XCTFail("expected a SpecError, got \(type(of: error)): \(error)", file: file, line: line)
        return nil
    }
}

/// Asserts that `body` throws exactly `expected`.
func assertThrows<T>(_ expected: SpecError, _ body: () throws -> T,
                     file: StaticString = #filePath, line: UInt = #line) {
    guard let error = specError(body, file: file, line: line) else { return }
    XCTAssertEqual(error, expected, file: file, line: line)
}

/// Asserts that `body` throws `.seccompProfile` naming `path`, with a reason containing `reason`.
func assertSeccompProfileError<T>(path: String, reasonContains reason: String,
                                  _ body: () throws -> T,
                                  file: StaticString = #filePath, line: UInt = #line) {
    guard let error = specError(body, file: file, line: line) else { return }
    guard case .seccompProfile(let p, let r) = error else {
        return XCTFail("expected .seccompProfile, got \(error)", file: file, line: line)
    }
    XCTAssertEqual(p, path, file: file, line: line)
    XCTAssertTrue(r.contains(reason), "reason \"\(r)\" lacks \"\(reason)\"", file: file, line: line)
    XCTAssertFalse(error.description.contains("\n"), "error must render as one line", file: file, line: line)
}

enum Fixture {
    /// /work/main/Tests/KennelSpecTests/TestSupport.swift → /work/main (the package root).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Docker's default profile (moby/profiles seccomp v0.2.3), kept outside the package.
    static let dockerDefaultURL = packageRoot
        .appendingPathComponent("../shared/reference/docker-default-seccomp.json").standardizedFileURL

    /// The fixture's bytes; fails the calling test (never skips) when the file is missing.
    static func dockerDefaultBytes(file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: dockerDefaultURL.path),
                                 "Docker seccomp fixture missing at \(dockerDefaultURL.path): the equivalence "
                                 + "tests need ../shared/reference/docker-default-seccomp.json next to the package",
                                 file: file, line: line)
        return [UInt8](data)
    }

    /// The fixture decoded with kennel's own decoder.
    static func dockerDefault(file: StaticString = #filePath, line: UInt = #line) throws -> SeccompProfile {
        let bytes = try dockerDefaultBytes(file: file, line: line)
        return try SeccompProfile.decode(bytes, source: dockerDefaultURL.path)
    }
}

enum Sample {
    static let passwd = """
        # a comment line is ignored
        root:x:0:0:root:/root:/bin/bash
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        sagemaker-user:x:1000:100:SageMaker:/home/sagemaker-user:/bin/bash
        svc:x:2000:2000::/srv/svc:/bin/sh
        toobig:x:70000:100::/home/toobig:/bin/sh
        brokenline:x:3000
        nonnumeric:x:abc:1::/x:/bin/sh

        """
    static let group = """
        root:x:0:
        users:x:100:
        staff:x:50:sagemaker-user
        svc:x:2000:
        docker:x:999:
        huge:x:65536:
        staff:x:51:
        # comment:x:7:

        """
    static let database = UserDatabase(passwd: passwd, group: group)
    static let passwdPath = "/rootfs/etc/passwd"
    static let groupPath = "/rootfs/etc/group"

    static let hostEnvironment = [
        "PATH": "/host/only/bin",
        "HOME": "/home/hostuser",
        "TERM": "xterm-256color",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "LANG": "C.UTF-8",
        "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock",
    ]

    static func host(environment: [String: String] = hostEnvironment,
                     thermalThrottleDirs: [String] = []) -> LaunchPlan.Host {
        LaunchPlan.Host(environment: environment, userDatabase: database, passwdPath: passwdPath,
                        groupPath: groupPath, randomID: "abc123def456", thermalThrottleDirs: thermalThrottleDirs)
    }
}
