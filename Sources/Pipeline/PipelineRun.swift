import OpenAIWire
import Upstream

/// One request's trip through the pipeline: the primary drafts, the critique refines. One actor
/// per request; the critique stage consumes the primary's stream and the response writer consumes
/// the critique's.
public actor PipelineRun {
    private let plan: PipelinePlan
    private let request: ChatRequest
    private let observer: any PipelineObserver
    private let clock = ContinuousClock()

    public init(plan: PipelinePlan, request: ChatRequest, observer: any PipelineObserver) {
        self.plan = plan
        self.request = request
        self.observer = observer
    }

    private var secrets: [String] { [plan.primary.endpoint.apiKey, plan.critique?.endpoint.apiKey].compactMap { $0 } }

    private func failure(_ stage: PipelineStage, _ error: UpstreamError) -> PipelineError {
        if error != .cancelled { observer.upstreamFailed(stage, error) }
        return PipelineError(stage: stage, upstream: error, secrets: secrets)
    }

    // MARK: Non-streamed

    public func complete() async throws(PipelineError) -> PipelineAnswer {
        let primaryStart = clock.now
        observer.stageStarted(.primary)
        let primary: (message: JSONObject, finish: String?, usage: Usage?, fingerprint: JSONValue?)
        do {
            let object = try await plan.primary.upstream.complete(plan.primary.endpoint,
                                                                  body: StageRequests.primary(request, model: plan.primary.endpoint.model, stream: false),
                                                                  extraHeaders: plan.forwardedHeaders)
            primary = try Self.firstChoice(object)
        } catch {
            throw failure(.primary, error)
        }
        observer.stageFinished(.primary, after: clock.now - primaryStart)

        let toolCalls = primary.message["tool_calls"]?.arrayValue.map { !$0.isEmpty } ?? false
        guard let critique = plan.critique, !toolCalls else {
            // Tool calls go back exactly as the primary wrote them: agents execute them.
            let message = toolCalls ? primary.message : Self.cleaned(primary.message)
            return PipelineAnswer(message: message, finishReason: primary.finish, usage: primary.usage,
                                  critiqued: false, fellBack: false, systemFingerprint: primary.fingerprint)
        }

        let draft = ThinkFilter.strip(ChatRequest.text(of: primary.message["content"]) ?? "")
        let critiqueStart = clock.now
        observer.stageStarted(.critique)
        do {
            let object = try await critique.upstream.complete(critique.endpoint,
                                                              body: StageRequests.critique(request, draft: draft, prompt: plan.critiquePrompt,
                                                                                           model: critique.endpoint.model, stream: false),
                                                              extraHeaders: plan.forwardedHeaders)
            let refined = try Self.firstChoice(object)
            observer.stageFinished(.critique, after: clock.now - critiqueStart)
            let usage = primary.usage.flatMap { p in refined.usage.map { p + $0 } }
            return PipelineAnswer(message: Self.cleaned(refined.message), finishReason: refined.finish, usage: usage,
                                  critiqued: true, fellBack: false, systemFingerprint: refined.fingerprint)
        } catch {
            if error == .cancelled { throw failure(.critique, error) }
            guard plan.critiqueFailure == .fallback else { throw failure(.critique, error) }
            _ = failure(.critique, error)
            observer.critiqueFellBack(error)
            var message = Self.cleaned(primary.message)
            message["content"] = .string(draft)
            return PipelineAnswer(message: message, finishReason: primary.finish, usage: primary.usage,
                                  critiqued: false, fellBack: true, systemFingerprint: primary.fingerprint)
        }
    }

    static func firstChoice(_ object: JSONObject) throws(UpstreamError) -> (message: JSONObject, finish: String?, usage: Usage?, fingerprint: JSONValue?) {
        guard let choice = object["choices"]?.arrayValue?.first, let message = choice["message"]?.objectValue else {
            throw .malformed("no choices[0].message in the completion")
        }
        return (message, choice["finish_reason"]?.stringValue, Usage(object["usage"]), object["system_fingerprint"])
    }

    /// The text answer as the client should see it: think blocks removed, reasoning fields dropped.
    static func cleaned(_ message: JSONObject) -> JSONObject {
        var m = message
        if let text = ChatRequest.text(of: m["content"]), m["content"]?.stringValue != nil {
            m["content"] = .string(ThinkFilter.strip(text))
        }
        m["reasoning"] = nil
        m["reasoning_content"] = nil
        if m["role"] == nil { m["role"] = .string("assistant") }
        return m
    }

    // MARK: Streamed

    /// Starts the run; the stream ends after `.finish`/`.usage` or `.failed`. Dropping the stream
    /// cancels the run and with it the upstream calls.
    public nonisolated func events() -> AsyncStream<PipelineEvent> {
        let (stream, continuation) = AsyncStream<PipelineEvent>.makeStream()
        let task = Task { await self.runStreaming(continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runStreaming(_ out: AsyncStream<PipelineEvent>.Continuation) async {
        defer { out.finish() }
        observer.stageStarted(.primary)
        let primaryStart = clock.now
        let primary = StageStream.start(plan.primary, body: StageRequests.primary(request, model: plan.primary.endpoint.model, stream: true),
                                        headers: plan.forwardedHeaders)
        guard let critique = plan.critique else {
            await relay(primary, stage: .primary, started: primaryStart, out)
            return
        }

        // Collect the draft; keep the raw deltas in case they turn out to be tool calls.
        var draftText = ""
        var deltas: [JSONObject] = []
        var primaryFinish: String?
        var primaryUsage: Usage?
        var sawToolCalls = false
        var firstSeen = false
        var draftBytes = 0
        for await event in primary {
            switch event {
            case .delta(let d):
                if !firstSeen, d["content"]?.stringValue?.isEmpty == false || d["tool_calls"] != nil {
                    firstSeen = true
                    observer.firstToken(.primary, after: clock.now - primaryStart)
                }
                if let text = d["content"]?.stringValue { draftText += text }
                if d["tool_calls"] != nil { sawToolCalls = true }
                deltas.append(d)
                draftBytes += d["content"]?.stringValue?.utf8.count ?? 64
                if draftBytes > plan.maxDraftBytes {
                    out.yield(.failed(failure(.primary, .tooLarge(plan.maxDraftBytes))))
                    return
                }
            case .finish(let r): primaryFinish = r
            case .usage(let u): primaryUsage = u
            case .failed(let e):
                out.yield(.failed(failure(.primary, e)))
                return
            }
        }
        if Task.isCancelled { return }
        observer.stageFinished(.primary, after: clock.now - primaryStart)

        if sawToolCalls {
            var filter = ThinkFilter()
            for d in deltas {
                if let text = d["content"]?.stringValue {
                    let shown = filter.feed(text)
                    if !shown.isEmpty { out.yield(.content(shown)) }
                }
                if let calls = d["tool_calls"] { out.yield(.delta(["tool_calls": calls])) }
            }
            let rest = filter.finish()
            if !rest.isEmpty { out.yield(.content(rest)) }
            out.yield(.finish(reason: primaryFinish))
            if let u = primaryUsage { out.yield(.usage(u)) }
            return
        }

        let draft = ThinkFilter.strip(draftText)
        observer.stageStarted(.critique)
        let critiqueStart = clock.now
        let refined = StageStream.start(critique, body: StageRequests.critique(request, draft: draft, prompt: plan.critiquePrompt,
                                                                               model: critique.endpoint.model, stream: true),
                                        headers: plan.forwardedHeaders)
        var filter = ThinkFilter()
        var emitted = false
        var finish: String?
        var critiqueUsage: Usage?
        for await event in refined {
            switch event {
            case .delta(let d):
                guard let text = d["content"]?.stringValue, !text.isEmpty else { continue }
                if !emitted { observer.firstToken(.critique, after: clock.now - critiqueStart) }
                let shown = filter.feed(text)
                if !shown.isEmpty {
                    emitted = true
                    out.yield(.content(shown))
                }
            case .finish(let r): finish = r
            case .usage(let u): critiqueUsage = u
            case .failed(let e):
                let error = failure(.critique, e)
                if e != .cancelled, !emitted, plan.critiqueFailure == .fallback {
                    // Nothing of the critique reached the client yet: deliver the draft whole.
                    observer.critiqueFellBack(e)
                    out.yield(.fellBack)
                    out.yield(.content(draft))
                    out.yield(.finish(reason: primaryFinish))
                    if let u = primaryUsage { out.yield(.usage(u)) }
                } else {
                    out.yield(.failed(error))
                }
                return
            }
        }
        if Task.isCancelled { return }
        observer.stageFinished(.critique, after: clock.now - critiqueStart)
        let rest = filter.finish()
        if !rest.isEmpty { out.yield(.content(rest)) }
        out.yield(.finish(reason: finish))
        if let p = primaryUsage, let c = critiqueUsage { out.yield(.usage(p + c)) }
    }

    /// Critique off: the primary's stream goes to the client live.
    private func relay(_ stream: AsyncStream<StageEvent>, stage: PipelineStage, started: ContinuousClock.Instant,
                       _ out: AsyncStream<PipelineEvent>.Continuation) async {
        var filter = ThinkFilter()
        var finish: String?
        var usage: Usage?
        var firstSeen = false
        for await event in stream {
            switch event {
            case .delta(let d):
                if let text = d["content"]?.stringValue, !text.isEmpty {
                    if !firstSeen { firstSeen = true; observer.firstToken(stage, after: clock.now - started) }
                    let shown = filter.feed(text)
                    if !shown.isEmpty { out.yield(.content(shown)) }
                }
                if let calls = d["tool_calls"] {
                    if !firstSeen { firstSeen = true; observer.firstToken(stage, after: clock.now - started) }
                    out.yield(.delta(["tool_calls": calls]))
                }
            case .finish(let r): finish = r
            case .usage(let u): usage = u
            case .failed(let e):
                out.yield(.failed(failure(stage, e)))
                return
            }
        }
        if Task.isCancelled { return }
        observer.stageFinished(stage, after: clock.now - started)
        let rest = filter.finish()
        if !rest.isEmpty { out.yield(.content(rest)) }
        out.yield(.finish(reason: finish))
        if let u = usage { out.yield(.usage(u)) }
    }
}
