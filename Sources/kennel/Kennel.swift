import FoundationEssentials
import ArgumentParser
import Glibc
import KennelLauncher
import KennelSpec
import KennelSystem

/// The `kennel` command. Synchronous on purpose: the launch must stay single-threaded until
/// every namespace exists (unshare(CLONE_NEWUSER) refuses multi-threaded callers).
@main
struct Kennel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kennel",
        abstract: "Run a command in a sandbox: its own user, mount, pid, uts, ipc, cgroup, network and (where the kernel has it) time namespaces.",
        discussion: """
        Container uids 0-65535 land on unprivileged host uids (container 1000 is host 200001 by default); capabilities are Docker's default 14; seccomp is Docker's default policy; no_new_privs is on unless --allow-setuid. The embedded root is the host's / read-only, with private /tmp, /dev and /proc, and the host's /root, /home and /run hidden.

        Exit status: the command's own; 128+N if it died of signal N; 125 if kennel itself failed (one line on stderr names the step, the path and the errno); 126 if the command cannot be executed; 127 if it was not found.
        """,
        version: "0.1.0",
        subcommands: [Run.self, Caps.self, Seccomp.self, GC.self],
        defaultSubcommand: nil)

    /// Parses and runs, mapping every error kennel or the parser reports to exit 125.
    static func main() {
        do {
            // The fast path for `kennel run` with well-formed options (see RunArguments).
            let args = CommandLine.arguments.dropFirst()
            if args.first == "run", let values = RunArguments.parseValues(args.dropFirst()) {
                try launch(RunArguments(values))
            }
            var command = try parseAsRoot()
            try command.run()
        } catch let e as SpecError {
            fail(e.description)
        } catch let e as LaunchError {
            fail(e.description)
        } catch let e as ExitCode {
            Glibc.exit(e.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            let message = Kennel.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            fail(message + " (see 'kennel --help')")
        }
    }

    static func fail(_ message: String) -> Never {
        let line = "kennel: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        Glibc.exit(125)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run COMMAND in a new sandbox and wait for it.",
        discussion: """
        Options end at the first word that is not an option, so `--` is optional.

        Examples:
          kennel run id                             # container root = host uid 199001
          kennel run --user 1000:100 -- sh -c 'touch /tmp/x; ls -ln /tmp/x'
          kennel run --bind /srv/data:/data:ro --workdir /data python3 job.py
          kennel run --status-json /tmp/k.json sleep 60 &   # hostPid etc. for tooling

        kennel must run as root: it writes the id maps and makes the mounts with host privileges, then drops them all before the command starts.
        """)

    @Option(name: .long, help: ArgumentHelp("Run as UID[:GID] or NAME[:GROUP], resolved in the sandbox root's /etc/passwd and /etc/group. Without a group, the user's /etc/group memberships become supplementary groups (as in Docker).", valueName: "user"))
    var user: String = SandboxSpec.defaultUser

    @Option(name: .long, help: ArgumentHelp("Add a supplementary group (number or name; repeatable).", valueName: "gid"))
    var groupAdd: [String] = []

    @Option(name: .long, help: ArgumentHelp("Host id that container id 0 maps to (uids and gids); 65536 ids are always mapped. At least 65536.", valueName: "n"))
    var mapBase: UInt32 = IDMapping.defaultBase

    @Option(name: .long, help: ArgumentHelp("The image root. Default: the host's / read-only, with private /tmp and /dev, and /root, /home, /run hidden.", valueName: "dir"))
    var rootfs: String?

    @Option(name: .long, help: ArgumentHelp("Bind a host path inside (repeatable). DST is created inside a writable tmpfs if missing.", valueName: "src:dst[:ro]"))
    var bind: [String] = []

    @Option(name: .long, help: ArgumentHelp("Mount a private tmpfs (repeatable); SIZE like 64m.", valueName: "dst[:size]"))
    var tmpfs: [String] = []

    @Option(name: .long, help: ArgumentHelp("Working directory inside. Default: / for root, else the user's home.", valueName: "dir"))
    var workdir: String?

    @Option(name: .long, help: "Host name inside.")
    var hostname: String = SandboxSpec.defaultHostname

    @Option(name: .long, help: ArgumentHelp("Set a variable (repeatable). The environment is otherwise clean: PATH, HOME, HOSTNAME, TERM.", valueName: "key=value"))
    var env: [String] = []

    @Option(name: .long, help: ArgumentHelp("Pass one host variable in by name (repeatable); nothing else leaks in.", valueName: "name"))
    var passEnv: [String] = []

    @Option(name: .long, help: ArgumentHelp("Add a capability to Docker's default 14 (CAP_ prefix optional; ALL; repeatable).", valueName: "cap"))
    var capAdd: [String] = []

    @Option(name: .long, help: ArgumentHelp("Remove a capability, or ALL (repeatable).", valueName: "cap"))
    var capDrop: [String] = []

    @Option(name: .long, help: ArgumentHelp("default (Docker's default policy, built in), unconfined, or a profile file in Docker or OCI JSON format.", valueName: "default|unconfined|path"))
    var seccomp: String = "default"

    @Flag(name: .long, help: "Leave no_new_privs off so setuid tools such as sudo work inside (Docker's default).")
    var allowSetuid: Bool = false

    @Option(name: .long, help: ArgumentHelp("Network: none (own namespace, loopback only) or bridge (a veth pair to the host, an address from --subnet, NAT for egress).", valueName: "mode"))
    var net: String = "none"

    @Option(name: .long, help: ArgumentHelp("--net bridge: the IPv4 pool sandbox addresses come from (one /30 each).", valueName: "cidr"))
    var subnet: String = SandboxSpec.defaultSubnet

    @Option(name: .long, help: ArgumentHelp("--net bridge: the IPv6 pool (one /126 each), used when the host has an IPv6 default route; `none` for IPv4 only.", valueName: "cidr"))
    var subnet6: String = SandboxSpec.defaultSubnet6

    @Option(name: .long, help: ArgumentHelp("--net bridge: a DNS server for the sandbox's /etc/resolv.conf (repeatable). Default: the host's.", valueName: "ip"))
    var dns: [String] = []

    @Option(name: .long, help: ArgumentHelp("After the command starts, write {id, pid, hostPid, mapBase, ...} as JSON here.", valueName: "path"))
    var statusJson: String?

    @Option(name: .long, help: ArgumentHelp("Relay a host port to a port on the sandbox's own loopback (repeatable); HOSTIP defaults to 127.0.0.1.", valueName: "[hostip:]hostport[:sandboxport][/tcp]"))
    var publish: [String] = []

    @Option(name: .long, help: ArgumentHelp("Also block this destination (repeatable). Always blocked: instance metadata 169.254.169.254 and fd00:ec2::254, ECS 169.254.170.2, EKS 169.254.170.23 and fd00:ec2::23.", valueName: "cidr"))
    var block: [String] = []

    @Option(name: .long, help: ArgumentHelp("Block an EFS mount target's address (repeatable).", valueName: "ip"))
    var blockEfs: [String] = []

    @Option(name: .long, help: ArgumentHelp("Read more blocks from a file: a CIDR, or `efs IP`, per line; # comments (repeatable).", valueName: "path"))
    var blockFile: [String] = []

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command and its arguments.", valueName: "command"))
    var command: [String] = []

    func run() throws {
        var argv = command
        // Options end at the first word that is not one, as with docker run and bwrap, so
        // `kennel run sh -c '...'` needs no `--`. A leading dash word is then a typo.
        if let first = argv.first, first != "--", first.hasPrefix("-") {
            if first == "--help" || first == "-h" { throw CleanExit.helpRequest(self) }
            throw ValidationError("unknown option '\(first)'")
        }
        if argv.first == "--" { argv.removeFirst() }
        try Kennel.launch(RunArguments(values(command: argv)))
    }

    /// The parsed options as the shared `RunArguments.Values`.
    func values(command argv: [String]) -> RunArguments.Values {
        var v = RunArguments.Values()
        v.user = user
        v.groupAdd = groupAdd
        v.mapBase = mapBase
        v.rootfs = rootfs
        v.bind = bind
        v.tmpfs = tmpfs
        v.workdir = workdir
        v.hostname = hostname
        v.env = env
        v.passEnv = passEnv
        v.capAdd = capAdd
        v.capDrop = capDrop
        v.seccomp = seccomp
        v.allowSetuid = allowSetuid
        v.net = net
        v.statusJSON = statusJson
        v.publish = publish
        v.block = block
        v.subnet = subnet
        v.subnet6 = subnet6
        v.dns = dns
        v.blockEFS = blockEfs
        v.blockFile = blockFile
        v.command = argv
        return v
    }
}

extension Kennel {
    /// Runs the sandbox and leaves with its exit status.
    static func launch(_ request: RunArguments) throws -> Never {
        let plan = try Preparation.plan(for: request.spec, passEnv: request.passEnv)
        // The network namespace's child starts now, beside the seccomp work and the mounts.
        let network = try Supervisor.begin(plan)
        let launch: Launch
        do {
            launch = try Preparation.launch(plan)
        } catch {
            network.finish()
            throw error
        }
        Supervisor.stopIfSignalled(network)
        let code = try Supervisor.run(launch, network: network)
        Glibc.exit(code)
    }
}


struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove what a SIGKILLed sandbox can leave in this network namespace: the bridge pools' nftables tables and the per-interface forwarding (IPv4 and IPv6) kennel switched on with its guards, once no sandbox uses them; take back kennel's forwarding where the host now forwards globally, where an interface is gone, or on a bridge br_netfilter now filters; put back a guard that a flushed ruleset removed while sandboxes still use it.")

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let report = try GarbageCollector.run()
        let list = { (items: [String]) in "[" + items.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
        if json {
            print("{\"removed\":" + list(report.removed) + (report.restored.isEmpty ? "" : ",\"restored\":" + list(report.restored)) + "}")
        } else if report.removed.isEmpty && report.restored.isEmpty {
            print("nothing to remove")
        } else {
            print((report.removed.map { "removed \($0)" } + report.restored.map { "restored \($0)" }).joined(separator: "\n"))
        }
    }
}

struct Caps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caps",
        abstract: "List the capabilities kennel knows and which are in its default set.")

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() {
        let def = CapabilitySet.dockerDefault
        if json {
            let items = Capability.all.map { "{\"name\":\"\($0.name)\",\"number\":\($0.number),\"default\":\(def.contains($0))}" }
            print("[" + items.joined(separator: ",") + "]")
            return
        }
        print("default set: \(def) (\(def.members.count) capabilities)")
        for cap in Capability.all {
            print("\(def.contains(cap) ? "*" : " ") \(cap.number)\t\(cap.name)")
        }
    }
}

struct Seccomp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seccomp",
        abstract: "Print the built-in default seccomp profile in Docker's JSON format (a starting point for --seccomp PATH).")

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(SeccompProfile.builtinDefault)
        print(String(decoding: data, as: UTF8.self))
    }
}
