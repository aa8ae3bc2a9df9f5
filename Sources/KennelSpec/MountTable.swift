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
    /// One line of mountinfo: the mount's id, its parent's id and where it is mounted.
    public struct Mount: Equatable, Sendable {
        public var id: Int
        public var parent: Int
        public var point: String
        public init(id: Int, parent: Int, point: String) {
            self.id = id
            self.parent = parent
            self.point = point
        }
    }

    /// The mounts, in the file's order: the first two fields (mount and parent id) and the fifth
    /// (the mount point, with the kernel's octal escapes for space, tab, newline and backslash
    /// decoded). Lines that do not parse are left out.
    public static func mounts(_ mountinfo: [UInt8]) -> [Mount] {
        var mounts: [Mount] = []
        for line in mountinfo.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5)
            guard fields.count > 4, let id = Int(String(decoding: fields[0], as: UTF8.self)),
                  let parent = Int(String(decoding: fields[1], as: UTF8.self)) else { continue }
            mounts.append(Mount(id: id, parent: parent, point: unescape(fields[4])))
        }
        return mounts
    }

    /// The paths to move out of a copy of the host's tree, in order, one move each (a move by
    /// path takes the top mount there, with everything mounted on it). Under each covered
    /// path, the mounts whose parent mount lies outside it: the one at the path itself, the
    /// top-most below it where it is no mount point, and also those hidden underneath a later
    /// mount (/run/netns mounted before a tmpfs on /run), which the move of the covering mount
    /// reveals. Shallow paths first, so that a covering mount goes before what it hides; a
    /// path as often as mounts are stacked on it.
    public static func coveredMounts(_ mounts: [Mount], covered: [String]) -> [String] {
        var out: [String] = []
        for c in covered {
            let prefix = Array((c + "/").utf8)
            let inside = mounts.filter { $0.point == c || $0.point.utf8.starts(with: prefix) }
            let ids = Set(inside.map(\.id))
            var children: [Int: [Mount]] = [:]
            for m in inside { children[m.parent, default: []].append(m) }
            var moves: [Mount] = []
            for m in inside where !ids.contains(m.parent) {
                moves.append(m)
                // Each mount stacked on this one at the same path takes a move of its own.
                var top = m.id
                while let over = children[top]?.first(where: { $0.point == m.point }) {
                    moves.append(over)
                    top = over.id
                }
            }
            let depth = { (m: Mount) in m.point.utf8.reduce(0) { $1 == UInt8(ascii: "/") ? $0 + 1 : $0 } }
            out += moves.enumerated().sorted { a, b in
                let da = depth(a.element), db = depth(b.element)
                return da != db ? da < db : a.offset < b.offset
            }.map(\.element.point)
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
