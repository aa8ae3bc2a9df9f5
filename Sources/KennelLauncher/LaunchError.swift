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

    /// The record init or the payload sends up the sync channel on failure.
    var wire: String {
        ["error", step, path ?? "", String(errno.rawValue), String(exitCode), detail ?? ""].joined(separator: "\t")
    }

    init?(wire: String) {
        let f = wire.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 6, f[0] == "error", let e = Int32(f[3]), let code = Int32(f[4]) else { return nil }
        self.init(f[1], f[2].isEmpty ? nil : f[2], Errno(rawValue: e), exitCode: code, detail: f[5].isEmpty ? nil : f[5])
    }
}

/// Runs one syscall-layer step, attaching the step name and path to its errno.
@inline(__always)
func step<T>(_ name: String, _ path: String? = nil, exitCode: Int32 = 125,
             _ body: () throws(Errno) -> T) throws(LaunchError) -> T {
    do {
        return try body()
    } catch {
        throw LaunchError(name, path, error, exitCode: exitCode)
    }
}
