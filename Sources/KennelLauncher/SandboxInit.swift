import CKennel
import Glibc
import KennelSpec
import KennelSystem

/// Pid 1 of the sandbox, cloned by the supervisor into the sandbox's user namespace (whose
/// root, /proc included, is already the sandbox's): waits for its id maps, becomes container
/// root, creates the ipc namespace and the mounts whose objects belong to container root,
/// forks the payload, then reaps orphans and passes signals on. Its exit ends the pid namespace, which kills whatever the payload left running.
enum SandboxInit {
    static func run(_ launch: Launch, channel: Int32) -> Never {
        let payload: pid_t
        do throws(LaunchError) {
            payload = try prepare(launch, channel: channel)
        } catch {
            try? SocketPair.send(channel, error.wire)
            Proc.exitImmediately(error.exitCode)
        }
        FD.close(channel)
        superviseAndExit(payload)
    }

    private static func prepare(_ launch: Launch, channel: Int32) throws(LaunchError) -> pid_t {
        let plan = launch.plan
        // Die with the supervisor: a SIGKILLed kennel must take the whole sandbox along. If
        // it died before the prctl took effect, its end of the channel has hung up: stop.
        try step("prctl PR_SET_PDEATHSIG") { () throws(Errno) in try Proc.dieWithParent() }
        if SocketPair.peerClosed(channel) { Proc.exitImmediately(125) }
        // Nothing the supervisor or kennel's caller had open survives into the sandbox but
        // the channel: no path back to the host through /proc/self/fd/N.
        try step("close_range", "3-") { () throws(Errno) in try FD.closeAllAbove2(except: channel) }
        // Not dumpable: the payload cannot ptrace this process nor open its /proc/1/exe
        // (the kennel binary) or /proc/1/mem: the runc CVE-2019-5736 class.
        try step("prctl PR_SET_DUMPABLE") { () throws(Errno) in try Proc.setDumpable(false) }

        // Until the supervisor has written uid_map/gid_map this process is unmapped, and for
        // any file it would create it is still host uid 0: wait.
        let reply = try step("sync", "maps") { () throws(Errno) in try SocketPair.receive(channel) }
        guard reply == "maps" else { Proc.exitImmediately(125) }
        // Become container root: from here every file created lands on the host as base+id.
        // A credential change also resets dumpability (to fs.suid_dumpable) and clears the
        // parent-death signal: set both again.
        try step("setresuid/setresgid", "0:0") { () throws(Errno) in try Proc.setIdentity(uid: 0, gid: 0, groups: []) }
        try step("prctl PR_SET_DUMPABLE") { () throws(Errno) in try Proc.setDumpable(false) }
        try step("prctl PR_SET_PDEATHSIG") { () throws(Errno) in try Proc.dieWithParent() }
        if SocketPair.peerClosed(channel) { Proc.exitImmediately(125) }
        try step("sethostname", plan.hostname) { () throws(Errno) in try Proc.setHostname(plan.hostname) }
        // The sandbox's own mount namespace, owned by its user namespace: a copy of the
        // supervisor's, every mount locked (container root cannot unmount /proc, the masks or
        // the read-only root to see what is below). And its ipc namespace, made by container
        // root so that the mqueue root belongs to it.
        let own = launch.namespaces.intersection([.mount, .ipc])
        try step("unshare", own.procNames.joined(separator: "+")) { () throws(Errno) in try Namespaces.unshare(own) }
        // The payload is forked now, before the last mounts: it loads its seccomp programs
        // (the kernel compiles them, the slowest single step) while init finishes the root,
        // and waits for `ready` before anything that depends on the root.
        let ready = try step("socketpair") { () throws(Errno) in try SocketPair.make() }
        let pid = try step("fork", "payload") { () throws(Errno) in try Proc.fork() }
        if pid == 0 {
            FD.close(ready.parent)
            Payload.run(launch, channel: channel, ready: ready.child)
        }
        FD.close(ready.child)
        defer { FD.close(ready.parent) }

        // devpts, /dev/shm and mqueue, owned by container root. (The root is already the
        // sandbox's: the supervisor pivoted before cloning, and mounted /proc.)
        let root = try step("open", "/") { () throws(Errno) in try FD.open("/", Int32(KENNEL_O_PATH) | O_DIRECTORY) }
        defer { FD.close(root) }
        try RootBuilder(root: root).apply(plan.sandboxMounts)
        try step("chdir", "/") { () throws(Errno) in _ = try retrying { chdir("/") } }
        try step("sync", "ready") { () throws(Errno) in try SocketPair.send(ready.parent, "ready") }
        return pid
    }

    /// Waits for signals: SIGCHLD reaps every exited child (orphans included); the others
    /// go to the payload unless the terminal already delivered them to its process group.
    private static func superviseAndExit(_ payload: pid_t) -> Never {
        let waited = SignalSet(SignalSet.forwarded + [SIGCHLD])
        while true {
            // Reap first: the payload may have ended before the loop started.
            while let (pid, status) = (try? Proc.wait(-1, nohang: true)) ?? nil {
                if pid == payload { Proc.exitImmediately(status.shellCode) }
            }
            let (signal, code) = waited.wait()
            if signal != SIGCHLD && code != SI_KERNEL { Proc.send(signal, to: payload) }
        }
    }
}
