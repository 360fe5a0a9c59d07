import OpenAIWire
import Upstream

/// Everything one run needs, fixed when the request arrives: a configuration reload mid-request
/// does not change a run that already started.
public struct PipelinePlan: Sendable {
    public struct Stage: Sendable {
        public var endpoint: UpstreamEndpoint
        public var upstream: ChatUpstream
        public init(endpoint: UpstreamEndpoint, upstream: ChatUpstream) {
            self.endpoint = endpoint
            self.upstream = upstream
        }
    }

    public enum CritiqueFailure: String, Sendable { case fallback, error }

    public var primary: Stage
    /// nil: the primary's answer is the answer.
    public var critique: Stage?
    /// Why `critique` is nil for this request although one is configured ("background task"),
    /// for the answer's `hydra` report; nil when no critique is configured.
    public var critiqueSkipReason: String?
    public var critiquePrompt: String
    public var critiqueFailure: CritiqueFailure
    /// Headers from the client allowed through to the upstream.
    public var forwardedHeaders: [(String, String)]
    /// A streamed draft is held in memory until the critique starts: this bounds it.
    public var maxDraftBytes: Int
    /// Stream the primary's draft as `reasoning_content` (and return it as `message.reasoning_content`).
    public var showDraft = false
    /// How many times the critique is applied, each round refining the previous round's answer.
    public var rounds = 1
    /// Where the run's own tasks (stage readers) should execute: the caller's event loop keeps a
    /// streamed token on one thread from upstream socket to client socket. nil: the global pool.
    public var executor: (any TaskExecutor)?

    public init(primary: Stage, critique: Stage?, critiquePrompt: String, critiqueFailure: CritiqueFailure, forwardedHeaders: [(String, String)] = [], maxDraftBytes: Int = 64 << 20,
                showDraft: Bool = false, rounds: Int = 1, executor: (any TaskExecutor)? = nil) {
        self.primary = primary
        self.critique = critique
        self.critiquePrompt = critiquePrompt
        self.critiqueFailure = critiqueFailure
        self.forwardedHeaders = forwardedHeaders
        self.maxDraftBytes = maxDraftBytes
        self.showDraft = showDraft
        self.rounds = rounds
        self.executor = executor
    }
}

/// Stage progress, for logs and metrics. The pipeline reports; the application decides what to do.
public protocol PipelineObserver: Sendable {
    func stageStarted(_ stage: PipelineStage)
    func firstToken(_ stage: PipelineStage, after: Duration)
    func stageFinished(_ stage: PipelineStage, after: Duration)
    func upstreamFailed(_ stage: PipelineStage, _ error: UpstreamError)
    func critiqueFellBack(_ error: UpstreamError)
    /// The draft was tool calls: returned as is, without a critique.
    func critiqueSkippedForToolCalls()
}

extension PipelineObserver {
    public func critiqueSkippedForToolCalls() {}
}

public enum PipelineStage: String, Sendable { case primary, critique }
