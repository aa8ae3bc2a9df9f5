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

    /// One relayed connection: `host` accepted on the host, `sandbox` to the sandbox's loopback.
    private final class Connection {
        let host: Int32
        let sandbox: Int32
        var connecting = true
        /// Bytes read from one side, not yet written to the other.
        var toSandbox: [UInt8] = []
        var toHost: [UInt8] = []
        var hostEOF = false
        var sandboxEOF = false
        var sandboxShut = false
        var hostShut = false
        var closed = false

        init(host: Int32, sandbox: Int32) {
            self.host = host
            self.sandbox = sandbox
        }

        var finished: Bool { closed || (hostShut && sandboxShut) }

        func close() {
            if closed { return }
            closed = true
            FD.close(host)
            FD.close(sandbox)
        }
    }

    private var listeners: [Listener] = []
    private var connections: [Connection] = []
    private let sandboxNetwork: Int32
    private let hostNetwork: Int32
    private static let chunk = 256 << 10
    /// Per direction; reading pauses while this much waits to be written.
    private static let bufferLimit = 1 << 20

    /// Binds every published port on the host, before anything else is created: a port in use
    /// is an error with nothing to clean up. `sandboxNetwork` is set once the sandbox exists.
    init(_ publish: [SandboxSpec.Publish], hostNetwork: Int32) throws(LaunchError) {
        self.hostNetwork = hostNetwork
        sandboxNetwork = -1
        for p in publish {
            do throws(Errno) {
                listeners.append(Listener(fd: try TCP.listen(ip: p.hostIP, port: p.hostPort), sandboxPort: p.sandboxPort))
            } catch {
                for l in listeners { FD.close(l.fd) }
                throw LaunchError("publish", "\(p.hostIP):\(p.hostPort)", error)
            }
        }
    }

    private init(listeners: [Listener], hostNetwork: Int32, sandboxNetwork: Int32) {
        self.listeners = listeners
        self.hostNetwork = hostNetwork
        self.sandboxNetwork = sandboxNetwork
    }

    /// The relay, now able to reach the sandbox through its network namespace fd.
    func attached(to sandboxNetwork: Int32) -> PortRelay {
        PortRelay(listeners: listeners, hostNetwork: hostNetwork, sandboxNetwork: sandboxNetwork)
    }

    var isEmpty: Bool { listeners.isEmpty }

    /// The descriptors and events to poll for, in the order `service` expects them back.
    func pollSet() -> [pollfd] {
        var fds = listeners.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        for c in connections {
            var hostEvents: Int32 = 0, sandboxEvents: Int32 = 0
            if c.connecting {
                sandboxEvents |= Int32(POLLOUT)
            } else {
                if !c.hostEOF && c.toSandbox.count < PortRelay.bufferLimit { hostEvents |= Int32(POLLIN) }
                if !c.sandboxEOF && c.toHost.count < PortRelay.bufferLimit { sandboxEvents |= Int32(POLLIN) }
                if !c.toHost.isEmpty { hostEvents |= Int32(POLLOUT) }
                if !c.toSandbox.isEmpty { sandboxEvents |= Int32(POLLOUT) }
            }
            fds.append(pollfd(fd: c.host, events: Int16(hostEvents), revents: 0))
            fds.append(pollfd(fd: c.sandbox, events: Int16(sandboxEvents), revents: 0))
        }
        return fds
    }

    /// Acts on what poll reported for `pollSet()`'s descriptors.
    func service(_ fds: ArraySlice<pollfd>) {
        // The connections polled are those that existed when `pollSet()` ran; new ones join
        // after them.
        let polled = connections
        var i = fds.startIndex
        for l in listeners {
            if fds[i].revents != 0 { acceptAll(l) }
            i += 1
        }
        for c in polled {
            let hostEvents = Int32(fds[i].revents), sandboxEvents = Int32(fds[i + 1].revents)
            i += 2
            if c.connecting {
                guard sandboxEvents != 0 else { continue }
                if TCP.pendingError(c.sandbox) != 0 { c.close(); continue }
                c.connecting = false
                continue
            }
            let readable = Int32(POLLIN) | Int32(POLLHUP) | Int32(POLLERR)
            if hostEvents & readable != 0 { pump(from: c.host, to: c.sandbox, into: &c.toSandbox, eof: &c.hostEOF, c) }
            if !c.closed && sandboxEvents & readable != 0 {
                pump(from: c.sandbox, to: c.host, into: &c.toHost, eof: &c.sandboxEOF, c)
            }
            if !c.closed { flush(c) }
        }
        connections.removeAll { c in
            if c.finished { c.close() }
            return c.closed
        }
    }

    private func acceptAll(_ l: Listener) {
        while let host = try? TCP.accept(l.fd) {
            // The sandbox-side socket must be made inside the sandbox's network namespace.
            guard (try? Namespaces.enter(sandboxNetwork)) != nil else { FD.close(host); continue }
            let sandbox = try? TCP.connectLoopback(port: l.sandboxPort)
            if (try? Namespaces.enter(hostNetwork)) == nil {
                // Never stay in the sandbox's network namespace: give up relaying.
                FD.close(host)
                if let sandbox { FD.close(sandbox) }
                return
            }
            guard let sandbox else { FD.close(host); continue }
            TCP.setNoDelay(host)
            connections.append(Connection(host: host, sandbox: sandbox))
        }
    }

    /// One scratch buffer for every read: nothing is allocated per message.
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: PortRelay.chunk, alignment: 16)

    deinit { scratch.deallocate() }

    /// Reads what is there and sends it straight on to `peer`; only what the peer cannot take
    /// yet is kept in `buffer`. End of file is remembered.
    private func pump(from fd: Int32, to peer: Int32, into buffer: inout [UInt8], eof: inout Bool, _ c: Connection) {
        let n = Glibc.read(fd, scratch.baseAddress, scratch.count)
        if n > 0 {
            var sent = 0
            if buffer.isEmpty {
                let w = Glibc.send(peer, scratch.baseAddress, n, Int32(MSG_NOSIGNAL))
                if w > 0 { sent = w } else if w < 0 && errno != EAGAIN && errno != EINTR { c.close(); return }
            }
            if sent < n { buffer += UnsafeRawBufferPointer(rebasing: scratch[sent..<n]) }
        } else if n == 0 {
            eof = true
        } else if errno != EAGAIN && errno != EINTR {
            c.close()
        }
    }

    /// Writes what is pending each way; forwards an end of file once its data is through.
    private func flush(_ c: Connection) {
        if !write(&c.toSandbox, to: c.sandbox) || !write(&c.toHost, to: c.host) {
            c.close()
            return
        }
        if c.hostEOF && c.toSandbox.isEmpty && !c.sandboxShut {
            shutdown(c.sandbox, Int32(SHUT_WR))
            c.sandboxShut = true
        }
        if c.sandboxEOF && c.toHost.isEmpty && !c.hostShut {
            shutdown(c.host, Int32(SHUT_WR))
            c.hostShut = true
        }
    }

    private func write(_ buffer: inout [UInt8], to fd: Int32) -> Bool {
        guard !buffer.isEmpty else { return true }
        let n = buffer.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n > 0 {
            buffer.removeFirst(n)
            return true
        }
        return n < 0 && (errno == EAGAIN || errno == EINTR)
    }

    func closeAll() {
        for c in connections { c.close() }
        for l in listeners { FD.close(l.fd) }
        connections = []
        listeners = []
    }
}
