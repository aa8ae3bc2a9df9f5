import Glibc
import KennelSpec
import KennelSystem

/// Everything the launch stages share: the plan plus what the supervisor prepared before
/// fork (the compiled seccomp filters, the sync channel), so children do no slow work.
public struct Launch {
    public let plan: LaunchPlan
    /// The payload's seccomp programs, compiled (or taken from the cache) before fork.
    let seccomp: SeccompPrograms
    /// Where the sandbox root is assembled inside the private mount namespace. One empty
    /// directory shared by all sandboxes: each mounts over it only in its own namespace,
    /// so nothing per-sandbox is ever created on the host.
    let stagingRoot: String
    let namespaces: NamespaceSet
    /// Whether /proc is first tried with procfs's pidns option (new in 2025), falling back to a
    /// child in the sandbox's pid namespace. The test suite sets KENNEL_TEST_PROC_FROM_CHILD=1
    /// to run the fallback on kernels that have the option; nothing else reads it.
    let procfsTakesPidns: Bool

    /// The directory kennel keeps its own state in (hidden inside sandboxes).
    public static let stateDirectory = "/run/kennel"
    /// An empty file there, shared by all sandboxes like the staging root: in a private mount
    /// namespace, host mounts of files that a sandbox covers are moved onto it and leave with
    /// the old root (see `MountTable`).
    static let fileMountPoint = stateDirectory + "/file"

    init(plan: LaunchPlan, seccomp: SeccompPrograms) {
        self.plan = plan
        self.seccomp = seccomp
        stagingRoot = Launch.stateDirectory + "/root"
        var ns: NamespaceSet = [.mount, .pid, .uts, .ipc]
        if Namespaces.cgroupNamespaceAvailable { ns.insert(.cgroup) }
        if Namespaces.timeNamespaceAvailable { ns.insert(.time) }
        namespaces = ns
        procfsTakesPidns = getenv("KENNEL_TEST_PROC_FROM_CHILD").map { String(cString: $0) } != "1"
    }
}

/// `kennel gc`: removes state a SIGKILLed sandbox can leave behind.
public enum GarbageCollector {
    public static func run() throws(LaunchError) -> GarbageReport {
        try BridgeNetwork.collectGarbage()
    }
}

/// What `kennel gc` did: state it removed, and protections it put back (an IPv6 uplink guard
/// flushed away while sandboxes still use the forwarding it guards).
public struct GarbageReport: Sendable {
    public var removed: [String] = []
    public var restored: [String] = []
}
