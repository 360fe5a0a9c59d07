import OpenAIWire
import Upstream

/// Runs one streamed upstream call and turns its chunks into `StageEvent`s. Ending the consumer
/// (or cancelling it) cancels the call, which closes the upstream connection. The consumer gives
/// each delta's `cost` back to the budget once it has handled it.
enum StageStream {
    static func start(_ call: StageCall, body: JSONObject, headers: [(String, String)],
                      executor: (any TaskExecutor)?, budget: RelayBudget) -> AsyncStream<StageEvent> {
        let (stream, continuation) = AsyncStream<StageEvent>.makeStream()
        let task = Task(executorPreference: executor) {
            do {
                // Retries and alternatives apply until the stream opens; after that, no.
                let (chunks, _) = try await call.run(body: body) { candidate, body throws(UpstreamError) in
                    try await candidate.upstream.stream(candidate.endpoint, body: body, extraHeaders: headers)
                }
                var kept = JSONObject()
                while true {
                    // Read on only while the client keeps up (see RelayBudget).
                    await budget.waitForRoom()
                    guard let chunk = try await chunks.next() else { break }
                    if Task.isCancelled { await chunks.cancel(); break }
                    let fields = UpstreamFields.kept(from: chunk)
                    if !fields.isEmpty, fields != kept {
                        kept = fields
                        continuation.yield(.upstreamFields(fields))
                    }
                    if let choice = chunk["choices"]?.arrayValue?.first {
                        if let delta = choice["delta"]?.objectValue {
                            // Charged until the run has handled it: the run's actor may lag behind
                            // this reader, and what waits between them counts against the budget too.
                            let cost = JSONValue.object(delta).approximateSize
                            budget.charge(cost)
                            continuation.yield(.delta(delta, cost: cost))
                        }
                        if let reason = choice["finish_reason"], !reason.isNull { continuation.yield(.finish(reason.stringValue)) }
                    }
                    if let usage = Usage(chunk["usage"]) { continuation.yield(.usage(usage)) }
                }
            } catch {
                continuation.yield(.failed(error as? UpstreamError ?? .cancelled))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
