import CKennel
import Glibc
import KennelSpec
import KennelSystem

/// The last process kennel runs: it applies every restriction in the order the kernel
/// requires and execs the user's command. Nothing it does may be undone from inside.
enum Payload {
    /// `ready` (from init) says the root is finished; until then only the seccomp programs
    /// that allow every later step (kennel's own) are loaded.
    static func run(_ launch: Launch, channel: Int32, ready: Int32) -> Never {
        let error: LaunchError
        do throws(LaunchError) {
            try restrictAndExec(launch, ready: ready)
        } catch let e {
            error = e
        }
        try? SocketPair.send(channel, error.wire)
        Proc.exitImmediately(error.exitCode)
    }

    private static func restrictAndExec(_ launch: Launch, ready: Int32) throws(LaunchError) -> Never {
        let plan = launch.plan
        SignalSet.resetDispositions(SignalSet.forwarded + [SIGCHLD, SIGPIPE])

        // Early, while init finishes the root: kennel's hardening program, and the policy when
        // it is kennel's own (Docker's default allows every step below). CAP_SYS_ADMIN in this
        // user namespace allows loading without no_new_privs. A policy from a file may refuse
        // what follows, so it is loaded last, as runc does.
        // A policy that carries the hardening (kennel's own, see SeccompChain) is one program.
        let earlyPolicy = !isProfileFile(plan.seccomp) || launch.seccomp.hardeningInPolicy
        if !launch.seccomp.hardeningInPolicy {
            try step("seccomp", "hardening") { () throws(Errno) in try SeccompFilter.install(program: launch.seccomp.hardening) }
        }
        if earlyPolicy { try loadPolicy(launch) }
        let go = try step("sync", "ready") { () throws(Errno) in try SocketPair.receive(ready) }
        guard go == "ready" else { Proc.exitImmediately(125) }
        FD.close(ready)

        // Only 0, 1 and 2 reach the payload: everything else closes at execve (init already
        // closed what it inherited; the channel stays open for errors until then).
        try step("close_range", "3-") { () throws(Errno) in try FD.closeOnExecFrom(3) }

        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which only holds
        // before the capabilities shrink.
        if !earlyPolicy && !plan.noNewPrivileges { try loadPolicy(launch) }

        // Bounding and ambient sets first (needs CAP_SETPCAP), then the run-as ids (needs
        // CAP_SETUID/SETGID, still held in full), then permitted/effective/inheritable.
        // A non-root uid clears permitted and effective by itself.
        try step("capabilities", "bounding") { () throws(Errno) in try Capabilities.restrictBounding(to: plan.capabilities.mask) }
        let id = plan.identity
        try step("setresuid/setresgid", "\(id.uid):\(id.gid)") { () throws(Errno) in
            try Proc.setIdentity(uid: id.uid, gid: id.gid, groups: id.supplementaryGroups)
        }
        try step("capabilities", "permitted") { () throws(Errno) in
            try Capabilities.setProcessSets(id.uid == 0 ? plan.capabilities.mask : 0)
        }

        // As the run-as user, with its permissions: the working directory must exist inside,
        // and be inside (a cwd reached through a leaked fd, /proc/self/fd/N, is the runc
        // CVE-2024-21626 class), and COMMAND is looked up in the sandbox's PATH.
        try step("chdir", plan.workdir) { () throws(Errno) in
            do throws(Errno) {
                _ = try retrying { chdir(plan.workdir) }
            } catch where plan.workdirIsDefault && error == .noSuchFileOrDirectory {
                _ = try retrying { chdir("/") }  // an image user whose home does not exist
            }
        }
        var cwd = [CChar](repeating: 0, count: 4096)
        if getcwd(&cwd, cwd.count) == nil || cwd.first != 0x2f /* "/" */ {
            throw LaunchError("chdir", plan.workdir, Errno(rawValue: EACCES), detail: "working directory is outside the sandbox")
        }
        let executable = try resolveExecutable(plan)

        SignalSet.unblockAll()
        if plan.noNewPrivileges {
            try step("prctl PR_SET_NO_NEW_PRIVS") { () throws(Errno) in try Proc.setNoNewPrivileges() }
            if !earlyPolicy { try loadPolicy(launch) }
        }
        let e = Proc.exec(executable, plan.command, plan.environment)
        throw LaunchError("exec", plan.command[0], e, exitCode: e == .noSuchFileOrDirectory ? 127 : 126)
    }

    private static func isProfileFile(_ s: SandboxSpec.Seccomp) -> Bool {
        if case .profile = s { return true }
        return false
    }

    private static func loadPolicy(_ launch: Launch) throws(LaunchError) {
        if let policy = launch.seccomp.policy {
            try step("seccomp", "policy") { () throws(Errno) in try SeccompFilter.install(program: policy) }
        }
    }

    /// `execvp` semantics, resolved inside the sandbox with the sandbox's PATH.
    private static func resolveExecutable(_ plan: LaunchPlan) throws(LaunchError) -> String {
        let name = plan.command[0]
        if name.contains("/") { return name }
        let path = plan.environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? LaunchPlan.defaultPath
        var sawDenied = false
        for dir in path.split(separator: ":") {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            var st = stat()
            guard stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
            sawDenied = true
        }
        if sawDenied { throw LaunchError("exec", name, Errno(rawValue: EACCES), exitCode: 126) }
        throw LaunchError("exec", name, Errno(rawValue: ENOENT), exitCode: 127, detail: "command not found in PATH")
    }
}
