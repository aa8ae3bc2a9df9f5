import KennelSystem

/// A failure of kennel itself: which step, on which path, with which errno. It prints as one
/// line (`kennel: mount /proc: EPERM (Operation not permitted)`) and makes kennel exit 125,
/// or 126/127 when the command cannot be executed or found.
public struct LaunchError: Error, CustomStringConvertible, Equatable {
    public var step: String
    public var path: String?
    public var errno: Errno
    public var exitCode: Int32
    public var detail: String?

    public init(_ step: String, _ path: String? = nil, _ errno: Errno, exitCode: Int32 = 125, detail: String? = nil) {
        self.step = step
        self.path = path
        self.errno = errno
        self.exitCode = exitCode
        self.detail = detail
    }

    public var description: String {
        var s = step
        if let path { s += " " + path }
        s += ": \(errno.name) (\(detail ?? errno.message))"
        return s
    }

    /// The record init or the payload sends up the sync channel on failure: tab-separated
    /// fields, each with `%`, tab and newline percent-escaped (paths may hold any of them).
    var wire: String {
        ["error", step, path ?? "", String(errno.rawValue), String(exitCode), detail ?? ""]
            .map(LaunchError.escape).joined(separator: "\t")
    }

    init?(wire: String) {
        let f = wire.split(separator: "\t", omittingEmptySubsequences: false).map { LaunchError.unescape(String($0)) }
        guard f.count == 6, f[0] == "error", let e = Int32(f[3]), let code = Int32(f[4]) else { return nil }
        self.init(f[1], f[2].isEmpty ? nil : f[2], Errno(rawValue: e), exitCode: code, detail: f[5].isEmpty ? nil : f[5])
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "%": out += "%25"
            case "\t": out += "%09"
            case "\n": out += "%0A"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        var out = ""
        var scalars = s.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            let hex = String([scalars.next(), scalars.next()].compactMap { $0.map(Character.init) })
            switch hex {
            case "25": out += "%"
            case "09": out += "\t"
            case "0A": out += "\n"
            default: out += "%" + hex
            }
        }
        return out
    }
}

/// Runs one syscall-layer step, attaching the step name and path to its errno.
@inline(__always)
func step<T>(_ name: String, _ path: @autoclosure () -> String? = nil, exitCode: Int32 = 125,
             _ body: () throws(Errno) -> T) throws(LaunchError) -> T {
    do {
        return try body()
    } catch {
        // The path is worked out only now: building labels on the success path costs every
        // launch (a generic `joined` alone pulls in a protocol-conformance scan).
        throw LaunchError(name, path(), error, exitCode: exitCode)
    }
}

