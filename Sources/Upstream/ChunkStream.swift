import OpenAIWire

/// The chunk objects of an upstream event stream, pulled one at a time: nothing is read from the
/// upstream until the consumer asks, so a slow client slows the upstream down (TCP backpressure).
public final class ChunkStream: Sendable {
    private let body: any UpstreamBody
    private let state: StreamState

    init(body: any UpstreamBody, errorText: ErrorText, grace: FinishGrace = FinishGrace()) {
        self.body = body
        self.state = StreamState(errorText: errorText, grace: grace)
    }

    /// The next chunk; nil after `[DONE]` (or a clean end after a finish_reason).
    public func next() async throws(UpstreamError) -> JSONObject? {
        try await state.next(body)
    }

    public func cancel() async { await body.cancel() }
}

/// How long a stream that already said `finish_reason` may stay silent before it counts as
/// complete. Some servers never send `[DONE]` and hold the connection open; waiting for the idle
/// timeout would turn a complete answer into a timeout.
public struct FinishGrace: Sendable {
    /// After the finish and the usage chunk: only `[DONE]` is missing.
    public var afterUsage: Duration = .milliseconds(500)
    /// After the finish alone: the usage chunk (always asked for) may still come.
    public var afterFinish: Duration = .seconds(2)
    public init() {}
}

actor StreamState {
    private var decoder = SSEDecoder()
    private var queue: [String] = []
    private var done = false
    private var sawFinish = false
    private var sawUsage = false
    private var sawEvent = false
    private let errorText: ErrorText
    private let grace: FinishGrace

    init(errorText: ErrorText, grace: FinishGrace) {
        self.errorText = errorText
        self.grace = grace
    }

    func next(_ body: any UpstreamBody) async throws(UpstreamError) -> JSONObject? {
        while true {
            if done { return nil }
            if !queue.isEmpty {
                let data = queue.removeFirst()
                sawEvent = true
                if data.trimmingCharacters(" \t\r\n") == "[DONE]" {
                    done = true
                    // Off the critical path: the next stage must not wait for the body's tail.
                    Task { [body] in await body.drain() }
                    return nil
                }
                guard case .object(let chunk)? = try? JSONParser.parse(data) else {
                    await body.cancel()
                    throw .malformed("invalid JSON in event stream (\(errorText.excerpt(Array(data.utf8))))")
                }
                if let error = chunk["error"], !error.isNull {
                    await body.cancel()
                    throw .status(502, message: errorText.message(fromError: error) ?? "error event")
                }
                do { try CompletionShape.checkChunk(chunk) } catch {
                    await body.cancel()
                    throw error
                }
                if let choices = chunk["choices"]?.arrayValue, choices.contains(where: { !($0["finish_reason"]?.isNull ?? true) }) {
                    sawFinish = true
                }
                if let usage = chunk["usage"], !usage.isNull { sawUsage = true }
                return chunk
            }
            let piece: [UInt8]?
            if sawFinish {
                do {
                    piece = try await body.next(within: sawUsage ? grace.afterUsage : grace.afterFinish)
                } catch .timeout {
                    // Finished, then silence on an open connection: the answer is complete.
                    done = true
                    await body.cancel()
                    return nil
                }
            } else {
                piece = try await body.next()
            }
            guard let piece else {
                done = true
                // A stream that stops without [DONE] and without a finish is cut off (llama.cpp
                // answers a context overflow with an empty 200): never pass that off as complete.
                if sawFinish { return nil }
                if !sawEvent {
                    throw .truncated("the upstream sent an empty event stream (llama.cpp does this when the prompt exceeds its context length)")
                }
                throw .truncated(decoder.hasPartialEvent ? "stream ended mid-event" : "stream ended without [DONE]")
            }
            do {
                queue.append(contentsOf: try decoder.feed(piece))
            } catch {
                await body.cancel()
                throw .tooLarge(decoder.maxEventBytes)
            }
        }
    }
}
