/// Token usage; the proxy reports the sum over its upstream calls.
///
/// Counts come from an untrusted upstream: a negative or out-of-range count is treated as absent,
/// and sums saturate at `Int.max` instead of trapping (an overflow trap would kill the process and
/// every connection with it).
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil) {
        self.promptTokens = max(0, promptTokens)
        self.completionTokens = max(0, completionTokens)
        self.totalTokens = totalTokens.map { max(0, $0) } ?? Self.saturatingSum(self.promptTokens, self.completionTokens)
    }

    /// nil unless both counts are present, integral and non-negative; a bad `total_tokens` is recomputed.
    public init?(_ value: JSONValue?) {
        guard let o = value?.objectValue,
              let p = Self.count(o["prompt_tokens"]), let c = Self.count(o["completion_tokens"]) else { return nil }
        self.init(promptTokens: p, completionTokens: c, totalTokens: Self.count(o["total_tokens"]))
    }

    public static func + (a: Usage, b: Usage) -> Usage {
        Usage(promptTokens: saturatingSum(a.promptTokens, b.promptTokens),
              completionTokens: saturatingSum(a.completionTokens, b.completionTokens),
              totalTokens: saturatingSum(a.totalTokens, b.totalTokens))
    }

    public var json: JSONValue {
        .object(["prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens), "total_tokens": .int(totalTokens)])
    }

    static func count(_ value: JSONValue?) -> Int? {
        guard let n = value?.intValue, n >= 0 else { return nil }
        return n
    }

    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (a < 0 ? Int.min : Int.max) : sum
    }
}
