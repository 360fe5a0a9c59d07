/// Token usage; the proxy reports the sum over its upstream calls.
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens ?? promptTokens + completionTokens
    }

    public init?(_ value: JSONValue?) {
        guard let o = value?.objectValue,
              let p = o["prompt_tokens"]?.intValue, let c = o["completion_tokens"]?.intValue else { return nil }
        self.init(promptTokens: p, completionTokens: c, totalTokens: o["total_tokens"]?.intValue)
    }

    public static func + (a: Usage, b: Usage) -> Usage {
        Usage(promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens,
              totalTokens: a.totalTokens + b.totalTokens)
    }

    public var json: JSONValue {
        .object(["prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens), "total_tokens": .int(totalTokens)])
    }
}
