import Glibc
import XCTest
import KennelSystem

/// `SignalSet.isIgnored`: what `Supervisor.stopIfSignalled` asks before ending kennel by a
/// signal that came while it was blocked (one the caller ignores would have been discarded).
final class SignalDispositionTests: XCTestCase {
    func testIgnoredIsToldFromDefaultAndHandled() {
        let previous = signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, previous) }
        XCTAssertTrue(SignalSet.isIgnored(SIGUSR2))
        signal(SIGUSR2, SIG_DFL)
        XCTAssertFalse(SignalSet.isIgnored(SIGUSR2))
    }
}
