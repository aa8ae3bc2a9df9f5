/// Makes a seccomp program smaller without changing what it decides.
///
/// libseccomp compares the syscall number with each listed syscall on its own: of the 870
/// instructions of Docker's policy for x86_64 and x86, about 670 are such comparisons, most
/// of them leading to the same "allow". Every launch pays for the program's size when the
/// kernel loads it (conversion to eBPF, JIT, the per-syscall cache). This pass evaluates the
/// program over the architecture and the syscall number, whose values it knows only as
/// ranges, folding every comparison on them: what comes out, per architecture, is a list of
/// number ranges, each with either a fixed result or the program's own code that looks at the
/// arguments. It then writes a binary search over those ranges, with runs of numbers that
/// share a result merged into one range, and appends that argument code unchanged.
///
/// The result is used only if it is smaller and proven to decide as the original: the same
/// evaluation over ranges, run on the result, must give the same results for the same
/// architectures and number ranges, entering the same argument code with the same
/// accumulator, and that code must be an exact copy (its jumps reaching the copies of the
/// original targets). An interpreter then also runs both programs on every number up to 1100
/// and at every range boundary, for each architecture and an unknown one, and on random calls.
/// A program with an instruction outside the small set libseccomp emits is left as it is.
public enum SeccompCompactor {
    typealias Instruction = BPFProgram.Instruction
    typealias Op = BPFProgram.Op

    /// The architecture as the comparisons so far narrowed it: one value, or any value
    /// except those listed.
    enum Architecture: Hashable {
        case value(UInt32)
        case other(Set<UInt32>)

        func admits(_ v: UInt32) -> Bool {
            switch self {
            case .value(let x): return x == v
            case .other(let excluded): return !excluded.contains(v)
            }
        }
    }

    /// What the accumulator holds on a path (`overwritten`: nothing that matters, because
    /// the next instruction loads it).
    enum Accumulator: Hashable {
        case constant(UInt32)
        case architecture
        case number
        case overwritten
    }

    /// Where a path ends: a return, or code of the original program that reads something
    /// other than the number and architecture (the arguments), entered with the accumulator
    /// holding `accumulator`.
    enum Outcome: Hashable {
        case result(UInt32)
        case code(pc: Int, accumulator: Accumulator)
    }

    struct Path {
        var pc: Int
        var accumulator: Accumulator
        var architecture: Architecture
        var numbers: ClosedRange<UInt32>
    }

    struct Leaf {
        var architecture: Architecture
        var numbers: ClosedRange<UInt32>
        var outcome: Outcome
    }

    /// Bounds on the work for one program, so that a profile whose program has many paths
    /// (code shared between many branches) costs a cache miss at most tens of milliseconds
    /// before the original is kept: Docker's policy takes ~2 000 steps and ~1 000 paths,
    /// with argument code for under ten numbers.
    static let maxSteps = 400_000
    static let maxLeaves = 30_000
    static let maxCodeNumbers = 256

    /// The smaller equivalent of `program`, or nil when there is none this pass can prove.
    public static func compact(_ program: BPFProgram) -> BPFProgram? {
        guard program.instructions.allSatisfy({ known.contains($0.code) }),
              let leaves = explore(program.instructions),
              let (candidate, copies) = generate(program.instructions, leaves),
              candidate.instructions.count < program.instructions.count,
              proven(program.instructions, candidate.instructions, leaves: leaves, copies: copies),
              equivalent(program, candidate, leaves: leaves),
              cachedAlike(leaves, candidate, { program.kernelCachesAllow(nr: $0, arch: $1) }) else { return nil }
        return candidate
    }

    /// Whether the kernel's per-syscall "always allowed" cache comes out the same for
    /// `program` as `expected` says, for every number up to 1100 (the cache covers the native
    /// and compat tables, a few hundred numbers each) of every architecture the leaves name:
    /// a program that decides the same but loses the cache makes every system call run it.
    static func cachedAlike(_ leaves: [Leaf], _ program: BPFProgram, _ expected: (UInt32, UInt32) -> Bool) -> Bool {
        // The kernel keeps the cache for the native and compat architectures whatever the
        // program names (x86_64 and x86 here). Its one exception, uretprobe's number, is the
        // same for any two programs.
        var architectures: Set<UInt32> = [0xc000_003e /* x86_64 */, 0x4000_0003 /* x86 */]
        for leaf in leaves { if case .value(let v) = leaf.architecture { architectures.insert(v) } }
        for arch in architectures {
            for nr in UInt32(0)...1100 where program.kernelCachesAllow(nr: nr, arch: arch) != expected(nr, arch) { return false }
        }
        return true
    }

    /// The instructions this pass knows (those libseccomp emits, and a few more ALU ones):
    /// none uses the X register or scratch memory, so the accumulator is all the state a
    /// path carries.
    static let known: Set<UInt16> = [
        Op.loadWord, Op.loadImmediate, Op.jump, Op.jumpEqual, Op.jumpGreater, Op.jumpGreaterEqual, Op.jumpSet,
        Op.returnConstant, Op.returnA, Op.and, Op.or, Op.add, Op.sub, Op.leftShift, Op.rightShift, Op.xor,
    ]

    // MARK: evaluation over ranges

    /// Every path through the program, with the architectures and numbers that take it.
    static func explore(_ program: [Instruction]) -> [Leaf]? {
        var pending = [Path(pc: 0, accumulator: .constant(0), architecture: .other([]), numbers: 0...UInt32.max)]
        var leaves: [Leaf] = []
        var steps = 0
        while var path = pending.popLast() {
            walk: while true {
                steps += 1
                guard steps < maxSteps, path.pc >= 0, path.pc < program.count else { return nil }
                let i = program[path.pc]
                switch i.code {
                case Op.loadWord where i.k == 0:
                    path.accumulator = .number
                    path.pc += 1
                case Op.loadWord where i.k == 4:
                    path.accumulator = .architecture
                    path.pc += 1
                case Op.loadWord:
                    // The instruction pointer or an argument: the original code decides.
                    leaves.append(Leaf(architecture: path.architecture, numbers: path.numbers,
                                       outcome: .code(pc: path.pc, accumulator: .overwritten)))
                    break walk
                case Op.loadImmediate:
                    path.accumulator = .constant(i.k)
                    path.pc += 1
                case Op.jump:
                    path.pc += 1 + Int(i.k)
                case Op.returnConstant:
                    leaves.append(Leaf(architecture: path.architecture, numbers: path.numbers, outcome: .result(i.k)))
                    break walk
                case Op.jumpEqual, Op.jumpGreater, Op.jumpGreaterEqual, Op.jumpSet:
                    let taken = path.pc + 1 + Int(i.jt), notTaken = path.pc + 1 + Int(i.jf)
                    switch path.accumulator {
                    case .constant(let c):
                        path.pc = BPFProgram.holds(i.code, c, i.k) ? taken : notTaken
                    case .overwritten:
                        return nil  // never set on a path that goes on
                    case .number:
                        guard let (yes, no) = split(path.numbers, i.code, i.k) else { return nil }
                        for r in yes { pending.append(Path(pc: taken, accumulator: .number, architecture: path.architecture, numbers: r)) }
                        for r in no { pending.append(Path(pc: notTaken, accumulator: .number, architecture: path.architecture, numbers: r)) }
                        break walk
                    case .architecture:
                        switch path.architecture {
                        case .value(let v):
                            path.pc = BPFProgram.holds(i.code, v, i.k) ? taken : notTaken
                        case .other(let excluded):
                            // libseccomp only tests the architecture for equality.
                            guard i.code == Op.jumpEqual else { return nil }
                            if !excluded.contains(i.k) {
                                pending.append(Path(pc: taken, accumulator: .architecture, architecture: .value(i.k), numbers: path.numbers))
                            }
                            path.architecture = .other(excluded.union([i.k]))
                            path.pc = notTaken
                        }
                    }
                default:
                    // ALU and the rest act on the accumulator: fine as the start of code to
                    // keep if the accumulator holds something the search can restore.
                    guard i.code != Op.returnA else { return nil }
                    leaves.append(Leaf(architecture: path.architecture, numbers: path.numbers,
                                       outcome: .code(pc: path.pc, accumulator: path.accumulator)))
                    break walk
                }
            }
            guard leaves.count < maxLeaves else { return nil }
        }
        return leaves
    }

    /// The numbers of `range` for which a comparison holds, and those for which it does not.
    static func split(_ range: ClosedRange<UInt32>, _ code: UInt16, _ k: UInt32) -> ([ClosedRange<UInt32>], [ClosedRange<UInt32>])? {
        let lo = range.lowerBound, hi = range.upperBound
        func piece(_ a: UInt32, _ b: UInt32) -> [ClosedRange<UInt32>] { a <= b ? [a...b] : [] }
        switch code {
        case Op.jumpEqual:
            guard range.contains(k) else { return ([], [range]) }
            return ([k...k], (k > lo ? piece(lo, k - 1) : []) + (k < hi ? piece(k + 1, hi) : []))
        case Op.jumpGreater:
            if k >= hi { return ([], [range]) }
            if k < lo { return ([range], []) }
            return ([(k + 1)...hi], [lo...k])
        case Op.jumpGreaterEqual:
            if k > hi { return ([], [range]) }
            if k <= lo { return ([range], []) }
            return ([k...hi], [lo...(k - 1)])
        default:  // JSET: only a single bit, over few alternations
            guard k != 0, k & (k - 1) == 0 else { return nil }
            var yes: [ClosedRange<UInt32>] = [], no: [ClosedRange<UInt32>] = []
            var start = lo
            while true {
                let blockEnd = start | (k - 1)  // last number before the bit flips again
                let end = min(blockEnd, hi)
                if start & k != 0 { yes.append(start...end) } else { no.append(start...end) }
                guard end < hi, yes.count + no.count < 64 else { break }
                start = end + 1
            }
            guard (yes.last?.upperBound ?? 0) == hi || (no.last?.upperBound ?? 0) == hi else { return nil }
            return (yes, no)
        }
    }

    // MARK: writing the smaller program

    /// Per architecture (and for any other architecture), the number ranges in order, with
    /// neighbours of one outcome merged; nil if the leaves do not cover every number once.
    static func sections(_ leaves: [Leaf]) -> (architectures: [UInt32], ranges: [[(ClosedRange<UInt32>, Outcome)]])? {
        var architectures: [UInt32] = []
        for leaf in leaves {
            if case .value(let v) = leaf.architecture, !architectures.contains(v) { architectures.append(v) }
        }
        architectures.sort()
        var excluded = Set(architectures)
        var other: UInt32 = 0xffff_fffe  // a value no architecture has: stands for "any other"
        while excluded.contains(other) { other &-= 1 }
        excluded.insert(other)
        var all: [[(ClosedRange<UInt32>, Outcome)]] = []
        for arch in architectures + [other] {
            let mine = leaves.filter { $0.architecture.admits(arch) }.sorted { $0.numbers.lowerBound < $1.numbers.lowerBound }
            var merged: [(ClosedRange<UInt32>, Outcome)] = []
            var next: UInt64 = 0
            for leaf in mine {
                guard UInt64(leaf.numbers.lowerBound) == next else { return nil }  // a gap or an overlap
                next = UInt64(leaf.numbers.upperBound) + 1
                if let last = merged.last, last.1 == leaf.outcome {
                    merged[merged.count - 1].0 = last.0.lowerBound...leaf.numbers.upperBound
                } else {
                    merged.append((leaf.numbers, leaf.outcome))
                }
            }
            guard next == 1 << 32 else { return nil }
            all.append(merged)
        }
        return (architectures, all)
    }

    /// Code with jumps to the original program's argument code still to be resolved: the
    /// index of a `ja` and the original instruction it must reach.
    struct Code {
        var instructions: [Instruction] = []
        var links: [(at: Int, pc: Int)] = []

        mutating func append(_ other: Code) {
            links += other.links.map { ($0.at + instructions.count, $0.pc) }
            instructions += other.instructions
        }
    }

    static func leafCode(_ outcome: Outcome, numberLoaded: Bool) -> Code {
        var code = Code()
        switch outcome {
        case .result(let k):
            code.instructions = [Instruction(code: Op.returnConstant, k: k)]
        case .code(let pc, let accumulator):
            switch accumulator {
            case .architecture: code.instructions.append(Instruction(code: Op.loadWord, k: 4))
            case .number: if !numberLoaded { code.instructions.append(Instruction(code: Op.loadWord, k: 0)) }
            case .constant(let c): code.instructions.append(Instruction(code: Op.loadImmediate, k: c))
            case .overwritten: break
            }
            code.links.append((code.instructions.count, pc))
            code.instructions.append(Instruction(code: Op.jump))
        }
        return code
    }

    /// A binary search over sorted ranges, the syscall number in the accumulator.
    static func search(_ ranges: ArraySlice<(ClosedRange<UInt32>, Outcome)>) -> Code {
        if ranges.count == 1, let only = ranges.first { return leafCode(only.1, numberLoaded: true) }
        let middle = ranges.startIndex + ranges.count / 2
        let below = search(ranges[..<middle]), above = search(ranges[middle...])
        var code = Code()
        let boundary = ranges[middle].0.lowerBound
        if below.instructions.count <= Int(UInt8.max) {
            code.instructions.append(Instruction(code: Op.jumpGreaterEqual, jt: UInt8(below.instructions.count), jf: 0, k: boundary))
        } else {
            // Too far for an 8-bit offset: the true branch takes a long jump over `below`.
            code.instructions.append(Instruction(code: Op.jumpGreaterEqual, jt: 0, jf: 1, k: boundary))
            code.instructions.append(Instruction(code: Op.jump, k: UInt32(below.instructions.count)))
        }
        code.append(below)
        code.append(above)
        return code
    }

    /// The same search, but a comparison whose side is a single fixed result jumps straight
    /// to one shared return instruction per result at the end of the section, instead of a
    /// return of its own: `returns` lists those jumps (instruction, which side, result).
    struct SharedCode {
        var code = Code()
        var returns: [(at: Int, taken: Bool, result: UInt32)] = []

        mutating func append(_ other: SharedCode) {
            returns += other.returns.map { ($0.at + code.instructions.count, $0.taken, $0.result) }
            code.append(other.code)
        }
    }

    static func sharedSearch(_ ranges: ArraySlice<(ClosedRange<UInt32>, Outcome)>) -> SharedCode {
        var out = SharedCode()
        if ranges.count == 1, let only = ranges.first {
            out.code = leafCode(only.1, numberLoaded: true)
            return out
        }
        let middle = ranges.startIndex + ranges.count / 2
        let boundary = ranges[middle].0.lowerBound
        func fixed(_ side: ArraySlice<(ClosedRange<UInt32>, Outcome)>) -> UInt32? {
            guard side.count == 1, case .result(let k)? = side.first?.1 else { return nil }
            return k
        }
        let belowResult = fixed(ranges[..<middle]), aboveResult = fixed(ranges[middle...])
        let below = belowResult == nil ? sharedSearch(ranges[..<middle]) : SharedCode()
        let above = aboveResult == nil ? sharedSearch(ranges[middle...]) : SharedCode()
        out.code.instructions.append(Instruction(code: Op.jumpGreaterEqual, jt: 0, jf: 0, k: boundary))
        if let aboveResult { out.returns.append((0, true, aboveResult)) }
        if let belowResult { out.returns.append((0, false, belowResult)) }
        if aboveResult == nil && belowResult == nil {
            // Both sides are code: `below` falls through, `above` is jumped to.
            guard below.code.instructions.count <= Int(UInt8.max) else { return fallback(ranges) }
            out.code.instructions[0].jt = UInt8(below.code.instructions.count)
        }
        // With one side a shared return the other follows at once (offset 0).
        out.append(below)
        out.append(above)
        return out
    }

    /// A subtree too large for an 8-bit jump over it: written with inline returns.
    static func fallback(_ ranges: ArraySlice<(ClosedRange<UInt32>, Outcome)>) -> SharedCode {
        var out = SharedCode()
        out.code = search(ranges)
        return out
    }

    /// A section's search with shared returns, or nil if one would be out of a jump's reach.
    static func sharedSection(_ ranges: [(ClosedRange<UInt32>, Outcome)]) -> Code? {
        var body = SharedCode()
        body.code.instructions = [Instruction(code: Op.loadWord, k: 0)]
        body.append(sharedSearch(ranges[...]))
        var results: [UInt32] = []
        for r in body.returns where !results.contains(r.result) { results.append(r.result) }
        let end = body.code.instructions.count
        for r in body.returns {
            guard let n = results.firstIndex(of: r.result) else { return nil }
            let distance = end + n - r.at - 1
            guard distance <= Int(UInt8.max) else { return nil }
            if r.taken { body.code.instructions[r.at].jt = UInt8(distance) } else { body.code.instructions[r.at].jf = UInt8(distance) }
        }
        body.code.instructions += results.map { Instruction(code: Op.returnConstant, k: $0) }
        return body.code
    }

    /// The smaller program, and where each kept instruction of the original went in it.
    static func generate(_ program: [Instruction], _ leaves: [Leaf]) -> (BPFProgram, [Int: Int])? {
        guard let (architectures, sections) = sections(leaves) else { return nil }
        var bodies: [Code] = sections.map { ranges in
            if ranges.count == 1, let only = ranges.first { return leafCode(only.1, numberLoaded: false) }
            if let shared = sharedSection(ranges) { return shared }
            var code = Code()
            code.instructions = [Instruction(code: Op.loadWord, k: 0)]
            code.append(search(ranges[...]))
            return code
        }
        // Dispatch: load the architecture; each known one jumps to its section; any other
        // falls through to the last section, which follows at once.
        let otherBody = bodies.removeLast()
        var out = Code()
        out.instructions.append(Instruction(code: Op.loadWord, k: 4))
        // Each known architecture jumps to its section with the comparison itself where the
        // sections are near enough (8-bit offsets), else through a long jump.
        let starts = bodies.indices.map { n in bodies[..<n].reduce(otherBody.instructions.count) { $0 + $1.instructions.count } }
        let near = architectures.indices.allSatisfy { n in architectures.count + starts[n] - n - 1 <= Int(UInt8.max) }
        let dispatchLength = 1 + (near ? 1 : 2) * architectures.count
        for (n, arch) in architectures.enumerated() {
            let target = dispatchLength + starts[n]
            if near {
                let here = out.instructions.count
                out.instructions.append(Instruction(code: Op.jumpEqual, jt: UInt8(target - here - 1), jf: 0, k: arch))
            } else {
                out.instructions.append(Instruction(code: Op.jumpEqual, jt: 0, jf: 1, k: arch))
                let here = out.instructions.count
                out.instructions.append(Instruction(code: Op.jump, k: UInt32(target - here - 1)))
            }
        }
        out.append(otherBody)
        for body in bodies { out.append(body) }

        // The original argument code: everything reachable from where a search leaf enters
        // it, in its original order (so every jump stays forward and no longer than before).
        guard let kept = reachable(from: out.links.map(\.pc), in: program) else { return nil }
        let base = out.instructions.count
        var position: [Int: Int] = [:]
        for (n, pc) in kept.enumerated() { position[pc] = base + n }
        for pc in kept {
            var i = program[pc]
            guard let here = position[pc] else { return nil }
            func relocate(_ offset: Int) -> Int? { position[pc + 1 + offset].map { $0 - here - 1 } }
            switch i.code {
            case Op.jump:
                guard let o = relocate(Int(i.k)) else { return nil }
                i.k = UInt32(o)
            case Op.jumpEqual, Op.jumpGreater, Op.jumpGreaterEqual, Op.jumpSet:
                guard let t = relocate(Int(i.jt)), let f = relocate(Int(i.jf)), t <= 255, f <= 255 else { return nil }
                i.jt = UInt8(t)
                i.jf = UInt8(f)
            default: break
            }
            out.instructions.append(i)
        }
        for link in out.links {
            guard let target = position[link.pc] else { return nil }
            out.instructions[link.at].k = UInt32(target - link.at - 1)
        }
        guard out.instructions.count <= 4096 else { return nil }  // BPF_MAXINSNS
        return (BPFProgram(out.instructions), position)
    }

    /// The instructions reachable from `entries`, in program order; nil if a path leaves the
    /// program.
    static func reachable(from entries: [Int], in program: [Instruction]) -> [Int]? {
        var seen = Set<Int>()
        var work = entries
        while let pc = work.popLast() {
            guard pc >= 0, pc < program.count else { return nil }
            guard seen.insert(pc).inserted else { continue }
            let i = program[pc]
            switch i.code {
            case Op.returnConstant, Op.returnA: break
            case Op.jump: work.append(pc + 1 + Int(i.k))
            case Op.jumpEqual, Op.jumpGreater, Op.jumpGreaterEqual, Op.jumpSet:
                work.append(pc + 1 + Int(i.jt))
                work.append(pc + 1 + Int(i.jf))
            default: work.append(pc + 1)
            }
        }
        return seen.sorted()
    }

    // MARK: proof

    /// Whether `candidate` decides as `original` for every call: its dispatch, evaluated over
    /// ranges like the original's, gives the same results for the same architectures and
    /// numbers, and enters argument code only where the original does (with the same
    /// accumulator), code that `copies` shows to be an exact copy of the original's.
    static func proven(_ original: [Instruction], _ candidate: [Instruction], leaves: [Leaf], copies: [Int: Int]) -> Bool {
        for (pc, at) in copies {
            guard pc < original.count, at < candidate.count else { return false }
            let a = original[pc], b = candidate[at]
            guard a.code == b.code, a.k == b.k || a.code == Op.jump else { return false }
            switch a.code {
            case Op.returnConstant, Op.returnA:
                break
            case Op.jump:
                guard copies[pc + 1 + Int(a.k)] == at + 1 + Int(b.k) else { return false }
            case Op.jumpEqual, Op.jumpGreater, Op.jumpGreaterEqual, Op.jumpSet:
                guard copies[pc + 1 + Int(a.jt)] == at + 1 + Int(b.jt), copies[pc + 1 + Int(a.jf)] == at + 1 + Int(b.jf) else { return false }
            default:
                guard copies[pc + 1] == at + 1 else { return false }
            }
        }
        var copiedFrom: [Int: Int] = [:]
        for (pc, at) in copies { copiedFrom[at] = pc }
        guard let theirs = explore(candidate), let mine = sections(leaves), let result = sections(theirs),
              mine.architectures == result.architectures, mine.ranges.count == result.ranges.count else { return false }
        for (a, b) in zip(mine.ranges, result.ranges) {
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) {
                guard x.0 == y.0 else { return false }
                switch (x.1, y.1) {
                case (.result(let k1), .result(let k2)):
                    guard k1 == k2 else { return false }
                case (.code(let pc, let accumulator), .code(let at, let accumulator2)):
                    guard copiedFrom[at] == pc, accumulator == accumulator2 else { return false }
                default:
                    return false
                }
            }
        }
        return true
    }

    // MARK: a second check, by running both

    /// Whether both programs return the same on a set of calls: every number up to 1100 and
    /// around each range boundary for each architecture and an unknown one, and random calls
    /// (numbers that reach argument code, arguments mixing the constants that code uses in
    /// either half of each argument, and random words). Independent of the evaluation over
    /// ranges that `proven` relies on.
    static func equivalent(_ a: BPFProgram, _ b: BPFProgram, leaves: [Leaf]) -> Bool {
        agree([(a, leaves)], a.run, b.run)
    }

    /// Whether two deciders return the same on the calls `equivalent` describes, drawn from
    /// the leaves of one or more programs (with the constants of their argument code).
    static func agree(_ sources: [(program: BPFProgram, leaves: [Leaf])], _ x: (BPFProgram.Call) -> UInt32?,
                      _ y: (BPFProgram.Call) -> UInt32?) -> Bool {
        var architectures: Set<UInt32> = [0, 0xffff_ffff, 0xc000_00b7 /* aarch64 */]
        var numbers = Set<UInt32>(0...1100)
        numbers.formUnion([0x3fff_ffff, 0x4000_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff])
        var codeNumbers = Set<UInt32>()
        var constants = Set<UInt32>([0, 1, 0xffff_ffff, 0x8000_0000])
        for (program, leaves) in sources {
            var entries: [Int] = []
            for leaf in leaves {
                if case .value(let v) = leaf.architecture { architectures.insert(v) }
                for n in [leaf.numbers.lowerBound, leaf.numbers.upperBound] {
                    numbers.formUnion([n, n &- 1, n &+ 1])
                }
                if case .code(let pc, _) = leaf.outcome {
                    codeNumbers.formUnion([leaf.numbers.lowerBound, leaf.numbers.upperBound])
                    entries.append(pc)
                }
            }
            for pc in reachable(from: entries, in: program.instructions) ?? [] {
                let i = program.instructions[pc]
                guard i.code != Op.loadWord, i.code != Op.jump else { continue }
                constants.formUnion([i.k, i.k &- 1, i.k &+ 1])
            }
        }
        guard codeNumbers.count <= maxCodeNumbers else { return false }
        let words = Array(constants)
        func same(_ call: BPFProgram.Call) -> Bool {
            guard let u = x(call), let v = y(call) else { return false }
            return u == v
        }
        for arch in architectures {
            for n in numbers where !same(BPFProgram.Call(nr: n, arch: arch)) { return false }
        }
        // And random calls, from a fixed seed so that a failure can be reproduced.
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func random() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
        let archList = Array(architectures)
        let numberList = Array(codeNumbers) + [0, 1, 2, 3]
        func word() -> UInt64 { UInt64(words[Int(random() % UInt64(words.count))]) }
        for n in 0..<30_000 {
            let arch = archList[Int(random() % UInt64(archList.count))]
            let nr = n % 3 == 0 ? UInt32(truncatingIfNeeded: random() % 1200) : numberList[Int(random() % UInt64(numberList.count))]
            let args = (0..<6).map { _ -> UInt64 in
                switch random() % 4 {
                case 0: return word()
                case 1: return word() << 32 | word()
                case 2: return word() << 32
                default: return random()
                }
            }
            if !same(BPFProgram.Call(nr: nr, arch: arch, args: args)) { return false }
        }
        return true
    }
}
