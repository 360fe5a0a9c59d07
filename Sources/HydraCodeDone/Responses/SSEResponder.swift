import HTTPServer
import OpenAIWire
import Pipeline

/// Consumes the pipeline's event stream and writes it as Server-Sent Events: a role chunk at once,
/// `: keep-alive` comments while nothing else is said (also while the request waits for an
/// admission slot), each delta as its own event the moment it arrives, a finish chunk, an optional
/// usage chunk, then `[DONE]`. Errors after the headers are an error event, so the client raises
/// instead of hanging.
struct SSEResponder: Sendable {
    let run: PipelineRun
    let model: String
    let includeUsage: Bool
    let heartbeat: Duration
    let logger: Logger
    let metrics: Metrics
    let exchange: ChatExchange
    let overloaded: OpenAIError
    /// The connection's event loop (see HTTPRequest.executor).
    let executor: (any TaskExecutor)?

    private enum Item: Sendable {
        case admitted(Bool)
        case event(PipelineEvent)
        case heartbeat
        case finished
    }

    func write(to writer: ResponseBodyWriter) async throws {
        var chunks = ChunkFactory(model: model)
        var relayed = 0
        var status = 200
        var note = ""
        defer {
            metrics.relayed(relayed)
            exchange.finish(status: status, extra: String(note.drop(while: { $0 == " " })))
        }
        func send(_ bytes: [UInt8]) async throws {
            try await writer.write(bytes)
            relayed += bytes.count
        }

        try await send(chunks.event(delta: ["role": .string("assistant"), "content": .string("")]))

        let (items, continuation) = AsyncStream<Item>.makeStream()
        // Helper tasks stay on this connection's event loop (unstructured tasks do not inherit it).
        let loop = executor
        let admit = Task(executorPreference: loop) { [exchange] in continuation.yield(.admitted(await exchange.admit())) }
        let beat = Task(executorPreference: loop) { [heartbeat] in
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                if Task.isCancelled { break }
                continuation.yield(.heartbeat)
            }
        }
        var forward: Task<Void, Never>?
        defer {
            admit.cancel()
            beat.cancel()
            forward?.cancel()
        }

        var usage: Usage?
        var report: CritiqueReport?
        var failed = false
        var answer = ""
        func write(_ event: PipelineEvent) async throws {
            switch event {
            case .content(let text):
                if logger.level == .debug { answer += text }
                try await send(chunks.event(delta: ["content": .string(text)]))
            case .delta(let delta):
                try await send(chunks.event(delta: delta))
            case .finish(let reason):
                // The final chunk says what the critique did (`hydra`), so a fallback is visible.
                try await send(chunks.event(delta: [:], finishReason: reason ?? "stop", extra: report.map { ["hydra": $0.json] } ?? [:]))
            case .report(let r):
                report = r
            case .usage(let u):
                usage = u
            case .upstreamFields(let fields):
                chunks.upstreamFields = fields
            case .fellBack:
                note = " outcome=fallback"
            case .failed(let error):
                failed = true
                status = error.openAI.status
                note = " error=\(error.upstream.kind)"
                try await send(ChunkFactory.errorEvent(error.openAI))
            }
        }
        loop: for await item in items {
            if Task.isCancelled { break }
            switch item {
            case .admitted(let granted):
                guard granted else {
                    failed = true
                    status = 429
                    note = " error=overloaded"
                    try await send(ChunkFactory.errorEvent(overloaded))
                    break loop
                }
                let events = run.events()
                forward = Task(executorPreference: loop) {
                    for await event in events { continuation.yield(.event(event)) }
                    continuation.yield(.finished)
                }
            case .finished:
                break loop
            case .heartbeat:
                try await send(ChunkFactory.heartbeat)
            case .event(let event):
                try await write(event)
                // Written: the run may read that much more from its upstream (see RelayBudget).
                run.budget.release(event.relayCost)
            }
        }
        if Task.isCancelled {
            status = 499
            note += " client_disconnected during=\(await run.phase)"
            return
        }
        if includeUsage, let usage, !failed { try await send(chunks.usageEvent(usage)) }
        try await send(ChunkFactory.done)
        if !answer.isEmpty { logger.debug("answer: \(answer)") }
    }
}
