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

    /// Waits for one of these signals; returns the signal and the sending pid.
    public func wait() -> (signal: Int32, sender: pid_t) {
        var set = raw
        var info = siginfo_t()
        while true {
            let s = sigwaitinfo(&set, &info)
            if s > 0 { return (s, info._sifields._kill.si_pid) }
        }
    }

    /// A handler that does nothing, so that the pid-namespace init (which the kernel shields
    /// from signals it has no handler for) still receives them, blocked, for sigwaitinfo.
    public static func installNoOpHandlers(_ signals: [Int32]) {
        for s in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in }
            sigemptyset(&action.sa_mask)
            sigaction(s, &action, nil)
        }
    }

    /// Restores default dispositions (before exec; handlers would be reset anyway, this also
    /// undoes ignored signals inherited from the caller, such as SIGPIPE under some shells).
    public static func resetDispositions(_ signals: [Int32]) {
        for s in signals { signal(s, SIG_DFL) }
    }
}
