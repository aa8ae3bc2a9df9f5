import CKennel
import CLibcap
import Glibc

/// Applying capability sets to the current process, through libcap.
public enum Capabilities {
    /// Capability numbers are below 64 (the kernel's masks are 64-bit). The kernel knows a
    /// contiguous range from 0: the first number it answers EINVAL for ends the walk, so no
    /// /proc read is needed.
    static let numbers: ClosedRange<Int32> = 0...63

    /// Shrinks the bounding set to `keep` (a 64-bit mask) and clears the ambient set.
    /// Needs CAP_SETPCAP; the permitted set is untouched.
    public static func restrictBounding(to keep: UInt64) throws(Errno) {
        for cap in numbers where keep & (1 << UInt64(cap)) == 0 {
            if cap_drop_bound(cap_value_t(cap)) != 0 {
                let e = errno
                if e == EINVAL { break }  // beyond CAP_LAST_CAP: so is every higher number
                throw Errno(rawValue: e)
            }
        }
        _ = try retrying { kennel_prctl(Int32(KENNEL_PR_CAP_AMBIENT), UInt(KENNEL_PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0) }
    }

    /// Sets permitted = effective = `mask`, inheritable = empty.
    public static func setProcessSets(_ mask: UInt64) throws(Errno) {
        guard let caps = cap_init() else { throw Errno(rawValue: errno) }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var values: [cap_value_t] = numbers.filter { mask & (1 << UInt64($0)) != 0 }.map { cap_value_t($0) }
        if !values.isEmpty {
            for flag in [CAP_PERMITTED, CAP_EFFECTIVE] where cap_set_flag(caps, flag, Int32(values.count), &values, CAP_SET) != 0 {
                throw Errno(rawValue: errno)
            }
        }
        if cap_set_proc(caps) != 0 { throw Errno(rawValue: errno) }
    }

}
