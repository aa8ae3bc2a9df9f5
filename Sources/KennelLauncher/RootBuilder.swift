import CKennel
import Glibc
import KennelSpec
import KennelSystem

/// Carries out `MountStep`s against a sandbox root held as a directory fd. Every target is
/// opened inside that root (openat2 RESOLVE_IN_ROOT) and a symlink as the last component is
/// refused, so a crafted image can never steer a mount, a device node or a chown to the host.
struct RootBuilder {
    /// The sandbox root (the staging directory's top mount), O_PATH.
    let root: Int32
    /// Host uid/gid for device nodes and links made as host root (container root's host
    /// id), so they show as root inside rather than as the overflow id; nil inside the
    /// sandbox, where new objects already belong to container root.
    var owner: UInt32? = nil
    /// The sandbox's pid namespace (an open /proc/PID/ns/pid of its init), for `.procfs`.
    var pidNamespace: Int32? = nil
    /// Try procfs's pidns option first (new in 2025); false only to test the way without it.
    var procfsTakesPidns = true
    /// The sandbox's scratch file system, for `.scratch`, `.file` and masking directories;
    /// nil after the pivot, where it is out of reach.
    var scratch: ScratchFileSystem? = nil
    /// After the pivot: read-only views of the scratch file system's empty directory, cloned
    /// for /proc's masked directories before the pivot (see `PreparedMask`).
    var preparedMasks: [PreparedMask] = []
    /// The parent directory of the last device node, link or directory made: the ones in
    /// /dev come in a row. Dropped before every mount, which could cover it.
    private let parents = ParentCache()

    init(root: Int32, owner: UInt32? = nil, pidNamespace: Int32? = nil, scratch: ScratchFileSystem? = nil,
         procfsTakesPidns: Bool = true, preparedMasks: [PreparedMask] = []) {
        self.preparedMasks = preparedMasks
        self.root = root
        self.owner = owner
        self.pidNamespace = pidNamespace
        self.scratch = scratch
        self.procfsTakesPidns = procfsTakesPidns
    }

    func apply(_ steps: [MountStep]) throws(LaunchError) {
        defer { parents.clear() }
        for s in steps where s.target != "/" { try apply(s) }
    }

    func apply(_ s: MountStep) throws(LaunchError) {
        switch s.kind {
        case .bind, .fileSystem, .procfs, .mask, .readOnlyRebind, .file, .scratch: parents.clear()
        case .device, .symlink, .directory: break
        }
        switch s.kind {
        case .bind(let source, let recursive):
            let stepName = "bind \(source) to"
            let tree = try step(stepName, s.target) { () throws(Errno) in try Mounts.cloneTree(path: source, recursive: recursive) }
            defer { FD.close(tree) }
            try step(stepName, s.target) { () throws(Errno) in
                try Mounts.setAttributes(tree, set: attributes(s.flags), recursive: true)
            }
            let isDirectory = try step("stat", source) { () throws(Errno) in (try FD.fstat(tree).st_mode & S_IFMT) == S_IFDIR }
            let target = try openTarget(s, createAs: isDirectory ? .directory : .file).fd
            defer { FD.close(target) }
            try step(stepName, s.target) { () throws(Errno) in try Mounts.attach(tree, onto: target) }

        case .fileSystem(let type, let options):
            let target = try openTarget(s, createAs: .directory).fd
            defer { FD.close(target) }
            try mountNew(type, flags: s.flags, onto: target, at: s.target) { fs throws(Errno) in
                for o in options { try fs.set(o.key, o.value) }
            }

        case .file(let contents):
            let target = try openTarget(s, createAs: .file).fd
            defer { FD.close(target) }
            guard let scratch else { throw LaunchError("mount file on", s.target, Errno(rawValue: EINVAL)) }
            try step("mount file on", s.target) { () throws(Errno) in
                let tree = try scratch.file(for: s.target, contents: contents, owner: owner)
                defer { FD.close(tree) }
                try Mounts.setAttributes(tree, set: [.readOnly, .noSuid, .noDev, .noExec], recursive: false)
                try Mounts.attach(tree, onto: target)
            }

        case .scratch(let mode):
            let target = try openTarget(s, createAs: .directory).fd
            defer { FD.close(target) }
            guard let scratch else { throw LaunchError("mount scratch on", s.target, Errno(rawValue: EINVAL)) }
            try step("mount scratch on", s.target) { () throws(Errno) in
                let tree = try scratch.directory(for: s.target, mode: mode_t(mode))
                defer { FD.close(tree) }
                try Mounts.setAttributes(tree, set: attributes(s.flags), recursive: false)
                try Mounts.attach(tree, onto: target)
            }

        case .procfs:
            let target = try openTarget(s, createAs: nil).fd
            defer { FD.close(target) }
            guard let pidNamespace else { throw LaunchError("mount procfs on", s.target, Errno(rawValue: EINVAL)) }
            let mounted = procfsTakesPidns ? try mountProc(onto: target, at: s.target, pidNamespace: pidNamespace, flags: s.flags) : false
            if !mounted { try mountProcFromChild(onto: target, at: s.target, flags: s.flags) }
            try verifyProc(at: s.target, shows: pidNamespace)

        case .mask:
            guard let (target, mode) = try openTargetIfPresent(s) else { return }
            defer { FD.close(target) }
            if (mode & S_IFMT) == S_IFDIR, scratch != nil || preparedMasks.contains(where: { $0.target == s.target }) {
                // A read-only view of one empty directory, the same for every masked directory:
                // made now, or after the pivot (/proc's masks) the one cloned for it before.
                try step("mask", s.target) { () throws(Errno) in
                    if let view = preparedMasks.first(where: { $0.target == s.target }) {
                        try Mounts.attach(view.fd, onto: target)
                    } else if let scratch {
                        let view = try scratch.maskView()
                        defer { FD.close(view) }
                        try Mounts.attach(view, onto: target)
                    }
                }
            } else if (mode & S_IFMT) == S_IFDIR {
                // A directory nobody prepared a view for (one the host's /proc lacks): an empty
                // read-only tmpfs of its own.
                try mountNew("tmpfs", flags: [.readOnly, .noSuid, .noDev, .noExec], onto: target, at: s.target) { fs throws(Errno) in
                    try fs.set("size", "0")
                    try fs.set("mode", "555")
                }
            } else {
                let null = try step("mask", s.target) { () throws(Errno) in try Mounts.cloneTree(path: "/dev/null", recursive: false) }
                defer { FD.close(null) }
                try step("mask", s.target) { () throws(Errno) in try Mounts.attach(null, onto: target) }
            }

        case .readOnlyRebind:
            guard let target = try openTargetIfPresent(s)?.fd else { return }
            defer { FD.close(target) }
            try step("remount read-only", s.target) { () throws(Errno) in
                let tree = try Mounts.cloneTree(dir: target, path: "", recursive: true)
                defer { FD.close(tree) }
                try Mounts.setAttributes(tree, set: [.readOnly, .noSuid, .noDev, .noExec], recursive: true)
                try Mounts.attach(tree, onto: target)
            }

        case .device(let hostPath):
            let (parent, leaf) = try openCachedParent(s.target)
            try step("mknod", s.target) { () throws(Errno) in
                let st = try statPath(hostPath)
                _ = try retrying { mknodat(parent, leaf, S_IFCHR | 0o666, st.st_rdev) }
                _ = try retrying { fchmodat(parent, leaf, 0o666, 0) }
                try chown(parent, leaf)
            }

        case .symlink(let to):
            let (parent, leaf) = try openCachedParent(s.target)
            try step("symlink", s.target) { () throws(Errno) in
                _ = try retrying { symlinkat(to, parent, leaf) }
                try chown(parent, leaf)
            }

        case .directory(let uid, let gid, let mode):
            // Usually the parent exists (/dev/pts in the new /dev): one mkdirat. Otherwise,
            // or when the directory is already there, the general path.
            if let (parent, leaf) = try? openCachedParent(s.target) {
                if mkdirat(parent, leaf, mode_t(mode)) == 0 {
                    try step("chown", s.target) { () throws(Errno) in
                        _ = try retrying { fchownat(parent, leaf, uid, gid, Int32(KENNEL_AT_SYMLINK_NOFOLLOW)) }
                        _ = try retrying { fchmodat(parent, leaf, mode_t(mode), 0) }
                    }
                    return
                }
            }
            try makeDirectories(s.target, uid: uid, gid: gid, mode: mode_t(mode))
        }
    }

    private func attributes(_ f: MountStep.Flags) -> MountAttributes { MountAttributes(f) }

    /// /proc as host root, told by fsconfig `pidns` which pid namespace to show. False,
    /// with nothing mounted, when procfs knows no such option (it came in 2025).
    private func mountProc(onto target: Int32, at path: String, pidNamespace: Int32, flags: MountStep.Flags) throws(LaunchError) -> Bool {
        var pidnsRefused = false
        do throws(Errno) {
            let fs = try Mounts.newFileSystem("proc", attributes: attributes(flags)) { fs throws(Errno) in
                do throws(Errno) { try fs.set("pidns", fd: pidNamespace) } catch {
                    pidnsRefused = error == .invalidArgument
                    throw error
                }
            }
            defer { FD.close(fs) }
            try Mounts.attach(fs, onto: target)
            return true
        } catch {
            if pidnsRefused { return false }
            throw LaunchError("mount proc on", path, error)
        }
    }

    /// /proc where procfs takes no pidns option: a procfs shows the pid namespace of the
    /// process that creates it, so a child creates it, born in the sandbox's pid namespace
    /// (the supervisor's children are, since step 6) and still host root in this mount
    /// namespace. It becomes pid 2 there: before it exits it sets the namespace's last pid
    /// back to 1 (ns_last_pid acts on the writer's own pid namespace), so that the payload,
    /// forked once it is reaped, is pid 2 as always. It keeps no fd but the target. Nothing
    /// of the sandbox runs yet (init waits for its id maps). If the supervisor dies meanwhile,
    /// so does init (parent death signal), and the kernel ends the pid namespace with it.
    private func mountProcFromChild(onto target: Int32, at path: String, flags: MountStep.Flags) throws(LaunchError) {
        let pid = try step("fork", "procfs mounter") { () throws(Errno) in try Proc.fork() }
        if pid == 0 {
            var code: Int32 = 0
            do throws(Errno) {
                try Proc.dieWithParent()
                try FD.closeAllAbove2(except: target)
                let fs = try Mounts.newFileSystem("proc", attributes: attributes(flags)) { _ throws(Errno) in }
                try Mounts.attach(fs, onto: target)
                // Best effort: without it (a kernel without checkpoint/restore), pid 3.
                if let last = try? FD.openAt(fs, "sys/kernel/ns_last_pid", O_WRONLY) {
                    _ = try? FD.writeAll(last, "1")
                    FD.close(last)
                }
            } catch {
                code = error.rawValue
            }
            Proc.exitImmediately(code)
        }
        let status = try step("wait", "procfs mounter") { () throws(Errno) in try Proc.wait(pid) }
        switch status?.1 {
        case .exited(0): return
        case .exited(let errno): throw LaunchError("mount proc on", path, Errno(rawValue: errno))
        case .signaled(let signal): throw LaunchError("mount proc on", path, Errno(rawValue: EINTR), detail: "the procfs mounter died of signal \(signal)")
        case nil: throw LaunchError("mount proc on", path, Errno(rawValue: ECHILD))
        }
    }

    private func mountNew(_ type: String, flags: MountStep.Flags, onto target: Int32, at path: String,
                          options: (FileSystemContext) throws(Errno) -> Void) throws(LaunchError) {
        try step("mount \(type) on", path) { () throws(Errno) in
            let fs = try Mounts.newFileSystem(type, attributes: attributes(flags), configure: options)
            defer { FD.close(fs) }
            try Mounts.attach(fs, onto: target)
        }
    }

    /// The fake-/proc lesson: whatever the image holds, what now sits at /proc must be procfs.
    /// And it must show the sandbox's pid namespace: its pid 1 is in `pidNamespace`.
    private func verifyProc(at path: String, shows pidNamespace: Int32) throws(LaunchError) {
        let fd = try step("open", path) { () throws(Errno) in try InRoot.open(root, path, flags: Int32(KENNEL_O_PATH) | O_DIRECTORY) }
        defer { FD.close(fd) }
        let magic = try step("statfs", path) { () throws(Errno) in try Mounts.fileSystemMagic(fd) }
        if magic != Int(KENNEL_PROC_SUPER_MAGIC) {
            throw LaunchError("verify procfs at", path, Errno(rawValue: EXDEV), detail: "not a procfs after mounting")
        }
        let (shown, expected) = try step("stat", path + "/1/ns/pid") { () throws(Errno) in
            var st = stat()
            _ = try retrying { fstatat(fd, "1/ns/pid", &st, 0) }
            return (st, try FD.fstat(pidNamespace))
        }
        if shown.st_dev != expected.st_dev || shown.st_ino != expected.st_ino {
            throw LaunchError("verify procfs at", path, Errno(rawValue: EXDEV), detail: "its pid 1 is not the sandbox's init")
        }
    }

    enum Creation { case directory, file }

    /// Opens the mount target as O_PATH, with its file type. A missing target is created when
    /// the step allows it (and the parent is writable, e.g. a tmpfs), an error otherwise.
    private func openTarget(_ s: MountStep, createAs kind: Creation?) throws(LaunchError) -> (fd: Int32, mode: mode_t) {
        let opened: Int32
        do {
            opened = try InRoot.openPath(root, s.target)
        } catch let e where e == .noSuchFileOrDirectory {
            guard s.createTarget, let kind else { throw LaunchError("mount target", s.target, e) }
            try create(s.target, as: kind)
            opened = try step("open mount target", s.target) { () throws(Errno) in try InRoot.openPath(root, s.target) }
        } catch {
            throw LaunchError("open mount target", s.target, error)
        }
        return try notALink(opened, s)
    }

    /// The same for masks and read-only rebinds: a path this root does not have is skipped.
    private func openTargetIfPresent(_ s: MountStep) throws(LaunchError) -> (fd: Int32, mode: mode_t)? {
        let opened: Int32
        do {
            opened = try InRoot.openPath(root, s.target)
        } catch let e where e == .noSuchFileOrDirectory {
            return nil
        } catch {
            throw LaunchError("open mount target", s.target, error)
        }
        return try notALink(opened, s)
    }

    /// `fd` with its file type; a symlink (opened as the link itself) is refused and closed.
    private func notALink(_ fd: Int32, _ s: MountStep) throws(LaunchError) -> (fd: Int32, mode: mode_t) {
        let st: stat
        do { st = try FD.fstat(fd) } catch { FD.close(fd); throw LaunchError("stat", s.target, error) }
        if (st.st_mode & S_IFMT) == S_IFLNK {
            FD.close(fd)
            throw LaunchError("mount target", s.target, Errno(rawValue: ELOOP),
                              detail: "is a symbolic link; kennel never mounts through links in the sandbox root")
        }
        return (fd, st.st_mode)
    }

    private func create(_ path: String, as kind: Creation) throws(LaunchError) {
        let parentPath = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try makeDirectories(parentPath.isEmpty ? "/" : parentPath, uid: nil, gid: nil, mode: 0o755)
        let (parent, leaf) = try openParent(path)
        defer { FD.close(parent) }
        try step("create mount target", path) { () throws(Errno) in
            switch kind {
            case .directory:
                _ = try retrying { mkdirat(parent, leaf, 0o755) }
            case .file:
                let fd = try FD.openAt(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
                FD.close(fd)
            }
        }
    }

    /// `mkdir -p` inside the root; the last directory gets `uid:gid` and `mode` when given.
    private func makeDirectories(_ path: String, uid: UInt32?, gid: UInt32?, mode: mode_t) throws(LaunchError) {
        var current = ""
        let parts = path.split(separator: "/")
        for (i, part) in parts.enumerated() {
            let parentPath = current.isEmpty ? "/" : current
            current += "/" + part
            if (try? InRoot.openPath(root, current)).map({ FD.close($0); return true }) == true { continue }
            let parent = try step("open", parentPath) { () throws(Errno) in
                try InRoot.open(root, parentPath, flags: Int32(KENNEL_O_PATH) | O_DIRECTORY)
            }
            defer { FD.close(parent) }
            let last = i == parts.count - 1
            try step("mkdir", current) { () throws(Errno) in
                _ = try retrying { mkdirat(parent, String(part), last ? mode : 0o755) }
                if last, let uid, let gid {
                    _ = try retrying { fchownat(parent, String(part), uid, gid, Int32(KENNEL_AT_SYMLINK_NOFOLLOW)) }
                    _ = try retrying { fchmodat(parent, String(part), mode, 0) }
                }
            }
        }
    }

    /// Like `openParent`, but the fd belongs to the cache: callers do not close it.
    private func openCachedParent(_ path: String) throws(LaunchError) -> (Int32, String) {
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        let parentPath = slash == path.startIndex ? "/" : String(path[..<slash])
        let leaf = String(path[path.index(after: slash)...])
        if parents.fd >= 0, parents.path == parentPath { return (parents.fd, leaf) }
        parents.clear()
        let fd = try step("open", parentPath) { () throws(Errno) in
            try InRoot.open(root, parentPath, flags: Int32(KENNEL_O_PATH) | O_DIRECTORY)
        }
        parents.path = parentPath
        parents.fd = fd
        return (fd, leaf)
    }

    private func openParent(_ path: String) throws(LaunchError) -> (Int32, String) {
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        let parentPath = String(path[..<slash])
        let leaf = String(path[path.index(after: slash)...])
        let fd = try step("open", parentPath.isEmpty ? "/" : parentPath) { () throws(Errno) in
            try InRoot.open(root, parentPath.isEmpty ? "/" : parentPath, flags: Int32(KENNEL_O_PATH) | O_DIRECTORY)
        }
        return (fd, leaf)
    }

    private func chown(_ parent: Int32, _ leaf: String) throws(Errno) {
        if let owner {
            _ = try retrying { fchownat(parent, leaf, owner, owner, Int32(KENNEL_AT_SYMLINK_NOFOLLOW)) }
        }
    }

    private func statPath(_ path: String) throws(Errno) -> stat {
        var st = stat()
        _ = try retrying { stat(path, &st) }
        return st
    }
}

/// The sandbox's scratch file system (see `MountStep.Kind.scratch`): one tmpfs instance,
/// made on first use as host root, owned by container root (`owner`, its host id). Its own
/// root is attached at `hiddenAt`, a path of the host's tree in the supervisor's staging
/// namespace outside the new root (kennel's state directory, where the covered host mounts
/// go too), and leaves with the old root at the pivot. Attached, it can be cloned from on
/// any kernel: cloning a directory of a detached mount (fsmount's) needs Linux 6.15. Every
/// target gets a clone of a directory of its own.
/// A read-only view of the scratch file system's empty directory, cloned before the pivot for
/// one of /proc's masked directories: /proc is made after the pivot, when the scratch file
/// system can no longer be cloned from (on kernels before 6.15 a detached mount cannot be),
/// and a view costs a clone where a tmpfs of its own would cost a superblock to create and
/// tear down. The caller closes `fd`.
struct PreparedMask {
    let target: String
    let fd: Int32

    /// One for each directory among `steps`' masks under /proc that the host's procfs
    /// (`hostProc`) has: the sandbox's procfs, of the same kernel, has the same ones.
    static func forProc(_ steps: [MountStep], hostProc: Int32, scratch: ScratchFileSystem) throws(LaunchError) -> [PreparedMask] {
        var out: [PreparedMask] = []
        do throws(LaunchError) {
            for m in steps where m.kind == .mask && m.target.hasPrefix("/proc/") {
                var st = stat()
                guard fstatat(hostProc, String(m.target.dropFirst("/proc/".count)), &st, AT_SYMLINK_NOFOLLOW) == 0,
                      (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                let view = try step("mask", m.target) { () throws(Errno) in try scratch.maskView() }
                out.append(PreparedMask(target: m.target, fd: view))
            }
        } catch {
            for m in out { FD.close(m.fd) }
            throw error
        }
        return out
    }
}

final class ScratchFileSystem {
    let owner: UInt32
    let hiddenAt: String
    /// The scratch tmpfs's root (fsmount's fd, attached at `hiddenAt`), or -1 before first use.
    private var mount: Int32 = -1
    private var hasEmptyDirectory = false

    init(owner: UInt32, hiddenAt: String) {
        self.owner = owner
        self.hiddenAt = hiddenAt
    }

    /// A detached clone of a new directory named after `target` ("/tmp" → "tmp"), with
    /// `mode` and owned by container root, ready to attach.
    func directory(for target: String, mode: mode_t) throws(Errno) -> Int32 {
        let fs = try root()
        let name = ScratchFileSystem.name(target)
        try makeDirectory(fs, name, mode: mode, owner: owner)
        return try Mounts.cloneTree(dir: fs, path: name, recursive: false)
    }

    /// mkdir with exactly `mode` (mkdir applies the umask and never sets the sticky bit, so
    /// the mode is set afterwards), owned by `owner` if given, else host root.
    private func makeDirectory(_ fs: Int32, _ name: String, mode: mode_t, owner: UInt32?) throws(Errno) {
        _ = try retrying { mkdirat(fs, name, mode) }
        if let owner { _ = try retrying { fchownat(fs, name, owner, owner, Int32(KENNEL_AT_SYMLINK_NOFOLLOW)) } }
        _ = try retrying { fchmodat(fs, name, mode, 0) }
    }

    /// A detached clone of a new file holding `contents` (mode 644; owned by `fileOwner`, a
    /// host id, or host root), e.g. /etc/resolv.conf.
    func file(for target: String, contents: String, owner fileOwner: UInt32?) throws(Errno) -> Int32 {
        let fs = try root()
        let name = ScratchFileSystem.name(target)
        let file = try FD.openAt(fs, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
        do throws(Errno) {
            try FD.writeAll(file, contents)
            _ = try retrying { fchmod(file, 0o644) }  // whatever the caller's umask took away
        } catch { FD.close(file); throw error }
        FD.close(file)
        if let fileOwner { _ = try retrying { fchownat(fs, name, fileOwner, fileOwner, Int32(KENNEL_AT_SYMLINK_NOFOLLOW)) } }
        return try Mounts.cloneTree(dir: fs, path: name, recursive: false)
    }

    /// A read-only view of the one empty directory (mode 555, host root's): what every masked
    /// directory shows. Detached; the caller attaches it and closes the fd.
    func maskView() throws(Errno) -> Int32 {
        let view = try emptyDirectory()
        do throws(Errno) {
            try Mounts.setAttributes(view, set: [.readOnly, .noSuid, .noDev, .noExec], recursive: false)
        } catch {
            FD.close(view)
            throw error
        }
        return view
    }

    /// A detached clone of the one empty directory (mode 555, host root's) behind masks.
    private func emptyDirectory() throws(Errno) -> Int32 {
        let fs = try root()
        if !hasEmptyDirectory {
            try makeDirectory(fs, ".empty", mode: 0o555, owner: nil)
            hasEmptyDirectory = true
        }
        return try Mounts.cloneTree(dir: fs, path: ".empty", recursive: false)
    }

    /// "/etc/resolv.conf" → "etc_resolv.conf": one flat name per target.
    private static func name(_ target: String) -> String {
        String(decoding: target.utf8.dropFirst().map { $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0 }, as: UTF8.self)
    }

    private func root() throws(Errno) -> Int32 {
        if mount >= 0 { return mount }
        let owner = self.owner
        let fs = try Mounts.newFileSystem("tmpfs", attributes: []) { fs throws(Errno) in
            try fs.set("mode", "755")
            try fs.set("uid", "\(owner)")
            try fs.set("gid", "\(owner)")
        }
        do throws(Errno) { try Mounts.attach(fs, at: hiddenAt) } catch { FD.close(fs); throw error }
        mount = fs
        return mount
    }

    /// Lets go of the root's fd (the mount itself went, or goes, with the old root).
    func close() {
        if mount >= 0 { FD.close(mount) }
        mount = -1
    }

    deinit { close() }
}

/// One open parent directory, reused while steps stay in it.
private final class ParentCache {
    var path = ""
    var fd: Int32 = -1

    func clear() {
        if fd >= 0 { FD.close(fd) }
        fd = -1
        path = ""
    }

    deinit { clear() }
}

extension MountAttributes {
    /// The kernel attributes for a plan's mount flags.
    init(_ f: MountStep.Flags) {
        self = []
        if f.contains(.readOnly) { insert(.readOnly) }
        if f.contains(.noSuid) { insert(.noSuid) }
        if f.contains(.noDev) { insert(.noDev) }
        if f.contains(.noExec) { insert(.noExec) }
    }
}
