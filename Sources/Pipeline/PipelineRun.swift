import OpenAIWire
import Upstream

/// One request's trip through the pipeline: the primary drafts, the critique refines (once per
/// round). One actor per request; in streaming mode the critique stage consumes the primary's
/// stream and the response writer consumes the critique's (see PipelineRun+Streaming.swift).
public actor PipelineRun {
    let plan: PipelinePlan
    let request: ChatRequest
    let observer: any PipelineObserver
    let clock = ContinuousClock()
    /// What a streamed run may produce ahead of the client (see `events()`).
    public nonisolated let budget = RelayBudget()

    public init(plan: PipelinePlan, request: ChatRequest, observer: any PipelineObserver) {
        self.plan = plan
        self.request = request
        self.observer = observer
    }

    private var secrets: [String] { [plan.primary.endpoint.apiKey, plan.critique?.endpoint.apiKey].compactMap { $0 } }

    func failure(_ stage: PipelineStage, _ error: UpstreamError) -> PipelineError {
        if error != .cancelled { observer.upstreamFailed(stage, error) }
        return PipelineError(stage: stage, upstream: error, secrets: secrets)
    }

    func critiqueBody(draft: String, stream: Bool) -> JSONObject {
        StageRequests.critique(request, draft: draft, prompt: plan.critiquePrompt, model: plan.critique?.endpoint.model ?? "", stream: stream)
    }

    // MARK: Non-streamed

    public func complete() async throws(PipelineError) -> PipelineAnswer {
        let primaryStart = clock.now
        observer.stageStarted(.primary)
        let primary: Choice
        do {
            let object = try await plan.primary.upstream.complete(plan.primary.endpoint,
                                                                  body: StageRequests.primary(request, model: plan.primary.endpoint.model, stream: false),
                                                                  extraHeaders: plan.forwardedHeaders)
            primary = try Choice(object)
        } catch {
            throw failure(.primary, error)
        }
        observer.stageFinished(.primary, after: clock.now - primaryStart)

        let toolCalls = primary.message.hasToolCalls
        guard let critique = plan.critique, !toolCalls else {
            // Tool calls go back exactly as the primary wrote them: agents execute them.
            let message = toolCalls ? primary.message : Self.cleaned(primary.message)
            return PipelineAnswer(message: message, finishReason: primary.finish, usage: primary.usage,
                                  critiqued: false, fellBack: false, systemFingerprint: primary.fingerprint)
        }

        let draft = ThinkFilter.strip(ChatRequest.text(of: primary.message["content"]) ?? "")
        var current = draft
        var last = primary
        var usage = primary.usage
        for _ in 0..<max(1, plan.rounds) {
            let critiqueStart = clock.now
            observer.stageStarted(.critique)
            do {
                let object = try await critique.upstream.complete(critique.endpoint, body: critiqueBody(draft: current, stream: false),
                                                                  extraHeaders: plan.forwardedHeaders)
                last = try Choice(object)
                observer.stageFinished(.critique, after: clock.now - critiqueStart)
                usage = usage.flatMap { u in last.usage.map { u + $0 } }
                current = ThinkFilter.strip(ChatRequest.text(of: last.message["content"]) ?? "")
            } catch {
                if error == .cancelled || plan.critiqueFailure == .error { throw failure(.critique, error) }
                _ = failure(.critique, error)
                observer.critiqueFellBack(error)
                // Nothing produced is lost: the best answer so far (the draft, or an earlier round).
                var message = Self.cleaned(primary.message)
                message["content"] = .string(current)
                if plan.showDraft { message["reasoning_content"] = .string(draft) }
                return PipelineAnswer(message: message, finishReason: last.finish, usage: usage,
                                      critiqued: false, fellBack: true, systemFingerprint: last.fingerprint)
            }
        }
        var message = Self.cleaned(last.message)
        if plan.showDraft { message["reasoning_content"] = .string(draft) }
        return PipelineAnswer(message: message, finishReason: last.finish, usage: usage,
                              critiqued: true, fellBack: false, systemFingerprint: last.fingerprint)
    }

    /// The first choice of a non-streamed completion.
    struct Choice {
        var message: JSONObject
        var finish: String?
        var usage: Usage?
        var fingerprint: JSONValue?

        init(_ object: JSONObject) throws(UpstreamError) {
            guard let choice = object["choices"]?.arrayValue?.first, let message = choice["message"]?.objectValue else {
                throw .malformed("no choices[0].message in the completion")
            }
            self.message = message
            finish = choice["finish_reason"]?.stringValue
            usage = Usage(object["usage"])
            fingerprint = object["system_fingerprint"]
        }
    }

    /// The text answer as the client should see it: think blocks removed, reasoning fields dropped.
    static func cleaned(_ message: JSONObject) -> JSONObject {
        var m = message
        if let text = m["content"]?.stringValue {
            m["content"] = .string(ThinkFilter.strip(text))
        }
        m["reasoning"] = nil
        m["reasoning_content"] = nil
        if m["role"] == nil { m["role"] = .string("assistant") }
        return m
    }
}
