import HTTPServer
import OpenAIWire
import Pipeline

/// Consumes the pipeline's event stream and writes it as Server-Sent Events: a role chunk at once,
/// `: keep-alive` comments while nothing else is said, each delta as its own event the moment it
/// arrives, a finish chunk, an optional usage chunk, then `[DONE]`. Errors after the headers are an
/// error event, so the client raises instead of hanging.
struct SSEResponder: Sendable {
    let run: PipelineRun
    let model: String
    let includeUsage: Bool
    let heartbeat: Duration
    let logger: Logger
    let metrics: Metrics
    let observer: RequestObserver
    let permit: Permit

    private enum Item: Sendable {
        case event(PipelineEvent)
        case heartbeat
    }

    func write(to writer: ResponseBodyWriter) async throws {
        defer { permit.release() }
        let chunks = ChunkFactory(model: model)
        var relayed = 0
        var status = 200
        var note = ""
        defer {
            metrics.relayed(relayed)
            observer.done(status: status, extra: String(note.drop(while: { $0 == " " })))
        }
        func send(_ bytes: [UInt8]) async throws {
            try await writer.write(bytes)
            relayed += bytes.count
        }

        try await send(chunks.event(delta: ["role": .string("assistant"), "content": .string("")]))

        let (items, continuation) = AsyncStream<Item>.makeStream()
        let events = run.events()
        let forward = Task {
            for await event in events { continuation.yield(.event(event)) }
            continuation.finish()
        }
        let beat = Task { [heartbeat] in
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                if Task.isCancelled { break }
                continuation.yield(.heartbeat)
            }
        }
        defer {
            forward.cancel()
            beat.cancel()
        }

        var usage: Usage?
        var failed = false
        var answer = ""
        for await item in items {
            if Task.isCancelled { break }
            switch item {
            case .heartbeat:
                try await send(ChunkFactory.heartbeat)
            case .event(.content(let text)):
                if logger.level == .debug { answer += text }
                try await send(chunks.event(delta: ["content": .string(text)]))
            case .event(.delta(let delta)):
                try await send(chunks.event(delta: delta))
            case .event(.finish(let reason)):
                try await send(chunks.event(delta: [:], finishReason: reason ?? "stop"))
            case .event(.usage(let u)):
                usage = u
            case .event(.fellBack):
                note = " outcome=fallback"
            case .event(.failed(let error)):
                failed = true
                status = error.openAI.status
                note = " error=\(error.upstream.kind)"
                try await send(ChunkFactory.errorEvent(error.openAI))
            }
        }
        if Task.isCancelled {
            status = 499
            note += " client_disconnected"
            return
        }
        if includeUsage, let usage, !failed { try await send(chunks.usageEvent(usage)) }
        try await send(ChunkFactory.done)
        if !answer.isEmpty { logger.debug("answer: \(answer)") }
    }
}
