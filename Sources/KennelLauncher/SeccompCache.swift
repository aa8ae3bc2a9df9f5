import CKennel
import Glibc
import KennelSpec
import KennelSystem

/// The BPF programs a launch loads: the policy (nil when unconfined) and kennel's hardening,
/// on its own or, where one program can stand for both (`SeccompChain`), inside the policy.
struct SeccompPrograms: Equatable {
    var policy: [UInt8]?
    /// Empty when `hardeningInPolicy`.
    var hardening: [UInt8]
    /// The policy runs kennel's hardening first: one program to load instead of two.
    var hardeningInPolicy = false
}

/// Compiling Docker's profile with libseccomp (hundreds of rules, three architectures) costs
/// more than the rest of a launch together, and its result depends only on the profile, the
/// capability bounding set, the architecture, the kernel version and kennel's own binary.
/// So the generated BPF is kept in /run/kennel/cache (root-only, on tmpfs, gone at reboot),
/// one file per distinct key; an entry is used only when its stored key matches byte for byte.
enum SeccompCache {
    static let directory = Launch.stateDirectory + "/cache"
    /// Entries kept at most; the oldest go first (each is a few KiB).
    static let capacity = 64
    static let magic = Array("KENNEL-SECCOMP-2\n".utf8)

    static func programs(key: [UInt8], build: () throws -> SeccompPrograms) throws -> SeccompPrograms {
        let path = directory + "/seccomp-" + hex(fnv1a(key))
        if let bytes = try? FD.readFile(path), let cached = decode(bytes, key: key) {
            return cached
        }
        let programs = try build()
        store(encode(programs, key: key), at: path)
        prune()
        return programs
    }

    /// Writes atomically; a cache that cannot be written only costs speed, never correctness.
    private static func store(_ bytes: [UInt8], at path: String) {
        for dir in [Launch.stateDirectory, directory] where access(dir, F_OK) != 0 {
            _ = mkdir(dir, dir == directory ? 0o700 : 0o711)
        }
        _ = try? FD.writeFileAtomically(path, bytes, mode: 0o600)
    }

    /// Keeps the cache bounded: removes the least recently written entries beyond `capacity`.
    static func prune() {
        var entries: [(mtime: Int, name: String)] = []
        for name in FD.directoryEntries(directory) where name.hasPrefix("seccomp-") {
            var st = stat()
            if stat(directory + "/" + name, &st) == 0 { entries.append((st.st_mtim.tv_sec, name)) }
        }
        guard entries.count > capacity else { return }
        for old in entries.sorted(by: { $0.mtime < $1.mtime }).prefix(entries.count - capacity) {
            unlink(directory + "/" + old.name)
        }
    }

    static func encode(_ p: SeccompPrograms, key: [UInt8]) -> [UInt8] {
        var out = magic
        append(key, to: &out)
        if let policy = p.policy { append(policy, to: &out) } else { out += [0xff, 0xff, 0xff, 0xff] }
        append(p.hardening, to: &out)
        append([p.hardeningInPolicy ? 1 : 0], to: &out)
        return out
    }

    static func decode(_ bytes: [UInt8], key: [UInt8]) -> SeccompPrograms? {
        guard bytes.starts(with: magic) else { return nil }
        var offset = magic.count
        func field() -> [UInt8]?? {
            guard offset + 4 <= bytes.count else { return nil }
            let n = bytes[offset..<offset + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            offset += 4
            if n == UInt32.max { return .some(nil) }
            guard offset + Int(n) <= bytes.count else { return nil }
            defer { offset += Int(n) }
            return .some(Array(bytes[offset..<offset + Int(n)]))
        }
        guard let storedKey = field(), storedKey == key, let policy = field(), let hardening = field(),
              let hardening, let chained = field(), let chained, chained.count == 1, chained[0] <= 1,
              offset == bytes.count, chained[0] == 0 || policy != nil else { return nil }
        return SeccompPrograms(policy: policy, hardening: hardening, hardeningInPolicy: chained[0] == 1)
    }

    private static func append(_ data: [UInt8], to out: inout [UInt8]) {
        let n = UInt32(data.count)
        out += [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)]
        out += data
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Identifies this kennel binary, so a rebuilt kennel (whose built-in policy may differ)
    /// never reuses an older build's programs.
    static func binaryIdentity() -> String {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return "unknown-\(getpid())" }
        return "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }
}
