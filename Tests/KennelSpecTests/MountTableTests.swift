import XCTest
@testable import KennelSpec

final class MountTableTests: XCTestCase {
    typealias M = MountTable.Mount

    func testMountsAreIdsAndTheFifthFieldWithEscapesDecoded() {
        let text = """
        22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        40 22 0:5 / /run/netns rw shared:7 - ext4 /dev/vda rw
        41 40 0:4 net:[4026532] /run/netns/kt\\040one rw shared:8 - nsfs nsfs rw
        42 22 0:6 / /mnt/a\\134b\\011c rw - tmpfs none rw

        43 22 0:7 / /odd\\04 rw - tmpfs none rw
        x 22 0:7 / /not-a-line rw - tmpfs none rw
        """
        XCTAssertEqual(MountTable.mounts(Array(text.utf8)), [
            M(id: 22, parent: 1, point: "/"), M(id: 40, parent: 22, point: "/run/netns"),
            M(id: 41, parent: 40, point: "/run/netns/kt one"), M(id: 42, parent: 22, point: "/mnt/a\\b\tc"),
            M(id: 43, parent: 22, point: "/odd\\04"),
        ])
    }

    func testTheCoveredPathOrTheTopMostBelowIt() {
        let mounts = [M(id: 1, parent: 0, point: "/"), M(id: 2, parent: 1, point: "/proc"),
                      M(id: 3, parent: 2, point: "/proc/sys/fs/binfmt_misc"), M(id: 4, parent: 1, point: "/dev"),
                      M(id: 5, parent: 4, point: "/dev"), M(id: 6, parent: 5, point: "/dev/pts"),
                      M(id: 7, parent: 1, point: "/run/netns"), M(id: 8, parent: 7, point: "/run/netns/a"),
                      M(id: 9, parent: 7, point: "/run/netns/b"), M(id: 10, parent: 1, point: "/run/user/0"),
                      M(id: 11, parent: 1, point: "/running"), M(id: 12, parent: 1, point: "/home2/x"),
                      M(id: 13, parent: 1, point: "/srv")]
        // /dev twice: a mount stacked on /dev, each move takes the top one.
        XCTAssertEqual(MountTable.coveredMounts(mounts, covered: ["/proc", "/dev", "/run", "/home", "/tmp"]),
                       ["/proc", "/dev", "/dev", "/run/netns", "/run/user/0"])
        XCTAssertEqual(MountTable.coveredMounts(mounts, covered: []), [])
    }

    /// A mount hidden underneath a later one (/run/netns mounted before a tmpfs on /run) is
    /// moved too, after the covering one whose move reveals it; so is one mounted below a home
    /// before the home itself was mounted over it.
    func testMountsHiddenUnderneathComeAfterWhatCoversThem() {
        let mounts = [M(id: 1, parent: 0, point: "/"), M(id: 20, parent: 1, point: "/run/netns"),
                      M(id: 21, parent: 20, point: "/run/netns/a"), M(id: 30, parent: 1, point: "/run"),
                      M(id: 31, parent: 30, point: "/run/user/0"), M(id: 40, parent: 1, point: "/home/u/x"),
                      M(id: 41, parent: 1, point: "/home/u")]
        XCTAssertEqual(MountTable.coveredMounts(mounts, covered: ["/run", "/home"]),
                       ["/run", "/run/netns", "/home/u", "/home/u/x"])
    }

    /// Thousands of container mounts under /run, each its own top (netns files on a plain
    /// directory) or below one mount: every one is found once.
    func testManyMounts() {
        let flat = [M(id: 1, parent: 0, point: "/")] + (0..<5000).map { M(id: 100 + $0, parent: 1, point: "/run/docker/netns/\($0)") }
        XCTAssertEqual(MountTable.coveredMounts(flat, covered: ["/run"]).count, 5000)
        let nested = [M(id: 1, parent: 0, point: "/"), M(id: 2, parent: 1, point: "/run/netns")]
            + (0..<5000).map { M(id: 100 + $0, parent: 2, point: "/run/netns/\($0)") }
        XCTAssertEqual(MountTable.coveredMounts(nested, covered: ["/run"]), ["/run/netns"])
    }
}
