import Foundation
import Pipeline
import Synchronization
import Upstream

/// Logs each stage as it happens and feeds the metrics.
final class RequestObserver: PipelineObserver {
    let logger: Logger
    let metrics: Metrics
    let start: ContinuousClock.Instant
    let summary: String
    private let timings = Mutex<[String]>([])
    /// Set when the critique did not run after all (the draft was tool calls).
    private let critiqueSkipped = Atomic<Bool>(false)
    /// Set when the primary failed: the critique never ran.
    private let primaryFailed = Atomic<Bool>(false)

    init(logger: Logger, metrics: Metrics, start: ContinuousClock.Instant, summary: String) {
        self.logger = logger
        self.metrics = metrics
        self.start = start
        self.summary = summary
    }

    func stageStarted(_ stage: PipelineStage) {
        logger.info("\(stage.rawValue) started" + (stage == .primary ? " " + summary : ""))
    }

    func firstToken(_ stage: PipelineStage, after: Duration) {
        logger.info("\(stage.rawValue) first token after \(Self.ms(after)) ms")
        metrics.observe(.firstToken, ContinuousClock.now - start)
    }

    func stageFinished(_ stage: PipelineStage, after: Duration) {
        metrics.observe(stage == .primary ? .primary : .critique, after)
        timings.withLock { $0.append("\(stage.rawValue)_ms=\(Self.ms(after))") }
    }

    func upstreamFailed(_ stage: PipelineStage, _ error: UpstreamError) {
        if stage == .primary { primaryFailed.store(true, ordering: .relaxed) }
        metrics.upstreamError(stage: stage.rawValue, kind: error.kind)
        logger.warning("\(stage.rawValue) failed: \(error.kind)")
    }

    func critiqueFellBack(_ error: UpstreamError) {
        metrics.fallback()
        logger.warning("critique failed (\(error.kind)); answering with the primary's draft (CRITIQUE_FAILURE=fallback)")
    }

    func critiqueSkippedForToolCalls() {
        critiqueSkipped.store(true, ordering: .relaxed)
    }

    func draftFinished(_ index: Int, of count: Int, after: Duration, error: UpstreamError?) {
        metrics.draft(ok: error == nil)
        metrics.observe(.draft, after)
        if let error {
            logger.warning("draft \(index + 1)/\(count) failed after \(Self.ms(after)) ms: \(error.description)")
        } else {
            logger.info("draft \(index + 1)/\(count) done after \(Self.ms(after)) ms")
        }
        timings.withLock { $0.append("draft\(index + 1)_ms=\(Self.ms(after))\(error == nil ? "" : "(failed)")") }
    }

    func upstreamRetried(_ stage: PipelineStage, _ endpoint: UpstreamEndpoint, reason: String, after: Duration) {
        metrics.upstreamRetry(stage: stage.rawValue, reason: reason)
        logger.warning("\(stage.rawValue): \(endpoint.model)@\(endpoint.url(endpoint.chatPath)) answered \(reason); asking again in \(Self.ms(after)) ms")
    }

    func fellOver(_ stage: PipelineStage, from: UpstreamEndpoint, to: UpstreamEndpoint?, reason: String) {
        metrics.upstreamFailover(stage: stage.rawValue, reason: reason)
        let next = to.map { "; trying \($0.model)@\($0.url($0.chatPath))" } ?? ""
        logger.warning("\(stage.rawValue): \(from.model)@\(from.url(from.chatPath)) could not answer (\(reason))\(next)")
    }

    func answeredBy(_ stage: PipelineStage, _ endpoint: UpstreamEndpoint) {
        timings.withLock { $0.append("\(stage.rawValue)_upstream=\(endpoint.model)@\(endpoint.url(endpoint.chatPath))") }
    }

    func done(status: Int, extra: String) {
        let total = ContinuousClock.now - start
        metrics.observe(.total, total)
        let stages = timings.withLock { $0 }
        var summary = self.summary
        if critiqueSkipped.load(ordering: .relaxed) {
            summary = summary.replacingOccurrences(of: "critique=applied", with: "critique=skipped (tool calls)")
        } else if primaryFailed.load(ordering: .relaxed) {
            summary = summary.replacingOccurrences(of: "critique=applied", with: "critique=not run (primary failed)")
        }
        let parts = ["done status=\(status)", summary] + stages + ["total_ms=\(Self.ms(total))", extra]
        logger.info(parts.filter { !$0.isEmpty }.joined(separator: " "))
    }

    static func ms(_ d: Duration) -> String {
        let v = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        return String(Int(v.rounded()))
    }
}
