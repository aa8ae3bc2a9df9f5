/// The whole launch, decided before anything is created: validated, resolved and ordered.
/// The launcher executes it step by step; later features (networking, profiles, images,
/// cgroups) add fields and steps here rather than flags threaded through the launcher.
public struct LaunchPlan: Codable, Equatable, Sendable {
    /// A short random id, for status output and, later, state records.
    public var id: String
    public var mapping: IDMapping
    public var identity: Identity
    /// The host directory that becomes `/` (the host's own `/` for the embedded default).
    public var rootfs: String
    public var usesHostRoot: Bool
    /// Mounts made by host root in the host-owned mount namespace (phase 1). Inside the
    /// sandbox's own mount namespace they are locked: container root cannot undo them.
    public var hostMounts: [MountStep]
    /// The index in `hostMounts` of the first step that needs the sandbox's network namespace
    /// (the sysfs, which shows the network namespace of whoever mounts it); the steps before
    /// it can be made while that namespace is still being created.
    public var firstNetworkBoundMount: Int {
        hostMounts.firstIndex { if case .fileSystem("sysfs", _) = $0.kind { true } else { false } } ?? hostMounts.count
    }
    /// The sandbox's /proc and what masks it, made by host root as soon as the sandbox's pid
    /// namespace has its pid 1 (a procfs shows one pid namespace), before the sandbox's own
    /// mount namespace copies them, locked.
    public var procMounts: [MountStep]
    /// Mounts made by container root inside the sandbox's namespaces (phase 2): the ones whose
    /// objects must belong to container ids (devpts, /dev/shm, mqueue of its ipc namespace).
    public var sandboxMounts: [MountStep]
    public var hostname: String
    public var environment: [String]
    public var workdir: String
    /// True when the user named no --workdir: a missing home then falls back to `/`.
    public var workdirIsDefault: Bool
    public var command: [String]
    /// Bounding set; also permitted and effective when running as root.
    public var capabilities: CapabilitySet
    /// Which seccomp policy the payload gets (compiled by the launcher, which may cache it).
    public var seccomp: SandboxSpec.Seccomp
    public var noNewPrivileges: Bool
    public var network: SandboxSpec.Network
    public var statusJSON: String?
    /// Destinations the sandbox can never reach: `prohibit` routes in its network namespace.
    public var blocked: [BlockedDestination]
    /// `--net bridge`: the IPv4 pool (one /30 per sandbox) the supervisor allocates from.
    public var subnet: BlockedDestination?
    /// `--net bridge`: the IPv6 pool (one /126 per sandbox, at the same index as its /30);
    /// nil with `--subnet6 none`. Used only when the host itself routes IPv6.
    public var subnet6: BlockedDestination?
    /// Host ports relayed to the sandbox's loopback by the supervisor.
    public var publish: [SandboxSpec.Publish]

    /// The sandbox's default PATH (Docker's).
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Docker's masked paths: hidden with /dev/null (files) or an empty read-only directory (dirs).
    public static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
        "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
        "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
    ]

    /// Docker's read-only paths.
    public static let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// Devices a runtime provides, made with the host's device numbers.
    public static let devices = ["null", "zero", "full", "random", "urandom", "tty"]

    /// Paths of the host's root hidden behind empty tmpfs in the embedded default: homes,
    /// runtime sockets and kennel's own state (under /run).
    public static let hiddenHostPaths = ["/root", "/home", "/run"]
    /// With the host's own root: host mount points the sandbox covers with file systems of its
    /// own, whole (nothing of the host's stays visible below them).
    public var coveredHostPaths: [String] {
        usesHostRoot ? ["/proc", "/sys", "/dev", "/tmp"] + LaunchPlan.hiddenHostPaths : []
    }

    /// Inputs that come from the machine rather than the user.
    public struct Host: Sendable {
        public var environment: [String: String]
        public var userDatabase: UserDatabase
        public var passwdPath: String
        public var groupPath: String
        public var randomID: String
        /// Paths under the host's /sys/devices/system/cpu with a thermal_throttle directory.
        public var thermalThrottleDirs: [String]
        /// The host's /etc/resolv.conf (or systemd-resolved's upstream one), for `--net bridge`.
        public var resolvConf: String = ""
        /// True when `resolvConf` is the host's /etc/resolv.conf itself, a regular file (no
        /// link into /run, which the sandbox does not see).
        public var resolvConfIsHostFile = false
        public init(environment: [String: String], userDatabase: UserDatabase, passwdPath: String,
                    groupPath: String, randomID: String, thermalThrottleDirs: [String] = []) {
            self.environment = environment
            self.userDatabase = userDatabase
            self.passwdPath = passwdPath
            self.groupPath = groupPath
            self.randomID = randomID
            self.thermalThrottleDirs = thermalThrottleDirs
        }
    }

    /// Validates `spec` and decides every step. Pure: reads nothing itself.
    public init(spec: SandboxSpec, host: Host, passEnv: [String] = []) throws(SpecError) {
        guard !spec.command.isEmpty, !spec.command[0].isEmpty else { throw .emptyCommand }
        mapping = try IDMapping(base: spec.mapBase)
        identity = try Identity.resolve(user: spec.user, groupAdd: spec.groupAdd, database: host.userDatabase,
                                        passwdPath: host.passwdPath, groupPath: host.groupPath)
        capabilities = try CapabilitySet.resolve(base: .dockerDefault, add: spec.capAdd, drop: spec.capDrop)
        guard LaunchPlan.validHostname(spec.hostname) else { throw .badHostname(spec.hostname) }
        if let w = spec.workdir, !w.hasPrefix("/") { throw .relativePath(option: "--workdir", path: w) }

        id = host.randomID
        usesHostRoot = spec.rootfs == nil
        rootfs = spec.rootfs ?? "/"
        hostname = spec.hostname
        command = spec.command
        workdir = spec.workdir ?? (identity.uid == 0 ? "/" : identity.home)
        workdirIsDefault = spec.workdir == nil
        noNewPrivileges = !spec.allowSetuid
        network = spec.network
        statusJSON = spec.statusJSON
        publish = spec.publish
        subnet = nil
        subnet6 = nil
        if spec.network == .bridge {
            if spec.subnet6 != "none" {
                subnet6 = try LaunchPlan.pool(spec.subnet6, option: "--subnet6", family: .ipv6, smallest: 96,
                                              expected: "an IPv6 CIDR of /96 or larger outside link-local, loopback, multicast and fd00:ec2::/32, or none")
            }
            subnet = try LaunchPlan.pool(spec.subnet, option: "--subnet", family: .ipv4, smallest: 30,
                                         expected: "an IPv4 CIDR of /30 or larger outside link-local (169.254.0.0/16), loopback, 0.0.0.0/8 and multicast")
        }
        var blocked = BlockedDestination.defaults
        for cidr in spec.block { blocked.append(try BlockedDestination(cidr: cidr)) }
        for ip in spec.blockEFS {
            // An EFS mount target is one address (not its subnet: DNS may live there too).
            let target = try BlockedDestination(cidr: ip, reason: "efs", option: "--block-efs")
            guard target.prefixLength == UInt8(target.address.count * 8) else {
                throw .malformedOption(option: "--block-efs", value: ip, expected: "one IP address")
            }
            blocked.append(target)
        }
        // The first of equal destinations stays (a handful: a scan, no hashed set).
        var unique: [BlockedDestination] = []
        for d in blocked where !unique.contains(where: d.sameRoute) {
            unique.append(d)
        }
        self.blocked = unique
        seccomp = spec.seccomp

        // The environment: clean by default; host variables only when passed by name.
        var env: [(String, String)] = [
            ("PATH", LaunchPlan.defaultPath),
            ("HOME", identity.home),
            ("HOSTNAME", spec.hostname),
        ]
        if let term = host.environment["TERM"] { env.append(("TERM", term)) }
        for name in passEnv {
            if let v = host.environment[name] { env.append((name, v)) }
        }
        for kv in spec.env {
            guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw .badEnvironment(kv) }
            env.append((String(kv[..<eq]), String(kv[kv.index(after: eq)...])))
        }
        var seen: [String: Int] = [:]
        var ordered: [(String, String)] = []
        for (k, v) in env {
            if let i = seen[k] { ordered[i].1 = v } else { seen[k] = ordered.count; ordered.append((k, v)) }
        }
        environment = ordered.map { "\($0.0)=\($0.1)" }

        hostMounts = []
        procMounts = []
        sandboxMounts = []
        let resolv = spec.network == .bridge ? try LaunchPlan.resolvConf(dns: spec.dns, host: host.resolvConf) : nil
        buildMounts(spec: spec, host: host, resolv: resolv)
    }

    /// The sandbox's /etc/resolv.conf: `--dns` servers, or the host's lines that make sense
    /// from inside (a loopback resolver such as systemd-resolved's stub does not).
    static func resolvConf(dns: [String], host: String) throws(SpecError) -> String {
        if !dns.isEmpty {
            var out = ""
            for ip in dns {
                guard !ip.utf8.contains(UInt8(ascii: "/")), (try? BlockedDestination(cidr: ip)) != nil else {
                    throw .malformedOption(option: "--dns", value: ip, expected: "an IP address")
                }
                out += "nameserver \(ip)\n"
            }
            return out
        }
        return ResolvConf.filtered(host)
    }

    /// A bridge address pool: of `family`, at most /`smallest`, clear of reserved space.
    static func pool(_ cidr: String, option: String, family: BlockedDestination.Family, smallest: UInt8,
                     expected: String) throws(SpecError) -> BlockedDestination {
        guard let pool = try? BlockedDestination(cidr: cidr, reason: "pool"), pool.family == family, pool.prefixLength <= smallest,
              !BlockedDestination.reservedForPools.contains(where: pool.overlaps) else {
            throw .malformedOption(option: option, value: cidr, expected: expected)
        }
        return pool
    }

    static func validHostname(_ h: String) -> Bool {
        (1...64).contains(h.utf8.count) && h.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2e
        }
    }

    private mutating func buildMounts(spec: SandboxSpec, host: Host, resolv: String?) {
        let rootID = mapping.base
        let sysfsFlags: MountStep.Flags = [.readOnly, .noSuid, .noDev, .noExec]
        // Phase 1, as host root. The root first: everything else is mounted on top of it.
        hostMounts.append(MountStep("/", .bind(source: rootfs, recursive: true), flags: [.readOnly, .noDev]))
        // /proc of the sandbox's own pid namespace, with Docker's masked and read-only paths,
        // made by host root once the sandbox's pid 1 exists: in the sandbox they are locked,
        // so even container root with CAP_SYS_ADMIN cannot unmount them to see what is below.
        procMounts = [MountStep("/proc", .procfs, flags: .hardened)]
        for path in LaunchPlan.maskedPaths where path.hasPrefix("/proc/") {
            procMounts.append(MountStep(path, .mask))
        }
        for path in LaunchPlan.readOnlyPaths {
            procMounts.append(MountStep(path, .readOnlyRebind))
        }
        // Empty scratch directories over the hidden host paths and /tmp, and a private /dev
        // with the six device nodes and the usual links: all in the sandbox's one scratch tmpfs.
        if usesHostRoot {
            for path in LaunchPlan.hiddenHostPaths {
                hostMounts.append(MountStep(path, .scratch(mode: 0o755), flags: [.noSuid, .noDev]))
            }
        }
        hostMounts.append(MountStep("/tmp", .scratch(mode: 0o1777), flags: [.noSuid, .noDev]))
        hostMounts.append(MountStep("/dev", .scratch(mode: 0o755), flags: [.noSuid, .noExec]))
        for name in LaunchPlan.devices {
            hostMounts.append(MountStep("/dev/" + name, .device(hostPath: "/dev/" + name)))
        }
        for dir in ["/dev/pts", "/dev/shm", "/dev/mqueue"] {
            hostMounts.append(MountStep(dir, .directory(uid: rootID, gid: rootID, mode: 0o755)))
        }
        for (link, to) in [("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
                           ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2"),
                           ("/dev/ptmx", "pts/ptmx")] {
            hostMounts.append(MountStep(link, .symlink(to: to)))
        }
        // A sysfs of the sandbox's own network namespace (only host root can mount one), with
        // the host's cgroup tree and the masks under it. It comes after the steps above, which
        // do not depend on the network namespace: the launcher builds those while the namespace
        // is still being made (see `firstNetworkBoundMount`). Before the user's mounts, which
        // may lie under /sys.
        hostMounts.append(MountStep("/sys", .fileSystem(type: "sysfs", options: []), flags: sysfsFlags))
        hostMounts.append(MountStep("/sys/fs/cgroup", .bind(source: "/sys/fs/cgroup", recursive: true),
                                    flags: [.readOnly, .noSuid, .noDev, .noExec]))
        for path in LaunchPlan.maskedPaths where path.hasPrefix("/sys/") {
            hostMounts.append(MountStep(path, .mask))
        }
        for dir in host.thermalThrottleDirs { hostMounts.append(MountStep(dir, .mask)) }
        // The user's mounts, shallow before deep so a bind into a tmpfs lands on top of it.
        var user: [(Int, MountStep)] = []
        for t in spec.tmpfs {
            user.append((user.count, MountStep(t.destination, .fileSystem(type: "tmpfs", options: LaunchPlan.tmpfsOptions(
                mode: "1777", owner: rootID, size: t.size)), flags: [.noSuid, .noDev], createTarget: true)))
        }
        for b in spec.binds {
            user.append((user.count, MountStep(b.destination, .bind(source: b.source, recursive: true),
                                               flags: b.readOnly ? [.readOnly, .noDev] : [.noDev], createTarget: true)))
        }
        user.sort { a, b in
            let da = a.1.target.split(separator: "/").count, db = b.1.target.split(separator: "/").count
            return da != db ? da < db : a.0 < b.0
        }
        hostMounts += user.map(\.1)
        // With the host's own root, the host's file is already there, read-only (and kept up to
        // date by the host): a file of the sandbox's own (a tmpfs instance) is needed only when
        // its content must differ, or when a user mount at /etc or the file itself would
        // otherwise decide what the sandbox sees there.
        let userCoversResolv = (spec.binds.map(\.destination) + spec.tmpfs.map(\.destination)).contains { $0 == "/etc" || $0 == "/etc/resolv.conf" }
        if let resolv, !(usesHostRoot && host.resolvConfIsHostFile && resolv == host.resolvConf && !userCoversResolv) {
            hostMounts.append(MountStep("/etc/resolv.conf", .file(contents: resolv)))
        }
        // A run-as user's home under a hidden tmpfs (e.g. /home/alice) is created for them.
        if identity.uid != 0, usesHostRoot,
           LaunchPlan.hiddenHostPaths.contains(where: { identity.home.hasPrefix($0 + "/") }),
           // Not when the home lies in (or is) a bind: that would create it on the host.
           !spec.binds.contains(where: { identity.home == $0.destination || identity.home.hasPrefix($0.destination + "/") }),
           !spec.tmpfs.contains(where: { identity.home == $0.destination }) {
            hostMounts.append(MountStep(identity.home, .directory(
                uid: mapping.base + identity.uid, gid: mapping.base + identity.gid, mode: 0o700)))
        }

        // Phase 2, as container root in the sandbox's own namespaces: the devpts, shm and
        // mqueue instances, whose owners are container ids.
        sandboxMounts.append(MountStep("/dev/pts", .fileSystem(type: "devpts", options: [
            .init("newinstance"), .init("ptmxmode", "0666"), .init("mode", "0620"), .init("gid", "5"),
        ]), flags: [.noSuid, .noExec]))
        sandboxMounts.append(MountStep("/dev/shm", .fileSystem(type: "tmpfs", options: [
            .init("mode", "1777"), .init("size", "\(64 << 20)"),
        ]), flags: .hardened))
        sandboxMounts.append(MountStep("/dev/mqueue", .fileSystem(type: "mqueue", options: []), flags: .hardened))
    }

    static func tmpfsOptions(mode: String, owner: UInt32, size: UInt64?) -> [MountStep.Option] {
        var o: [MountStep.Option] = [.init("mode", mode), .init("uid", "\(owner)"), .init("gid", "\(owner)")]
        if let size { o.append(.init("size", "\(size)")) }
        return o
    }
}
