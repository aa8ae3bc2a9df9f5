import FoundationEssentials
import Glibc
import KennelSpec
import KennelSystem

/// The `kennel` process the user started: host root, single-threaded, synchronous. It forks
/// the setup child, writes its id maps when asked, then waits: it forwards signals to the
/// sandbox's init and returns the payload's exit status.
public enum Supervisor {
    /// Runs the sandbox to completion; returns kennel's exit code.
    public static func run(_ launch: Launch) throws(LaunchError) -> Int32 {
        let plan = launch.plan
        try step("mkdir", launch.stagingRoot) { () throws(Errno) in
            for dir in [Launch.stateDirectory, launch.stagingRoot] where access(dir, F_OK) != 0 {
                if mkdir(dir, 0o711) != 0 && errno != EEXIST { throw Errno(rawValue: errno) }
            }
        }

        // Signals are blocked before fork so none is lost between fork and the wait loop;
        // children inherit the mask, and the payload clears it just before execve.
        let waited = SignalSet(SignalSet.forwarded + [SIGCHLD])
        waited.block()

        let channel = try step("socketpair") { () throws(Errno) in try SocketPair.make() }
        let supervisorPid = getpid()
        let setupPid = try step("fork") { () throws(Errno) in try Proc.fork() }
        if setupPid == 0 {
            FD.close(channel.parent)
            SetupChild.run(launch, channel: channel.child, supervisor: supervisorPid)
        }
        FD.close(channel.child)
        defer { FD.close(channel.parent) }

        // The handshake: maps on request, then the init's pid, then end-of-file when the
        // payload's execve closes the last copy of the child's end, or an error record.
        var initPid: pid_t = 0
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
            if message == "userns" {
                do {
                    try Namespaces.writeIDMaps(pid: setupPid, uidMap: plan.mapping.mapLine, gidMap: plan.mapping.mapLine)
                    try SocketPair.send(channel.parent, "maps")
                } catch {
                    failure = LaunchError("write uid_map/gid_map", "/proc/\(setupPid)", error)
                    Proc.send(SIGKILL, to: setupPid)
                    break
                }
            } else if message.hasPrefix("init "), let pid = pid_t(message.dropFirst(5)) {
                initPid = pid
            } else if let error = LaunchError(wire: message) {
                failure = error
            }
        }

        if let failure {
            let status = (try? Proc.wait(setupPid))??.1
            // 126/127 come from the payload, after the sandbox existed: report and pass on.
            if failure.exitCode == 125 || status == nil { throw failure }
            printError(failure)
            return status?.shellCode ?? failure.exitCode
        }

        if let path = plan.statusJSON, initPid > 0 {
            writeStatus(path: path, plan: plan, initPid: initPid, launch: launch)
        }

        while true {
            let (signal, _, code) = waited.waitWithCode()
            if signal == SIGCHLD {
                if let (_, status) = try? Proc.wait(setupPid, nohang: true) { return status.shellCode }
                continue
            }
            // A signal the terminal sent to the foreground group reached the payload already.
            if code == SI_KERNEL { continue }
            if initPid > 0 { Proc.send(signal, to: initPid) }
        }
    }

    static func printError(_ e: LaunchError) {
        let line = "kennel: \(e)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// `--status-json`: what tooling needs to find the sandbox, written after the payload started.
    static func writeStatus(path: String, plan: LaunchPlan, initPid: pid_t, launch: Launch) {
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
            let n = readlink("/proc/\(initPid)/ns/\(name)", &buffer, buffer.count - 1)
            if n > 0 { namespaces[name] = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        let status = SandboxStatus(id: plan.id, pid: payloadPid, hostPid: Int(payloadHostPid), initHostPid: Int(initPid),
                                   supervisorPid: Int(getpid()), mapBase: plan.mapping.base, mapSize: plan.mapping.count,
                                   uid: plan.identity.uid, gid: plan.identity.gid, hostname: plan.hostname,
                                   rootfs: plan.rootfs, command: plan.command, namespaces: namespaces,
                                   capabilities: plan.capabilities.description,
                                   seccomp: plan.seccomp.description,
                                   noNewPrivileges: plan.noNewPrivileges, network: plan.network.rawValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard var data = try? encoder.encode(status) else { return }
        data.append(0x0a)
        let tmp = path + ".tmp-\(getpid())"
        do throws(Errno) {
            try FD.writeFile(tmp, String(decoding: data, as: UTF8.self), create: true, mode: 0o644)
            if rename(tmp, path) != 0 { throw Errno(rawValue: errno) }
        } catch {
            unlink(tmp)
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
}

extension SignalSet {
    /// Like `wait`, also returning si_code (SI_USER for kill(2), SI_KERNEL for the terminal).
    func waitWithCode() -> (Int32, pid_t, Int32) {
        var set = raw
        var info = siginfo_t()
        while true {
            let s = sigwaitinfo(&set, &info)
            if s > 0 { return (s, info._sifields._kill.si_pid, info.si_code) }
        }
    }
}
