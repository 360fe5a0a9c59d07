import OpenAIWire

/// Folds a run's events into the non-streamed answer, the way a client folds stream deltas:
/// content pieces concatenate, reasoning pieces concatenate, other delta fields are set.
enum AnswerCollector {
    static func answer(_ events: [PipelineEvent], outcome: PipelineRun.Outcome) throws(PipelineError) -> PipelineAnswer {
        var content: String?
        var reasoning: String?
        var fields = JSONObject()
        var finish: String?
        var usage: Usage?
        var fellBack = false
        var upstreamFields = JSONObject()
        var report: CritiqueReport?
        for event in events {
            switch event {
            case .content(let text): content = (content ?? "") + text
            case .delta(let delta):
                for entry in delta.entries {
                    if entry.key == "reasoning_content", let text = entry.value.stringValue {
                        reasoning = (reasoning ?? "") + text
                    } else {
                        fields[entry.key] = entry.value
                    }
                }
            case .finish(let reason): finish = reason
            case .usage(let u): usage = u
            case .fellBack: fellBack = true
            case .upstreamFields(let f): upstreamFields = f
            case .report(let r): report = r
            case .failed(let error): throw error
            }
        }
        var message: JSONObject = ["role": .string("assistant")]
        // A tool-call answer without text says `content: null`, as OpenAI does.
        message["content"] = content.map(JSONValue.string) ?? (fields.hasToolCalls ? .null : .string(""))
        for entry in fields.entries { message[entry.key] = entry.value }
        // OpenAI's schema requires `refusal` (string or null) on every response message.
        if message["refusal"] == nil { message["refusal"] = .null }
        if let reasoning { message["reasoning_content"] = .string(reasoning) }
        return PipelineAnswer(message: message, finishReason: finish, usage: usage, critiqued: outcome.critiqued,
                              fellBack: fellBack, upstreamFields: upstreamFields, report: report)
    }
}
