import CKennel
import Glibc
import KennelSpec
import KennelSystem

/// The supervisor's child. It does the host-privileged half of the launch while still host
/// root, then enters the sandbox's user namespace and becomes the parent of its pid 1.
/// The order is the point: see docs/architecture.md, "Launch sequence".
enum SetupChild {
    static func run(_ launch: Launch, channel: Int32, supervisor: pid_t) -> Never {
        do throws(LaunchError) {
            try prepare(launch, channel: channel, supervisor: supervisor)
        } catch {
            try? SocketPair.send(channel, error.wire)
            Proc.exitImmediately(error.exitCode)
        }
        // Only the init process continues past `prepare`; this process waits for it.
        Proc.exitImmediately(125)
    }

    private static func prepare(_ launch: Launch, channel: Int32, supervisor: pid_t) throws(LaunchError) {
        let plan = launch.plan
        // 1. Die with the supervisor: a SIGKILLed kennel must take the whole sandbox along.
        //    If it died before the prctl took effect, getppid() has changed: stop now.
        try step("prctl PR_SET_PDEATHSIG") { () throws(Errno) in try Proc.dieWithParent() }
        if getppid() != supervisor { Proc.exitImmediately(125) }
        // Not dumpable: the sandbox cannot ptrace this process or its init, nor open their
        // /proc/PID/exe or mem, which lead to the kennel binary (the runc CVE-2019-5736 class).
        _ = try step("prctl PR_SET_DUMPABLE") { () throws(Errno) in try Proc.prctl(Int32(KENNEL_PR_SET_DUMPABLE), 0) }

        // 2. Network and first mount namespace while still host root: both are owned by the
        //    host user namespace, so container root can never reconfigure routes, open raw
        //    sockets there, or undo the mounts made below (they arrive locked).
        try step("unshare", "net+mnt") { () throws(Errno) in try Namespaces.unshare([.network, .mount]) }
        // 3. Nothing mounted from here on may propagate back to the host.
        try step("make mounts private", "/") { () throws(Errno) in try Mounts.makeRootPrivate() }

        // 4. Host-privileged mounts: the root, a sysfs of this network namespace, private
        //    /dev and /tmp, hidden host paths, the user's binds.
        let rootStep = plan.hostMounts.first { $0.target == "/" }
        let rootFlags: MountAttributes = rootStep?.flags.contains(.readOnly) == false ? [.noDev] : [.readOnly, .noDev]
        try step("bind rootfs", plan.rootfs) { () throws(Errno) in
            let tree = try Mounts.cloneTree(path: plan.rootfs, recursive: true)
            defer { FD.close(tree) }
            try Mounts.setAttributes(tree, set: rootFlags, recursive: true)
            try Mounts.attach(tree, at: launch.stagingRoot)
        }
        let root = try step("open", launch.stagingRoot) { () throws(Errno) in
            try FD.open(launch.stagingRoot, Int32(KENNEL_O_PATH) | O_DIRECTORY)
        }
        try RootBuilder(root: root, owner: plan.mapping.base).apply(plan.hostMounts)
        FD.close(root)

        // 5. Loopback up in the new network namespace.
        try step("bring up", "lo") { () throws(Errno) in try Loopback.bringUp() }

        // 6. The sandbox's user namespace. The supervisor writes uid_map/gid_map from
        //    outside (it holds CAP_SETUID in the parent namespace); until then this process
        //    is unmapped, and it is still host uid 0 for any file it would create.
        try step("unshare", "user") { () throws(Errno) in try Namespaces.unshare(.user) }
        try step("sync", "userns") { () throws(Errno) in try SocketPair.send(channel, "userns") }
        let reply = try step("sync", "maps") { () throws(Errno) in try SocketPair.receive(channel) }
        guard reply == "maps" else { Proc.exitImmediately(125) }

        // 7. Become container root: from here every file created lands on the host as
        //    base+id. A credential change clears the parent-death signal: set it again.
        try step("setresuid/setresgid", "0:0") { () throws(Errno) in try Proc.setIdentity(uid: 0, gid: 0, groups: []) }
        try step("prctl PR_SET_PDEATHSIG") { () throws(Errno) in try Proc.dieWithParent() }
        if getppid() != supervisor { Proc.exitImmediately(125) }

        // 8. The remaining namespaces, owned by the sandbox's user namespace. The new mount
        //    namespace copies step 4's mounts, locked. pid and time apply to children.
        try step("unshare", launch.namespaces.procNames.joined(separator: "+")) { () throws(Errno) in
            try Namespaces.unshare(launch.namespaces)
        }
        try step("sethostname", plan.hostname) { () throws(Errno) in try Proc.setHostname(plan.hostname) }

        // 9. Fork the sandbox's pid 1, report its host pid, and wait for it.
        let initPid = try step("fork", "init") { () throws(Errno) in try Proc.fork() }
        if initPid == 0 {
            SandboxInit.run(launch, channel: channel)
        }
        try? SocketPair.send(channel, "init \(initPid)")
        FD.close(channel)
        while true {
            do {
                if let (_, status) = try Proc.wait(initPid) { Proc.exitImmediately(status.shellCode) }
            } catch {
                Proc.exitImmediately(125)
            }
        }
    }
}
