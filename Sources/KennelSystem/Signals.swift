import Glibc

/// Signal masks and synchronous signal waiting. The supervisor and the sandbox init never run
/// code in signal handlers: they block the signals and take them one by one with sigwaitinfo.
public struct SignalSet {
    public var raw = sigset_t()

    public init(_ signals: [Int32]) {
        sigemptyset(&raw)
        for s in signals { sigaddset(&raw, s) }
    }

    /// The signals kennel passes on to the payload.
    public static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH]

    /// Blocks these signals for this thread; they stay pending until taken.
    public func block() {
        var set = raw
        sigprocmask(SIG_BLOCK, &set, nil)
    }

    /// Unblocks everything (before exec, so the payload starts with a clean mask).
    public static func unblockAll() {
        var empty = sigset_t()
        sigemptyset(&empty)
        sigprocmask(SIG_SETMASK, &empty, nil)
    }

    /// Waits for one of these signals; returns it with si_code (SI_USER for kill(2),
    /// SI_KERNEL for the terminal). Blocked signals are queued even for a pid-namespace init,
    /// which the kernel otherwise shields from signals it has no handler for.
    public func wait() -> (signal: Int32, code: Int32) {
        var set = raw
        var info = siginfo_t()
        while true {
            let s = sigwaitinfo(&set, &info)
            if s > 0 { return (s, info.si_code) }
        }
    }

    /// True if the signal's disposition is "ignore" (inherited from the caller, say a shell
    /// running kennel in the background with SIGINT ignored).
    public static func isIgnored(_ signal: Int32) -> Bool {
        var action = sigaction()
        guard sigaction(signal, nil, &action) == 0 else { return false }
        return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    /// Restores default dispositions (before exec; handlers would be reset anyway, this also
    /// undoes ignored signals inherited from the caller, such as SIGPIPE under some shells).
    public static func resetDispositions(_ signals: [Int32]) {
        for s in signals { signal(s, SIG_DFL) }
    }
}
