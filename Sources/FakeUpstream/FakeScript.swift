import OpenAIWire

/// How the fake answers one model (see README.md). Every field is optional.
public struct FakeScript: Sendable {
    public var content: String?
    public var chunks: [String]?
    public var firstDelayMs = 0
    public var chunkDelayMs = 0
    public var reasoning: String?
    public var toolCalls: JSONValue?
    public var usage: JSONValue? = .object(["prompt_tokens": .int(10), "completion_tokens": .int(5), "total_tokens": .int(15)])
    public var streamUsage = "include_usage"
    public var finishReason: String?
    public var status = 200
    public var errorBody: String?
    public var contentType: String?
    public var rawBody: String?
    public var reset: String?
    public var emptyStream = false
    public var hang = false
    public var noDone = false
    /// Streamed: the content chunks are sent this many times over (long streams from a short script).
    public var repeatCount = 1
    /// `Retry-After` (seconds) on a non-200 answer.
    public var retryAfter: Int?
    /// The failure (`status`, `reset`, `hang`) applies to this many requests, then the model
    /// answers normally (nil: always).
    public var failTimes: Int?

    public init() {}

    public init(content: String) { self.content = content }

    public init(json: JSONValue) throws(OpenAIError) {
        guard case .object(let o) = json else { throw .invalidRequest("script must be an object") }
        content = o["content"]?.stringValue
        chunks = o["chunks"]?.arrayValue?.compactMap(\.stringValue)
        firstDelayMs = o["first_delay_ms"]?.intValue ?? 0
        chunkDelayMs = o["chunk_delay_ms"]?.intValue ?? 0
        reasoning = o["reasoning"]?.stringValue
        toolCalls = o["tool_calls"]
        if let u = o["usage"] { usage = u.isNull ? nil : u }
        streamUsage = o["stream_usage"]?.stringValue ?? streamUsage
        finishReason = o["finish_reason"]?.stringValue
        status = o["status"]?.intValue ?? 200
        errorBody = o["error_body"]?.stringValue
        contentType = o["content_type"]?.stringValue
        rawBody = o["raw_body"]?.stringValue
        reset = o["reset"]?.stringValue
        emptyStream = o["empty_stream"]?.boolValue ?? false
        hang = o["hang"]?.boolValue ?? false
        noDone = o["no_done"]?.boolValue ?? false
        repeatCount = max(1, o["repeat"]?.intValue ?? 1)
        retryAfter = o["retry_after"]?.intValue
        failTimes = o["fail_times"]?.intValue
    }

    /// The script without its failure: what a `fail_times` script answers once used up.
    var recovered: FakeScript {
        var s = self
        s.status = 200
        s.reset = nil
        s.hang = false
        s.failTimes = nil
        return s
    }

    func text(model: String) -> String { content ?? "Answer from \(model)" }

    /// Streamed pieces: explicit chunks, or the text split into words (spaces kept).
    func pieces(model: String) -> [String] {
        if let chunks { return chunks }
        var out: [String] = []
        var current = ""
        for ch in text(model: model) {
            current.append(ch)
            if ch == " " { out.append(current); current = "" }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
