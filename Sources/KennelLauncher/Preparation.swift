import CKennel
import Glibc
import KennelSpec
import KennelSystem

/// What the supervisor does before anything is created: checks the request against the
/// machine, resolves names in the sandbox root, reads and compiles the seccomp profile.
/// Every failure here is a `SpecError` or `LaunchError`. Between `plan` and `launch` the
/// network namespace's child exists (`Supervisor.begin`): the caller ends it if `launch` fails.
public enum Preparation {
    /// The plan: the request checked against the machine, names resolved, nothing created.
    /// The seccomp programs come separately (`launch`), so that the supervisor can start the
    /// network namespace's child (see `Supervisor.begin`) while they are read or compiled.
    public static func plan(for spec: SandboxSpec, passEnv: [String]) throws -> LaunchPlan {
        var spec = spec
        let rootfs = spec.rootfs ?? "/"
        if spec.rootfs != nil {
            var st = stat()
            if stat(rootfs, &st) != 0 {
                throw errno == ENOENT ? SpecError.rootfsMissing(rootfs) : LaunchError("stat rootfs", rootfs, Errno(rawValue: errno))
            }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw SpecError.rootfsNotDirectory(rootfs) }
            // Canonical, so the status output names the real directory.
            if let real = realpath(rootfs, nil) { spec.rootfs = String(cString: real); free(real) }
        }
        for path in spec.blockFiles {
            let bytes: [UInt8]
            do { bytes = try FD.readFile(path) } catch { throw LaunchError("read block list", path, error) }
            let list = try BlockedDestination.parseList(String(decoding: bytes, as: UTF8.self), source: path)
            spec.block += list.block
            spec.blockEFS += list.efs
        }
        for bind in spec.binds where access(bind.source, F_OK) != 0 {
            throw SpecError.bindSourceMissing(bind.source)
        }
        if let w = spec.workdir, w == "/proc" || w.hasPrefix("/proc/") {
            throw SpecError.malformedOption(option: "--workdir", value: w, expected: "a directory outside /proc")
        }

        let (database, passwdPath, groupPath) = Identity.needsDatabase(user: spec.user, groupAdd: spec.groupAdd)
            ? userDatabase(rootfs: spec.rootfs ?? "/")
            : (UserDatabase(passwd: "", group: ""), "", "")
        var host = LaunchPlan.Host(environment: environment(names: ["TERM"] + passEnv), userDatabase: database, passwdPath: passwdPath,
                                   groupPath: groupPath, randomID: randomID(),
                                   thermalThrottleDirs: thermalThrottleDirs())
        if spec.network == .bridge { (host.resolvConf, host.resolvConfIsHostFile) = hostResolvConf() }
        return try LaunchPlan(spec: spec, host: host, passEnv: passEnv)
    }

    /// The plan with its seccomp programs, taken from the cache or compiled (a bad profile
    /// fails here).
    public static func launch(_ plan: LaunchPlan) throws -> Launch {
        let (machine, kernel) = machineAndKernel()
        let target = SeccompTarget(nativeArch: machine, bounding: plan.capabilities, kernel: kernel)

        // The cache key names everything the programs depend on; a profile file is part of
        // it byte for byte, so an edited file is compiled (and validated) again.
        // Whether this kernel runs x32 calls (a boot option can change it under the same
        // kernel version, so it is part of the key).
        let x32 = x32Supported()
        var key = Array("arch=\(target.nativeArch);kernel=\(target.kernel.0).\(target.kernel.1);x32=\(x32);caps=\(plan.capabilities);libseccomp=\(SeccompFilter.libraryVersion);".utf8)
        var profileBytes: [UInt8]?
        switch plan.seccomp {
        case .builtinDefault:
            key += Array("builtin:\(SeccompCache.binaryIdentity())".utf8)
        case .unconfined:
            key += Array("unconfined:\(SeccompCache.binaryIdentity())".utf8)
        case .profile(let path):
            do { profileBytes = try FD.readFile(path) } catch {
                throw LaunchError("read seccomp profile", path, error)
            }
            key += Array("file:\(SeccompCache.binaryIdentity()):".utf8) + (profileBytes ?? [])
        }
        let programs = try SeccompCache.programs(key: key) {
            var profile: SeccompProfile?
            switch plan.seccomp {
            case .builtinDefault: profile = .builtinDefault
            case .unconfined: profile = nil
            case .profile(let path): profile = try SeccompProfile.decode(profileBytes ?? [], source: path)
            }
            var architectures: [String] = []
            var policy: [UInt8]?
            if let profile {
                let compiled = try profile.compile(for: target)
                architectures = compiled.architectures
                let generated = try step("seccomp", "generate policy") { () throws(Errno) in
                    try FilterBuilder.filter(for: compiled, x32Supported: x32).program()
                }
                // A quarter of the instructions for the kernel to load on every launch, when
                // found to decide the same (see SeccompCompactor); otherwise libseccomp's own.
                policy = BPFProgram(bytes: generated).flatMap(SeccompCompactor.compact)?.bytes ?? generated
            } else {
                // The hardening program covers the same architectures as Docker's profile
                // would (x86 and x32 on x86_64), so `unconfined` still runs 32-bit programs.
                architectures = (try? SeccompProfile.builtinDefault.compile(for: target).architectures) ?? [target.nativeArch]
            }
            let hardening = try step("seccomp", "generate hardening filter") { () throws(Errno) in
                try FilterBuilder.hardening(architectures: architectures, x32Supported: x32).program()
            }
            // Kennel's own policy is loaded early, right after the hardening: one program for
            // both where it decides as the two together (see SeccompChain), so the payload
            // loads one filter instead of two. A policy from a file loads late, on its own.
            if case .builtinDefault = plan.seccomp, let policy, let first = BPFProgram(bytes: hardening),
               let second = BPFProgram(bytes: policy), let chained = SeccompChain.chain(first, then: second) {
                return SeccompPrograms(policy: chained.bytes, hardening: [], hardeningInPolicy: true)
            }
            return SeccompPrograms(policy: policy, hardening: hardening)
        }
        return Launch(plan: plan, seccomp: programs)
    }

    /// /etc/passwd and /etc/group of the sandbox root, opened inside it (an image's symlink
    /// cannot point the lookup at a host file).
    static func userDatabase(rootfs: String) -> (UserDatabase, String, String) {
        func read(_ relative: String) -> [UInt8] {
            guard let root = try? FD.open(rootfs, O_RDONLY | O_DIRECTORY) else { return [] }
            defer { FD.close(root) }
            // Non-blocking and checked to be a regular file: an image's FIFO or device node
            // at /etc/passwd must neither hang kennel nor be opened as a device by host root.
            guard let fd = try? InRoot.open(root, relative, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY) else { return [] }
            defer { FD.close(fd) }
            guard let st = try? FD.fstat(fd), (st.st_mode & S_IFMT) == S_IFREG else { return [] }
            var bytes = (try? FD.readAll(fd, limit: 4 << 20, expectedSize: Int(st.st_size))) ?? []
            // Cut at the limit: the last line read may be partial ("alice,bob" of
            // "alice,bobby"), and a partial entry must not count. Drop it.
            if bytes.count >= 4 << 20, let end = bytes.lastIndex(of: UInt8(ascii: "\n")) { bytes.removeSubrange((end + 1)...) }
            return bytes
        }
        let prefix = rootfs == "/" ? "" : rootfs
        return (UserDatabase(passwd: read("etc/passwd"), group: read("etc/group")),
                prefix + "/etc/passwd", prefix + "/etc/group")
    }

    /// The host variables the plan may use (TERM and those passed by name), and no others.
    static func environment(names: [String]) -> [String: String] {
        var env: [String: String] = [:]
        for name in names {
            if let value = getenv(name) { env[name] = String(cString: value) }
        }
        return env
    }

    /// 12 hex digits from one getrandom(2) call.
    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() & 0xffff_ffff_ffff, radix: 16)
        return String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// The host's resolver configuration; systemd-resolved's upstream file when /etc/resolv.conf
    /// names only its loopback stub (unreachable from the sandbox's own network namespace).
    /// The flag: the text is /etc/resolv.conf itself, a regular file.
    static func hostResolvConf() -> (String, Bool) {
        let main = (try? FD.readFile("/etc/resolv.conf")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let servers = ResolvConf.nameservers(main)
        if !servers.isEmpty && servers.allSatisfy(ResolvConf.isLoopback),
           let upstream = try? FD.readFile("/run/systemd/resolve/resolv.conf") {
            return (String(decoding: upstream, as: UTF8.self), false)
        }
        var st = stat()
        return (main, lstat("/etc/resolv.conf", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG)
    }

    static func thermalThrottleDirs() -> [String] {
        var out: [String] = []
        for name in FD.directoryEntries("/sys/devices/system/cpu") {
            // Bytes, not Characters: Character.isNumber consults the Unicode tables, whose first
            // use costs a launch hundreds of microseconds of page faults.
            guard name.hasPrefix("cpu"), name.utf8.count > 3, name.utf8.dropFirst(3).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { continue }
            let path = "/sys/devices/system/cpu/\(name)/thermal_throttle"
            if access(path, F_OK) == 0 { out.append(path) }
        }
        return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }


    /// True if the kernel runs x32 system calls, found by making one. Not when kennel already
    /// runs under a seccomp filter (a service's `SystemCallArchitectures=native`, a container):
    /// that filter may answer an x32 call with SIGSYS, so kennel keeps the x32 rules, which is
    /// what Docker does everywhere.
    static func x32Supported() -> Bool {
        if kennel_prctl(21 /* PR_GET_SECCOMP */, 0, 0, 0, 0) != 0 { return true }
        return kennel_x32_getpid() >= 0
    }

    /// The machine ("x86_64") and the kernel's major and minor version, from one uname(2).
    static func machineAndKernel() -> (String, (Int, Int)) {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let parts = release.utf8.split(whereSeparator: { $0 < 0x30 || $0 > 0x39 }).prefix(2).map { Int(Substring($0)) ?? 0 }
        return (machine, (parts.first ?? 0, parts.count > 1 ? parts[1] : 0))
    }
}
