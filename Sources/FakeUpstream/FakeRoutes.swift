import Glibc
import HTTPServer
import OpenAIWire

/// The fake's routes: chat completions per script, model list, and the `/__` control routes.
struct FakeRoutes {
    let fake: FakeUpstream

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let path = String(request.path)
        switch (request.method, path) {
        case ("GET", "/__requests"):
            let list = fake.requests.map { r -> JSONValue in
                var headers = JSONObject()
                for (k, v) in r.headers.sorted(by: { $0.key < $1.key }) { headers[k] = .string(v) }
                return .object(["path": .string(r.path), "headers": .object(headers), "body": r.body])
            }
            return json(200, .array(list))
        case ("DELETE", "/__requests"):
            fake.state.withLock { $0.recorded = []; $0.stats = FakeUpstream.Stats() }
            return json(200, .object(["ok": .bool(true)]))
        case ("DELETE", "/__scripts"):
            fake.state.withLock { $0.scripts = [:] }
            return json(200, .object(["ok": .bool(true)]))
        case ("GET", "/__stats"):
            let s = fake.stats
            return json(200, .object(["requests": .int(s.requests), "active": .int(s.active), "disconnects": .int(s.disconnects), "completed": .int(s.completed),
                                      "bytes_sent": .int(s.bytesSent)]))
        case ("PUT", _) where path.hasPrefix("/__scripts/"):
            let model = String(path.dropFirst("/__scripts/".count)).removingPercentEncoding
            do {
                let script = try FakeScript(json: try JSONParser.parse(request.body))
                fake.script(model, script)
                return json(200, .object(["ok": .bool(true)]))
            } catch {
                return json(400, .object(["error": .string("\(error)")]))
            }
        case ("GET", _) where path.hasSuffix("/models"):
            let ids = ["fake-model"] + fake.state.withLock { Array($0.scripts.keys).sorted() }
            return json(200, .object(["object": .string("list"), "data": .array(ids.map {
                .object(["id": .string($0), "object": .string("model"), "created": .int(1_700_000_000), "owned_by": .string("fake")])
            })]))
        case ("POST", _) where path.hasSuffix("/chat/completions"):
            return await chat(request, path: path)
        default:
            return json(404, .object(["error": .object(["message": .string("not found"), "type": .string("invalid_request_error")])]))
        }
    }

    private func json(_ status: Int, _ value: JSONValue) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: .bytes(JSONWriter.bytes(value)))
    }

    private func chat(_ request: HTTPRequest, path: String) async -> HTTPResponse {
        guard let body = try? JSONParser.parse(request.body) else {
            // llama.cpp answers invalid JSON with a plain-text 500.
            return HTTPResponse(status: 500, headers: ["Content-Type": "text/plain"], text: "Internal Server Error")
        }
        var headers: [String: String] = [:]
        for (k, v) in request.headers { headers[k.lowercased()] = v }
        let model = body["model"]?.stringValue ?? "fake-model"
        let script = fake.state.withLock { s -> FakeScript in
            s.recorded.append(.init(path: path, headers: headers, body: body))
            s.stats.requests += 1
            guard var script = s.scripts[model] else { return FakeScript() }
            if let left = script.failTimes {
                if left <= 0 { return script.recovered }
                script.failTimes = left - 1
                s.scripts[model] = script
            }
            return script
        }
        let stream = body["stream"]?.boolValue ?? false
        let includeUsage = body["stream_options"]?["include_usage"]?.boolValue ?? false

        if script.firstDelayMs > 0 && !(stream && script.status == 200 && script.rawBody == nil) {
            try? await Task.sleep(for: .milliseconds(script.firstDelayMs))
        }
        if script.reset == "before_headers" { return .connectionReset }
        if script.status != 200 {
            let errorBody = script.errorBody ?? JSONWriter.string(OpenAIError(status: script.status, message: "scripted failure \(script.status)").json)
            var headers: HTTPHeaders = ["Content-Type": script.contentType ?? "application/json"]
            if let wait = script.retryAfter { headers.set("Retry-After", String(wait)) }
            return HTTPResponse(status: script.status, headers: headers, text: errorBody)
        }
        if let raw = script.rawBody {
            return HTTPResponse(status: 200, headers: ["Content-Type": script.contentType ?? (stream ? "text/event-stream" : "application/json")], text: raw)
        }
        if !stream {
            if script.hang { return await hang() }
            return json(200, completion(script, model: model))
        }
        let fake = self.fake
        return HTTPResponse(status: 200, headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache"], body: .stream { writer in
            fake.state.withLock { $0.stats.active += 1 }
            var finished = false
            defer {
                fake.state.withLock { s in
                    s.stats.active -= 1
                    if finished { s.stats.completed += 1 } else { s.stats.disconnects += 1 }
                }
            }
            if script.firstDelayMs > 0 { try await Task.sleep(for: .milliseconds(script.firstDelayMs)) }
            if script.emptyStream { finished = true; return }
            if script.hang { while true { try await Task.sleep(for: .seconds(3600)) } }
            let chunk = ChunkWriter(model: model)
            func send(_ bytes: [UInt8]) async throws {
                try await writer.write(bytes)
                fake.state.withLock { $0.stats.bytesSent += bytes.count }
            }
            try await send(chunk.event(["role": .string("assistant"), "content": .string("")]))
            if let reasoning = script.reasoning {
                for word in reasoning.split(separator: " ", omittingEmptySubsequences: false) {
                    try await send(chunk.event(["reasoning": .string(String(word) + " ")]))
                }
            }
            if let calls = script.toolCalls?.arrayValue {
                for (i, call) in calls.enumerated() {
                    var c = call.objectValue ?? JSONObject()
                    c["index"] = .int(i)
                    try await send(chunk.event(["tool_calls": .array([.object(c)])]))
                }
            } else {
                // Encoded once: a repeated stream costs the fake no JSON work per event.
                let events = script.pieces(model: model).map { chunk.event(["content": .string($0)]) }
                for round in 0..<script.repeatCount {
                    for (i, event) in events.enumerated() {
                        if i > 0 || round > 0, script.chunkDelayMs > 0 { try await Task.sleep(for: .milliseconds(script.chunkDelayMs)) }
                        try await send(event)
                        if script.reset == "mid_stream", round == 0, i == events.count / 2 { throw CancellationError() }
                    }
                }
            }
            let finish = script.finishReason ?? (script.toolCalls != nil ? "tool_calls" : "stop")
            try await send(chunk.event([:], finish: finish))
            if let usage = script.usage, script.streamUsage == "always" || (script.streamUsage == "include_usage" && includeUsage) {
                try await send(chunk.usage(usage))
            }
            if !script.noDone { try await send(Array("data: [DONE]\n\n".utf8)) }
            finished = true
        })
    }

    private func hang() async -> HTTPResponse {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        fake.state.withLock { $0.stats.disconnects += 1 }
        return .connectionReset
    }

    private func completion(_ script: FakeScript, model: String) -> JSONValue {
        var message: JSONObject = ["role": .string("assistant")]
        if let calls = script.toolCalls {
            message["content"] = .null
            message["tool_calls"] = calls
        } else {
            message["content"] = .string(script.text(model: model))
        }
        if let r = script.reasoning { message["reasoning"] = .string(r) }
        var o: JSONObject = [
            "id": .string("chatcmpl-fake"), "object": .string("chat.completion"), "created": .int(1_700_000_000), "model": .string(model),
            "choices": .array([.object(["index": .int(0), "message": .object(message),
                                        "finish_reason": .string(script.finishReason ?? (script.toolCalls != nil ? "tool_calls" : "stop"))])]),
        ]
        if let u = script.usage { o["usage"] = u }
        fake.state.withLock { $0.stats.completed += 1 }
        return .object(o)
    }
}

struct ChunkWriter {
    let model: String
    func event(_ delta: JSONObject, finish: String? = nil) -> [UInt8] {
        frame(["id": .string("chatcmpl-fake"), "object": .string("chat.completion.chunk"), "created": .int(1_700_000_000), "model": .string(model),
               "choices": .array([.object(["index": .int(0), "delta": .object(delta), "finish_reason": finish.map(JSONValue.string) ?? .null])])])
    }
    func usage(_ usage: JSONValue) -> [UInt8] {
        frame(["id": .string("chatcmpl-fake"), "object": .string("chat.completion.chunk"), "created": .int(1_700_000_000), "model": .string(model),
               "choices": .array([]), "usage": usage])
    }
    private func frame(_ o: JSONObject) -> [UInt8] { Array("data: ".utf8) + JSONWriter.bytes(.object(o)) + Array("\n\n".utf8) }
}

extension String {
    var removingPercentEncoding: String {
        var out: [UInt8] = []
        var bytes = Array(utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
