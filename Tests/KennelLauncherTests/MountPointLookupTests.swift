import CKennel
import Glibc
import XCTest
@testable import KennelLauncher
import KennelSystem

/// `InRoot.openMountPoint` reaches a mount point read from a mount table. The directories on
/// the way may belong to anyone (/tmp, /home) and may have been swapped for symlinks since the
/// table was read: it must then fail, never land on another path (say /usr).
final class MountPointLookupTests: XCTestCase {
    func testSymlinksOnTheWayOrAtTheEndAreNeverFollowed() throws {
        let base = "/tmp/kennel-mountpoint-\(getpid())"
        XCTAssertEqual(mkdir(base, 0o700), 0)
        defer {
            unlink("\(base)/tmp/swapped")
            unlink("\(base)/tmp/leaf")
            for p in ["tmp/real/m", "tmp/real", "tmp", "usr/m", "usr", ""] { rmdir("\(base)/\(p)") }
        }
        for p in ["usr", "usr/m", "tmp", "tmp/real", "tmp/real/m"] { XCTAssertEqual(mkdir("\(base)/\(p)", 0o755), 0, p) }
        XCTAssertEqual(symlink("/usr", "\(base)/tmp/swapped"), 0)  // inside the root: /usr
        XCTAssertEqual(symlink("/usr/m", "\(base)/tmp/leaf"), 0)
        let root = open(base, Int32(KENNEL_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(root, 0)
        defer { close(root) }

        // A real directory all the way: found.
        let found = try InRoot.openMountPoint(root, "/tmp/real/m")
        close(found)
        // A symlink on the way: the resolution an unchecked open would make (to /usr/m) is refused.
        let followed = try InRoot.openPath(root, "/tmp/swapped/m")
        close(followed)
        XCTAssertThrowsError(try InRoot.openMountPoint(root, "/tmp/swapped/m")) { error in
            XCTAssertEqual(error as? Errno, Errno(rawValue: ELOOP))
        }
        // A symlink as the last step: the link itself, which is no mount (move_mount refuses it).
        let link = try InRoot.openMountPoint(root, "/tmp/leaf")
        defer { close(link) }
        XCTAssertEqual(try FD.fstat(link).st_mode & S_IFMT, S_IFLNK)
    }
}
