import OpenAIWire
import Upstream

/// Everything one run needs, fixed when the request arrives: a configuration reload mid-request
/// does not change a run that already started.
public struct PipelinePlan: Sendable {
    public struct Stage: Sendable {
        public var endpoint: UpstreamEndpoint
        public var upstream: ChatUpstream
        /// Tried in order when this one cannot answer (see `StageCall`).
        public var fallbacks: [Stage]
        public init(endpoint: UpstreamEndpoint, upstream: ChatUpstream, fallbacks: [Stage] = []) {
            self.endpoint = endpoint
            self.upstream = upstream
            self.fallbacks = fallbacks
        }
    }

    public enum CritiqueFailure: String, Sendable { case fallback, error }

    public var primary: Stage
    /// Drafts written beside the primary's, in parallel, for the critique to merge (`DRAFTS`).
    public var extraDrafts: [Stage] = []
    /// The critique's instruction when it merges several drafts.
    public var mergePrompt = ""
    /// Retries, alternatives and cooldown for every stage's calls.
    public var retry = RetryPolicy()
    /// Shared by all requests: which upstreams failed recently.
    public var cooldowns: Cooldowns?
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
    /// One of several parallel drafts ended (`error` nil: it succeeded).
    func draftFinished(_ index: Int, of count: Int, after: Duration, error: UpstreamError?)
    /// The same upstream is asked again after `after` (a 408/429/503).
    func upstreamRetried(_ stage: PipelineStage, _ endpoint: UpstreamEndpoint, reason: String, after: Duration)
    /// `from` could not answer; `to` is tried next.
    func fellOver(_ stage: PipelineStage, from: UpstreamEndpoint, to: UpstreamEndpoint?, reason: String)
    /// The stage was answered by an alternative, not its first upstream.
    func answeredBy(_ stage: PipelineStage, _ endpoint: UpstreamEndpoint)
}

extension PipelineObserver {
    public func critiqueSkippedForToolCalls() {}
    public func draftFinished(_ index: Int, of count: Int, after: Duration, error: UpstreamError?) {}
    public func upstreamRetried(_ stage: PipelineStage, _ endpoint: UpstreamEndpoint, reason: String, after: Duration) {}
    public func fellOver(_ stage: PipelineStage, from: UpstreamEndpoint, to: UpstreamEndpoint?, reason: String) {}
    public func answeredBy(_ stage: PipelineStage, _ endpoint: UpstreamEndpoint) {}
}

public enum PipelineStage: String, Sendable { case primary, critique }
