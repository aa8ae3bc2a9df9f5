/// The mount points of a mount namespace, from its /proc/PID/mountinfo, and the host mounts a
/// sandbox built on the host's own root must not carry.
///
/// The embedded default root is a recursive copy of the host's `/`. At the paths the sandbox
/// covers whole with file systems of its own (/proc, /sys, /dev, /tmp, /root, /home, /run) the
/// host's mounts are invisible but would still sit in the sandbox's mount table: listed in its
/// mountinfo (the names under /run/netns, say), copied and torn down with every launch, and
/// holding what they mount (a network namespace's nsfs file keeps that namespace alive after
/// `ip netns del`) for as long as the sandbox runs. The launcher moves them out of the new root
/// before the pivot, so that they go with the old root.
public enum MountTable {
    /// The mount points (the fifth field of each line, with the kernel's octal escapes for
    /// space, tab, newline and backslash decoded), in the file's order; a path mounted on
    /// more than once appears once per mount.
    public static func mountPoints(_ mountinfo: [UInt8]) -> [String] {
        var points: [String] = []
        for line in mountinfo.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5)
            guard fields.count > 4 else { continue }
            points.append(unescape(fields[4]))
        }
        return points
    }

    /// The mounts to move out of a copy of the host's tree: for each covered path, itself if
    /// it is a mount point (its submounts go with it), and otherwise the top-most mount points
    /// below it (each with its own submounts). Stacked mounts on one path appear as often as
    /// they are stacked: each move takes the top one.
    public static func coveredMounts(_ points: [String], covered: [String]) -> [String] {
        var out: [String] = []
        for c in covered {
            let here = points.filter { $0 == c }
            if !here.isEmpty {
                out += here
                continue
            }
            // Sorted with "/" below every other byte, a mount point's descendants follow it
            // directly: one pass keeps the top-most (linear after the sort, for hosts with
            // thousands of container mounts under /run).
            let prefix = Array((c + "/").utf8)
            let below = points.filter { $0.utf8.starts(with: prefix) }
                .map { p in (p, p.utf8.map { $0 == UInt8(ascii: "/") ? 0 : $0 }) }
                .sorted { $0.1.lexicographicallyPrecedes($1.1) }
            var top: [UInt8]?
            for (p, key) in below {
                if let t = top, key.count > t.count, key.starts(with: t), key[t.count] == 0 { continue }
                if let t = top, key == t { out.append(p); continue }  // stacked on a kept one
                top = key
                out.append(p)
            }
        }
        return out
    }

    /// `\040` and the like, as mountinfo writes space, tab, newline and backslash.
    static func unescape(_ field: ArraySlice<UInt8>) -> String {
        guard field.contains(UInt8(ascii: "\\")) else { return String(decoding: field, as: UTF8.self) }
        var bytes: [UInt8] = []
        var i = field.startIndex
        while i < field.endIndex {
            let b = field[i]
            if b == UInt8(ascii: "\\"), field.endIndex - i >= 4 {
                let digits = field[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }) {
                    bytes.append(digits.reduce(UInt8(0)) { $0 &* 8 &+ ($1 - 0x30) })
                    i += 4
                    continue
                }
            }
            bytes.append(b)
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
