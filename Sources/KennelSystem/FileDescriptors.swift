import CKennel
import Glibc

/// Small, explicit operations on raw file descriptors: the launcher owns few of them and
/// must know exactly which survive into the payload (none above 2).
public enum FD {
    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        try retrying { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    public static func openAt(_ dir: Int32, _ path: String, _ flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        try retrying { Glibc.openat(dir, path, flags | O_CLOEXEC, mode) }
    }

    /// Writes every byte or throws.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            let n = try retrying { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) } }
            offset += n
        }
    }

    public static func writeAll(_ fd: Int32, _ string: String) throws(Errno) {
        try writeAll(fd, Array(string.utf8))
    }

    /// Reads to end of file. `expectedSize` (a regular file's size from fstat) sizes the
    /// result once instead of growing it by copies.
    public static func readAll(_ fd: Int32, limit: Int = 16 << 20, expectedSize: Int = 0) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        if expectedSize > 0 { out.reserveCapacity(min(expectedSize, limit) + 1) }
        // Scratch memory is not zeroed: only the pages read(2) fills are touched (zeroing
        // 64 KiB costs 16 page faults, copy-on-write ones in a freshly forked process).
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        while out.count < limit {
            let n = try retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            if n == 0 { break }
            out += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        }
        return out
    }

    /// Reads a whole file by path.
    public static func readFile(_ path: String) throws(Errno) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        return try readAll(fd)
    }

    /// Writes a file in one write() at offset 0, as /proc/PID/uid_map requires.
    public static func writeFile(_ path: String, _ contents: String, create: Bool = false, mode: mode_t = 0o644) throws(Errno) {
        let fd = try open(path, create ? (O_WRONLY | O_CREAT | O_TRUNC) : O_WRONLY, mode: mode)
        defer { close(fd) }
        try writeAll(fd, contents)
    }

    /// Writes `bytes` to a temporary file beside `path` and renames it over `path`: readers
    /// see the old contents or the new, never a part. The temporary file goes on failure.
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(Errno) {
        let tmp = path + ".tmp-\(getpid())"
        do throws(Errno) {
            let fd = try open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: mode)
            defer { close(fd) }
            try writeAll(fd, bytes)
            if rename(tmp, path) != 0 { throw Errno(rawValue: errno) }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// The names in directory `path` (without . and ..); empty if it cannot be read.
    public static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Marks every descriptor from `first` up close-on-exec: they stay usable for error
    /// reporting until execve, and none of them reaches the payload.
    public static func closeOnExecFrom(_ first: UInt32) throws(Errno) {
        _ = try retrying { kennel_close_range(first, UInt32.max, Int32(KENNEL_CLOSE_RANGE_CLOEXEC)) }
    }

    /// Closes every descriptor above 2 except `keep`: whatever the caller of kennel passed
    /// down, and whatever the supervisor had open, must never be reachable from the sandbox
    /// (through /proc/self/fd/N, before execve: the runc CVE-2024-21626 class).
    public static func closeAllAbove2(except keep: Int32) throws(Errno) {
        if keep > 3 { _ = try retrying { kennel_close_range(3, UInt32(keep - 1), 0) } }
        _ = try retrying { kennel_close_range(UInt32(max(keep + 1, 3)), UInt32.max, 0) }
    }

    public static func fstat(_ fd: Int32) throws(Errno) -> stat {
        var st = stat()
        _ = try retrying { Glibc.fstat(fd, &st) }
        return st
    }
}

/// A connected pair of sequenced-packet sockets: message boundaries survive, and the reader
/// sees end-of-file once every copy of the other end is closed (by exit or by execve).
public struct SocketPair {
    public let parent: Int32
    public let child: Int32

    public static func make() throws(Errno) -> SocketPair {
        var fds: [Int32] = [-1, -1]
        _ = try retrying { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return SocketPair(parent: fds[0], child: fds[1])
    }

    /// Sends one message.
    public static func send(_ fd: Int32, _ message: String) throws(Errno) {
        let bytes = Array(message.utf8)
        _ = try retrying { bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    }

    /// Receives one message; nil at end of file. A message longer than the buffer is an
    /// error (EMSGSIZE), never silently cut.
    public static func receive(_ fd: Int32) throws(Errno) -> String? {
        // Not zeroed (see readAll): every process of a launch receives here right after a fork.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        let n = try retrying { Glibc.recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC)) }
        if n == 0 { return nil }
        if n > buffer.count { throw Errno(rawValue: EMSGSIZE) }
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<n]), as: UTF8.self)
    }

    /// True if the peer has closed every copy of its end.
    public static func peerClosed(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0 && (p.revents & Int16(POLLHUP)) != 0
    }
}
