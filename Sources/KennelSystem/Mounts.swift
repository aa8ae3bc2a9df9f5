import CKennel
import Glibc

/// Mount attribute bits for fsmount(2) and mount_setattr(2).
public struct MountAttributes: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let readOnly = MountAttributes(rawValue: UInt64(KENNEL_MOUNT_ATTR_RDONLY))
    public static let noSuid = MountAttributes(rawValue: UInt64(KENNEL_MOUNT_ATTR_NOSUID))
    public static let noDev = MountAttributes(rawValue: UInt64(KENNEL_MOUNT_ATTR_NODEV))
    public static let noExec = MountAttributes(rawValue: UInt64(KENNEL_MOUNT_ATTR_NOEXEC))
}

/// Mounting with the file-descriptor based API (Linux 5.2+): every target is an fd that was
/// resolved inside the sandbox root, so no mount can be steered by a symlink in an image.
public enum Mounts {
    /// `mount --make-rprivate /`: nothing mounted in this namespace propagates to the host.
    public static func makeRootPrivate() throws(Errno) {
        _ = try retrying { mount(nil, "/", nil, UInt(KENNEL_MS_REC | KENNEL_MS_PRIVATE), nil) }
    }

    /// A detached copy of the tree at `path` (recursively if asked), ready to be attached.
    public static func cloneTree(dir: Int32 = AT_FDCWD, path: String, recursive: Bool) throws(Errno) -> Int32 {
        var flags = UInt32(KENNEL_OPEN_TREE_CLONE | KENNEL_OPEN_TREE_CLOEXEC)
        if recursive { flags |= UInt32(KENNEL_AT_RECURSIVE) }
        if path.isEmpty { flags |= UInt32(KENNEL_AT_EMPTY_PATH) }
        return try retrying { kennel_open_tree(dir, path, flags) }
    }

    /// Sets or clears attributes on a detached or attached tree, optionally recursively.
    public static func setAttributes(_ tree: Int32, set: MountAttributes, clear: MountAttributes = [],
                                     recursive: Bool) throws(Errno) {
        var flags = UInt32(KENNEL_AT_EMPTY_PATH)
        if recursive { flags |= UInt32(KENNEL_AT_RECURSIVE) }
        _ = try retrying { kennel_mount_setattr(tree, "", flags, set.rawValue, clear.rawValue, 0) }
    }

    /// Attaches a detached tree on the object `target` refers to (an O_PATH fd).
    public static func attach(_ tree: Int32, onto target: Int32) throws(Errno) {
        _ = try retrying {
            kennel_move_mount(tree, "", target, "",
                              UInt32(KENNEL_MOVE_MOUNT_F_EMPTY_PATH | KENNEL_MOVE_MOUNT_T_EMPTY_PATH))
        }
    }

    /// Attaches a detached tree at a path, or moves an attached mount (an O_PATH fd on its
    /// root) there with everything beneath it. EINVAL when the fd is not the root of a mount.
    public static func attach(_ tree: Int32, at path: String) throws(Errno) {
        _ = try retrying { kennel_move_mount(tree, "", AT_FDCWD, path, UInt32(KENNEL_MOVE_MOUNT_F_EMPTY_PATH)) }
    }

    /// Creates a new, detached file system instance: fsopen, the options `configure` sets on
    /// the context, create, fsmount. (Options come through a closure rather than as an array
    /// of tuples: instantiating a tuple array's type metadata is a measurable part of a launch.)
    public static func newFileSystem(_ type: String, attributes: MountAttributes,
                                     configure: (FileSystemContext) throws(Errno) -> Void) throws(Errno) -> Int32 {
        let fs = try retrying { kennel_fsopen(type, UInt32(KENNEL_FSOPEN_CLOEXEC)) }
        defer { FD.close(fs) }
        try configure(FileSystemContext(fd: fs))
        _ = try retrying { kennel_fsconfig(fs, UInt32(KENNEL_FSCONFIG_CMD_CREATE), nil, nil, 0) }
        return try retrying { kennel_fsmount(fs, UInt32(KENNEL_FSMOUNT_CLOEXEC), UInt32(truncatingIfNeeded: attributes.rawValue)) }
    }

    /// pivot_root(".", ".") from inside the new root, then detaches the old root stacked
    /// beneath it: the host's tree becomes unreachable without a temporary directory.
    public static func pivotIntoCurrentDirectory() throws(Errno) {
        _ = try retrying { kennel_pivot_root(".", ".") }
        _ = try retrying { umount2(".", Int32(KENNEL_MNT_DETACH)) }
        _ = try retrying { chdir("/") }
    }

    /// The file system magic of an open file (PROC_SUPER_MAGIC, ...).
    public static func fileSystemMagic(_ fd: Int32) throws(Errno) -> Int {
        let magic = kennel_fstatfs_type(fd)
        if magic < 0 { throw Errno(rawValue: errno) }
        return magic
    }
}

/// Opening paths inside a root directory the way the kernel resolves them for a process
/// chrooted there: `..` and absolute symlinks stay inside (openat2 RESOLVE_IN_ROOT), and
/// magic links such as /proc/self/root are refused.
public enum InRoot {
    public static func open(_ root: Int32, _ path: String, flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        let relative = String(path.drop(while: { $0 == "/" }))
        return try retrying {
            kennel_openat2(root, relative.isEmpty ? "." : relative, UInt64(flags | O_CLOEXEC), UInt64(mode),
                           UInt64(KENNEL_RESOLVE_IN_ROOT | KENNEL_RESOLVE_NO_MAGICLINKS))
        }
    }

    /// An O_PATH handle on `path` itself; a symlink as the last component is opened as the
    /// link, so callers can refuse it instead of following it.
    public static func openPath(_ root: Int32, _ path: String) throws(Errno) -> Int32 {
        try open(root, path, flags: Int32(KENNEL_O_PATH) | O_NOFOLLOW)
    }

    /// An O_PATH handle on what is mounted at `path`, a mount point read from a mount table
    /// whose directories others may have changed since: the way there follows no symlink at
    /// all and crosses no mount (openat2 RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV up to the
    /// parent), so a directory renamed or replaced by a symlink fails (ELOOP, EXDEV) instead
    /// of leading to another mount, and no file system mounted on the way (a user's FUSE)
    /// is ever looked into. Only the last step enters the mount.
    public static func openMountPoint(_ root: Int32, _ path: String) throws(Errno) -> Int32 {
        let components = path.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
        guard let leaf = components.last else { throw Errno(rawValue: EINVAL) }
        let strict = UInt64(KENNEL_RESOLVE_IN_ROOT | KENNEL_RESOLVE_NO_SYMLINKS)
        var parent = root
        if components.count > 1 {
            let relative = components.dropLast().joined(separator: "/")
            parent = try retrying {
                kennel_openat2(root, relative, UInt64(Int32(KENNEL_O_PATH) | O_DIRECTORY | O_CLOEXEC), 0,
                               strict | UInt64(KENNEL_RESOLVE_NO_XDEV))
            }
        }
        defer { if parent != root { FD.close(parent) } }
        return try retrying {
            kennel_openat2(parent, leaf, UInt64(Int32(KENNEL_O_PATH) | O_NOFOLLOW | O_CLOEXEC), 0, strict)
        }
    }
}

/// A file system context from fsopen(2), before it is created: options go in with fsconfig(2).
public struct FileSystemContext {
    let fd: Int32

    /// A string option, or a flag when `value` is nil (tmpfs `size`, devpts `newinstance`).
    public func set(_ key: String, _ value: String?) throws(Errno) {
        if let value {
            _ = try retrying { kennel_fsconfig(fd, UInt32(KENNEL_FSCONFIG_SET_STRING), key, value, 0) }
        } else {
            _ = try retrying { kennel_fsconfig(fd, UInt32(KENNEL_FSCONFIG_SET_FLAG), key, nil, 0) }
        }
    }

    /// A file descriptor option, e.g. procfs's `pidns`: whose pid namespace it shows.
    public func set(_ key: String, fd option: Int32) throws(Errno) {
        _ = try retrying { kennel_fsconfig(fd, UInt32(KENNEL_FSCONFIG_SET_FD), key, nil, option) }
    }
}
