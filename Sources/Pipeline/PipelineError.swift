import OpenAIWire
import Upstream

/// A stage's upstream failure, as the client will see it.
public struct PipelineError: Error, Sendable {
    public let stage: PipelineStage
    public let upstream: UpstreamError
    /// Secrets that must never appear in an error shown to a client.
    let secrets: [String]

    public init(stage: PipelineStage, upstream: UpstreamError, secrets: [String]) {
        self.stage = stage
        self.upstream = upstream
        self.secrets = secrets
    }

    public var openAI: OpenAIError {
        let who = stage == .primary ? "primary" : "critique"
        switch upstream {
        case .unreachable(let why):
            return OpenAIError(status: 502, message: "The \(who) upstream is unreachable: \(scrub(why))", type: "upstream_error", code: "upstream_unreachable")
        case .timeout:
            return OpenAIError(status: 504, message: "The \(who) upstream sent nothing within the timeout (UPSTREAM_TIMEOUT_SECONDS).", type: "timeout_error", code: "upstream_timeout")
        case .status(let status, let message) where (400..<500).contains(status):
            return OpenAIError(status: status, message: "The \(who) upstream rejected the request: \(scrub(message))",
                               type: OpenAIError.defaultType(status), code: "upstream_\(status)")
        case .status(let status, let message):
            return OpenAIError(status: 502, message: "The \(who) upstream failed with \(status): \(scrub(message))", type: "upstream_error", code: "upstream_error")
        case .malformed(let why):
            return OpenAIError(status: 502, message: "The \(who) upstream sent a malformed response: \(scrub(why))", type: "upstream_error", code: "upstream_malformed")
        case .truncated(let why):
            return OpenAIError(status: 502, message: "The \(who) upstream's response ended early: \(scrub(why))", type: "upstream_error", code: "upstream_truncated")
        case .tooLarge(let cap):
            return OpenAIError(status: 502, message: "The \(who) upstream's response exceeded \(cap) bytes.", type: "upstream_error", code: "upstream_too_large")
        case .cancelled:
            return OpenAIError(status: 499, message: "The request was cancelled.", type: "cancelled", code: "cancelled")
        }
    }

    /// Upstream messages are truncated and never echo a credential back.
    func scrub(_ text: String) -> String {
        Redactor.redact(String(text.prefix(500)), secrets: secrets)
    }
}

public enum Redactor {
    /// Masks the given secrets and anything shaped like a bearer token or API key.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var out = text
        for secret in secrets where secret.count >= 4 {
            out = out.replacingAll(secret, with: "***")
        }
        // Common key shapes (sk-…, Bearer …) that an upstream may echo from elsewhere.
        var result = ""
        var words = out.split(separator: " ", omittingEmptySubsequences: false).makeIterator()
        var previousWasBearer = false
        var first = true
        while let word = words.next() {
            if !first { result += " " }
            first = false
            let bare = String(word).trimming("\"',.;:()[]{}")
            if previousWasBearer || bare.hasPrefix("sk-") && bare.count > 12 {
                result += "***"
            } else {
                result += word
            }
            previousWasBearer = bare.lowercased() == "bearer"
        }
        return result
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            result += rest[..<r.lowerBound]
            result += replacement
            rest = rest[r.upperBound...]
        }
        return result + rest
    }

    func trimming(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

extension Substring {
    func range(of target: String) -> Range<Substring.Index>? {
        guard !target.isEmpty, count >= target.count else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(target) { return i..<index(i, offsetBy: target.count) }
            i = index(after: i)
        }
        return nil
    }
}
