import OpenAIWire
import Upstream

/// One stage's upstream call, streamed or whole, turned into the run's events.
extension PipelineRun {
    /// What a stage's text is for: relayed as the answer, shown as reasoning, held for a possible
    /// tool-call replay, or only collected (an intermediate critique round).
    enum Emit { case content, reasoning, hold, none }

    struct StageOutput: Sendable {
        var text = ""
        /// Raw deltas of a held draft (streamed), or its message (whole), for a tool-call replay.
        var deltas: [JSONObject] = []
        var finish: String?
        var usage: Usage?
        var sawToolCalls = false
        /// `system_fingerprint` and `service_tier` as the stage's upstream last sent them.
        var fields = JSONObject()
    }

    enum StageResult: Sendable {
        case completed(StageOutput)
        /// The call failed; the caller decides between fallback and error.
        case failed(UpstreamError)
        /// Cancelled, or failed in a way already reported (a primary failure is always final).
        case stopped
    }

    /// `failureIsFinal`: a failed primary ends the run with an error (a parallel draft's does not).
    func runStage(_ stage: PipelineStage, _ target: PipelinePlan.Stage, body: JSONObject, emit mode: Emit,
                  failureIsFinal: Bool = true) async -> StageResult {
        observer.stageStarted(stage)
        let started = clock.now
        let result = self.mode == .streamed ? await streamed(stage, target, body: body, emit: mode, started: started)
                                            : await whole(stage, target, body: body, emit: mode)
        if case .completed = result { observer.stageFinished(stage, after: clock.now - started) }
        if stage == .primary, failureIsFinal, case .failed(let error) = result {
            emit(.failed(failure(.primary, error)))
            return .stopped
        }
        return result
    }

    func call(_ stage: PipelineStage, _ target: PipelinePlan.Stage) -> StageCall {
        StageCall(stage: stage, target: target, policy: plan.retry, cooldowns: plan.cooldowns, observer: observer)
    }

    private func show(_ text: String, as mode: Emit) {
        guard !text.isEmpty else { return }
        switch mode {
        case .content: emit(.content(text))
        case .reasoning: emit(.delta(["reasoning_content": .string(text)]))
        case .hold, .none: break
        }
    }

    // MARK: Streamed

    /// Reads one stage's stream, relaying text live as it is asked to.
    private func streamed(_ stage: PipelineStage, _ target: PipelinePlan.Stage, body: JSONObject, emit mode: Emit,
                          started: ContinuousClock.Instant) async -> StageResult {
        let stream = StageStream.start(call(stage, target), body: body, headers: plan.forwardedHeaders, executor: plan.executor, budget: budget)
        var output = StageOutput()
        var filter = ThinkFilter()
        var firstSeen = false
        var bytes = 0
        let relayCalls = stage == .primary && mode == .content
        for await event in stream {
            switch event {
            case .delta(let d, let cost):
                defer { budget.release(cost) }
                let text = d["content"]?.stringValue ?? ""
                if !firstSeen, !text.isEmpty || d.hasToolCalls {
                    firstSeen = true
                    observer.firstToken(stage, after: clock.now - started)
                }
                if !text.isEmpty {
                    let shown = filter.feed(text)
                    // Text relayed as the answer is the client's now: keeping a copy would grow
                    // with the answer. Only a draft or an intermediate round is kept (and bounded).
                    if mode != .content { output.text += shown }
                    show(shown, as: mode)
                }
                if d.hasToolCalls, let calls = d["tool_calls"] {
                    output.sawToolCalls = true
                    if relayCalls { emit(.delta(["tool_calls": calls])) }
                }
                if stage == .primary, mode == .hold || mode == .reasoning { output.deltas.append(d) }
                bytes += text.utf8.count + (d.hasToolCalls ? 64 : 0)
                if bytes > plan.maxDraftBytes, !relayCalls {
                    emit(.failed(failure(stage, .tooLarge(plan.maxDraftBytes))))
                    return .stopped
                }
            case .upstreamFields(let f):
                output.fields = f
                if mode == .content { emit(.upstreamFields(f)) }
            case .finish(let r): output.finish = r
            case .usage(let u): output.usage = u
            case .failed(let e): return .failed(e)
            }
        }
        if Task.isCancelled { return .stopped }
        let rest = filter.finish()
        if mode != .content { output.text += rest }
        show(rest, as: mode)
        return .completed(output)
    }

    // MARK: Whole

    /// Message fields the answer is made of elsewhere; any other field (refusal, annotations…)
    /// travels as a delta so the collected answer keeps it.
    static let composedFields: Set<String> = ["role", "content", "reasoning", "reasoning_content", "tool_calls"]

    private func whole(_ stage: PipelineStage, _ target: PipelinePlan.Stage, body: JSONObject, emit mode: Emit) async -> StageResult {
        let object: JSONObject
        let headers = plan.forwardedHeaders
        do {
            (object, _) = try await call(stage, target).run(body: body) { candidate, body throws(UpstreamError) in
                try await candidate.upstream.complete(candidate.endpoint, body: body, extraHeaders: headers)
            }
        } catch {
            return .failed(error)
        }
        if Task.isCancelled { return .stopped }
        // ChatUpstream.complete checked that choices[0].message is an object.
        let choice = object["choices"]?.arrayValue?.first
        let message = choice?["message"]?.objectValue ?? JSONObject()
        var output = StageOutput()
        output.text = ThinkFilter.strip(message["content"]?.stringValue ?? "")
        output.finish = choice?["finish_reason"]?.stringValue
        output.usage = Usage(object["usage"])
        output.fields = UpstreamFields.kept(from: object)
        output.sawToolCalls = message.hasToolCalls
        output.deltas = [message]
        if mode == .content, !output.fields.isEmpty { emit(.upstreamFields(output.fields)) }
        show(output.text, as: mode)
        if mode == .content {
            if output.sawToolCalls, let calls = message["tool_calls"] { emit(.delta(["tool_calls": calls])) }
            var extras = JSONObject()
            for entry in message.entries where !Self.composedFields.contains(entry.key) { extras[entry.key] = entry.value }
            if !extras.isEmpty { emit(.delta(extras)) }
        }
        return .completed(output)
    }
}
