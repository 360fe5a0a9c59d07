import OpenAIWire

/// What the critique did for one answer, for machines: the `hydra` object on a stream's final
/// chunk and on a JSON answer. SDKs ignore unknown top-level fields; a client that wants to know
/// whether its answer was reviewed reads this instead of guessing.
public struct CritiqueReport: Sendable {
    public enum Outcome: String, Sendable {
        /// The critique wrote the answer.
        case applied
        /// Not run for this request: a background task, or a tool-call draft.
        case skipped
        /// The critique failed before sending anything: the answer is the unreviewed draft.
        case fallback
        /// No critique is configured for this model (or the request turned it off).
        case off
    }

    public var outcome: Outcome
    /// Why it was skipped or fell back (an error message for a fallback).
    public var reason: String?
    /// Critique rounds that completed.
    public var rounds = 0
    /// With parallel drafts: how many were asked for and how many were written (the rest failed).
    public var drafts: (requested: Int, written: Int)?
    public var primaryMs: Int?
    public var critiqueMs: Int?

    public init(outcome: Outcome, reason: String? = nil) {
        self.outcome = outcome
        self.reason = reason
    }

    public var json: JSONValue {
        var o: JSONObject = ["critique": .string(outcome.rawValue)]
        if let reason { o["reason"] = .string(reason) }
        o["rounds"] = .int(rounds)
        if let drafts { o["drafts"] = .object(["requested": .int(drafts.requested), "written": .int(drafts.written)]) }
        var timings = JSONObject()
        if let primaryMs { timings["primary"] = .int(primaryMs) }
        if let critiqueMs { timings["critique"] = .int(critiqueMs) }
        o["timings_ms"] = .object(timings)
        return .object(o)
    }
}

extension Duration {
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
