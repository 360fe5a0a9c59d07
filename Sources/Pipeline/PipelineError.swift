import OpenAIWire
import Upstream

/// A stage's upstream failure, as the client will see it.
public struct PipelineError: Error, Sendable {
    public let stage: PipelineStage
    public let upstream: UpstreamError
    /// Secrets that must never appear in an error shown to a client.
    let secrets: [String]
    /// Appended to the message: what the client still received (e.g. the draft, as reasoning).
    public var note: String?

    public init(stage: PipelineStage, upstream: UpstreamError, secrets: [String]) {
        self.stage = stage
        self.upstream = upstream
        self.secrets = secrets
    }

    public var openAI: OpenAIError {
        var error = described
        if let note { error.message += " " + note }
        return error
    }

    private var described: OpenAIError {
        let who = stage == .primary ? "primary" : "critique"
        switch upstream {
        case .unreachable(let why):
            return OpenAIError(status: 502, message: "The \(who) upstream is unreachable: \(scrub(why))", type: "upstream_error", code: "upstream_unreachable")
        case .timeout:
            return OpenAIError(status: 504, message: "The \(who) upstream sent nothing within the timeout (UPSTREAM_TIMEOUT_SECONDS).", type: "timeout_error", code: "upstream_timeout")
        case .status(let status, let message, _) where (400..<500).contains(status):
            return OpenAIError(status: status, message: "The \(who) upstream rejected the request: \(scrub(message))",
                               type: OpenAIError.defaultType(status), code: "upstream_\(status)")
        case .status(let status, let message, _):
            return OpenAIError(status: 502, message: "The \(who) upstream failed with \(status): \(scrub(message))", type: "upstream_error", code: "upstream_error")
        case .malformed(let why):
            return OpenAIError(status: 502, message: "The \(who) upstream sent a malformed response: \(scrub(why))", type: "upstream_error", code: "upstream_malformed")
        case .invalid(let why):
            return OpenAIError(status: 502, message: "The \(who) upstream sent a response that does not follow OpenAI's schema: \(scrub(why))", type: "upstream_error", code: "upstream_invalid")
        case .truncated(let why):
            return OpenAIError(status: 502, message: "The \(who) upstream's response ended early: \(scrub(why))", type: "upstream_error", code: "upstream_truncated")
        case .tooLarge(let cap):
            return OpenAIError(status: 502, message: "The \(who) upstream's response exceeded \(cap) bytes.", type: "upstream_error", code: "upstream_too_large")
        case .cancelled:
            return OpenAIError(status: 499, message: "The request was cancelled.", type: "cancelled", code: "cancelled")
        }
    }

    /// Upstream messages never echo a credential back: masked first, then cut.
    func scrub(_ text: String) -> String {
        Redactor.excerpt(text, limit: 500, secrets: secrets)
    }
}
