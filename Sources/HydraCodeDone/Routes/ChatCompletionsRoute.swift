import HTTPServer
import OpenAIWire
import Pipeline
import Upstream

/// `POST /v1/chat/completions`: validate, admit, plan the run, answer as JSON or SSE.
struct ChatCompletionsRoute {
    let config: AppConfig
    let logger: Logger
    let metrics: Metrics
    let admission: Admission
    let transports: Transports
    let registry: ModelRegistry

    /// Client headers that may reach the upstream; everything else (Authorization above all) stays here.
    static let forwardedHeaderNames = ["OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta"]

    func handle(_ http: HTTPRequest) async -> HTTPResponse {
        let start = ContinuousClock.now
        var request: ChatRequest
        let control: RequestControl
        do {
            request = try ChatRequest(validating: http.body)
            control = try RequestControl.take(from: &request)
        } catch {
            logger.info("rejected status=400 \(error.message)")
            return .error(error)
        }
        // A streamed request that has to queue gets its headers and heartbeats while it waits
        // (SSEResponder admits it); a full queue refuses it at once.
        if request.stream, admission.isSaturated { return overloaded() }
        let clientModel = request.model ?? config.proxyModelName
        let planner = RequestPlanner(config: config, upstreamModels: await registry.upstreamModels)
        switch planner.plan(request, control: control) {
        case .rejected(let error):
            return .error(error)
        case .passthrough(let endpoint):
            let exchange = ChatExchange(admission: admission, observer: observer("model=\(clientModel) stream=\(request.stream) critique=passthrough", start))
            guard await exchange.admit() else { return overloaded() }
            return await PassthroughResponder(endpoint: endpoint, transport: transports.transport(for: endpoint, config: config),
                                              idleTimeout: config.upstreamTimeout, secrets: config.secrets)
                .respond(body: http.body, exchange: exchange, metrics: metrics)
        case .pipeline(let choice):
            if choice.isBackgroundTask { metrics.skippedCritique() }
            let summary = "model=\(clientModel) stream=\(request.stream) critique=\(choice.critiqueState)\(choice.isBackgroundTask ? " (background task: primary only)" : "")"
            let exchange = ChatExchange(admission: admission, observer: observer(summary, start))
            let run = PipelineRun(plan: pipelinePlan(choice, http), request: request, observer: exchange.observer)
            logger.debug("prompt: \(request.lastUserText ?? "")")
            if request.stream {
                let writer = SSEResponder(run: run, model: clientModel, includeUsage: request.includeUsage, heartbeat: config.heartbeat,
                                          logger: logger, metrics: metrics, exchange: exchange, overloaded: overloadedError,
                                          executor: http.executor)
                return HTTPResponse(status: 200, headers: [
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                    "X-Hydra-Critique": choice.critiqueState,
                ], body: .stream { try await writer.write(to: $0) })
            }
            guard await exchange.admit() else { return overloaded() }
            return await answer(run, exchange: exchange, model: clientModel, critiqueState: choice.critiqueState)
        }
    }

    /// The non-streamed answer.
    private func answer(_ run: PipelineRun, exchange: ChatExchange, model: String, critiqueState: String) async -> HTTPResponse {
        do {
            let answer = try await run.complete()
            let body = CompletionResponse.json(answer, model: model)
            metrics.relayed(body.count)
            // Applied but not critiqued and no fallback: the draft was tool calls, returned as is.
            let state = answer.fellBack ? "fallback" : critiqueState == "applied" && !answer.critiqued ? "skipped" : critiqueState
            exchange.finish(status: 200, extra: "outcome=\(state)")
            logger.debug("answer: \(ChatRequest.text(of: answer.message["content"]) ?? "")")
            return HTTPResponse(status: 200, headers: ["Content-Type": "application/json", "X-Hydra-Critique": state], body: .bytes(body))
        } catch {
            let e = error.openAI
            exchange.finish(status: e.status, extra: "error=\(error.upstream.kind)")
            return .error(e)
        }
    }

    private func pipelinePlan(_ choice: RequestPlanner.PipelineChoice, _ http: HTTPRequest) -> PipelinePlan {
        // Our request id stays here: llama.cpp's server rejects any X-Request-Id that is not a UUID.
        var forwarded: [(String, String)] = []
        for name in Self.forwardedHeaderNames { if let v = http.headers[name] { forwarded.append((name, v)) } }
        func stage(_ endpoint: UpstreamEndpoint, fallbacks: [UpstreamEndpoint] = []) -> PipelinePlan.Stage {
            .init(endpoint: endpoint, upstream: transports.chat(for: endpoint, config: config),
                  fallbacks: fallbacks.map { stage($0) })
        }
        var plan = PipelinePlan(
            primary: stage(choice.primary, fallbacks: choice.primaryFallbacks),
            critique: choice.critique.map { stage($0, fallbacks: choice.critiqueFallbacks) },
            critiquePrompt: choice.prompt,
            critiqueFailure: config.critiqueFailure,
            forwardedHeaders: forwarded,
            maxDraftBytes: config.maxUpstreamResponseBytes,
            showDraft: choice.showDraft,
            rounds: choice.rounds,
            executor: http.executor)
        if choice.isBackgroundTask { plan.critiqueSkipReason = "background task" }
        plan.extraDrafts = choice.drafts.dropFirst().map { stage($0) }
        plan.mergePrompt = config.mergePrompt
        plan.retry = config.retry
        plan.cooldowns = transports.cooldowns
        return plan
    }

    private func observer(_ summary: String, _ start: ContinuousClock.Instant) -> RequestObserver {
        RequestObserver(logger: logger, metrics: metrics, start: start, summary: summary)
    }
}

extension ChatCompletionsRoute {
    var overloadedError: OpenAIError {
        OpenAIError(status: 429, message: "The proxy is at capacity (\(config.maxConcurrentRequests) requests in flight, \(config.maxQueuedRequests) queued). Retry shortly.",
                    type: "rate_limit_error", code: "proxy_overloaded")
    }

    func overloaded() -> HTTPResponse {
        logger.warning("rejected status=429 queue full (MAX_CONCURRENT_REQUESTS=\(config.maxConcurrentRequests), MAX_QUEUED_REQUESTS=\(config.maxQueuedRequests))")
        metrics.request(route: "chat_rejected", status: 429)
        return .error(overloadedError, headers: ["Retry-After": "1"])
    }
}
