import CKennel
import FoundationEssentials
import Glibc
import KennelSpec
import KennelSystem

/// The `kennel` process the user started: host root, single-threaded, synchronous. It does
/// the host-privileged half of the launch in namespaces of its own, clones the sandbox's pid 1
/// straight into the sandbox's user namespace, returns to the host's namespaces, writes the id
/// maps, then waits: it forwards signals to the sandbox's init and returns the payload's status.
/// The order is the point: see docs/architecture.md, "Launch sequence".
public enum Supervisor {
    /// The signals the supervisor waits for: the forwarded ones and SIGCHLD.
    private static var waited: SignalSet { SignalSet(SignalSet.forwarded + [SIGCHLD]) }

    /// The first step, as soon as the plan is known: signals set up, and the child that makes
    /// the sandbox's network namespace started (see `NetworkBuilder`), so that it works while
    /// the seccomp programs are prepared and the root is built. The caller passes it to `run`,
    /// or `finish`es it if the launch fails before.
    public static func begin(_ plan: LaunchPlan) throws(LaunchError) -> NetworkBuilder {
        // Signals are blocked before any child exists so none is lost before the wait loop;
        // children inherit the mask, and the payload clears it just before execve. SIGCHLD
        // inherited as ignored would make the kernel reap children silently: never wait blind.
        signal(SIGCHLD, SIG_DFL)
        // A relayed client that hangs up must never kill kennel (and with it the sandbox)
        // through a write to its socket: errors come back as EPIPE. The payload resets this.
        signal(SIGPIPE, SIG_IGN)
        waited.block()
        return try NetworkBuilder.start(blocked: plan.blocked)
    }

    /// A terminating signal that came between `begin` and now (a Ctrl-C during a cold seccomp
    /// compile): nothing of the sandbox exists yet but the network child, so kennel ends the
    /// way it would have without the mask, by that signal, once the child is gone. (Later, a
    /// signal from the terminal reaches the payload directly, and one sent to kennel alone is
    /// forwarded.)
    public static func stopIfSignalled(_ network: NetworkBuilder) {
        var pending = sigset_t()
        sigpending(&pending)
        // Not one the caller ignores (a blocked signal is queued even then; unblocked, it would
        // have been discarded): kennel goes on as it would have.
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] where sigismember(&pending, s) == 1 && !SignalSet.isIgnored(s) {
            network.finish()
            SignalSet.unblockAll()  // delivered now, with its default action: kennel ends by it
            Proc.exitImmediately(128 + s)
        }
    }

    /// Runs the sandbox to completion; returns kennel's exit code. `network` comes from `begin`.
    public static func run(_ launch: Launch, network: NetworkBuilder) throws(LaunchError) -> Int32 {
        let plan = launch.plan
        let waited = Self.waited
        defer { network.finish() }
        try step("mkdir", launch.stagingRoot) { () throws(Errno) in
            for dir in [Launch.stateDirectory, launch.stagingRoot] where access(dir, F_OK) != 0 {
                if mkdir(dir, 0o711) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
            }
        }

        let channel = try step("socketpair") { () throws(Errno) in try SocketPair.make() }
        defer { FD.close(channel.parent) }
        // Published ports are bound first, on the host: a port in use fails before anything
        // exists. The relay runs in the wait loop below, once the payload started.
        var relay: PortRelay?
        // The host's network namespace, opened once: the relay, the bridge and step 9 use it.
        let hostNetwork = try step("open", "/proc/self/ns/net") { () throws(Errno) in try FD.open("/proc/self/ns/net", O_RDONLY) }
        var sandboxNetwork: Int32 = -1
        var stagingMounts: Int32 = -1
        defer {
            if stagingMounts >= 0 { FD.close(stagingMounts) }
            relay?.closeAll()
            FD.close(hostNetwork)
            if sandboxNetwork >= 0 { FD.close(sandboxNetwork) }
        }
        if !plan.publish.isEmpty {
            relay = try PortRelay(plan.publish, hostNetwork: hostNetwork)
        }
        // --net bridge: the veth pair and its /30 are made on the host first.
        var bridge: BridgeNetwork?
        if plan.network == .bridge {
            guard let pool = plan.subnet else { throw LaunchError("plan", "--subnet", Errno(rawValue: EINVAL)) }
            bridge = try BridgeNetwork.prepare(plan, pool: pool, hostNetwork: hostNetwork)
        }
        defer { bridge?.finish() }
        let initPid: pid_t
        (initPid, sandboxNetwork, stagingMounts) = try createSandbox(launch, channel: channel, hostNetwork: hostNetwork,
                                                                     network: network, keepNetwork: relay != nil, bridge: &bridge)
        do throws(LaunchError) {
            try bridge?.finishHostSide()
        } catch {
            killAndReap(initPid)
            throw error
        }
        FD.close(channel.child)

        // 10. The id maps, written from outside: the supervisor holds CAP_SETUID/CAP_SETGID in
        //    the parent user namespace, so one full range is allowed and setgroups stays
        //    permitted inside. Until then the child is unmapped and waits.
        do throws(Errno) {
            try Namespaces.writeIDMaps(pid: initPid, uidMap: plan.mapping.mapLine, gidMap: plan.mapping.mapLine)
            try SocketPair.send(channel.parent, "maps")
        } catch {
            killAndReap(initPid)
            throw LaunchError("write uid_map/gid_map", "/proc/\(initPid)", error)
        }

        // The child's end closes at the payload's execve (end-of-file), or brings an error.
        var failure: LaunchError?
        while true {
            let message: String?
            do {
                message = try SocketPair.receive(channel.parent)
            } catch {
                failure = LaunchError("read sync channel", nil, error)
                break
            }
            guard let message else { break }
            // The first error is the cause; later ones (a peer's broken pipe) are effects.
            guard failure == nil else { continue }
            failure = LaunchError(wire: message)
                ?? LaunchError("read sync channel", nil, Errno(rawValue: EPROTO), detail: "unexpected message")
        }
        // The payload runs (or failed): init left the staging mount namespace long ago, so
        // this close tears it down, here, while the payload runs, instead of in init's unshare
        // on the way to the payload (unmounting ~30 mounts and an RCU grace period).
        FD.close(stagingMounts)
        stagingMounts = -1
        network.finish()

        if let failure {
            let status = (try? Proc.wait(initPid))??.1
            // 126/127 come from the payload, after the sandbox existed: report and pass on.
            if failure.exitCode == 125 || status == nil { throw failure }
            printError(failure)
            return status?.shellCode ?? failure.exitCode
        }

        if let path = plan.statusJSON {
            writeStatus(path: path, plan: plan, initPid: initPid, launch: launch, bridge: bridge)
        }

        if let relay {
            relay.attach(to: sandboxNetwork)
            return try relayAndWait(relay, signals: waited, initPid: initPid, network: network)
        }
        while true {
            let (signal, code) = waited.wait()
            if let status = handle(signal, code: code, initPid: initPid, network: network) { return status }
        }
    }

    /// One signal: SIGCHLD may mean init ended (its status is returned); the forwarded ones go
    /// to init, unless the terminal sent them to the whole foreground group, which the payload
    /// received already.
    private static func handle(_ signal: Int32, code: Int32, initPid: pid_t, network: NetworkBuilder) -> Int32? {
        if signal == SIGCHLD {
            network.finish()
            if let (_, status) = try? Proc.wait(initPid, nohang: true) { return status.shellCode }
            return nil
        }
        if code != SI_KERNEL { Proc.send(signal, to: initPid) }
        return nil
    }

    /// The wait loop with published ports: one poll(2) over a signalfd and the relay's sockets.
    private static func relayAndWait(_ relay: PortRelay, signals: SignalSet, initPid: pid_t, network: NetworkBuilder) throws(LaunchError) -> Int32 {
        let signalFD = try step("signalfd") { () throws(Errno) in try signals.fileDescriptor() }
        defer { FD.close(signalFD) }
        var spin = RelaySpin(window: RelaySpin.defaultWindow, cpus: Proc.cpusAllowed())
        var fds: [pollfd] = []
        while true {
            // One array for the loop's life: a spinning relay polls every few microseconds.
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0))
            relay.appendPollSet(to: &fds)
            let spinning = spin.spinning(at: PortRelay.now()) && !relay.backlogged
            let ready = try step("poll") { () throws(Errno) in
                try pollDescriptors(&fds, timeout: spinning ? 0 : relay.pollTimeout())
            }
            if ready == 0 && spinning { continue }
            if fds[1...].contains(where: { $0.revents != 0 }) { spin.activity(at: PortRelay.now()) }
            // Relay first, so that data in flight when the payload ends still gets through.
            do throws(LaunchError) {
                try relay.service(fds[1...])
            } catch {
                killAndReap(initPid)
                throw error
            }
            if fds[0].revents != 0 {
                while let (signal, code) = SignalSet.read(signalFD) {
                    if let status = handle(signal, code: code, initPid: initPid, network: network) { return status }
                }
            }
        }
    }

    /// Steps 1-9: the host-privileged half, then the sandbox's pid 1. Whatever happens, the
    /// supervisor is back in the host's mount and network namespaces when this returns.
    /// Returns init's pid, an fd to the sandbox's network namespace when `keepNetwork`, and an
    /// fd holding the staging mount namespace (see `run` for when it is let go).
    private static func createSandbox(_ launch: Launch, channel: SocketPair, hostNetwork: Int32, network: NetworkBuilder,
                                      keepNetwork: Bool, bridge: inout BridgeNetwork?) throws(LaunchError) -> (pid_t, Int32, Int32) {
        let plan = launch.plan
        let hostMounts = try step("open", "/proc/self/ns/mnt") { () throws(Errno) in try FD.open("/proc/self/ns/mnt", O_RDONLY) }
        defer { FD.close(hostMounts) }
        // setns into a mount namespace moves the cwd to its root: remember where we were, so
        // relative paths given by the user (--status-json) still mean what they meant.
        let workingDirectory = try step("open", ".") { () throws(Errno) in try FD.open(".", Int32(KENNEL_O_PATH) | O_DIRECTORY) }
        defer { FD.close(workingDirectory) }

        // The pid and time namespaces for the supervisor's own later children (nft, with
        // --net bridge): step 6 points them at the sandbox's, step 9 points them back.
        let hostPids = try step("open", "/proc/self/ns/pid") { () throws(Errno) in try FD.open("/proc/self/ns/pid", O_RDONLY) }
        defer { FD.close(hostPids) }
        let hostTime = launch.namespaces.contains(.time) ? (try? FD.open("/proc/self/ns/time", O_RDONLY)) : nil
        defer { if let hostTime { FD.close(hostTime) } }
        // The host's procfs, to find the sandbox's pid namespace after the pivot below.
        let hostProc = try step("open", "/proc") { () throws(Errno) in try FD.open("/proc", Int32(KENNEL_O_PATH) | O_DIRECTORY) }
        defer { FD.close(hostProc) }

        // 1. The first mount namespace, owned by the host user namespace: container root
        //    cannot undo the mounts made here (they arrive locked in the sandbox's own mount
        //    namespace). The network namespace, also the host user namespace's (container
        //    root will hold no CAP_NET_ADMIN/CAP_NET_RAW over it: no route changes, no raw or
        //    packet sockets), is being made meanwhile by `network`'s child; joined in step 3.
        try step("unshare", "mnt") { () throws(Errno) in try Namespaces.unshare(.mount) }
        var sandboxNetwork: Int32 = -1
        // Held so that the namespace outlives init's move to its own copy (step 7 and
        // SandboxInit): whoever drops the last reference pays for unmounting it.
        let stagingMounts = (try? FD.open("/proc/self/ns/mnt", O_RDONLY)) ?? -1
        var handedOver = false  // the fds go to the caller only on success
        defer {
            if !handedOver {
                FD.close(stagingMounts)
                if sandboxNetwork >= 0 { FD.close(sandboxNetwork) }
            }
        }
        var returned = false
        defer {
            // On an error path: back to the host's namespaces before reporting. (Success
            // returns through `returnToHost` below, which checks.)
            if !returned { _ = try? returnToHost(hostMounts, hostNetwork, workingDirectory, children: [hostPids] + (hostTime.map { [$0] } ?? [])) }
        }
        // 2. Nothing mounted from here on may propagate back to the host.
        try step("make mounts private", "/") { () throws(Errno) in try Mounts.makeRootPrivate() }

        // 3. Host-privileged mounts in the staging root: the image, private /dev and /tmp,
        //    hidden host paths, a sysfs of the sandbox's network namespace (only host root may
        //    mount one), the user's binds. The plan's first step is the root itself, attached at the
        //    staging path (the only mount made by path); the rest are made relative to it.
        // The host's mount table (this namespace is still its copy), read before the root's
        // copy is attached below.
        let hostMountTable = plan.coveredHostPaths.isEmpty ? [] : ((try? FD.readFile("/proc/self/mountinfo")) ?? [])
        let rootStep = plan.hostMounts.first { $0.target == "/" }
        try step("bind rootfs", plan.rootfs) { () throws(Errno) in
            let tree = try Mounts.cloneTree(path: plan.rootfs, recursive: true)
            defer { FD.close(tree) }
            try Mounts.setAttributes(tree, set: MountAttributes(rootStep?.flags ?? [.readOnly, .noDev]), recursive: true)
            try Mounts.attach(tree, at: launch.stagingRoot)
        }
        let root = try step("open", launch.stagingRoot) { () throws(Errno) in
            try FD.open(launch.stagingRoot, Int32(KENNEL_O_PATH) | O_DIRECTORY)
        }
        defer { FD.close(root) }
        // The host's mounts at paths the sandbox covers whole with its own file systems (/proc,
        // /sys, /dev, /tmp and the hidden /root /home /run): nobody could ever see them, yet
        // every copy and teardown of the namespace would carry them (a third of its mounts).
        // Unmounting each would cost an RCU grace period; instead they move out of the new
        // root, stacked on /run/kennel of the old one (in this private namespace only), and go
        // with the old root when step 4 detaches it. EINVAL: nothing mounted there.
        // Mounts below a covered path that is no mount point itself (/run/netns and the
        // namespaces `ip netns` keeps there, on a host whose /run is a plain directory) go the
        // same way: this namespace's mount table says where they are (see MountTable).
        // The paths below a covered one lie in directories others may write (/tmp, /home):
        // each is reached without following a symlink or crossing a mount (`openMountPoint`),
        // or left alone. Without a readable mount table, the covered paths themselves.
        if !plan.coveredHostPaths.isEmpty {
            // kennel's state directory itself, opened before anything is stacked on it: by path,
            // /run/kennel/file would soon lead into the mounts moved there.
            let stateDirectory = (try? FD.open(Launch.stateDirectory, Int32(KENNEL_O_PATH) | O_DIRECTORY)) ?? -1
            var filePlaceholder: Int32 = -1
            defer {
                if filePlaceholder >= 0 { FD.close(filePlaceholder) }
                if stateDirectory >= 0 { FD.close(stateDirectory) }
            }
            let mounts = MountTable.mounts(hostMountTable)
            for path in mounts.isEmpty ? plan.coveredHostPaths : MountTable.coveredMounts(mounts, covered: plan.coveredHostPaths) {
                guard let mount = try? InRoot.openMountPoint(root, path) else { continue }
                defer { FD.close(mount) }
                // A mount of a file (a network namespace bound onto /run/docker/netns/ID) can
                // only be moved onto a file: kennel's empty /run/kennel/file, made the first time
                // a host needs it.
                if ((try? FD.fstat(mount).st_mode) ?? S_IFDIR) & S_IFMT == S_IFDIR {
                    try? Mounts.attach(mount, at: Launch.stateDirectory)
                    continue
                }
                if filePlaceholder < 0, stateDirectory >= 0 {
                    let name = String(Launch.fileMountPoint.dropFirst(Launch.stateDirectory.count + 1))
                    if let made = try? FD.openAt(stateDirectory, name, O_WRONLY | O_CREAT | O_NOFOLLOW, mode: 0o600) { FD.close(made) }
                    filePlaceholder = (try? FD.openAt(stateDirectory, name, Int32(KENNEL_O_PATH) | O_NOFOLLOW)) ?? -1
                }
                if filePlaceholder >= 0 { try? Mounts.attach(mount, onto: filePlaceholder) }
            }
        }
        // The scratch tmpfs (/tmp, /dev, the hidden paths, /sys's masks, resolv.conf) is made
        // by the first step that needs it, its root hidden on the old root's /run/kennel too.
        let scratch = ScratchFileSystem(owner: plan.mapping.base, hiddenAt: Launch.stateDirectory)
        defer { scratch.close() }
        // The mounts that do not depend on the network namespace come first (the plan puts
        // /sys and what lies under it after them), while the child still works on it; then
        // the supervisor joins it: sysfs shows the network namespace of whoever mounts it.
        let builder = RootBuilder(root: root, owner: plan.mapping.base, scratch: scratch)
        let split = plan.firstNetworkBoundMount
        try builder.apply(Array(plan.hostMounts[..<split]))
        try network.join(hostProc: hostProc)
        if keepNetwork {
            sandboxNetwork = try step("open", "/proc/self/ns/net") { () throws(Errno) in
                try FD.open("/proc/self/ns/net", O_RDONLY)
            }
        }
        try builder.apply(Array(plan.hostMounts[split...]))

        // /proc's masked directories come after the pivot (step 8), when the scratch file
        // system is out of reach: their read-only views are cloned now, one for each directory
        // the host's procfs has (the sandbox's, of the same kernel, has the same ones).
        let preparedMasks = try PreparedMask.forProc(plan.procMounts, hostProc: hostProc, scratch: scratch)
        defer { for m in preparedMasks { FD.close(m.fd) } }

        // 4. pivot_root into the staging root and detach the host's tree (never chroot): the
        //    sandbox's mount namespace, copied from this one, holds only its own mounts.
        try step("pivot_root", plan.rootfs) { () throws(Errno) in
            _ = try retrying { fchdir(root) }
            try Mounts.pivotIntoCurrentDirectory()
        }

        // 5. Loopback is up and the blocked destinations are prohibit routes already (the
        //    network child made them, in a namespace the sandbox can never reconfigure); with
        //    --net bridge, the veth pair.
        try bridge?.attach()

        // 6. The sandbox's pid (and time) namespace, owned by the host user namespace: host
        //    root mounts its procfs below, and container root holds no privilege over it. Both
        //    apply to children only.
        let childNamespaces = launch.namespaces.intersection([.pid, .time])
        try step("unshare", childNamespaces.procNames.joined(separator: "+")) { () throws(Errno) in
            try Namespaces.unshare(childNamespaces)
        }

        // 7. The sandbox's pid 1: pid 1 of that pid namespace, in a new user namespace with the
        //    uts and cgroup namespaces it owns, still in this (host-owned) mount namespace and
        //    the network namespace joined in step 3. It makes its own mount namespace (a locked copy of
        //    this one) and ipc namespace once it is container root.
        let kinds = launch.namespaces.intersection([.uts, .cgroup]).union(.user)
        let pid = try step("clone", kinds.procNames.joined(separator: "+")) { () throws(Errno) in
            try Namespaces.cloneProcess(into: kinds)
        }
        if pid == 0 {
            SandboxInit.run(launch, channel: channel.child)
        }
        do throws(LaunchError) {
            // 8. /proc of the sandbox's pid namespace (a procfs shows the namespace named at
            //    mount time) with Docker's masked and read-only paths, made by host root here,
            //    so that the sandbox's mount namespace copies them locked.
            let pidNamespace = try step("open", "/proc/\(pid)/ns/pid") { () throws(Errno) in
                try FD.openAt(hostProc, "\(pid)/ns/pid", O_RDONLY)
            }
            defer { FD.close(pidNamespace) }
            let sandboxRoot = try step("open", "/") { () throws(Errno) in try FD.open("/", Int32(KENNEL_O_PATH) | O_DIRECTORY) }
            defer { FD.close(sandboxRoot) }
            try RootBuilder(root: sandboxRoot, pidNamespace: pidNamespace, procfsTakesPidns: launch.procfsTakesPidns,
                            preparedMasks: preparedMasks).apply(plan.procMounts)

            // 9. Back to the host's namespaces (and working directory). A supervisor left in the
            //    sandbox's root would write --status-json through paths the sandbox controls.
            returned = true
            try returnToHost(hostMounts, hostNetwork, workingDirectory, children: [hostPids] + (hostTime.map { [$0] } ?? []))
        } catch {
            killAndReap(pid)
            throw error
        }
        handedOver = true
        return (pid, sandboxNetwork, stagingMounts)
    }

    /// `children`: the supervisor's own pid (and time) namespaces, so that its later children
    /// are not born into the sandbox's (where, once init has gone, fork fails).
    private static func returnToHost(_ mounts: Int32, _ network: Int32, _ cwd: Int32, children: [Int32]) throws(LaunchError) {
        for ns in children {
            try step("setns", "host pid/time namespace for children") { () throws(Errno) in try Namespaces.enter(ns) }
        }
        try step("setns", "host mount namespace") { () throws(Errno) in try Namespaces.enter(mounts) }
        try step("setns", "host network namespace") { () throws(Errno) in try Namespaces.enter(network) }
        try step("fchdir", "working directory") { () throws(Errno) in _ = try retrying { fchdir(cwd) } }
    }

    /// Ends a sandbox that failed to start: SIGKILL to its pid 1 (the pid namespace goes with
    /// it), then reaps it.
    private static func killAndReap(_ pid: pid_t) {
        Proc.send(SIGKILL, to: pid)
        _ = try? Proc.wait(pid)
    }

    static func printError(_ e: LaunchError) {
        let line = "kennel: \(e)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// `--status-json`: what tooling needs to find the sandbox, written after the payload started.
    static func writeStatus(path: String, plan: LaunchPlan, initPid: pid_t, launch: Launch, bridge: BridgeNetwork?) {
        var payloadHostPid: pid_t = 0
        if let bytes = try? FD.readFile("/proc/\(initPid)/task/\(initPid)/children"),
           let first = String(decoding: bytes, as: UTF8.self).split(separator: " ").first {
            payloadHostPid = pid_t(first) ?? 0
        }
        var payloadPid: Int = 2
        if payloadHostPid > 0, let bytes = try? FD.readFile("/proc/\(payloadHostPid)/status") {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("NSpid:") {
                payloadPid = Int(line.split(separator: "\t").last ?? "") ?? payloadPid
            }
        }
        var namespaces: [String: String] = [:]
        for name in (launch.namespaces.union([.user, .network])).procNames {
            var buffer = [CChar](repeating: 0, count: 64)
            // The payload's: init's time namespace is the host's; its children's is new.
            let n = readlink("/proc/\(payloadHostPid > 0 ? payloadHostPid : initPid)/ns/\(name)", &buffer, buffer.count - 1)
            if n > 0 { namespaces[name] = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        let status = SandboxStatus(id: plan.id, pid: payloadPid, hostPid: Int(payloadHostPid), initHostPid: Int(initPid),
                                   supervisorPid: Int(getpid()), mapBase: plan.mapping.base, mapSize: plan.mapping.count,
                                   uid: plan.identity.uid, gid: plan.identity.gid, hostname: plan.hostname,
                                   rootfs: plan.rootfs, command: plan.command, namespaces: namespaces,
                                   capabilities: plan.capabilities.description,
                                   seccomp: plan.seccomp.description,
                                   noNewPrivileges: plan.noNewPrivileges, network: plan.network.rawValue,
                                   blocked: plan.blocked.map { .init(destination: $0.description, reason: $0.reason) },
                                   bridge: bridge.map(SandboxStatus.Bridge.init),
                                   published: plan.publish.map { "\($0.hostIP):\($0.hostPort)->\($0.sandboxPort)/tcp" })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(status) else { return }
        data.append(0x0a)
        do throws(Errno) {
            try FD.writeFileAtomically(path, Array(data), mode: 0o644)
        } catch {
            printError(LaunchError("write status", path, error))
        }
    }
}

/// The `--status-json` document.
public struct SandboxStatus: Codable, Equatable {
    public var id: String
    /// The payload's pid inside the sandbox (init is 1).
    public var pid: Int
    /// The payload's pid on the host.
    public var hostPid: Int
    public var initHostPid: Int
    public var supervisorPid: Int
    public var mapBase: UInt32
    public var mapSize: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var hostname: String
    public var rootfs: String
    public var command: [String]
    public var namespaces: [String: String]
    public var capabilities: String
    public var seccomp: String
    public var noNewPrivileges: Bool
    public var network: String
    /// Destinations the sandbox can never reach, and why (`imds`, `ecs`, `eks`, `user`, `efs`).
    public var blocked: [Blocked]
    /// With `--net bridge`: the link and addresses.
    public var bridge: Bridge?
    /// `--publish`: `HOSTIP:HOSTPORT->SANDBOXPORT/tcp` each.
    public var published: [String]

    public struct Blocked: Codable, Equatable {
        public var destination: String
        public var reason: String
    }

    public struct Bridge: Codable, Equatable {
        /// The host end of the veth pair (the sandbox end is `eth0`).
        public var hostInterface: String
        public var address: String
        public var gateway: String
        public var address6: String?
        public var gateway6: String?

        init(_ b: BridgeNetwork) {
            hostInterface = b.hostName
            address = BlockedDestination.text(b.sandboxAddress) + "/30"
            gateway = BlockedDestination.text(b.hostAddress)
            address6 = b.ipv6.map { BlockedDestination.text($0.sandboxAddress) + "/126" }
            gateway6 = b.ipv6.map { BlockedDestination.text($0.hostAddress) }
        }
    }
}

