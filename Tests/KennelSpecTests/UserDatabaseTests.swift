/// Proves /etc/passwd and /etc/group parsing and `--user`/`--group-add` resolution: numbers,
/// names and both mixed, unknown users and groups, ids outside the mapped 0-65535 range,
/// malformed specs, and the home directory (root gets /root even without a passwd entry).
import Foundation
import XCTest
@testable import KennelSpec

final class UserDatabaseTests: XCTestCase {
    private func resolve(_ user: String, groupAdd: [String] = [],
                         database: UserDatabase = Sample.database) throws(SpecError) -> Identity {
        try Identity.resolve(user: user, groupAdd: groupAdd, database: database,
                             passwdPath: Sample.passwdPath, groupPath: Sample.groupPath)
    }

    // MARK: parsing

    func testPasswdParsingSkipsCommentsAndBrokenLines() {
        let db = Sample.database
        XCTAssertEqual(db.users.map(\.name), ["root", "daemon", "sagemaker-user", "svc", "toobig"])
        XCTAssertEqual(db.user(named: "sagemaker-user"),
                       UserDatabase.User(name: "sagemaker-user", uid: 1000, gid: 100, home: "/home/sagemaker-user"))
        XCTAssertEqual(db.user(uid: 2000)?.name, "svc")
        XCTAssertNil(db.user(named: "brokenline"), "a line with fewer than 7 fields is skipped")
        XCTAssertNil(db.user(named: "nonnumeric"), "a non-numeric uid is skipped")
        XCTAssertNil(db.user(uid: 4242))
    }

    func testGroupParsingFirstEntryWins() {
        let db = Sample.database
        XCTAssertEqual(db.groups["users"], 100)
        XCTAssertEqual(db.groups["staff"], 50, "the first of two staff lines wins")
        XCTAssertNil(db.groups["# comment"])
        XCTAssertEqual(db.groups.count, 6)
    }

    func testMembershipsFromGroupLists() {
        let db = UserDatabase(passwd: "", group: "a:x:10:alice,bob\nb:x:11:bob\nc:x:12:\nd:x:13: carol , alice\na2:x:10:alice\ne:x:14:ca rol\r\nf:x:15:dave\r\n")
        XCTAssertEqual(db.memberships["alice"], [10, 13], "listed twice under gid 10: once")
        XCTAssertEqual(db.memberships["bob"], [10, 11])
        XCTAssertEqual(db.memberships["carol"], [13], "blanks inside a name are not removed")
        XCTAssertEqual(db.memberships["dave"], [15], "CRLF lines")
        XCTAssertNil(db.memberships[""])
    }

    // Docker (runc) semantics: implicit groups only without an explicit group; --group-add
    // comes after them, without repeats.
    func testImplicitSupplementaryGroups() throws {
        XCTAssertEqual(try resolve("sagemaker-user:staff").supplementaryGroups, [50], "an explicit group: no implicit ones")
        XCTAssertEqual(try resolve("1000:100").supplementaryGroups, [100], "the primary group always (CVE-2022-36109)")
        XCTAssertEqual(try resolve("sagemaker-user", groupAdd: ["staff", "999"]).supplementaryGroups, [100, 50, 999])
        XCTAssertEqual(try resolve("4242").supplementaryGroups, [0], "a uid passwd does not name has no memberships")
        let db = UserDatabase(passwd: "u:x:1:1::/:/bin/sh\n", group: "big:x:70000:u\n")
        XCTAssertThrowsError(try resolve("u", database: db), "a membership outside the mapped range is refused")
    }

    func testLookupsInALargeDatabase() throws {
        // 20 000 users and groups, each user a member of its own group and the next one's.
        var passwd = "root:x:0:0:root:/root:/bin/bash\n", group = "root:x:0:\n"
        for i in 0..<20_000 {
            passwd += "user\(i):x:\(1000 + i):\(1000 + i):User \(i),,,:/home/user\(i):/bin/bash\n"
            group += "group\(i):x:\(1000 + i):user\(i),user\((i + 19_999) % 20_000)\r\n"
        }
        let db = UserDatabase(passwd: Array(passwd.utf8), group: Array(group.utf8))
        XCTAssertEqual(db.user(named: "user19999"), UserDatabase.User(name: "user19999", uid: 20_999, gid: 20_999, home: "/home/user19999"))
        XCTAssertEqual(db.user(uid: 20_998)?.name, "user19998")
        XCTAssertEqual(db.group(named: "group19999"), 20_999)
        XCTAssertEqual(db.memberships(of: "user19999"), [1000, 20_999])
        XCTAssertNil(db.user(named: "user20000"))
        XCTAssertNil(db.user(named: "user"), "a prefix of names is no name")
        XCTAssertEqual(try resolve("user19999", database: db).supplementaryGroups, [20_999, 1000])
    }

    func testFieldsAreSplitOnBytes() {
        // A ':' followed by a combining accent is still a separator (one Character in Swift,
        // two code points): fields are bytes, as for libc.
        let db = UserDatabase(passwd: "svc:x:1\u{301}:5:: /srv:/bin/sh\nok:x:7:7::/:/bin/sh\n", group: "")
        XCTAssertNil(db.user(named: "svc"), "uid \"1\u{301}\" is not a number")
        XCTAssertEqual(db.user(named: "ok")?.uid, 7)
        XCTAssertEqual(UserDatabase(passwd: "a:\u{301}x:3:3::/h:/s\n", group: "").user(named: "a")?.home, "/h")
    }

    func testEmptyDatabases() {
        let db = UserDatabase(passwd: "", group: "")
        XCTAssertTrue(db.users.isEmpty)
        XCTAssertTrue(db.groups.isEmpty)
    }

    // MARK: resolution

    func testNumericUserFoundInPasswd() throws {
        XCTAssertEqual(try resolve("1000"),
                       Identity(uid: 1000, gid: 100, supplementaryGroups: [100, 50], home: "/home/sagemaker-user"))
    }

    func testNumericUserNotInPasswdGetsGroupZeroAndSlash() throws {
        XCTAssertEqual(try resolve("4242"), Identity(uid: 4242, gid: 0, supplementaryGroups: [0], home: "/"))
    }

    func testNamedUser() throws {
        XCTAssertEqual(try resolve("sagemaker-user"),
                       Identity(uid: 1000, gid: 100, supplementaryGroups: [100, 50], home: "/home/sagemaker-user"))
        XCTAssertEqual(try resolve("svc"), Identity(uid: 2000, gid: 2000, supplementaryGroups: [2000], home: "/srv/svc"))
    }

    func testNameColonGroup() throws {
        let id = try resolve("sagemaker-user:staff")
        XCTAssertEqual(id.uid, 1000)
        XCTAssertEqual(id.gid, 50)
        XCTAssertEqual(id.home, "/home/sagemaker-user")
    }

    func testUIDColonGID() throws {
        XCTAssertEqual(try resolve("1000:100"), Identity(uid: 1000, gid: 100, supplementaryGroups: [100], home: "/home/sagemaker-user"))
        XCTAssertEqual(try resolve("4242:4343"), Identity(uid: 4242, gid: 4343, supplementaryGroups: [4343], home: "/"))
        XCTAssertEqual(try resolve("0:0"), Identity(uid: 0, gid: 0, supplementaryGroups: [0], home: "/root"))
    }

    func testMixedNamesAndNumbers() throws {
        XCTAssertEqual(try resolve("sagemaker-user:999"), Identity(uid: 1000, gid: 999, supplementaryGroups: [999], home: "/home/sagemaker-user"))
        XCTAssertEqual(try resolve("1000:docker"), Identity(uid: 1000, gid: 999, supplementaryGroups: [999], home: "/home/sagemaker-user"))
        XCTAssertEqual(try resolve("4242:users"), Identity(uid: 4242, gid: 100, supplementaryGroups: [100], home: "/"))
    }

    func testUnknownUser() {
        assertThrows(.unknownUser(name: "nobody-here", passwd: Sample.passwdPath)) { try resolve("nobody-here") }
        assertThrows(.unknownUser(name: "ghost", passwd: Sample.passwdPath)) { try resolve("ghost:users") }
        // A passwd line with too few fields does not define a user.
        assertThrows(.unknownUser(name: "brokenline", passwd: Sample.passwdPath)) { try resolve("brokenline") }
    }

    func testUnknownGroup() {
        assertThrows(.unknownGroup(name: "wheel", group: Sample.groupPath)) { try resolve("1000:wheel") }
        assertThrows(.unknownGroup(name: "wheel", group: Sample.groupPath)) {
            try resolve("1000", groupAdd: ["users", "wheel"])
        }
    }

    func testIDsOutsideTheMappedRange() throws {
        XCTAssertEqual(try resolve("65535:65535").uid, 65_535, "the top of the range is fine")
        assertThrows(.idOutOfRange("uid", 65_536)) { try resolve("65536") }
        assertThrows(.idOutOfRange("gid", 65_536)) { try resolve("0:65536") }
        assertThrows(.idOutOfRange("uid", 70_000)) { try resolve("toobig") }
        assertThrows(.idOutOfRange("gid", 65_536)) { try resolve("1000:huge") }
        assertThrows(.idOutOfRange("--group-add", 70_000)) { try resolve("1000", groupAdd: ["70000"]) }
        assertThrows(.idOutOfRange("--group-add", 65_536)) { try resolve("1000", groupAdd: ["users", "huge"]) }
    }

    func testMalformedSpecs() {
        for bad in ["a:b:c", ":", "", "1000:", ":100", "0:0:0"] {
            assertThrows(.malformedID(bad)) { try resolve(bad) }
        }
    }

    func testGroupAddByNameAndNumber() throws {
        let id = try resolve("sagemaker-user", groupAdd: ["staff", "999", "users", "4000"])
        XCTAssertEqual(id.supplementaryGroups, [100, 50, 999, 4000], "the primary group first, then in the order given")
        XCTAssertEqual(id.gid, 100, "--group-add does not change the primary group")
    }

    func testRootHomeIsRootEvenWithoutPasswdEntry() throws {
        let empty = UserDatabase(passwd: "", group: "")
        XCTAssertEqual(try resolve("0", database: empty), Identity(uid: 0, gid: 0, supplementaryGroups: [0], home: "/root"))
        XCTAssertEqual(try resolve("0:0", database: empty).home, "/root")
        // A root entry with a home of "/" is also shown as /root.
        let slashHome = UserDatabase(passwd: "root:x:0:0::/:/bin/sh\n", group: "")
        XCTAssertEqual(try resolve("0", database: slashHome).home, "/root")
        // An explicit different home is kept.
        let custom = UserDatabase(passwd: "root:x:0:0::/var/root:/bin/sh\n", group: "")
        XCTAssertEqual(try resolve("root", database: custom).home, "/var/root")
        // A non-root user without an entry does not get /root.
        XCTAssertEqual(try resolve("1", database: empty).home, "/")
    }

    func testRootByName() throws {
        XCTAssertEqual(try resolve("root"), Identity(uid: 0, gid: 0, supplementaryGroups: [0], home: "/root"))
    }
}
