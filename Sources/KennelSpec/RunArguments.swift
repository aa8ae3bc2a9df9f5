/// `kennel run`'s options turned into a `SandboxSpec`, and a fast parser for them.
///
/// swift-argument-parser defines the command line (and writes `--help` and the errors), but
/// building its parser reflects over every option and costs about as much as a whole sandbox
/// launch. `kennel run` is on the start-up path of every notebook kernel, so well-formed
/// arguments are parsed here, in one pass; anything else (help, typos, bad numbers) returns
/// nil and goes to swift-argument-parser. A unit test keeps the two parsers in agreement.
public struct RunArguments: Equatable, Sendable {
    public var spec: SandboxSpec
    public var passEnv: [String]

    /// The raw option values, as either parser collects them, with the CLI's defaults.
    public struct Values: Equatable, Sendable {
        public var user = SandboxSpec.defaultUser
        public var groupAdd: [String] = []
        public var mapBase = IDMapping.defaultBase
        public var rootfs: String?
        public var bind: [String] = []
        public var tmpfs: [String] = []
        public var workdir: String?
        public var hostname = SandboxSpec.defaultHostname
        public var env: [String] = []
        public var passEnv: [String] = []
        public var capAdd: [String] = []
        public var capDrop: [String] = []
        public var seccomp = "default"
        public var allowSetuid = false
        public var net = "none"
        public var statusJSON: String?
        public var publish: [String] = []
        public var block: [String] = []
        public var blockEFS: [String] = []
        public var blockFile: [String] = []
        public var subnet = SandboxSpec.defaultSubnet
        public var subnet6 = SandboxSpec.defaultSubnet6
        public var dns: [String] = []
        public var command: [String] = []
        public init() {}
    }

    /// Validates the values that need it and builds the spec.
    public init(_ v: Values) throws(SpecError) {
        guard !v.command.isEmpty else { throw .emptyCommand }
        var spec = SandboxSpec(command: v.command)
        spec.user = v.user
        spec.groupAdd = v.groupAdd
        spec.mapBase = v.mapBase
        spec.rootfs = v.rootfs
        spec.binds = try v.bind.map { (s: String) throws(SpecError) in try SandboxSpec.Bind.parse(s) }
        spec.tmpfs = try v.tmpfs.map { (s: String) throws(SpecError) in try SandboxSpec.Tmpfs.parse(s) }
        spec.workdir = v.workdir
        spec.hostname = v.hostname
        spec.env = v.env
        spec.capAdd = v.capAdd
        spec.capDrop = v.capDrop
        spec.seccomp = .parse(v.seccomp)
        spec.allowSetuid = v.allowSetuid
        guard let network = SandboxSpec.Network(rawValue: v.net) else {
            throw .malformedOption(option: "--net", value: v.net, expected: "none or bridge")
        }
        spec.network = network
        spec.statusJSON = v.statusJSON
        spec.subnet = v.subnet
        spec.subnet6 = v.subnet6
        spec.dns = v.dns
        spec.blockFiles = v.blockFile
        spec.block = v.block
        spec.blockEFS = v.blockEFS
        spec.publish = try v.publish.map { (s: String) throws(SpecError) in try SandboxSpec.Publish.parse(s) }
        self.spec = spec
        self.passEnv = v.passEnv
    }

    /// The options that take a value, by long name.
    static let valuedNames = [
        "--user", "--group-add", "--map-base", "--rootfs", "--bind", "--tmpfs", "--workdir", "--hostname",
        "--env", "--pass-env", "--cap-add", "--cap-drop", "--seccomp", "--net", "--status-json", "--publish",
        "--block", "--subnet", "--subnet6", "--dns", "--block-efs", "--block-file",
    ]

    /// Puts `value` where the option `name` keeps it: false for a value this parser leaves to
    /// swift-argument-parser (a malformed number), nil for a name it does not know. A switch,
    /// not a table: a dictionary of closures cost each launch a hashed build and its runtime
    /// type metadata (~0.1 ms, measured with perf).
    static func set(_ name: String, _ value: String, in v: inout Values) -> Bool? {
        switch name {
        case "--user": v.user = value
        case "--group-add": v.groupAdd.append(value)
        case "--map-base":
            guard let n = UInt32(value) else { return false }
            v.mapBase = n
        case "--rootfs": v.rootfs = value
        case "--bind": v.bind.append(value)
        case "--tmpfs": v.tmpfs.append(value)
        case "--workdir": v.workdir = value
        case "--hostname": v.hostname = value
        case "--env": v.env.append(value)
        case "--pass-env": v.passEnv.append(value)
        case "--cap-add": v.capAdd.append(value)
        case "--cap-drop": v.capDrop.append(value)
        case "--seccomp": v.seccomp = value
        case "--net": v.net = value
        case "--status-json": v.statusJSON = value
        case "--publish": v.publish.append(value)
        case "--block": v.block.append(value)
        case "--subnet": v.subnet = value
        case "--subnet6": v.subnet6 = value
        case "--dns": v.dns.append(value)
        case "--block-efs": v.blockEFS.append(value)
        case "--block-file": v.blockFile.append(value)
        default: return nil
        }
        return true
    }

    /// The long names this parser knows; the unit test compares them with the CLI's.
    public static var optionNames: Set<String> { Set(valuedNames).union(["--allow-setuid"]) }

    /// Parses the words after `run`. Options end at `--` or at the first word that is not an
    /// option. Returns nil for anything it does not handle itself.
    public static func parseValues(_ args: ArraySlice<String>) -> Values? {
        var v = Values()
        var i = args.startIndex
        var terminated = false
        while i < args.endIndex {
            let word = args[i]
            if word == "--" {
                i += 1
                terminated = true
                break
            }
            guard word.hasPrefix("--") else { break }
            if word == "--allow-setuid" {
                v.allowSetuid = true
                i += 1
                continue
            }
            var name = word
            var value: String?
            if let eq = word.firstIndex(of: "=") {
                name = String(word[..<eq])
                value = String(word[word.index(after: eq)...])
            }
            guard valuedNames.contains(name) else { return nil }
            if value == nil {
                i += 1
                guard i < args.endIndex else { return nil }
                value = args[i]
            }
            guard let value, set(name, value, in: &v) == true else { return nil }
            i += 1
        }
        if !terminated, i < args.endIndex, args[i].hasPrefix("-") { return nil }  // e.g. -h, or a typo
        v.command = Array(args[i...])
        return v.command.isEmpty ? nil : v
    }
}
