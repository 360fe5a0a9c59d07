import Synchronization

/// Upstreams that failed recently (unreachable, timed out, 5xx, rate-limited), so the next
/// requests try their alternatives first instead of each paying a connect timeout to a dead
/// Ollama. Shared by all requests; keyed by base URL, not model (a dead server is dead for all).
public final class Cooldowns: Sendable {
    private let failedAt = Mutex<[String: ContinuousClock.Instant]>([:])

    public init() {}

    static func key(_ endpoint: UpstreamEndpoint) -> String { endpoint.url(endpoint.chatPath) }

    /// True while `period` has not passed since this upstream last failed.
    public func isCooling(_ endpoint: UpstreamEndpoint, period: Duration) -> Bool {
        guard period > .zero else { return false }
        let key = Self.key(endpoint)
        return failedAt.withLock { map in
            guard let at = map[key] else { return false }
            if ContinuousClock.now - at < period { return true }
            map[key] = nil
            return false
        }
    }

    public func failed(_ endpoint: UpstreamEndpoint) {
        let key = Self.key(endpoint)
        failedAt.withLock { $0[key] = .now }
    }

    public func succeeded(_ endpoint: UpstreamEndpoint) {
        let key = Self.key(endpoint)
        failedAt.withLock { _ = $0.removeValue(forKey: key) }
    }
}
