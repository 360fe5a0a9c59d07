import OpenAIWire
import Upstream

extension PipelineRun {
    /// Starts the run; the stream ends after `.finish`/`.usage` or `.failed`. Dropping the stream
    /// cancels the run and with it the upstream calls. The consumer gives each event's
    /// `relayCost` back to `budget` once it has written the event: until then the run reads its
    /// upstream only while less than `budget.capacity` bytes wait for the client.
    public nonisolated func events() -> AsyncStream<PipelineEvent> {
        let (stream, continuation) = AsyncStream<PipelineEvent>.makeStream()
        let sink = EventSink(continuation: continuation, budget: budget)
        let task = Task(executorPreference: plan.executor) { await self.runStreaming(sink) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runStreaming(_ out: EventSink) async {
        defer { out.finish() }
        observer.stageStarted(.primary)
        let primaryStart = clock.now
        let primary = StageStream.start(plan.primary, body: StageRequests.primary(request, model: plan.primary.endpoint.model, stream: true),
                                        headers: plan.forwardedHeaders, executor: plan.executor, budget: budget)
        guard let critique = plan.critique else {
            _ = await consume(primary, stage: .primary, started: primaryStart, emit: .content, out)
            return
        }
        // Collect the draft (shown live as reasoning when asked); keep the raw deltas in case
        // they turn out to be tool calls.
        guard case .completed(let draftOutput) = await consume(primary, stage: .primary, started: primaryStart,
                                                               emit: plan.showDraft ? .reasoning : .hold, out) else { return }
        if draftOutput.sawToolCalls {
            replay(draftOutput, out)
            return
        }

        var current = draftOutput.text
        var usage = draftOutput.usage
        let rounds = max(1, plan.rounds)
        for round in 1...rounds {
            let isLast = round == rounds
            if plan.showDraft, !isLast { out.yield(.delta(["reasoning_content": .string("\n\n— critique round \(round) —\n\n")])) }
            observer.stageStarted(.critique)
            let critiqueStart = clock.now
            let refined = StageStream.start(critique, body: critiqueBody(draft: current, stream: true), headers: plan.forwardedHeaders,
                                            executor: plan.executor, budget: budget)
            let result = await consume(refined, stage: .critique, started: critiqueStart,
                                       emit: isLast ? .content : plan.showDraft ? .reasoning : .none, out)
            switch result {
            case .completed(let output):
                current = output.text
                usage = usage.flatMap { u in output.usage.map { u + $0 } }
                if isLast {
                    out.yield(.finish(reason: output.finish))
                    if let usage { out.yield(.usage(usage)) }
                }
            case .failed(let error, let emittedContent):
                if error != .cancelled, !emittedContent, plan.critiqueFailure == .fallback {
                    // Nothing of the final answer reached the client yet: deliver the best so far whole.
                    _ = failure(.critique, error)
                    observer.critiqueFellBack(error)
                    out.yield(.fellBack)
                    out.yield(.content(current))
                    out.yield(.finish(reason: draftOutput.finish))
                    if let usage { out.yield(.usage(usage)) }
                } else {
                    out.yield(.failed(failure(.critique, error)))
                }
                return
            case .cancelled:
                return
            }
        }
    }

    enum Emit { case content, reasoning, hold, none }

    struct StageOutput {
        var text = ""
        var deltas: [JSONObject] = []
        var finish: String?
        var usage: Usage?
        var sawToolCalls = false
    }

    enum StageResult {
        case completed(StageOutput)
        case failed(UpstreamError, emittedContent: Bool)
        case cancelled
    }

    /// Reads one stage's stream. `.content` relays text live (and ends with finish and usage when
    /// it is the primary relayed as-is); `.reasoning` relays it as `reasoning_content`; `.hold`
    /// keeps raw deltas for a possible tool-call replay; `.none` only collects.
    private func consume(_ stream: AsyncStream<StageEvent>, stage: PipelineStage, started: ContinuousClock.Instant,
                         emit: Emit, _ out: EventSink) async -> StageResult {
        var output = StageOutput()
        var filter = ThinkFilter()
        var firstSeen = false
        var emittedContent = false
        var bytes = 0
        let relayWhole = stage == .primary && emit == .content
        func show(_ text: String) {
            guard !text.isEmpty else { return }
            switch emit {
            case .content:
                emittedContent = true
                out.yield(.content(text))
            case .reasoning: out.yield(.delta(["reasoning_content": .string(text)]))
            case .hold, .none: break
            }
        }
        for await event in stream {
            switch event {
            case .delta(let d):
                let text = d["content"]?.stringValue ?? ""
                if !firstSeen, !text.isEmpty || d.hasToolCalls {
                    firstSeen = true
                    observer.firstToken(stage, after: clock.now - started)
                }
                if !text.isEmpty {
                    let shown = filter.feed(text)
                    output.text += shown
                    show(shown)
                }
                if d.hasToolCalls, let calls = d["tool_calls"] {
                    output.sawToolCalls = true
                    if relayWhole { out.yield(.delta(["tool_calls": calls])) }
                }
                if emit == .hold || emit == .reasoning, stage == .primary { output.deltas.append(d) }
                bytes += text.utf8.count + (d.hasToolCalls ? 64 : 0)
                if bytes > plan.maxDraftBytes, !relayWhole {
                    out.yield(.failed(failure(stage, .tooLarge(plan.maxDraftBytes))))
                    return .cancelled
                }
            case .finish(let r): output.finish = r
            case .usage(let u): output.usage = u
            case .failed(let e):
                if stage == .primary {
                    out.yield(.failed(failure(stage, e)))
                    return .cancelled
                }
                return .failed(e, emittedContent: emittedContent)
            }
        }
        if Task.isCancelled { return .cancelled }
        observer.stageFinished(stage, after: clock.now - started)
        let rest = filter.finish()
        output.text += rest
        show(rest)
        if relayWhole {
            out.yield(.finish(reason: output.finish))
            if let u = output.usage { out.yield(.usage(u)) }
        }
        return .completed(output)
    }

    /// The draft was tool calls: hand the primary's answer over as it came.
    private func replay(_ draft: StageOutput, _ out: EventSink) {
        var filter = ThinkFilter()
        for d in draft.deltas {
            if let text = d["content"]?.stringValue {
                let shown = filter.feed(text)
                if !shown.isEmpty { out.yield(.content(shown)) }
            }
            if d.hasToolCalls, let calls = d["tool_calls"] { out.yield(.delta(["tool_calls": calls])) }
        }
        let rest = filter.finish()
        if !rest.isEmpty { out.yield(.content(rest)) }
        out.yield(.finish(reason: draft.finish))
        if let u = draft.usage { out.yield(.usage(u)) }
    }
}

/// Where the run's events go: each one is charged to the budget as it leaves.
struct EventSink: Sendable {
    let continuation: AsyncStream<PipelineEvent>.Continuation
    let budget: RelayBudget

    func yield(_ event: PipelineEvent) {
        budget.charge(event.relayCost)
        continuation.yield(event)
    }

    func finish() { continuation.finish() }
}
