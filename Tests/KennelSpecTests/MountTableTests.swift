import XCTest
@testable import KennelSpec

final class MountTableTests: XCTestCase {
    func testMountPointsAreTheFifthFieldWithEscapesDecoded() {
        let text = """
        22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        40 22 0:5 / /run/netns rw shared:7 - ext4 /dev/vda rw
        41 40 0:4 net:[4026532] /run/netns/kt\\040one rw shared:8 - nsfs nsfs rw
        42 22 0:6 / /mnt/a\\134b\\011c rw - tmpfs none rw

        43 22 0:7 / /odd\\04 rw - tmpfs none rw
        """
        XCTAssertEqual(MountTable.mountPoints(Array(text.utf8)),
                       ["/", "/run/netns", "/run/netns/kt one", "/mnt/a\\b\tc", "/odd\\04"])
    }

    func testCoveredMountsAreTheCoveredPathOrTheTopMostBelowIt() {
        let points = ["/", "/proc", "/proc/sys/fs/binfmt_misc", "/dev", "/dev", "/dev/pts",
                      "/run/netns", "/run/netns/a", "/run/netns/b", "/run/user/0", "/running",
                      "/home2/x", "/srv"]
        XCTAssertEqual(MountTable.coveredMounts(points, covered: ["/proc", "/dev", "/run", "/home", "/tmp"]),
                       ["/proc", "/dev", "/dev", "/run/netns", "/run/user/0"])
        XCTAssertEqual(MountTable.coveredMounts(points, covered: []), [])
    }

    /// "-" sorts before "/": /run/a-b must not hide /run/a's descendants from the one pass,
    /// and mounts stacked on a kept point are each moved (each move takes the top one).
    func testTopMostBelowACoveredPathWithNeighboursAndStacks() {
        let points = ["/run/a/c", "/run/a-b", "/run/a", "/run/a", "/run/a-b/d", "/run/b/x/y", "/run/b/x", "/run/ab/c"]
        XCTAssertEqual(MountTable.coveredMounts(points, covered: ["/run"]),
                       ["/run/a", "/run/a", "/run/a-b", "/run/ab/c", "/run/b/x"])
        // Thousands of container mounts under /run: one pass after the sort.
        let many = (0..<5000).map { "/run/docker/netns/\($0)" } + ["/run/docker/netns"]
        XCTAssertEqual(MountTable.coveredMounts(many, covered: ["/run"]), ["/run/docker/netns"])
    }
}
