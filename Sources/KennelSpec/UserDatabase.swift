/// /etc/passwd and /etc/group of a sandbox root, parsed to resolve `--user NAME[:GROUP]`.
public struct UserDatabase: Sendable {
    public struct User: Equatable, Sendable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32
        public var home: String
    }

    public var users: [User] = []
    public var groups: [String: UInt32] = [:]
    /// For each user name listed as a member in /etc/group, those groups' ids, in file order.
    public var memberships: [String: [UInt32]] = [:]

    public init(passwd: String, group: String) {
        // "\r\n" is one Character in Swift: split on it too, or a CRLF file would be one line.
        for line in passwd.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) where !line.hasPrefix("#") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { continue }
            users.append(User(name: String(f[0]), uid: uid, gid: gid, home: String(f[5])))
        }
        for line in group.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) where !line.hasPrefix("#") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, let gid = UInt32(f[2]) else { continue }
            if groups[String(f[0])] == nil { groups[String(f[0])] = gid }
            if f.count >= 4 {
                for member in f[3].split(separator: ",") {
                    var name = member
                    while let c = name.first, c == " " || c == "\t" { name = name.dropFirst() }
                    while let c = name.last, c == " " || c == "\t" || c == "\r" { name = name.dropLast() }
                    if !name.isEmpty, !(memberships[String(name)] ?? []).contains(gid) { memberships[String(name), default: []].append(gid) }
                }
            }
        }
    }

    public func user(named name: String) -> User? { users.first { $0.name == name } }
    public func user(uid: UInt32) -> User? { users.first { $0.uid == uid } }
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
        let implicit = parts.count == 1 ? name.flatMap { db.memberships[$0] } ?? [] : []
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
        guard let g = db.groups[s] else { throw .unknownGroup(name: s, group: path) }
        return g
    }
}
