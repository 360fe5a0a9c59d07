import Glibc
import OpenAIWire
import Pipeline

/// Builds the `chat.completion` object and the `chat.completion.chunk` events the client sees.
enum CompletionResponse {
    static func json(_ answer: PipelineAnswer, model: String) -> [UInt8] {
        var choice = JSONObject()
        choice["index"] = .int(0)
        choice["message"] = .object(answer.message)
        choice["logprobs"] = .null
        choice["finish_reason"] = answer.finishReason.map(JSONValue.string) ?? .string("stop")
        var o = JSONObject()
        o["id"] = .string(RequestID.completionID())
        o["object"] = .string("chat.completion")
        o["created"] = .int(unixTime())
        o["model"] = .string(model)
        o["choices"] = .array([.object(choice)])
        if let u = answer.usage { o["usage"] = u.json }
        for entry in answer.upstreamFields.entries { o[entry.key] = entry.value }
        if let report = answer.report { o["hydra"] = report.json }
        return JSONWriter.bytes(.object(o))
    }
}

func unixTime() -> Int { Int(time(nil)) }

/// The fixed parts of every chunk of one stream (same id, created, model).
struct ChunkFactory: Sendable {
    let id = RequestID.completionID()
    let created = unixTime()
    let model: String
    /// The answering upstream's `system_fingerprint` / `service_tier`, once known.
    var upstreamFields = JSONObject()

    /// `extra`: top-level fields for this chunk only (the final chunk's `hydra`).
    func event(delta: JSONObject, finishReason: String? = nil, extra: JSONObject = [:]) -> [UInt8] {
        var choice = JSONObject()
        choice["index"] = .int(0)
        choice["delta"] = .object(delta)
        choice["logprobs"] = .null
        choice["finish_reason"] = finishReason.map(JSONValue.string) ?? .null
        return frame(choices: [.object(choice)], usage: nil, extra: extra)
    }

    func usageEvent(_ usage: Usage) -> [UInt8] { frame(choices: [], usage: usage) }

    private func frame(choices: [JSONValue], usage: Usage?, extra: JSONObject = [:]) -> [UInt8] {
        var o = JSONObject()
        o["id"] = .string(id)
        o["object"] = .string("chat.completion.chunk")
        o["created"] = .int(created)
        o["model"] = .string(model)
        for entry in upstreamFields.entries { o[entry.key] = entry.value }
        o["choices"] = .array(choices)
        if let usage { o["usage"] = usage.json }
        for entry in extra.entries { o[entry.key] = entry.value }
        var out = Array("data: ".utf8)
        JSONWriter.write(.object(o), into: &out)
        out.append(contentsOf: [0x0A, 0x0A])
        return out
    }

    static func errorEvent(_ error: OpenAIError) -> [UInt8] {
        Array("data: ".utf8) + error.bytes + [0x0A, 0x0A]
    }

    static let done = Array("data: [DONE]\n\n".utf8)
    static let heartbeat = Array(": keep-alive\n\n".utf8)
}
