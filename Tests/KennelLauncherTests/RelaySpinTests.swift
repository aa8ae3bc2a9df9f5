/// The relay's busy-poll policy: spin only while messages come within a window of each other,
/// stop one window after the last, never with a single CPU.
import XCTest
@testable import KennelLauncher

final class RelaySpinTests: XCTestCase {
    let µs: UInt64 = 1_000

    func testNeverSpinsWithOneCPU() {
        var spin = RelaySpin(window: 100 * µs, cpus: 1)
        XCTAssertEqual(spin.window, 0)
        spin.activity(at: 1_000 * µs)
        spin.activity(at: 1_010 * µs)
        XCTAssertFalse(spin.spinning(at: 1_011 * µs))
    }

    func testTheFirstMessageAloneDoesNotStartSpinning() {
        var spin = RelaySpin(window: 100 * µs, cpus: 2)
        XCTAssertFalse(spin.spinning(at: 5 * µs))
        spin.activity(at: 10 * µs)
        XCTAssertFalse(spin.spinning(at: 11 * µs))
    }

    func testMessagesCloseTogetherSpinForOneWindowAfterTheLast() {
        var spin = RelaySpin(window: 100 * µs, cpus: 2)
        spin.activity(at: 1_000 * µs)
        spin.activity(at: 1_030 * µs)   // 30 µs later: a request/response exchange
        XCTAssertTrue(spin.spinning(at: 1_031 * µs))
        XCTAssertTrue(spin.spinning(at: 1_129 * µs))
        XCTAssertFalse(spin.spinning(at: 1_130 * µs), "one window after the last message, sleep")
    }

    func testMessagesFurtherApartThanTheWindowNeverSpin() {
        var spin = RelaySpin(window: 100 * µs, cpus: 4)
        spin.activity(at: 1_000 * µs)
        spin.activity(at: 1_500 * µs)
        XCTAssertFalse(spin.spinning(at: 1_501 * µs))
        // A burst after a quiet spell starts spinning again from its second message.
        spin.activity(at: 1_520 * µs)
        XCTAssertTrue(spin.spinning(at: 1_521 * µs))
        // ...and a late message stops it at once.
        spin.activity(at: 9_000 * µs)
        XCTAssertFalse(spin.spinning(at: 9_001 * µs))
    }

    func testAZeroWindowNeverSpins() {
        var spin = RelaySpin(window: 0, cpus: 8)
        spin.activity(at: 1)
        spin.activity(at: 2)
        XCTAssertFalse(spin.spinning(at: 2))
    }
}
