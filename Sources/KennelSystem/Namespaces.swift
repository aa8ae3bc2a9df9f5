import CKennel
import Glibc

/// The namespace kinds kennel creates, as the CLONE_NEW* bits unshare(2) takes.
public struct NamespaceSet: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let mount = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWNS))
    public static let uts = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWUTS))
    public static let ipc = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWIPC))
    public static let user = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWUSER))
    public static let pid = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWPID))
    public static let network = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWNET))
    public static let cgroup = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWCGROUP))
    public static let time = NamespaceSet(rawValue: Int32(KENNEL_CLONE_NEWTIME))

    /// The names /proc/PID/ns uses, for status output.
    public var procNames: [String] {
        var names: [String] = []
        let table: [(NamespaceSet, String)] = [(.user, "user"), (.mount, "mnt"), (.pid, "pid"), (.uts, "uts"),
                                               (.ipc, "ipc"), (.network, "net"), (.cgroup, "cgroup"), (.time, "time")]
        for (flag, name) in table where contains(flag) { names.append(name) }
        return names
    }
}

public enum Namespaces {
    /// unshare(2). The user namespace kind fails with EINVAL in a multi-threaded process.
    public static func unshare(_ kinds: NamespaceSet) throws(Errno) {
        _ = try retrying { kennel_unshare(kinds.rawValue) }
    }

    /// setns(2) into the namespace `fd` refers to (an open /proc/PID/ns/* file).
    public static func enter(_ fd: Int32) throws(Errno) {
        _ = try retrying { kennel_setns(fd, 0) }
    }

    /// A child process created directly inside new namespaces (clone with CLONE_NEW* flags):
    /// 0 in the child, its pid in the parent. With `.pid`, the child is pid 1 there.
    /// Time namespaces cannot be requested here; unshare(.time) first, children inherit it.
    public static func cloneProcess(into kinds: NamespaceSet) throws(Errno) -> pid_t {
        try retrying { kennel_clone_process(UInt(kinds.rawValue) | UInt(SIGCHLD)) }
    }

    /// True if this kernel offers time namespaces (Linux 5.6+ with CONFIG_TIME_NS).
    public static var timeNamespaceAvailable: Bool { access("/proc/self/ns/time", F_OK) == 0 }
    /// True if this kernel offers cgroup namespaces.
    public static var cgroupNamespaceAvailable: Bool { access("/proc/self/ns/cgroup", F_OK) == 0 }

    /// Writes the child's uid_map and gid_map. The writer is host root, so any range is
    /// allowed and setgroups stays permitted inside (the kernel rule for privileged maps).
    public static func writeIDMaps(pid: pid_t, uidMap: String, gidMap: String) throws(Errno) {
        try FD.writeFile("/proc/\(pid)/uid_map", uidMap)
        try FD.writeFile("/proc/\(pid)/gid_map", gidMap)
    }
}

/// The network namespace the calling thread is in.
public enum NetworkNamespace {
    /// Its cookie (SO_NETNS_COOKIE, Linux 5.14): unlike the namespace's inode number, which a
    /// later namespace may get again, never reused before the machine restarts.
    public static func cookie() throws(Errno) -> UInt64 {
        let fd = try retrying { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { FD.close(fd) }
        var value: UInt64 = 0
        var length = socklen_t(MemoryLayout<UInt64>.size)
        _ = try retrying { getsockopt(fd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &value, &length) }
        return value
    }
}
