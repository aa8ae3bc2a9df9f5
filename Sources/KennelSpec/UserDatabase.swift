/// /etc/passwd and /etc/group of a sandbox root, read to resolve `--user NAME[:GROUP]`.
///
/// Queried in place, byte by byte: a lookup scans the lines it needs and builds nothing for
/// the others. A host or image with a large user database (20 000 users: 1.4 MB of passwd,
/// 0.7 MB of group) cost a launch ~290 ms when every line was split into Characters and
/// every entry built; lines are ASCII in practice and compared as bytes, as libc does.
public struct UserDatabase: Sendable {
    public struct User: Equatable, Sendable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32
        public var home: String
    }

    private let passwd: [UInt8]
    private let group: [UInt8]

    public init(passwd: String, group: String) {
        self.init(passwd: Array(passwd.utf8), group: Array(group.utf8))
    }

    /// The files' bytes as read (an invalid UTF-8 sequence never equals a name asked for).
    public init(passwd: [UInt8], group: [UInt8]) {
        self.passwd = passwd
        self.group = group
    }

    /// The first user called `name`.
    public func user(named name: String) -> User? {
        let wanted = Array(name.utf8)
        var found: User?
        UserDatabase.records(passwd, minimum: 7) { r in
            guard r.field(0).elementsEqual(wanted), let user = r.user() else { return true }
            found = user
            return false
        }
        return found
    }

    /// The first user with `uid`.
    public func user(uid: UInt32) -> User? {
        var found: User?
        UserDatabase.records(passwd, minimum: 7) { r in
            guard r.number(2) == uid, let user = r.user() else { return true }
            found = user
            return false
        }
        return found
    }

    /// The id of the first group called `name`.
    public func group(named name: String) -> UInt32? {
        let wanted = Array(name.utf8)
        var found: UInt32?
        UserDatabase.records(group, minimum: 3) { r in
            guard r.field(0).elementsEqual(wanted), let gid = r.number(2) else { return true }
            found = gid
            return false
        }
        return found
    }

    /// The ids of the groups that list `name` as a member, in file order, each once.
    public func memberships(of name: String) -> [UInt32] {
        let wanted = Array(name.utf8)
        guard !wanted.isEmpty else { return [] }
        var gids: [UInt32] = []
        UserDatabase.records(group, minimum: 4) { r in
            var listed = false
            r.members { member in
                if member.elementsEqual(wanted) { listed = true }
            }
            if listed, let gid = r.number(2), !gids.contains(gid) { gids.append(gid) }
            return true
        }
        return gids
    }

    // For inspection and tests: every entry, as the lookups see them.

    /// Every valid passwd entry, in file order.
    public var users: [User] {
        var all: [User] = []
        UserDatabase.records(passwd, minimum: 7) { r in
            if let user = r.user() { all.append(user) }
            return true
        }
        return all
    }

    /// Every group name with its id (the first line of a name wins).
    public var groups: [String: UInt32] {
        var all: [String: UInt32] = [:]
        UserDatabase.records(group, minimum: 3) { r in
            let name = String(decoding: r.field(0), as: UTF8.self)
            if let gid = r.number(2), all[name] == nil { all[name] = gid }
            return true
        }
        return all
    }

    /// For each user name listed as a member in /etc/group, those groups' ids, in file order.
    public var memberships: [String: [UInt32]] {
        var names = Set<String>()
        UserDatabase.records(group, minimum: 4) { r in
            guard r.number(2) != nil else { return true }
            r.members { names.insert(String(decoding: $0, as: UTF8.self)) }
            return true
        }
        var all: [String: [UInt32]] = [:]
        for name in names { all[name] = memberships(of: name) }
        return all
    }

    // MARK: reading the files

    /// One line of a database: its ':'-separated fields, as ranges of the file's bytes.
    struct Record {
        let bytes: UnsafeBufferPointer<UInt8>
        let fields: [Range<Int>]

        func field(_ i: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[fields[i]]) }

        /// A decimal id (as `UInt32(String)` reads it).
        func number(_ i: Int) -> UInt32? { UInt32(String(decoding: field(i), as: UTF8.self)) }

        func user() -> User? {
            guard let uid = number(2), let gid = number(3) else { return nil }
            return User(name: String(decoding: field(0), as: UTF8.self), uid: uid, gid: gid,
                        home: String(decoding: field(5), as: UTF8.self))
        }

        /// The member names of a group line (field 3, ','-separated), without the blanks
        /// around them; empty ones left out.
        func members(_ body: (UnsafeBufferPointer<UInt8>) -> Void) {
            let list = fields[3]
            var start = list.lowerBound
            for i in list.lowerBound...list.upperBound where i == list.upperBound || bytes[i] == UInt8(ascii: ",") {
                var a = start, b = i
                while a < b, Record.blank(bytes[a]) { a += 1 }
                while b > a, Record.blank(bytes[b - 1]) { b -= 1 }
                if a < b { body(UnsafeBufferPointer(rebasing: bytes[a..<b])) }
                start = i + 1
            }
        }

        static func blank(_ c: UInt8) -> Bool { c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") }
    }

    /// Calls `body` with each line that has at least `minimum` fields, in file order, until it
    /// returns false. A line ends at "\n" (a "\r" before it is dropped); empty lines and
    /// lines starting with "#" (comments) are skipped.
    private static func records(_ data: [UInt8], minimum: Int, _ body: (Record) -> Bool) {
        data.withUnsafeBufferPointer { bytes in
            var fields: [Range<Int>] = []
            fields.reserveCapacity(8)
            var start = 0
            let count = bytes.count
            while start < count {
                var end = start
                while end < count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                var last = end
                if last > start, bytes[last - 1] == UInt8(ascii: "\r") { last -= 1 }
                defer { start = end + 1 }
                guard last > start, bytes[start] != UInt8(ascii: "#") else { continue }
                fields.removeAll(keepingCapacity: true)
                var fieldStart = start
                for i in start..<last where bytes[i] == UInt8(ascii: ":") {
                    fields.append(fieldStart..<i)
                    fieldStart = i + 1
                }
                fields.append(fieldStart..<last)
                guard fields.count >= minimum else { continue }
                if !body(Record(bytes: bytes, fields: fields)) { return }
            }
        }
    }
}

/// The run-as identity inside the sandbox (container ids, before mapping).
public struct Identity: Codable, Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var supplementaryGroups: [UInt32]
    public var home: String

    public init(uid: UInt32, gid: UInt32, supplementaryGroups: [UInt32] = [], home: String = "/") {
        self.uid = uid
        self.gid = gid
        self.supplementaryGroups = supplementaryGroups
        self.home = home
    }

    /// Resolves `--user` (`UID[:GID]` or `NAME[:GROUP]`, numbers and names mixable) and
    /// `--group-add` against the sandbox root's databases. Every id must be mapped (0-65535).
    /// As in Docker: the primary group is always among the supplementary groups too (moby's fix
    /// for CVE-2022-36109: otherwise a setgid program could leave the primary group behind and
    /// escape a permission denied to it); when no group is given, so are the groups /etc/group
    /// lists the user in (found by name, also for a numeric uid that passwd names); an explicit
    /// group means no implicit ones. `--group-add` groups come last.
    public static func resolve(user spec: String, groupAdd: [String], database db: UserDatabase,
                               passwdPath: String, groupPath: String) throws(SpecError) -> Identity {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw .malformedID(spec)
        }
        var uid: UInt32
        var gid: UInt32?
        var home = "/"
        var name: String?
        if let n = UInt32(parts[0]) {
            uid = n
            if let u = db.user(uid: n) { gid = u.gid; home = u.home; name = u.name }
        } else {
            guard let u = db.user(named: parts[0]) else { throw .unknownUser(name: parts[0], passwd: passwdPath) }
            uid = u.uid
            gid = u.gid
            home = u.home
            name = u.name
        }
        if parts.count == 2 { gid = try group(parts[1], db, groupPath) }
        let implicit = parts.count == 1 ? name.map { db.memberships(of: $0) } ?? [] : []
        let extra = try groupAdd.map { (g: String) throws(SpecError) -> UInt32 in try group(g, db, groupPath) }
        var supplementary: [UInt32] = []
        for g in [gid ?? 0] + implicit + extra where !supplementary.contains(g) { supplementary.append(g) }
        let identity = Identity(uid: uid, gid: gid ?? 0, supplementaryGroups: supplementary,
                                home: uid == 0 && home == "/" ? "/root" : home)
        if identity.uid >= IDMapping.rangeSize { throw .idOutOfRange("uid", identity.uid) }
        if identity.gid >= IDMapping.rangeSize { throw .idOutOfRange("gid", identity.gid) }
        for id in implicit where id >= IDMapping.rangeSize { throw .idOutOfRange("group of \(name ?? "")", id) }
        for id in extra where id >= IDMapping.rangeSize { throw .idOutOfRange("--group-add", id) }
        return identity
    }

    /// False when `resolve` would read nothing from the databases: container root by number
    /// with a numeric group (home /root; no implicit supplementary groups, as a group is
    /// given) and numeric extra groups. Saves reading and parsing /etc/passwd and /etc/group
    /// on the default launch (`0:0`).
    public static func needsDatabase(user spec: String, groupAdd: [String]) -> Bool {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.first == "0", parts.count == 2, parts.dropFirst().allSatisfy({ UInt32($0) != nil }) else { return true }
        return !groupAdd.allSatisfy { UInt32($0) != nil }
    }

    private static func group(_ s: String, _ db: UserDatabase, _ path: String) throws(SpecError) -> UInt32 {
        if let n = UInt32(s) { return n }
        guard let g = db.group(named: s) else { throw .unknownGroup(name: s, group: path) }
        return g
    }
}
