import CKennel
import Glibc
import KennelSpec
import KennelSystem

/// `--publish`: the supervisor relays connections to host ports into the sandbox's loopback.
/// Single-threaded and poll(2)-driven, in the supervisor's wait loop, after the sandbox exists;
/// it ends with the supervisor. Each accepted connection gets a socket made in the sandbox's
/// network namespace (setns there and back around socket(2)), connected to 127.0.0.1:PORT.
final class PortRelay {
    private struct Listener {
        let fd: Int32
        let sandboxPort: UInt16
    }

    /// One direction of a connection: bytes move from a socket into a pipe and from the pipe
    /// to the other socket with splice(2), never through user memory.
    private final class Direction {
        let pipeRead: Int32
        let pipeWrite: Int32
        /// Bytes in the pipe, not yet written on.
        var pending = 0
        /// The last fill found the pipe full: wait for a drain before reading again.
        var full = false
        var eof = false
        var shut = false

        init?() {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { return nil }
            for fd in fds {
                _ = fcntl(fd, F_SETFL, O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            // A larger pipe moves more per wake-up; the default (64 KiB) serves if refused.
            _ = fcntl(fds[1], Int32(KENNEL_F_SETPIPE_SZ), Int32(PortRelay.pipeSize))
            pipeRead = fds[0]
            pipeWrite = fds[1]
        }

        func close() {
            FD.close(pipeRead)
            FD.close(pipeWrite)
        }
    }

    /// One relayed connection: `host` accepted on the host, `sandbox` to the sandbox's loopback.
    private final class Connection {
        let host: Int32
        let sandbox: Int32
        let toSandbox: Direction
        let toHost: Direction
        var connecting = true
        /// When a connect to the sandbox that has not completed is given up (monotonic ns).
        let connectDeadline = PortRelay.now() + PortRelay.connectTimeout
        var closed = false

        init?(host: Int32, sandbox: Int32) {
            guard let a = Direction() else { return nil }
            guard let b = Direction() else { a.close(); return nil }
            self.host = host
            self.sandbox = sandbox
            toSandbox = a
            toHost = b
        }

        var finished: Bool { closed || (toSandbox.shut && toHost.shut) }

        func close() {
            if closed { return }
            closed = true
            FD.close(host)
            FD.close(sandbox)
            toSandbox.close()
            toHost.close()
        }
    }

    private var listeners: [Listener] = []
    private var connections: [Connection] = []
    /// The sandbox's network namespace (an fd), set by `attach` once the sandbox exists.
    private var sandboxNetwork: Int32 = -1
    private let hostNetwork: Int32
    /// Per direction: the pipe between the two sockets.
    static let pipeSize = 1 << 20
    /// Connections relayed at once; listeners are not polled beyond this (each holds six fds
    /// and two pipes), nor after accept failed for want of descriptors until one closes.
    static let maxConnections = 256
    /// A sandbox port that does not accept within this long (full backlog): the client's
    /// connection is closed rather than held open.
    static let connectTimeout: UInt64 = 10_000_000_000

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// How long poll may wait: until the earliest connect deadline, or forever (-1).
    func pollTimeout() -> Int32 {
        guard let next = connections.filter({ $0.connecting && !$0.closed }).map(\.connectDeadline).min() else { return -1 }
        let now = PortRelay.now()
        return next <= now ? 0 : Int32(min((next - now) / 1_000_000 + 1, 60_000))
    }
    private var acceptPaused = false

    /// Binds every published port on the host, before anything else is created: a port in use
    /// is an error with nothing to clean up.
    init(_ publish: [SandboxSpec.Publish], hostNetwork: Int32) throws(LaunchError) {
        self.hostNetwork = hostNetwork
        for p in publish {
            do throws(Errno) {
                listeners.append(Listener(fd: try TCP.listen(ip: p.hostIP, port: p.hostPort), sandboxPort: p.sandboxPort))
            } catch {
                for l in listeners { FD.close(l.fd) }
                throw LaunchError("publish", "\(p.hostIP):\(p.hostPort)", error)
            }
        }
    }

    /// Connections can be relayed from now on, into the network namespace `sandboxNetwork`.
    func attach(to sandboxNetwork: Int32) {
        self.sandboxNetwork = sandboxNetwork
    }

    /// Some connection holds bytes its destination has no room for yet: the relay waits on
    /// the receiver, and busy-polling would only take CPU from it (a bulk transfer).
    var backlogged: Bool {
        connections.contains { $0.toSandbox.pending > 0 || $0.toHost.pending > 0 }
    }

    /// Appends the descriptors and events to poll for, in the order `service` expects them back.
    func appendPollSet(to fds: inout [pollfd]) {
        let accepting = !acceptPaused && connections.count < PortRelay.maxConnections
        for l in listeners { fds.append(pollfd(fd: l.fd, events: accepting ? Int16(POLLIN) : 0, revents: 0)) }
        for c in connections {
            var hostEvents: Int32 = 0, sandboxEvents: Int32 = 0
            if c.connecting {
                sandboxEvents |= Int32(POLLOUT)
            } else {
                // Read while the pipe has room (splice reports EAGAIN when it has none).
                if !c.toSandbox.eof && !c.toSandbox.full { hostEvents |= Int32(POLLIN) }
                if !c.toHost.eof && !c.toHost.full { sandboxEvents |= Int32(POLLIN) }
                if c.toHost.pending > 0 { hostEvents |= Int32(POLLOUT) }
                if c.toSandbox.pending > 0 { sandboxEvents |= Int32(POLLOUT) }
            }
            fds.append(pollfd(fd: c.host, events: Int16(hostEvents), revents: 0))
            fds.append(pollfd(fd: c.sandbox, events: Int16(sandboxEvents), revents: 0))
        }
    }

    /// Acts on what poll reported for `pollSet()`'s descriptors. Throws only if the supervisor
    /// could not return to the host's network namespace (it must never stay in the sandbox's).
    func service(_ fds: ArraySlice<pollfd>) throws(LaunchError) {
        // The connections polled are those that existed when `pollSet()` ran; new ones join
        // after them.
        let polled = connections
        var i = fds.startIndex
        for l in listeners {
            if fds[i].revents != 0 { try acceptAll(l) }
            i += 1
        }
        for c in polled {
            let hostEvents = Int32(fds[i].revents), sandboxEvents = Int32(fds[i + 1].revents)
            i += 2
            if c.connecting {
                // The client gave up while the sandbox side was still connecting, or it took
                // too long.
                if hostEvents & (Int32(POLLHUP) | Int32(POLLERR)) != 0 || PortRelay.now() >= c.connectDeadline {
                    c.close()
                    continue
                }
                guard sandboxEvents != 0 else { continue }
                if TCP.pendingError(c.sandbox) != 0 { c.close(); continue }
                c.connecting = false
                continue
            }
            let readable = Int32(POLLIN) | Int32(POLLHUP) | Int32(POLLERR)
            if hostEvents & readable != 0 { fill(c.toSandbox, from: c.host, c) }
            if !c.closed && sandboxEvents & readable != 0 { fill(c.toHost, from: c.sandbox, c) }
            if !c.closed { drain(c.toSandbox, to: c.sandbox, c) }
            if !c.closed { drain(c.toHost, to: c.host, c) }
        }
        let before = connections.count
        connections.removeAll { c in
            if c.finished { c.close() }
            return c.closed
        }
        if connections.count < before { acceptPaused = false }
    }

    private func acceptAll(_ l: Listener) throws(LaunchError) {
        while connections.count < PortRelay.maxConnections {
            let accepted: Int32?
            do throws(Errno) {
                accepted = try TCP.accept(l.fd)
            } catch {
                acceptPaused = true  // EMFILE and the like: wait until a connection closes
                return
            }
            guard let host = accepted else { return }
            // The sandbox-side socket must be made inside the sandbox's network namespace.
            guard (try? Namespaces.enter(sandboxNetwork)) != nil else { FD.close(host); continue }
            let sandbox = try? TCP.connectLoopback(port: l.sandboxPort)
            do throws(Errno) {
                try Namespaces.enter(hostNetwork)
            } catch {
                FD.close(host)
                if let sandbox { FD.close(sandbox) }
                throw LaunchError("setns", "host network namespace", error)
            }
            guard let sandbox else { FD.close(host); continue }
            TCP.setNoDelay(host)
            guard let connection = Connection(host: host, sandbox: sandbox) else {
                FD.close(host)
                FD.close(sandbox)
                continue
            }
            connections.append(connection)
        }
    }

    /// Moves what the socket has into the direction's pipe; end of file is remembered.
    private func fill(_ d: Direction, from socket: Int32, _ c: Connection) {
        // A full pipe is not an end of file: splice of length 0 would return 0.
        guard !d.full, d.pending < PortRelay.pipeSize else { d.full = true; return }
        do throws(Errno) {
            guard let n = try Splice.move(from: socket, to: d.pipeWrite, length: PortRelay.pipeSize - d.pending) else {
                // Either the socket is empty or the pipe is: only the pipe is worth marking.
                if d.pending > 0 { d.full = true }
                return
            }
            if n > 0 { d.pending += n } else { d.eof = true }
        } catch {
            c.close()
        }
    }

    /// Moves what the pipe holds on to the socket; forwards end of file once all is through.
    private func drain(_ d: Direction, to socket: Int32, _ c: Connection) {
        while d.pending > 0 {
            do throws(Errno) {
                guard let n = try Splice.move(from: d.pipeRead, to: socket, length: d.pending) else { break }
                guard n > 0 else { c.close(); return }
                d.pending -= n
                d.full = false
            } catch {
                c.close()
                return
            }
        }
        if d.eof && d.pending == 0 && !d.shut {
            shutdown(socket, Int32(SHUT_WR))
            d.shut = true
        }
    }

    func closeAll() {
        for c in connections { c.close() }
        for l in listeners { FD.close(l.fd) }
        connections = []
        listeners = []
    }
}
