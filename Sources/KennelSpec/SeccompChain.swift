/// Two seccomp programs as one, where one program can stand for both.
///
/// kennel loads its own small hardening program (TIOCSTI and TIOCLINUX refused) beside the
/// policy. The kernel runs every loaded program on each system call and keeps the result
/// that takes precedence (ties go to the program loaded last). Each program loaded costs the
/// payload its fixed price (conversion, JIT, the per-syscall cache) on every launch, and each
/// system call that the cache cannot answer runs both.
///
/// `chain` writes the hardening program with each of its "allow" returns turned into a jump
/// to the policy: one program that runs the hardening first and, where it would allow, the
/// policy. That decides as the two programs do together exactly when, wherever the hardening
/// would not allow, the policy allows unconditionally or its own result would lose to the
/// hardening's anyway. This is checked over the evaluation by ranges of both programs (per
/// architecture and number range, the policy's result wherever the hardening returns anything
/// but "allow" or looks at the arguments), then by running the chained program against the
/// two together with the interpreter, on the same calls `SeccompCompactor` uses, and the
/// kernel's per-syscall "always allowed" cache must come out as it does for the pair.
public enum SeccompChain {
    typealias Instruction = BPFProgram.Instruction
    typealias Op = BPFProgram.Op
    typealias Leaf = SeccompCompactor.Leaf

    /// SECCOMP_RET_ALLOW.
    static let allow: UInt32 = 0x7fff_0000

    /// One program deciding as `first` and `second` loaded in that order (`second` last), or
    /// nil when this pass cannot show that it does.
    public static func chain(_ first: BPFProgram, then second: BPFProgram) -> BPFProgram? {
        let known = SeccompCompactor.known
        guard first.instructions.allSatisfy({ known.contains($0.code) }), second.instructions.allSatisfy({ known.contains($0.code) }),
              let firstLeaves = SeccompCompactor.explore(first.instructions),
              let secondLeaves = SeccompCompactor.explore(second.instructions),
              admissible(firstLeaves, secondLeaves) else { return nil }
        // The policy starts where every "allow" of the first program jumps. The kernel starts a
        // program with the accumulator cleared; a policy whose first instruction loads a word
        // of the call (libseccomp's and the compactor's all begin with the architecture) does
        // not care what it holds. (The known instructions use neither the X register nor
        // scratch memory.) Clearing it with `ld #0` instead would cost more than it seems:
        // the kernel's per-syscall "always allowed" cache, worked out when a filter is loaded,
        // understands only loads of the number and architecture, jumps, `and` and returns,
        // and would give up on every call.
        guard let entry = second.instructions.first, entry.code == Op.loadWord else { return nil }
        let start = first.instructions.count
        var out: [Instruction] = []
        out.reserveCapacity(first.instructions.count + second.instructions.count)
        for (pc, i) in first.instructions.enumerated() {
            if i.code == Op.returnConstant && i.k == allow {
                out.append(Instruction(code: Op.jump, k: UInt32(start - pc - 1)))
            } else {
                out.append(i)
            }
        }
        out += second.instructions
        guard out.count <= 4096 else { return nil }  // BPF_MAXINSNS
        let chained = BPFProgram(out)
        guard SeccompCompactor.agree([(first, firstLeaves), (second, secondLeaves)], chained.run, { call in
            guard let a = first.run(call), let b = second.run(call) else { return nil }
            return together(a, b)
        }),
        // The kernel caches a call as allowed only if every loaded program allows it
        // unconditionally: the chain must leave that cache as the pair would.
        SeccompCompactor.cachedAlike(firstLeaves + secondLeaves, chained, { nr, arch in
            first.kernelCachesAllow(nr: nr, arch: arch) && second.kernelCachesAllow(nr: nr, arch: arch)
        }) else { return nil }
        return chained
    }

    /// What the kernel returns for two programs' results, `last` from the one loaded last: the
    /// action that takes precedence (compared as the kernel does, as signed 32-bit action
    /// values: kill-process first, allow last); on a tie, `last`.
    static func together(_ earlier: UInt32, _ last: UInt32) -> UInt32 {
        action(earlier) < action(last) ? earlier : last
    }

    static func action(_ result: UInt32) -> Int32 { Int32(bitPattern: result & 0xffff_0000) }

    /// Whether running `first` and going on to `second` only where `first` allows decides as
    /// both together: wherever `first` may return anything but "allow", the second's result
    /// for the same architectures and numbers is a fixed one that changes nothing.
    static func admissible(_ first: [Leaf], _ second: [Leaf]) -> Bool {
        for f in first {
            let own: UInt32?
            switch f.outcome {
            case .result(let k) where k == allow: continue
            case .result(let k): own = k
            case .code: own = nil  // argument code: may return anything
            }
            for s in second where overlap(f, s) {
                guard case .result(let k) = s.outcome else { return false }
                if k == allow { continue }
                // A fixed result of the first program stands if the second's equals it or loses to it.
                guard let own, own == k || action(own) < action(k) else { return false }
            }
        }
        return true
    }

    /// Whether some call takes both leaves.
    static func overlap(_ a: Leaf, _ b: Leaf) -> Bool {
        guard a.numbers.overlaps(b.numbers) else { return false }
        switch (a.architecture, b.architecture) {
        case (.value(let x), .value(let y)): return x == y
        case (.value(let x), .other(let excluded)), (.other(let excluded), .value(let x)): return !excluded.contains(x)
        case (.other, .other): return true
        }
    }
}
