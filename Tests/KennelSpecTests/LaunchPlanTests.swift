/// Proves `LaunchPlan(spec:host:passEnv:)`: the environment is clean (PATH, HOME, HOSTNAME and
/// the host's TERM only; nothing else leaks unless passed by name; `--env` overrides in place),
/// invalid requests are refused, and the mount steps come in the order the launcher relies on:
/// the root bind first, a read-only sysfs, private /tmp and /dev owned by the mapped root,
/// /root /home /run hidden only for the embedded default root, user mounts shallow before deep,
/// Docker's masked and read-only paths; plus no_new_privs and the seccomp choice.
import Foundation
import XCTest
@testable import KennelSpec

final class LaunchPlanTests: XCTestCase {
    private func plan(host: LaunchPlan.Host = Sample.host(), passEnv: [String] = [],
                      _ configure: (inout SandboxSpec) -> Void = { _ in }) throws(SpecError) -> LaunchPlan {
        var spec = SandboxSpec(command: ["/bin/sh", "-c", "true"])
        configure(&spec)
        return try LaunchPlan(spec: spec, host: host, passEnv: passEnv)
    }

    private static let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    private func tmpfs(_ target: String, mode: String, owner: UInt32, size: UInt64? = nil,
                       flags: MountStep.Flags, createTarget: Bool = false) -> MountStep {
        var options: [MountStep.Option] = [.init("mode", mode), .init("uid", "\(owner)"), .init("gid", "\(owner)")]
        if let size { options.append(.init("size", "\(size)")) }
        return MountStep(target, .fileSystem(type: "tmpfs", options: options), flags: flags, createTarget: createTarget)
    }

    // MARK: environment

    func testEnvironmentIsClean() throws {
        let p = try plan()
        XCTAssertEqual(p.environment, [Self.path, "HOME=/root", "HOSTNAME=kennel", "TERM=xterm-256color"])
    }

    func testTermOnlyWhenTheHostHasIt() throws {
        var env = Sample.hostEnvironment
        env["TERM"] = nil
        let p = try plan(host: Sample.host(environment: env))
        XCTAssertEqual(p.environment, [Self.path, "HOME=/root", "HOSTNAME=kennel"])
    }

    func testHostVariablesDoNotLeak() throws {
        let p = try plan { $0.hostname = "box" }
        let keys = p.environment.map { String($0.prefix { $0 != "=" }) }
        XCTAssertEqual(Set(keys), ["PATH", "HOME", "HOSTNAME", "TERM"])
        for entry in p.environment {
            XCTAssertFalse(entry.contains("wJalrXUtnFEMI"), "secret leaked: \(entry)")
            XCTAssertFalse(entry.contains("/host/only/bin"), "host PATH leaked: \(entry)")
            XCTAssertFalse(entry.contains("/home/hostuser"), "host HOME leaked: \(entry)")
            XCTAssertFalse(entry.hasPrefix("SSH_AUTH_SOCK="), "agent socket leaked")
        }
        XCTAssertTrue(p.environment.contains("HOSTNAME=box"))
    }

    func testPassEnvBringsInNamedVariablesOnly() throws {
        let p = try plan(passEnv: ["AWS_SECRET_ACCESS_KEY", "NOT_SET_ON_HOST"])
        XCTAssertEqual(p.environment, [Self.path, "HOME=/root", "HOSTNAME=kennel", "TERM=xterm-256color",
                                       "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"])
    }

    func testPassEnvCanReplaceABaseVariableInPlace() throws {
        let p = try plan(passEnv: ["PATH"])
        XCTAssertEqual(p.environment.first, "PATH=/host/only/bin")
        XCTAssertEqual(p.environment.count, 4)
    }

    func testEnvOverridesKeepFirstPositionAndLaterWins() throws {
        let p = try plan(passEnv: ["LANG"]) {
            $0.env = ["PATH=/opt/bin", "FOO=1", "BAR=x", "FOO=2", "LANG=en_US.UTF-8", "HOME=/work"]
        }
        XCTAssertEqual(p.environment, ["PATH=/opt/bin", "HOME=/work", "HOSTNAME=kennel", "TERM=xterm-256color",
                                       "LANG=en_US.UTF-8", "FOO=2", "BAR=x"])
    }

    func testEnvValuesMayBeEmptyOrContainEquals() throws {
        let p = try plan { $0.env = ["EMPTY=", "EQ==b=c"] }
        XCTAssertEqual(Array(p.environment.suffix(2)), ["EMPTY=", "EQ==b=c"])
    }

    func testBadEnvironment() {
        for bad in ["=x", "NOVALUE", "", "="] {
            assertThrows(.badEnvironment(bad)) { try plan { $0.env = ["OK=1", bad] } }
        }
    }

    // MARK: validation

    func testEmptyCommand() {
        assertThrows(.emptyCommand) { try LaunchPlan(spec: SandboxSpec(command: []), host: Sample.host()) }
        assertThrows(.emptyCommand) { try LaunchPlan(spec: SandboxSpec(command: [""]), host: Sample.host()) }
        // Checked before anything else.
        var spec = SandboxSpec(command: [])
        spec.hostname = "bad_host"
        assertThrows(.emptyCommand) { try LaunchPlan(spec: spec, host: Sample.host()) }
    }

    func testHostnames() throws {
        for bad in ["", "bad_host", "with space", "héllo", "a/b", String(repeating: "a", count: 65)] {
            assertThrows(.badHostname(bad)) { try plan { $0.hostname = bad } }
        }
        for good in ["a", "my-host.example", "A1", String(repeating: "x", count: 64)] {
            XCTAssertEqual(try plan { $0.hostname = good }.hostname, good)
        }
    }

    func testRelativeWorkdir() {
        assertThrows(.relativePath(option: "--workdir", path: "work")) { try plan { $0.workdir = "work" } }
    }

    func testWorkdirDefaults() throws {
        XCTAssertEqual(try plan().workdir, "/", "root (the default 0:0) starts in /")
        XCTAssertEqual(try plan { $0.user = "sagemaker-user" }.workdir, "/home/sagemaker-user")
        XCTAssertEqual(try plan { $0.user = "1000"; $0.workdir = "/data" }.workdir, "/data")
    }

    func testWorkdirIsDefaultOnlyWhenNotGiven() throws {
        XCTAssertTrue(try plan().workdirIsDefault)
        XCTAssertTrue(try plan { $0.user = "sagemaker-user" }.workdirIsDefault)
        XCTAssertFalse(try plan { $0.workdir = "/" }.workdirIsDefault, "an explicit / is still explicit")
        XCTAssertFalse(try plan { $0.user = "sagemaker-user"; $0.workdir = "/home/sagemaker-user" }.workdirIsDefault)
    }

    func testErrorsFromPartsPropagate() {
        assertThrows(.mapBaseTooLow(1000)) { try plan { $0.mapBase = 1000 } }
        assertThrows(.unknownCapability("SYS_WIZARD")) { try plan { $0.capAdd = ["SYS_WIZARD"] } }
        assertThrows(.unknownUser(name: "ghost", passwd: Sample.passwdPath)) { try plan { $0.user = "ghost" } }
        assertThrows(.unknownGroup(name: "wheel", group: Sample.groupPath)) { try plan { $0.groupAdd = ["wheel"] } }
    }

    func testResolvedFields() throws {
        let p = try plan {
            $0.user = "sagemaker-user"
            $0.mapBase = 300_000
            $0.capAdd = ["SYS_PTRACE"]
            $0.capDrop = ["NET_RAW"]
            $0.statusJSON = "/tmp/k.json"
        }
        XCTAssertEqual(p.id, "abc123def456")
        XCTAssertEqual(p.mapping, try IDMapping(base: 300_000))
        XCTAssertEqual(p.identity, Identity(uid: 1000, gid: 100, supplementaryGroups: [100, 50], home: "/home/sagemaker-user"))
        XCTAssertEqual(p.command, ["/bin/sh", "-c", "true"])
        XCTAssertEqual(p.capabilities.mask, (0xa804_25fb | (1 << 19)) & ~(1 << 13))
        XCTAssertEqual(p.statusJSON, "/tmp/k.json")
        XCTAssertEqual(p.network, .none)
        XCTAssertTrue(p.usesHostRoot)
        XCTAssertEqual(p.rootfs, "/")
        XCTAssertEqual(try plan().capabilities, .dockerDefault)
        let image = try plan { $0.rootfs = "/srv/image" }
        XCTAssertFalse(image.usesHostRoot)
        XCTAssertEqual(image.rootfs, "/srv/image")
    }

    func testNoNewPrivilegesFollowsAllowSetuid() throws {
        XCTAssertTrue(try plan().noNewPrivileges)
        XCTAssertFalse(try plan { $0.allowSetuid = true }.noNewPrivileges)
    }

    func testSeccompChoiceIsCarriedThrough() throws {
        XCTAssertEqual(try plan().seccomp, .builtinDefault)
        XCTAssertEqual(try plan { $0.seccomp = .unconfined }.seccomp, .unconfined, "unconfined: no filter")
        XCTAssertEqual(try plan { $0.seccomp = .profile(path: "/p.json") }.seccomp, .profile(path: "/p.json"))
        XCTAssertEqual(SandboxSpec.Seccomp.builtinDefault.description, "default")
        XCTAssertEqual(SandboxSpec.Seccomp.unconfined.description, "unconfined")
        XCTAssertEqual(SandboxSpec.Seccomp.profile(path: "/p.json").description, "/p.json")
    }

    // MARK: mounts, phase 1 (host root)

    func testRootBindComesFirst() throws {
        XCTAssertEqual(try plan().hostMounts.first,
                       MountStep("/", .bind(source: "/", recursive: true), flags: [.readOnly, .noDev]))
        XCTAssertEqual(try plan { $0.rootfs = "/srv/image" }.hostMounts.first,
                       MountStep("/", .bind(source: "/srv/image", recursive: true), flags: [.readOnly, .noDev]))
    }

    func testSysfsIsFreshAndReadOnlyWithMasksOnTop() throws {
        let mounts = try plan().hostMounts
        let sysIndex = try XCTUnwrap(mounts.firstIndex { $0.target == "/sys" })
        XCTAssertEqual(mounts[sysIndex], MountStep("/sys", .fileSystem(type: "sysfs", options: []),
                                                   flags: [.readOnly, .noSuid, .noDev, .noExec]))
        XCTAssertTrue(mounts[sysIndex].flags.contains(.readOnly))
        let cgroup = try XCTUnwrap(mounts.first { $0.target == "/sys/fs/cgroup" })
        XCTAssertTrue(cgroup.flags.contains(.readOnly))
        for masked in ["/sys/devices/virtual/powercap", "/sys/firmware"] {
            let i = try XCTUnwrap(mounts.firstIndex { $0.target == masked }, masked)
            XCTAssertEqual(mounts[i].kind, .mask)
            XCTAssertGreaterThan(i, sysIndex, "\(masked) must be masked after sysfs is mounted")
        }
    }

    func testThermalThrottleDirsAreMasked() throws {
        let dirs = ["/sys/devices/system/cpu/cpu0/thermal_throttle", "/sys/devices/system/cpu/cpu1/thermal_throttle"]
        let mounts = try plan(host: Sample.host(thermalThrottleDirs: dirs)).hostMounts
        for d in dirs { XCTAssertTrue(mounts.contains(MountStep(d, .mask)), d) }
    }

    func testTmpIsAPrivateScratchDirectory() throws {
        // Owned by container root: the launcher makes the scratch file system with the plan's
        // mapping base as its owner (the integration tests check the ownership on the host).
        XCTAssertTrue(try plan().hostMounts.contains(MountStep("/tmp", .scratch(mode: 0o1777), flags: [.noSuid, .noDev])))
    }

    func testHostPathsHiddenOnlyForTheEmbeddedDefault() throws {
        let embedded = try plan().hostMounts
        for path in ["/root", "/home", "/run"] {
            XCTAssertTrue(embedded.contains(MountStep(path, .scratch(mode: 0o755), flags: [.noSuid, .noDev])), path)
        }
        let image = try plan { $0.rootfs = "/srv/image" }.hostMounts
        for path in ["/root", "/home", "/run"] {
            XCTAssertFalse(image.contains { $0.target == path }, "\(path) must not be hidden in an image root")
        }
        XCTAssertTrue(image.contains { $0.target == "/tmp" }, "/tmp stays private in an image root")
    }

    func testResolvConfFileOnlyWhereItsContentMustDiffer() throws {
        func resolvMount(host content: String, hostFile: Bool, _ configure: (inout SandboxSpec) -> Void = { _ in }) throws -> Bool {
            var host = Sample.host()
            host.resolvConf = content
            host.resolvConfIsHostFile = hostFile
            return try plan(host: host) { spec in
                spec.network = .bridge
                configure(&spec)
            }.hostMounts.contains { $0.target == "/etc/resolv.conf" }
        }
        let plain = "nameserver 192.0.2.53\nsearch example.test\n"
        XCTAssertFalse(try resolvMount(host: plain, hostFile: true), "the host's own file, seen through the read-only root")
        XCTAssertTrue(try resolvMount(host: plain, hostFile: false), "systemd's upstream file, or a link into /run")
        XCTAssertTrue(try resolvMount(host: "nameserver 127.0.0.53\nnameserver 192.0.2.53\n", hostFile: true), "filtered")
        XCTAssertTrue(try resolvMount(host: "# comment\n" + plain, hostFile: true), "filtered")
        XCTAssertTrue(try resolvMount(host: plain, hostFile: true) { $0.dns = ["192.0.2.1"] })
        XCTAssertTrue(try resolvMount(host: plain, hostFile: true) { $0.rootfs = "/srv/image" })
        XCTAssertTrue(try resolvMount(host: plain, hostFile: true) { $0.binds = [.init(source: "/srv/etc", destination: "/etc", readOnly: true)] },
                      "a user mount at /etc: the same order of mounts as when the file differs")
        XCTAssertFalse(try plan { _ in }.hostMounts.contains { $0.target == "/etc/resolv.conf" }, "--net none")
    }

    func testPrivateDev() throws {
        let mounts = try plan().hostMounts
        XCTAssertTrue(mounts.contains(MountStep("/dev", .scratch(mode: 0o755), flags: [.noSuid, .noExec])))
        let devIndex = try XCTUnwrap(mounts.firstIndex { $0.target == "/dev" })
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            let step = MountStep("/dev/" + name, .device(hostPath: "/dev/" + name))
            let i = try XCTUnwrap(mounts.firstIndex(of: step), name)
            XCTAssertGreaterThan(i, devIndex)
        }
        XCTAssertTrue(mounts.contains(MountStep("/dev/ptmx", .symlink(to: "pts/ptmx"))))
        XCTAssertTrue(mounts.contains(MountStep("/dev/fd", .symlink(to: "/proc/self/fd"))))
        XCTAssertTrue(mounts.contains(MountStep("/dev/stderr", .symlink(to: "/proc/self/fd/2"))))
        XCTAssertTrue(mounts.contains(MountStep("/dev/shm", .directory(uid: 199_001, gid: 199_001, mode: 0o755))))
        XCTAssertFalse(mounts.contains { $0.target == "/dev/console" }, "no console without a terminal")
    }

    func testUserMountsShallowBeforeDeepAfterBuiltins() throws {
        let p = try plan {
            $0.tmpfs = [SandboxSpec.Tmpfs(destination: "/data/cache", size: 1 << 30),
                        SandboxSpec.Tmpfs(destination: "/a")]
            $0.binds = [SandboxSpec.Bind(source: "/src", destination: "/data", readOnly: false),
                        SandboxSpec.Bind(source: "/x", destination: "/a/b/c", readOnly: true),
                        SandboxSpec.Bind(source: "/y", destination: "/b", readOnly: false),
                        SandboxSpec.Bind(source: "/w", destination: "/tmp/work", readOnly: false)]
        }
        let userTargets: Set = ["/data/cache", "/a", "/data", "/a/b/c", "/b", "/tmp/work"]
        let order = p.hostMounts.map(\.target).filter(userTargets.contains)
        // Depth 1 in the order given (tmpfs first, then binds), then depth 2, then depth 3.
        XCTAssertEqual(order, ["/a", "/data", "/b", "/data/cache", "/tmp/work", "/a/b/c"])

        let firstUser = try XCTUnwrap(p.hostMounts.firstIndex { userTargets.contains($0.target) })
        for builtin in ["/tmp", "/dev", "/dev/ptmx", "/home"] {
            let i = try XCTUnwrap(p.hostMounts.firstIndex { $0.target == builtin }, builtin)
            XCTAssertLessThan(i, firstUser, "\(builtin) must be mounted before the user's mounts")
        }

        XCTAssertTrue(p.hostMounts.contains(MountStep("/a/b/c", .bind(source: "/x", recursive: true),
                                                      flags: [.readOnly, .noDev], createTarget: true)))
        XCTAssertTrue(p.hostMounts.contains(MountStep("/data", .bind(source: "/src", recursive: true),
                                                      flags: [.noDev], createTarget: true)))
        XCTAssertTrue(p.hostMounts.contains(tmpfs("/data/cache", mode: "1777", owner: 199_001, size: 1 << 30,
                                                  flags: [.noSuid, .noDev], createTarget: true)))
        XCTAssertTrue(p.hostMounts.contains(tmpfs("/a", mode: "1777", owner: 199_001,
                                                  flags: [.noSuid, .noDev], createTarget: true)))
    }

    /// The launcher builds every host mount before `firstNetworkBoundMount` while the network
    /// namespace is still being made, and joins it there: the sysfs must be that step, nothing
    /// before it may lie under /sys, and what lies under /sys (the user's mounts too) after it.
    func testMountsOfTheNetworkNamespaceComeAfterTheRest() throws {
        let p = try plan {
            $0.binds = [SandboxSpec.Bind(source: "/x", destination: "/sys/kernel/x", readOnly: true),
                        SandboxSpec.Bind(source: "/y", destination: "/srv", readOnly: false)]
            $0.tmpfs = [SandboxSpec.Tmpfs(destination: "/sys/extra")]
        }
        let split = p.firstNetworkBoundMount
        XCTAssertEqual(p.hostMounts[split], MountStep("/sys", .fileSystem(type: "sysfs", options: []),
                                                      flags: [.readOnly, .noSuid, .noDev, .noExec]))
        for step in p.hostMounts[..<split] {
            XCTAssertFalse(step.target == "/sys" || step.target.hasPrefix("/sys/"), step.target)
        }
        for target in ["/sys/fs/cgroup", "/sys/firmware", "/sys/kernel/x", "/sys/extra"] {
            let i = try XCTUnwrap(p.hostMounts.firstIndex { $0.target == target }, target)
            XCTAssertGreaterThan(i, split, target)
        }
        // The scratch directories and /dev, the bulk of the work, come before it.
        for target in ["/tmp", "/dev", "/dev/null", "/dev/ptmx", "/root", "/home", "/run"] {
            let i = try XCTUnwrap(p.hostMounts.firstIndex { $0.target == target }, target)
            XCTAssertLessThan(i, split, target)
        }
    }

    func testHomeDirectoryCreatedUnderHiddenHome() throws {
        let p = try plan { $0.user = "sagemaker-user" }
        let home = MountStep("/home/sagemaker-user", .directory(uid: 200_001, gid: 199_101, mode: 0o700))
        let i = try XCTUnwrap(p.hostMounts.firstIndex(of: home))
        let hidden = try XCTUnwrap(p.hostMounts.firstIndex { $0.target == "/home" })
        XCTAssertGreaterThan(i, hidden)
        XCTAssertEqual(p.environment[1], "HOME=/home/sagemaker-user")

        // Not for root, not in an image root, not when the user binds their own home.
        XCTAssertFalse(try plan().hostMounts.contains { if case .directory = $0.kind { $0.target.hasPrefix("/root") } else { false } })
        XCTAssertFalse(try plan { $0.user = "sagemaker-user"; $0.rootfs = "/img" }.hostMounts.contains(home))
        let bound = try plan {
            $0.user = "sagemaker-user"
            $0.binds = [SandboxSpec.Bind(source: "/efs/u1", destination: "/home/sagemaker-user", readOnly: false)]
        }
        XCTAssertFalse(bound.hostMounts.contains(home))
        XCTAssertTrue(bound.hostMounts.contains { $0.target == "/home/sagemaker-user" && $0.kind == .bind(source: "/efs/u1", recursive: true) })
        // A home outside the hidden paths is left alone.
        XCTAssertFalse(try plan { $0.user = "svc" }.hostMounts.contains { $0.target == "/srv/svc" })
    }

    // MARK: /proc (host root, once pid 1 exists) and phase 2 (container root)

    func testProcFirstThenMasksAndReadOnlyPathsThenNamespaceMounts() throws {
        let p = try plan()
        XCTAssertEqual(p.procMounts.first, MountStep("/proc", .procfs, flags: .hardened))
        XCTAssertFalse(p.hostMounts.contains { $0.target.hasPrefix("/proc") }, "/proc needs the sandbox's pid namespace")
        XCTAssertFalse(p.sandboxMounts.contains { $0.target.hasPrefix("/proc") }, "/proc is made by host root, locked")
        XCTAssertTrue(p.sandboxMounts.contains(MountStep("/dev/pts", .fileSystem(type: "devpts", options: [
            .init("newinstance"), .init("ptmxmode", "0666"), .init("mode", "0620"), .init("gid", "5"),
        ]), flags: [.noSuid, .noExec])))
        XCTAssertTrue(p.sandboxMounts.contains { $0.target == "/dev/mqueue" })
        XCTAssertTrue(p.sandboxMounts.contains(MountStep("/dev/shm", .fileSystem(type: "tmpfs", options: [
            .init("mode", "1777"), .init("size", "67108864"),
        ]), flags: .hardened)))

        let procMasks = ["/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                         "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
                         "/proc/timer_stats"]
        for path in procMasks {
            let i = try XCTUnwrap(p.procMounts.firstIndex(of: MountStep(path, .mask)), path)
            XCTAssertGreaterThan(i, 0, "\(path) is masked after /proc is mounted")
        }
        for path in ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] {
            XCTAssertTrue(p.procMounts.contains(MountStep(path, .readOnlyRebind)), path)
        }
        // Every one of Docker's masked paths is masked exactly once, in the phase that can see it.
        for path in LaunchPlan.maskedPaths {
            let count = (p.hostMounts + p.procMounts + p.sandboxMounts).filter { $0 == MountStep(path, .mask) }.count
            XCTAssertEqual(count, 1, path)
        }
        XCTAssertEqual(LaunchPlan.maskedPaths.count, 12)
    }

    func testPlanJSONRoundTrip() throws {
        let p = try plan { $0.user = "sagemaker-user"; $0.binds = [SandboxSpec.Bind(source: "/a", destination: "/b", readOnly: true)] }
        let back = try JSONDecoder().decode(LaunchPlan.self, from: JSONEncoder().encode(p))
        XCTAssertEqual(back, p)
    }
}
