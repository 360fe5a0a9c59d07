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

    func done(status: Int, extra: String) {
        let total = ContinuousClock.now - start
        metrics.observe(.total, total)
        let stages = timings.withLock { $0 }
        var summary = self.summary
        if critiqueSkipped.load(ordering: .relaxed) {
            summary = summary.replacingOccurrences(of: "critique=applied", with: "critique=skipped (tool calls)")
        }
        let parts = ["done status=\(status)", summary] + stages + ["total_ms=\(Self.ms(total))", extra]
        logger.info(parts.filter { !$0.isEmpty }.joined(separator: " "))
    }

    static func ms(_ d: Duration) -> String {
        let v = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        return String(Int(v.rounded()))
    }
}
