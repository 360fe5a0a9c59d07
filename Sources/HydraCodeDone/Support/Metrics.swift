import Synchronization

/// Prometheus counters, gauges and histograms, rendered in the text exposition format.
public final class Metrics: Sendable {
    public enum Histogram: String, Sendable, CaseIterable {
        case primary = "hydra_primary_seconds"
        case critique = "hydra_critique_seconds"
        case total = "hydra_request_seconds"
        case firstToken = "hydra_time_to_first_token_seconds"
        case draft = "hydra_draft_seconds"
    }

    static let buckets: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    private struct HistogramState {
        var counts = [Int](repeating: 0, count: Metrics.buckets.count)
        var sum = 0.0
        var count = 0
    }

    private struct State {
        var requests: [String: Int] = [:]      // route|status
        var upstreamErrors: [String: Int] = [:] // stage|kind
        var fallbacks = 0
        var skipped = 0
        var drafts: [String: Int] = [:]         // outcome
        var retries: [String: Int] = [:]        // stage|reason
        var failovers: [String: Int] = [:]      // stage|reason
        var bytesRelayed = 0
        var histograms: [Histogram: HistogramState] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    func request(route: String, status: Int) {
        state.withLock { $0.requests["\(route)|\(status)", default: 0] += 1 }
    }

    func upstreamError(stage: String, kind: String) {
        state.withLock { $0.upstreamErrors["\(stage)|\(kind)", default: 0] += 1 }
    }

    func fallback() { state.withLock { $0.fallbacks += 1 } }
    func draft(ok: Bool) { state.withLock { $0.drafts[ok ? "ok" : "failed", default: 0] += 1 } }
    func upstreamRetry(stage: String, reason: String) { state.withLock { $0.retries["\(stage)|\(reason)", default: 0] += 1 } }
    func upstreamFailover(stage: String, reason: String) { state.withLock { $0.failovers["\(stage)|\(reason)", default: 0] += 1 } }
    func skippedCritique() { state.withLock { $0.skipped += 1 } }
    func relayed(_ bytes: Int) { state.withLock { $0.bytesRelayed += bytes } }

    func observe(_ h: Histogram, _ d: Duration) {
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        state.withLock { s in
            var hs = s.histograms[h] ?? HistogramState()
            if let i = Metrics.buckets.firstIndex(where: { seconds <= $0 }) { hs.counts[i] += 1 }
            hs.sum += seconds
            hs.count += 1
            s.histograms[h] = hs
        }
    }

    func render(inFlight: Int, queued: Int, connections: Int) -> String {
        let s = state.withLock { $0 }
        var out = ""
        out += "# HELP hydra_requests_total Requests by route and status.\n# TYPE hydra_requests_total counter\n"
        for (key, n) in s.requests.sorted(by: { $0.key < $1.key }) {
            let p = key.split(separator: "|")
            out += "hydra_requests_total{route=\"\(p[0])\",status=\"\(p[1])\"} \(n)\n"
        }
        out += "# HELP hydra_requests_in_flight Chat requests being served.\n# TYPE hydra_requests_in_flight gauge\nhydra_requests_in_flight \(inFlight)\n"
        out += "# HELP hydra_queue_depth Chat requests waiting for a slot.\n# TYPE hydra_queue_depth gauge\nhydra_queue_depth \(queued)\n"
        out += "# HELP hydra_open_connections Open client connections.\n# TYPE hydra_open_connections gauge\nhydra_open_connections \(connections)\n"
        out += "# HELP hydra_upstream_errors_total Upstream failures by stage and kind.\n# TYPE hydra_upstream_errors_total counter\n"
        for (key, n) in s.upstreamErrors.sorted(by: { $0.key < $1.key }) {
            let p = key.split(separator: "|")
            out += "hydra_upstream_errors_total{stage=\"\(p[0])\",kind=\"\(p[1])\"} \(n)\n"
        }
        out += "# HELP hydra_critique_fallbacks_total Answers delivered from the primary because the critique failed.\n# TYPE hydra_critique_fallbacks_total counter\nhydra_critique_fallbacks_total \(s.fallbacks)\n"
        out += "# HELP hydra_critique_skipped_total Background-task requests answered by the primary alone.\n# TYPE hydra_critique_skipped_total counter\nhydra_critique_skipped_total \(s.skipped)\n"
        out += "# HELP hydra_drafts_total Parallel drafts by outcome (DRAFTS > 1).\n# TYPE hydra_drafts_total counter\n"
        for (key, n) in s.drafts.sorted(by: { $0.key < $1.key }) { out += "hydra_drafts_total{outcome=\"\(key)\"} \(n)\n" }
        out += "# HELP hydra_upstream_retries_total Calls asked again of the same upstream, by stage and reason (status).\n# TYPE hydra_upstream_retries_total counter\n"
        for (key, n) in s.retries.sorted(by: { $0.key < $1.key }) {
            let p = key.split(separator: "|")
            out += "hydra_upstream_retries_total{stage=\"\(p[0])\",reason=\"\(p[1])\"} \(n)\n"
        }
        out += "# HELP hydra_upstream_fallbacks_total Calls moved to the next alternative upstream, by stage and reason.\n# TYPE hydra_upstream_fallbacks_total counter\n"
        for (key, n) in s.failovers.sorted(by: { $0.key < $1.key }) {
            let p = key.split(separator: "|")
            out += "hydra_upstream_fallbacks_total{stage=\"\(p[0])\",reason=\"\(p[1])\"} \(n)\n"
        }
        out += "# HELP hydra_bytes_relayed_total Response body bytes sent to clients for chat completions.\n# TYPE hydra_bytes_relayed_total counter\nhydra_bytes_relayed_total \(s.bytesRelayed)\n"
        for h in Histogram.allCases {
            let hs = s.histograms[h] ?? HistogramState()
            out += "# TYPE \(h.rawValue) histogram\n"
            var cumulative = 0
            for (i, b) in Metrics.buckets.enumerated() {
                cumulative += hs.counts[i]
                out += "\(h.rawValue)_bucket{le=\"\(b)\"} \(cumulative)\n"
            }
            out += "\(h.rawValue)_bucket{le=\"+Inf\"} \(hs.count)\n\(h.rawValue)_sum \(hs.sum)\n\(h.rawValue)_count \(hs.count)\n"
        }
        return out
    }
}
