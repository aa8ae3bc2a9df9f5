/// Everything wrong with a sandbox request that can be said before anything is created.
/// Each case renders as one line; the CLI prints it after `kennel: ` and exits 125.
public enum SpecError: Error, Equatable, Sendable, CustomStringConvertible {
    case mapBaseTooLow(UInt32)
    case mapBaseOverflows(UInt32)
    case unknownCapability(String)
    case emptyCommand
    case rootfsMissing(String)
    case rootfsNotDirectory(String)
    case unknownUser(name: String, passwd: String)
    case unknownGroup(name: String, group: String)
    case idOutOfRange(String, UInt32)
    case malformedID(String)
    case relativePath(option: String, path: String)
    case malformedOption(option: String, value: String, expected: String)
    case bindSourceMissing(String)
    case seccompProfile(path: String, reason: String)
    case badHostname(String)
    case badEnvironment(String)

    public var description: String {
        switch self {
        case .mapBaseTooLow(let b):
            return "--map-base \(b): must be at least \(IDMapping.minimumBase), so that container ids never land on host system ids"
        case .mapBaseOverflows(let b):
            return "--map-base \(b): \(b) + 65536 ids would overflow the 32-bit id space"
        case .unknownCapability(let n):
            return "unknown capability \"\(n)\" (try `kennel caps` for the list)"
        case .emptyCommand:
            return "no command given: kennel run [OPTIONS] -- COMMAND [ARG...]"
        case .rootfsMissing(let p):
            return "rootfs \(p): ENOENT (No such file or directory)"
        case .rootfsNotDirectory(let p):
            return "rootfs \(p): ENOTDIR (Not a directory)"
        case .unknownUser(let n, let f):
            return "--user \(n): no such user in \(f)"
        case .unknownGroup(let n, let f):
            return "--user/--group-add \(n): no such group in \(f)"
        case .idOutOfRange(let what, let id):
            return "\(what) \(id): outside the mapped range 0-65535"
        case .malformedID(let s):
            return "--user \(s): expected UID[:GID] or NAME[:GROUP]"
        case .relativePath(let option, let p):
            return "\(option) \(p): must be an absolute path"
        case .malformedOption(let option, let value, let expected):
            return "\(option) \(value): expected \(expected)"
        case .bindSourceMissing(let p):
            return "--bind source \(p): ENOENT (No such file or directory)"
        case .seccompProfile(let p, let reason):
            return "--seccomp \(p): \(reason)"
        case .badHostname(let h):
            return "--hostname \(h): must be 1-64 characters of letters, digits, '-' and '.'"
        case .badEnvironment(let e):
            return "--env \(e): expected KEY=VALUE with a non-empty KEY without '='"
        }
    }
}
