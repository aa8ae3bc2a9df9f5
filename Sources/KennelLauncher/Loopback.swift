import CKennel
import Glibc
import KennelSystem

/// The network a `--net none` sandbox gets: its own namespace with only `lo`, brought up
/// here with one ioctl (no netlink round trip needed for a single flag).
enum Loopback {
    static func bringUp() throws(Errno) {
        let fd = try retrying { socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { FD.close(fd) }
        // struct ifreq: 16 bytes of name, then a union whose first member is the short flags.
        var request = [UInt8](repeating: 0, count: 40)
        request.replaceSubrange(0..<2, with: Array("lo".utf8))
        _ = try retrying { request.withUnsafeMutableBytes { kennel_ioctl_ptr(fd, UInt(KENNEL_SIOCGIFFLAGS), $0.baseAddress) } }
        let flags = UInt16(request[16]) | UInt16(request[17]) << 8 | UInt16(IFF_UP)
        request[16] = UInt8(flags & 0xff)
        request[17] = UInt8(flags >> 8)
        _ = try retrying { request.withUnsafeMutableBytes { kennel_ioctl_ptr(fd, UInt(KENNEL_SIOCSIFFLAGS), $0.baseAddress) } }
    }
}
