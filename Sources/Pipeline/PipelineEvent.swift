import OpenAIWire
import Upstream

/// What the pipeline streams to the response writer.
public enum PipelineEvent: Sendable {
    /// Answer text.
    case content(String)
    /// A delta object to pass on as-is (the primary's tool calls).
    case delta(JSONObject)
    case finish(reason: String?)
    case usage(Usage)
    /// Top-level fields of the upstream whose text the client receives (`system_fingerprint`,
    /// `service_tier`), for the chunks or answer that follow.
    case upstreamFields(JSONObject)
    /// The critique failed and the primary's answer is being delivered instead.
    case fellBack
    /// What the critique did; comes right before `.finish`.
    case report(CritiqueReport)
    case failed(PipelineError)
}

/// What a stage's upstream stream yields, in order.
enum StageEvent: Sendable {
    case delta(JSONObject, cost: Int)
    case upstreamFields(JSONObject)
    case finish(String?)
    case usage(Usage)
    case failed(UpstreamError)
}

/// The non-streamed answer.
public struct PipelineAnswer: Sendable {
    /// The assistant message (`role`, `content`, possibly `tool_calls`).
    public var message: JSONObject
    public var finishReason: String?
    public var usage: Usage?
    public var critiqued: Bool
    public var fellBack: Bool
    /// Top-level fields of the answering upstream worth keeping (`system_fingerprint`, `service_tier`).
    public var upstreamFields: JSONObject
    /// What the critique did (the answer's `hydra` object).
    public var report: CritiqueReport?
}
