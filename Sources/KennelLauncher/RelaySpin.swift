/// When the relay busy-polls instead of sleeping in poll(2).
///
/// A relay that sleeps pays a wake-up for every message, and a request/response exchange
/// through it then needs four wake-ups instead of the two of a direct connection. While
/// messages come close together (a client and a kernel trading replies), the relay keeps
/// polling without a timeout for a short window after each one, so that the next is picked
/// up at once. Whether to spin is decided from the last gap between messages: a relay whose
/// messages arrive further apart than the window would only burn CPU, so it sleeps, and at
/// most one window is spent after the last message of a burst. With a single CPU to run on,
/// spinning would only take it from the processes the relay waits for, so it never spins.
struct RelaySpin {
    /// How long to keep polling after a message, in nanoseconds; 0 never spins.
    let window: UInt64
    private var lastActivity: UInt64 = 0
    private var worthIt = false

    /// The relay's default: 100 µs, where the process may run on two CPUs or more.
    static let defaultWindow: UInt64 = 100_000

    init(window: UInt64, cpus: Int) {
        self.window = cpus >= 2 ? window : 0
    }

    /// Messages moved at `now`: spinning is worth it if this one came within a window of the last.
    mutating func activity(at now: UInt64) {
        worthIt = window > 0 && lastActivity > 0 && now &- lastActivity <= window
        lastActivity = now
    }

    /// Whether the next poll should return at once rather than wait.
    func spinning(at now: UInt64) -> Bool {
        worthIt && now &- lastActivity < window
    }
}
