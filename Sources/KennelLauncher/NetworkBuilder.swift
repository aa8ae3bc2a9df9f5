import Glibc
import KennelSpec
import KennelSystem

/// The sandbox's network namespace, made by a child process of the supervisor while the
/// supervisor builds the root. Creating a network namespace is the largest single step of a
/// launch (its loopback device, per-namespace sysctls and netfilter state: most of a
/// millisecond of kernel work) and needs nothing from the mounts, so on a machine with a
/// second CPU it costs the launch little more than the fork.
///
/// The child is host root in the host's user namespace, exactly like the supervisor: the
/// namespace it makes belongs to the host user namespace, so container root will hold no
/// CAP_NET_ADMIN or CAP_NET_RAW over it. It brings loopback up, installs the blocked
/// destinations as prohibit routes, says `ready` and holds the namespace until the
/// supervisor has joined it (`join`, before the sysfs mount, which shows the network
/// namespace of whoever mounts it). A failure comes back as the child's `LaunchError`.
public final class NetworkBuilder {
    let pid: pid_t
    /// The supervisor's end of the child's channel: `ready` or an error record, then end of
    /// file when the child exits.
    private let channel: Int32
    /// Set once the child has been reaped: `finish` is idempotent.
    private var done = false
    /// Set once the supervisor is in the namespace and has let the child go.
    private var joined = false

    private init(pid: pid_t, channel: Int32) {
        self.pid = pid
        self.channel = channel
    }

    /// Forks the child. Call with the forwarded signals blocked (the child keeps them blocked:
    /// a Ctrl-C meant for the payload must not end it) and before any descriptor the child
    /// must not hold is opened (it closes all but its channel anyway).
    static func start(blocked: [BlockedDestination]) throws(LaunchError) -> NetworkBuilder {
        let pair = try step("socketpair", "network namespace") { () throws(Errno) in try SocketPair.make() }
        let supervisorCPU = Proc.currentCPU()
        let pid: pid_t
        do throws(Errno) {
            pid = try Proc.fork()
        } catch {
            FD.close(pair.parent)
            FD.close(pair.child)
            throw LaunchError("fork", "network namespace", error)
        }
        if pid == 0 {
            FD.close(pair.parent)
            build(blocked, channel: pair.child, avoiding: supervisorCPU)
        }
        FD.close(pair.child)
        // Moved off this CPU before it first runs, if it has not run yet (it does the same).
        Proc.avoidCPU(supervisorCPU, process: pid)
        return NetworkBuilder(pid: pid, channel: pair.parent)
    }

    /// The child: never returns.
    private static func build(_ blocked: [BlockedDestination], channel: Int32, avoiding supervisorCPU: Int32) -> Never {
        // The point is to run beside the supervisor: a fresh child tends to start on its
        // parent's CPU and preempt it there, while another CPU idles.
        Proc.avoidCPU(supervisorCPU)
        do throws(LaunchError) {
            // A SIGKILLed supervisor takes the child along; one that died before the prctl has
            // hung up its end, and the child stops at the first receive below anyway.
            try step("prctl PR_SET_PDEATHSIG") { () throws(Errno) in try Proc.dieWithParent() }
            try step("close_range", "3-") { () throws(Errno) in try FD.closeAllAbove2(except: channel) }
            try step("unshare", "net") { () throws(Errno) in try Namespaces.unshare(.network) }
            try BlockedRoutes.install(blocked)
            try step("sync", "network ready") { () throws(Errno) in try SocketPair.send(channel, "ready") }
        } catch {
            try? SocketPair.send(channel, error.wire)
            Proc.exitImmediately(125)
        }
        // Hold the namespace until the supervisor is in it: it closes its end then.
        _ = try? SocketPair.receive(channel)
        Proc.exitImmediately(0)
    }

    /// Waits for the namespace and moves the calling process into it (setns through the
    /// host's procfs, `hostProc`), then lets the child go. On failure the child is reaped.
    func join(hostProc: Int32) throws(LaunchError) {
        do throws(LaunchError) {
            let message = try step("sync", "network namespace") { () throws(Errno) in try SocketPair.receive(channel) }
            guard message == "ready" else {
                throw message.flatMap(LaunchError.init(wire:))
                    ?? LaunchError("unshare", "net", Errno(rawValue: EPROTO), detail: "the network namespace's child ended early")
            }
            let namespace = try step("open", "/proc/\(pid)/ns/net") { () throws(Errno) in
                try FD.openAt(hostProc, "\(pid)/ns/net", O_RDONLY)
            }
            defer { FD.close(namespace) }
            try step("setns", "sandbox network namespace") { () throws(Errno) in try Namespaces.enter(namespace) }
        } catch {
            finish()
            throw error
        }
        joined = true
        FD.close(channel)
    }

    /// Reaps the child. Before `join` the launch failed: the child is killed first and waited
    /// for. After it, the child is on its way out (its channel has hung up) and is reaped only
    /// if it has ended: the supervisor calls this again on SIGCHLD, and never blocks on a child
    /// that someone stopped. Idempotent.
    public func finish() {
        guard !done else { return }
        if !joined {
            done = true
            FD.close(channel)
            Proc.send(SIGKILL, to: pid)
            _ = try? Proc.wait(pid)
            return
        }
        do {
            if try Proc.wait(pid, nohang: true) != nil { done = true }
        } catch {
            done = true  // ECHILD: nothing left to reap
        }
    }
}
