import CKennel
import Glibc

/// Non-blocking TCP sockets for the published-port relay, and a signal fd so the supervisor
/// can wait for signals and sockets in one poll(2).
public enum TCP {
    /// A non-blocking, close-on-exec listening socket on `ip:port` (IPv4).
    public static func listen(ip: String, port: UInt16) throws(Errno) -> Int32 {
        let fd = try retrying { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do throws(Errno) {
            var one: Int32 = 1
            _ = try retrying { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
            var address = try socketAddress(ip, port)
            _ = try retrying {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            _ = try retrying { Glibc.listen(fd, 128) }
            return fd
        } catch {
            FD.close(fd)
            throw error
        }
    }

    /// Accepts one pending connection (non-blocking); nil when none is waiting.
    public static func accept(_ listener: Int32) throws(Errno) -> Int32? {
        do throws(Errno) {
            return try retrying { kennel_accept_nonblocking(listener) }
        } catch where error == .resourceTemporarilyUnavailable || error == .wouldBlock {
            return nil
        }
    }

    /// Starts a non-blocking connect to 127.0.0.1:`port` from a socket made in the current
    /// network namespace; completion shows as POLLOUT (then check `pendingError`).
    public static func connectLoopback(port: UInt16) throws(Errno) -> Int32 {
        let fd = try retrying { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var address = try socketAddress("127.0.0.1", port)
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if r != 0 {
            let e = errno
            if e != EINPROGRESS {
                FD.close(fd)
                throw Errno(rawValue: e)
            }
        }
        setNoDelay(fd)
        return fd
    }

    /// SO_ERROR: the outcome of a non-blocking connect.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) != 0 { return errno }
        return value
    }

    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    static func socketAddress(_ ip: String, _ port: UInt16) throws(Errno) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, ip, &address.sin_addr) == 1 else { throw Errno(rawValue: EINVAL) }
        return address
    }
}

extension SignalSet {
    /// A signalfd(2) for these (blocked) signals: readable when one is pending.
    public func fileDescriptor() throws(Errno) -> Int32 {
        var set = raw
        return try retrying { kennel_signalfd(&set) }
    }

    /// Takes one pending signal from a signalfd: (signal, si_code), or nil if none is pending.
    public static func read(_ fd: Int32) -> (signal: Int32, code: Int32)? {
        var signal: Int32 = 0
        var code: Int32 = 0
        guard kennel_signalfd_read(fd, &signal, &code) > 0 else { return nil }
        return (signal, code)
    }
}

/// splice(2) between a socket and a pipe, non-blocking, never through user memory.
public enum Splice {
    /// Moves up to `length` bytes: the count moved (0 at end of file), or nil when either side
    /// would block. Other failures throw.
    public static func move(from source: Int32, to destination: Int32, length: Int) throws(Errno) -> Int? {
        do throws(Errno) {
            return try retrying { kennel_splice(source, destination, length, UInt32(KENNEL_SPLICE_F_MOVE | KENNEL_SPLICE_F_NONBLOCK)) }
        } catch where error == .resourceTemporarilyUnavailable || error == .wouldBlock {
            return nil
        }
    }
}

/// poll(2) with EINTR retried; `timeout` in milliseconds, -1 for none.
public func pollDescriptors(_ fds: inout [pollfd], timeout: Int32) throws(Errno) -> Int32 {
    try retrying { poll(&fds, nfds_t(fds.count), timeout) }
}
