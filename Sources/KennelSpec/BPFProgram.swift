/// A classic-BPF program as seccomp runs it: 8-byte instructions over the 64-byte
/// `struct seccomp_data` (nr, arch, instruction pointer, six 64-bit arguments).
///
/// Only what seccomp programs use is modelled: loads of the data and of constants, ALU with
/// constants, forward jumps and returns. The interpreter exists so that a program kennel
/// rewrites (`SeccompCompactor`) can be checked against the one it came from.
public struct BPFProgram: Equatable, Sendable {
    public struct Instruction: Equatable, Sendable {
        public var code: UInt16
        public var jt: UInt8
        public var jf: UInt8
        public var k: UInt32

        public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32 = 0) {
            self.code = code
            self.jt = jt
            self.jf = jf
            self.k = k
        }
    }

    /// Opcodes (BPF_CLASS | BPF_SIZE/OP | BPF_MODE/SRC), as <linux/filter.h> combines them.
    public enum Op {
        public static let loadWord: UInt16 = 0x20       // BPF_LD | BPF_W | BPF_ABS: A = data[k]
        public static let loadImmediate: UInt16 = 0x00  // BPF_LD | BPF_W | BPF_IMM: A = k
        public static let jump: UInt16 = 0x05           // BPF_JMP | BPF_JA: pc += k
        public static let jumpEqual: UInt16 = 0x15      // BPF_JMP | BPF_JEQ | BPF_K
        public static let jumpGreater: UInt16 = 0x25    // BPF_JMP | BPF_JGT | BPF_K
        public static let jumpGreaterEqual: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
        public static let jumpSet: UInt16 = 0x45        // BPF_JMP | BPF_JSET | BPF_K
        public static let returnConstant: UInt16 = 0x06  // BPF_RET | BPF_K
        public static let returnA: UInt16 = 0x16        // BPF_RET | BPF_A
        public static let and: UInt16 = 0x54            // BPF_ALU | BPF_AND | BPF_K
        public static let or: UInt16 = 0x44
        public static let add: UInt16 = 0x04
        public static let sub: UInt16 = 0x14
        public static let leftShift: UInt16 = 0x64
        public static let rightShift: UInt16 = 0x74
        public static let xor: UInt16 = 0xa4
    }

    public var instructions: [Instruction]

    public init(_ instructions: [Instruction]) {
        self.instructions = instructions
    }

    /// From the kernel's byte layout (u16 code, u8 jt, u8 jf, u32 k, host byte order);
    /// nil if the length is not a whole number of instructions.
    public init?(bytes: [UInt8]) {
        guard bytes.count % 8 == 0 else { return nil }
        instructions = stride(from: 0, to: bytes.count, by: 8).map { i in
            let code = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
            var k = UInt32(bytes[i + 7]) << 24
            k |= UInt32(bytes[i + 6]) << 16
            k |= UInt32(bytes[i + 5]) << 8
            k |= UInt32(bytes[i + 4])
            return Instruction(code: code, jt: bytes[i + 2], jf: bytes[i + 3], k: k)
        }
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(instructions.count * 8)
        for i in instructions {
            let k = i.k
            out.append(UInt8(i.code & 0xff))
            out.append(UInt8(i.code >> 8))
            out.append(i.jt)
            out.append(i.jf)
            out.append(UInt8(k & 0xff))
            out.append(UInt8(k >> 8 & 0xff))
            out.append(UInt8(k >> 16 & 0xff))
            out.append(UInt8(k >> 24))
        }
        return out
    }

    /// One system call as a seccomp filter sees it.
    public struct Call: Sendable {
        public var nr: UInt32
        public var arch: UInt32
        public var instructionPointer: UInt64 = 0
        public var args: [UInt64] = [0, 0, 0, 0, 0, 0]

        public init(nr: UInt32, arch: UInt32, args: [UInt64] = [0, 0, 0, 0, 0, 0]) {
            self.nr = nr
            self.arch = arch
            self.args = args + [UInt64](repeating: 0, count: max(0, 6 - args.count))
        }

        /// The 32-bit word at byte offset `offset` of struct seccomp_data (little endian, as
        /// on the machines kennel builds for); nil outside it or unaligned.
        func word(at offset: UInt32) -> UInt32? {
            guard offset % 4 == 0, offset < 64 else { return nil }
            switch offset {
            case 0: return nr
            case 4: return arch
            case 8: return UInt32(truncatingIfNeeded: instructionPointer)
            case 12: return UInt32(truncatingIfNeeded: instructionPointer >> 32)
            default:
                let arg = args[Int(offset - 16) / 8]
                return offset % 8 == 0 ? UInt32(truncatingIfNeeded: arg) : UInt32(truncatingIfNeeded: arg >> 32)
            }
        }
    }

    /// What the filter returns for `call`, or nil if the program does something this model
    /// does not cover (an unknown instruction, a jump or load out of bounds, no return).
    public func run(_ call: Call) -> UInt32? {
        var a: UInt32 = 0
        var pc = 0
        while pc < instructions.count {
            let i = instructions[pc]
            switch i.code {
            case Op.loadWord:
                guard let w = call.word(at: i.k) else { return nil }
                a = w
            case Op.loadImmediate: a = i.k
            case Op.and: a &= i.k
            case Op.or: a |= i.k
            case Op.add: a &+= i.k
            case Op.sub: a &-= i.k
            case Op.xor: a ^= i.k
            case Op.leftShift: a = i.k < 32 ? a << i.k : 0
            case Op.rightShift: a = i.k < 32 ? a >> i.k : 0
            case Op.jump:
                pc += Int(i.k)
            case Op.jumpEqual, Op.jumpGreater, Op.jumpGreaterEqual, Op.jumpSet:
                pc += Int(BPFProgram.holds(i.code, a, i.k) ? i.jt : i.jf)
            case Op.returnConstant: return i.k
            case Op.returnA: return a
            default: return nil
            }
            pc += 1
        }
        return nil
    }

    /// Whether the kernel, loading this program, marks (`nr`, `arch`) "always allowed" in its
    /// per-syscall cache, so that such calls run no program at all (seccomp_is_const_allow,
    /// Linux 5.11): it runs the program knowing only the number and the architecture, and
    /// gives up (not cached) at any other load, at any instruction besides the jumps on a
    /// constant, `and` and a constant return, or when it runs off the end.
    public func kernelCachesAllow(nr: UInt32, arch: UInt32) -> Bool {
        var a: UInt32 = 0
        var pc = 0
        while pc < instructions.count {
            let i = instructions[pc]
            switch i.code {
            case Op.loadWord where i.k == 0: a = nr
            case Op.loadWord where i.k == 4: a = arch
            case Op.returnConstant: return i.k == 0x7fff_0000  // SECCOMP_RET_ALLOW
            case Op.jump: pc += Int(i.k)
            case Op.jumpEqual, Op.jumpGreater, Op.jumpGreaterEqual, Op.jumpSet:
                pc += Int(BPFProgram.holds(i.code, a, i.k) ? i.jt : i.jf)
            case Op.and: a &= i.k
            default: return false
            }
            pc += 1
        }
        return false
    }

    /// The condition of a conditional jump.
    static func holds(_ code: UInt16, _ a: UInt32, _ k: UInt32) -> Bool {
        switch code {
        case Op.jumpEqual: return a == k
        case Op.jumpGreater: return a > k
        case Op.jumpGreaterEqual: return a >= k
        default: return a & k != 0
        }
    }
}
