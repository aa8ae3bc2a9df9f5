import CKennel
import Glibc
import SystemPackage

@_exported import struct SystemPackage.Errno

/// The one place that turns a C return value into `throws(Errno)`: errno is read first,
/// before anything else can overwrite it, and EINTR is retried here and nowhere else.
/// Works for the `int` and `ssize_t` results of libc calls alike.
@inline(__always)
public func retrying<Result: FixedWidthInteger & SignedInteger>(_ call: () -> Result) throws(Errno) -> Result {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw Errno(rawValue: code)
    }
}

extension Errno {
    /// The symbolic name (`EPERM`), which is what people search for.
    public var name: String {
        switch rawValue {
        case Glibc.EPERM: return "EPERM"
        case Glibc.ENOENT: return "ENOENT"
        case Glibc.ESRCH: return "ESRCH"
        case Glibc.EINTR: return "EINTR"
        case Glibc.EIO: return "EIO"
        case Glibc.E2BIG: return "E2BIG"
        case Glibc.ENOEXEC: return "ENOEXEC"
        case Glibc.EBADF: return "EBADF"
        case Glibc.ECHILD: return "ECHILD"
        case Glibc.EAGAIN: return "EAGAIN"
        case Glibc.ENOMEM: return "ENOMEM"
        case Glibc.EACCES: return "EACCES"
        case Glibc.EFAULT: return "EFAULT"
        case Glibc.EBUSY: return "EBUSY"
        case Glibc.EEXIST: return "EEXIST"
        case Glibc.EXDEV: return "EXDEV"
        case Glibc.ENODEV: return "ENODEV"
        case Glibc.ENOTDIR: return "ENOTDIR"
        case Glibc.EISDIR: return "EISDIR"
        case Glibc.EINVAL: return "EINVAL"
        case Glibc.ENFILE: return "ENFILE"
        case Glibc.EMFILE: return "EMFILE"
        case Glibc.ENOTTY: return "ENOTTY"
        case Glibc.ETXTBSY: return "ETXTBSY"
        case Glibc.EFBIG: return "EFBIG"
        case Glibc.ENOSPC: return "ENOSPC"
        case Glibc.EROFS: return "EROFS"
        case Glibc.EMLINK: return "EMLINK"
        case Glibc.EPIPE: return "EPIPE"
        case Glibc.ERANGE: return "ERANGE"
        case Glibc.ENAMETOOLONG: return "ENAMETOOLONG"
        case Glibc.ENOSYS: return "ENOSYS"
        case Glibc.ENOTEMPTY: return "ENOTEMPTY"
        case Glibc.ELOOP: return "ELOOP"
        case Glibc.EUSERS: return "EUSERS"
        case Glibc.EOPNOTSUPP: return "EOPNOTSUPP"
        case Glibc.EADDRINUSE: return "EADDRINUSE"
        case Glibc.ECONNREFUSED: return "ECONNREFUSED"
        case Glibc.EHOSTUNREACH: return "EHOSTUNREACH"
        case Glibc.ENETUNREACH: return "ENETUNREACH"
        default: return "errno \(rawValue)"
        }
    }

    /// The C library's message for this errno.
    public var message: String { String(cString: strerror(rawValue)) }
}

/// Calls `body` with a NUL-terminated array of C strings (argv/envp style). The strings are
/// freed after `body` returns: read errno inside `body`, not after.
public func withCStringArray<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
    for (i, s) in strings.enumerated() { (array + i).initialize(to: strdup(s)) }
    (array + strings.count).initialize(to: nil)
    defer {
        for i in 0..<strings.count { free(array[i]) }
        array.deallocate()
    }
    return body(array)
}
