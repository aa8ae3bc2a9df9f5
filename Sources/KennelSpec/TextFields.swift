/// Whitespace-separated fields of a line from a kernel or configuration file (/proc/net/*,
/// resolv.conf), split on ASCII spaces and tabs.
///
/// Byte-level on purpose: these files are ASCII, and Character-level splitting or searching
/// (`split(separator: " ")` on a String, `contains("…")` from _StringProcessing) costs a
/// launch hundreds of microseconds the first time it runs (grapheme breaking, protocol
/// conformance lookups, a search table per pattern).
public enum TextFields {
    /// The lines of `text`, without their newlines; empty lines are left out.
    public static func lines(_ text: String) -> [Substring] {
        text.utf8.split(separator: UInt8(ascii: "\n")).compactMap { Substring($0) }
    }

    /// The fields of one line.
    public static func fields(_ line: Substring) -> [Substring] {
        line.utf8.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }).compactMap { Substring($0) }
    }
}
