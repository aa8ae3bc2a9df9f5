/// Reading the host's resolv.conf for a bridged sandbox.
public enum ResolvConf {
    /// The addresses of the file's `nameserver` lines.
    public static func nameservers(_ text: String) -> [Substring] {
        TextFields.lines(text).compactMap { line in
            let words = TextFields.fields(line)
            return words.count > 1 && words[0] == "nameserver" ? words[1] : nil
        }
    }

    /// A resolver on the host's loopback (systemd-resolved's stub 127.0.0.53, dnsmasq on
    /// 127.0.0.1, ::1): unreachable from the sandbox's own network namespace.
    public static func isLoopback(_ server: Substring) -> Bool {
        server.utf8.starts(with: "127.".utf8) || server == "::1"
    }

    /// The host's lines that make sense from inside: nameserver (except loopback ones),
    /// search, options and domain; comments and anything else are left out.
    public static func filtered(_ host: String) -> String {
        var out = ""
        for line in TextFields.lines(host) {
            let words = TextFields.fields(line)
            guard let key = words.first else { continue }
            if key == "nameserver", words.count > 1, isLoopback(words[1]) { continue }
            guard key == "nameserver" || key == "search" || key == "options" || key == "domain" else { continue }
            // The Substring overload: `out += line + "\n"` takes the generic Sequence path,
            // which looks its types up by mangled name at run time.
            out.append(contentsOf: line)
            out.append("\n")
        }
        return out
    }
}
