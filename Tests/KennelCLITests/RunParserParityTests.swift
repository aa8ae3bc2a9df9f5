/// The fast `kennel run` parser (RunArguments) and swift-argument-parser's definition (Run)
/// must agree: same option names, same values for the same words.
@testable import KennelSpec
import XCTest
@testable import kennel

final class RunParserParityTests: XCTestCase {
    func testBothParsersKnowTheSameOptions() {
        let help = Run.helpMessage(columns: 200)
        var declared = Set<String>()
        var rest = Substring(help)
        while let r = rest.range(of: "--") {
            let name = rest[r.lowerBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if name.count > 2 { declared.insert(String(name)) }
            rest = rest[r.upperBound...]
        }
        declared.subtract(["--help", "--version", "--"])
        XCTAssertEqual(declared, RunArguments.optionNames)
    }

    func testEveryValuedNameHasItsPlace() {
        // The fast parser's list of names and its switch must agree: a name the list has and
        // the switch lacks would send well-formed arguments back to the slow parser.
        for name in RunArguments.valuedNames {
            var v = RunArguments.Values()
            XCTAssertEqual(RunArguments.set(name, "1", in: &v), true, name)
            XCTAssertNotEqual(v, RunArguments.Values(), "\(name) sets nothing")
        }
        var v = RunArguments.Values()
        XCTAssertNil(RunArguments.set("--no-such-option", "1", in: &v))
    }

    func testBothParsersProduceTheSameValues() throws {
        let cases: [[String]] = [
            ["true"],
            ["--", "sh", "-c", "echo hi"],
            ["sh", "-c", "echo --user"],
            ["--user", "1000:100", "--group-add", "5", "--group-add", "staff", "--", "id"],
            ["--map-base=300000", "--rootfs", "/srv/img", "--bind", "/a:/b:ro", "--bind=/c:/d", "--tmpfs", "/t:1m", "id"],
            ["--workdir", "/w", "--hostname", "h", "--env", "A=1", "--env=B=2", "--pass-env", "TERM", "env"],
            ["--cap-add", "SYS_PTRACE", "--cap-drop", "ALL", "--seccomp", "unconfined", "--allow-setuid", "id"],
            ["--net", "none", "--status-json", "/tmp/s.json", "--", "--weird-command"],
            ["--publish", "8888", "--publish=127.0.0.1:9000:9001/tcp", "python3", "-m", "http.server"],
            ["--net", "bridge", "--subnet", "10.9.0.0/16", "--subnet6=none", "--dns", "192.0.2.53", "--block", "198.51.100.0/24", "true"],
            ["--block-efs", "192.0.2.20", "--block-file=/etc/kennel/blocked", "true"],
        ]
        for words in cases {
            let fast = try XCTUnwrap(RunArguments.parseValues(words[...]), "\(words)")
            let full = try Run.parse(words)
            var command = full.command
            if command.first == "--" { command.removeFirst() }
            XCTAssertEqual(fast, full.values(command: command), "\(words)")
        }
    }

    func testTheFastParserLeavesEverythingUnusualToTheFullOne() {
        for words in [["--frob", "x"], ["-h"], ["--help"], ["--map-base", "abc", "x"], ["--user"], [], ["--"],
                      ["--user", "0"]] {
            XCTAssertNil(RunArguments.parseValues(words[...]), "\(words)")
        }
    }
}
