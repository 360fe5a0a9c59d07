import OpenAIWire
import Upstream

/// One request's trip through the pipeline: the primary drafts, the critique refines (once per
/// round). One actor per request, owning the run's state, so logs, metrics and the route can ask
/// where it is. There is one critique loop for both answer shapes: a streamed answer is the loop's
/// events as they happen (the critique stage consumes the primary's stream, the response writer
/// consumes the critique's); a JSON answer is the same events, collected.
public actor PipelineRun {
    let plan: PipelinePlan
    let request: ChatRequest
    let observer: any PipelineObserver
    let clock = ContinuousClock()
    /// What a streamed run may produce ahead of the client (see `events()`).
    public nonisolated let budget = RelayBudget()

    public enum Phase: Sendable, Equatable {
        case starting, primary, critique(round: Int), finished, failed
    }

    /// Where the run is.
    public private(set) var phase = Phase.starting
    /// Tokens spent so far (nil once a stage did not report its usage).
    public private(set) var usage: Usage?
    /// Whether any answer text has been handed to the client.
    public private(set) var contentSent = false
    /// The primary's draft, once complete: what the critique reads.
    public private(set) var draft: String?

    /// How stages are called: streamed (events as they arrive) or whole (one JSON answer each).
    enum Mode { case streamed, whole }
    var mode = Mode.streamed
    /// Where events go: the client's stream, or a list that becomes the JSON answer.
    private var continuation: AsyncStream<PipelineEvent>.Continuation?
    private var collected: [PipelineEvent] = []

    public init(plan: PipelinePlan, request: ChatRequest, observer: any PipelineObserver) {
        self.plan = plan
        self.request = request
        self.observer = observer
    }

    // MARK: The two answer shapes

    /// Starts the run; the stream ends after `.finish`/`.usage` or `.failed`. Dropping the stream
    /// cancels the run and with it the upstream calls. The consumer gives each event's
    /// `relayCost` back to `budget` once it has written the event: until then the run reads its
    /// upstream only while less than `budget.capacity` bytes wait for the client.
    public nonisolated func events() -> AsyncStream<PipelineEvent> {
        let (stream, continuation) = AsyncStream<PipelineEvent>.makeStream()
        let task = Task(executorPreference: plan.executor) {
            await self.start(.streamed, continuation)
            _ = await self.runLoop()
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The whole answer: each stage called without streaming, the loop's events collected.
    public func complete() async throws(PipelineError) -> PipelineAnswer {
        start(.whole, nil)
        let outcome = await runLoop()
        return try AnswerCollector.answer(collected, outcome: outcome)
    }

    private func start(_ mode: Mode, _ continuation: AsyncStream<PipelineEvent>.Continuation?) {
        self.mode = mode
        self.continuation = continuation
    }

    /// Every event leaves through here: charged to the budget when streamed, noted in the state.
    func emit(_ event: PipelineEvent) {
        if case .content(let text) = event, !text.isEmpty { contentSent = true }
        if case .failed = event { phase = .failed }
        if let continuation {
            budget.charge(event.relayCost)
            continuation.yield(event)
        } else {
            collected.append(event)
        }
    }

    // MARK: The critique loop

    /// What the collected answer needs beyond the events.
    struct Outcome {
        var critiqued = false
    }

    private var secrets: [String] { [plan.primary.endpoint.apiKey, plan.critique?.endpoint.apiKey].compactMap { $0 } }

    func failure(_ stage: PipelineStage, _ error: UpstreamError) -> PipelineError {
        if error != .cancelled { observer.upstreamFailed(stage, error) }
        return PipelineError(stage: stage, upstream: error, secrets: secrets)
    }

    /// What the critique did, sent before the finish (the answer's `hydra` object).
    private var report = CritiqueReport(outcome: .off)

    private func runLoop() async -> Outcome {
        phase = .primary
        let critique = plan.critique
        if critique == nil, let why = plan.critiqueSkipReason { report = CritiqueReport(outcome: .skipped, reason: why) }
        let primaryStart = clock.now
        // Collect the draft (shown live as reasoning when asked); keep the raw deltas in case
        // they turn out to be tool calls.
        let primary: StageOutput
        var drafts: [StageOutput] = []
        if critique != nil, !plan.extraDrafts.isEmpty {
            guard let written = await runDrafts() else { return Outcome() }
            drafts = written
            report.drafts = (requested: plan.extraDrafts.count + 1, written: written.count)
            // A tool-call draft is answered as is, as with one draft (the first such wins).
            primary = written.first(where: \.sawToolCalls) ?? written[0]
            usage = written.dropFirst().reduce(written[0].usage) { sum, d in sum.flatMap { s in d.usage.map { s + $0 } } }
        } else {
            let primaryEmit: Emit = critique == nil ? .content : plan.showDraft ? .reasoning : .hold
            guard case .completed(let only) = await runStage(.primary, plan.primary, body: StageRequests.primary(request, model: plan.primary.endpoint.model, stream: mode == .streamed),
                                                             emit: primaryEmit) else { return Outcome() }
            primary = only
            usage = only.usage
        }
        report.primaryMs = (clock.now - primaryStart).milliseconds
        if critique != nil { draft = primary.text }
        guard let critique else {
            finish(primary.finish)
            phase = .finished
            return Outcome()
        }
        if primary.sawToolCalls {
            // Tool calls go back as the primary wrote them: agents execute them.
            observer.critiqueSkippedForToolCalls()
            report = CritiqueReport(outcome: .skipped, reason: "tool calls")
            report.primaryMs = (clock.now - primaryStart).milliseconds
            replay(primary)
            phase = .finished
            return Outcome()
        }

        var best = primary
        let rounds = max(1, plan.rounds)
        let critiqueStart = clock.now
        report.outcome = .applied
        for round in 1...rounds {
            let isLast = round == rounds
            phase = .critique(round: round)
            if plan.showDraft, !isLast { emit(.delta(["reasoning_content": .string("\n\n— critique round \(round) —\n\n")])) }
            let body = round == 1 && drafts.count > 1
                ? StageRequests.merge(request, drafts: drafts.map(\.text), prompt: plan.mergePrompt, model: critique.endpoint.model, stream: mode == .streamed)
                : StageRequests.critique(request, draft: best.text, prompt: plan.critiquePrompt, model: critique.endpoint.model, stream: mode == .streamed)
            switch await runStage(.critique, critique, body: body, emit: isLast ? .content : plan.showDraft ? .reasoning : .none) {
            case .completed(let refined):
                usage = usage.flatMap { u in refined.usage.map { u + $0 } }
                best = refined
                report.rounds = round
            case .failed(let error) where error != .cancelled && !contentSent && plan.critiqueFailure == .fallback:
                // Nothing of the final answer reached the client yet: deliver the best so far
                // whole, with the finish reason of the stage that wrote it.
                let reported = failure(.critique, error)
                observer.critiqueFellBack(error)
                emit(.fellBack)
                report.outcome = .fallback
                report.reason = reported.openAI.message
                report.critiqueMs = (clock.now - critiqueStart).milliseconds
                if plan.showDraft {
                    // The draft above was shown as "thinking": say plainly that it is the answer.
                    emit(.delta(["reasoning_content": .string("\n\n— critique unavailable (\(reported.openAI.message)); the answer is the unreviewed draft —\n")]))
                }
                if !best.fields.isEmpty { emit(.upstreamFields(best.fields)) }
                emit(.content(best.text))
                finish(best.finish)
                phase = .finished
                return Outcome()
            case .failed(let error):
                var reported = failure(.critique, error)
                if error != .cancelled {
                    if plan.showDraft {
                        reported.note = "The unreviewed draft was delivered as reasoning_content."
                    } else {
                        // The client has a fragment of the critique at most; the proxy holds the
                        // whole draft, which must not be lost: deliver it before the error.
                        emit(.delta(["reasoning_content": .string(best.text)]))
                        reported.note = "The complete unreviewed draft was delivered as reasoning_content before this error."
                    }
                }
                emit(.failed(reported))
                return Outcome()
            case .stopped:
                return Outcome()
            }
        }
        report.critiqueMs = (clock.now - critiqueStart).milliseconds
        finish(best.finish)
        phase = .finished
        return Outcome(critiqued: true)
    }

    private func finish(_ reason: String?) {
        emit(.report(report))
        emit(.finish(reason: reason))
        if let usage { emit(.usage(usage)) }
    }

    /// The draft was tool calls: hand the primary's answer over as it came.
    private func replay(_ draft: StageOutput) {
        if !draft.fields.isEmpty { emit(.upstreamFields(draft.fields)) }
        var filter = ThinkFilter()
        for d in draft.deltas {
            if let text = d["content"]?.stringValue {
                let shown = filter.feed(text)
                if !shown.isEmpty { emit(.content(shown)) }
            }
            if d.hasToolCalls, let calls = d["tool_calls"] { emit(.delta(["tool_calls": calls])) }
        }
        let rest = filter.finish()
        if !rest.isEmpty { emit(.content(rest)) }
        finish(draft.finish)
    }
}
