/// One mount (or file-system object) the launcher creates, with its target as a path inside
/// the sandbox root. Targets are always resolved inside that root, never on the host.
public struct MountStep: Codable, Equatable, Sendable {
    public enum Kind: Codable, Equatable, Sendable {
        /// A copy of a host tree (recursive), attached at `target`.
        case bind(source: String, recursive: Bool)
        /// A fresh file system instance (`tmpfs`, `proc`, `sysfs`, `devpts`, `mqueue`) with
        /// fsconfig options, `nil` values being flags.
        case fileSystem(type: String, options: [Option])
        /// A read-only file with these contents (e.g. /etc/resolv.conf), from the scratch
        /// file system (see `scratch`).
        case file(contents: String)
        /// A directory of its own (`mode`, owned by container root) in the sandbox's scratch
        /// file system, attached at `target`. One tmpfs instance per sandbox holds /tmp, /dev
        /// and the hidden host paths, one directory each: one superblock to create and tear
        /// down instead of one per target. Each target sees only its own directory (a file
        /// written in /tmp never shows in /home), and links or renames between them fail
        /// with EXDEV, as between separate file systems.
        case scratch(mode: UInt32)
        /// The procfs of the sandbox's pid namespace, mounted by host root before the sandbox
        /// runs anything (fsconfig `pidns`, or where procfs lacks that option, by a child born
        /// in that pid namespace), so it arrives locked and shows only the sandbox.
        case procfs
        /// Hides a file (with the sandbox's /dev/null) or a directory (with a read-only view of
        /// an empty directory of the scratch file system; for /proc's masks, made after the
        /// pivot, views cloned before it, or an empty read-only tmpfs where none was). Missing
        /// targets are skipped.
        case mask
        /// Makes an existing mount point read-only in place. Missing targets are skipped.
        case readOnlyRebind
        /// A character device node made in the sandbox's private /dev with the numbers of the
        /// host's `hostPath` (mknod as host root, in a tmpfs of the host user namespace).
        case device(hostPath: String)
        /// A symbolic link, e.g. /dev/fd → /proc/self/fd.
        case symlink(to: String)
        /// A directory owned by `uid:gid` (host ids), e.g. a home under a hidden tmpfs.
        case directory(uid: UInt32, gid: UInt32, mode: UInt32)
    }

    public struct Option: Codable, Equatable, Sendable {
        public var key: String
        public var value: String?
        public init(_ key: String, _ value: String? = nil) {
            self.key = key
            self.value = value
        }
    }

    /// Mount flags on the new mount.
    public struct Flags: OptionSet, Codable, Equatable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let readOnly = Flags(rawValue: 1)
        public static let noSuid = Flags(rawValue: 2)
        public static let noDev = Flags(rawValue: 4)
        public static let noExec = Flags(rawValue: 8)
        public static let hardened: Flags = [.noSuid, .noDev, .noExec]
    }

    public var target: String
    public var kind: Kind
    public var flags: Flags
    /// Create the target (directory or empty file) if missing, inside a writable parent.
    public var createTarget: Bool

    public init(_ target: String, _ kind: Kind, flags: Flags = [], createTarget: Bool = false) {
        self.target = target
        self.kind = kind
        self.flags = flags
        self.createTarget = createTarget
    }
}
