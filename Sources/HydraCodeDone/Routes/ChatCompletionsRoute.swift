import HTTPServer
import OpenAIWire
import Pipeline
import Synchronization
import Upstream

/// `POST /v1/chat/completions`: validate, admit, plan the run, answer as JSON or SSE.
struct ChatCompletionsRoute {
    let config: AppConfig
    let logger: Logger
    let metrics: Metrics
    let admission: Admission
    let transports: ProxyHandler.Transports
    let registry: ModelRegistry

    /// Client headers that may reach the upstream; everything else (Authorization above all) stays here.
    static let forwardedHeaderNames = ["OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta"]

    func handle(_ http: HTTPRequest) async -> HTTPResponse {
        let clock = ContinuousClock()
        let start = clock.now
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
        // (SSEResponder takes its slot); anything else waits here for its slot.
        var permit: Permit?
        if !request.stream {
            permit = await admission.acquire()
            if permit == nil { return overloaded() }
        } else if admission.isSaturated {
            return overloaded()
        }

        // Which pipeline: the request's `model` picks a named pipeline or a passthrough model.
        var primaryEndpoint = config.primary
        var critiqueEndpoint = config.critique
        var prompt = config.critiquePrompt
        var rounds = config.rounds
        switch await registry.resolve(request.model) {
        case .defaultPipeline: break
        case .named(let p):
            primaryEndpoint = p.primary
            critiqueEndpoint = p.critique
            prompt = p.critiquePrompt ?? prompt
            rounds = p.rounds
        case .passthrough:
            logger.info("passthrough model=\(request.model ?? "")")
            if permit == nil { permit = await admission.acquire() }
            guard let permit else { return overloaded() }
            return await PassthroughResponder(endpoint: config.primary, transport: transports.transport(for: config.primary),
                                              idleTimeout: config.upstreamTimeout, secrets: config.secrets)
                .respond(body: http.body, permit: permit, metrics: metrics)
        case .unknown:
            permit?.release()
            return .error(OpenAIError(status: 404, message: "The model '\(request.model ?? "")' does not exist on this proxy (STRICT_MODELS=true). GET /v1/models lists the available ones.",
                                      type: "invalid_request_error", param: "model", code: "model_not_found"))
        }
        let skip = critiqueEndpoint != nil && config.isBackgroundTask(lastUserText: request.lastUserText)
        let critiqueOn = critiqueEndpoint != nil && !skip && control.critique != false
        let critiqueState = critiqueEndpoint == nil || control.critique == false ? "off" : skip ? "skipped" : "applied"
        if skip { metrics.skippedCritique() }
        // Our request id stays here: llama.cpp's server rejects any X-Request-Id that is not a UUID.
        var forwarded: [(String, String)] = []
        for name in Self.forwardedHeaderNames { if let v = http.headers[name] { forwarded.append((name, v)) } }
        let plan = PipelinePlan(
            primary: .init(endpoint: primaryEndpoint, upstream: transports.chat(for: primaryEndpoint, config: config)),
            critique: !critiqueOn ? nil : critiqueEndpoint.map { .init(endpoint: $0, upstream: transports.chat(for: $0, config: config)) },
            critiquePrompt: prompt,
            critiqueFailure: config.critiqueFailure,
            forwardedHeaders: forwarded,
            maxDraftBytes: config.maxUpstreamResponseBytes,
            showDraft: control.showDraft ?? config.showDraft,
            rounds: control.rounds ?? rounds,
            executor: EventLoopGroup.shared.current)
        let clientModel = request.model ?? config.proxyModelName
        logger.debug("prompt: \(request.lastUserText ?? "")")
        let observer = RequestObserver(logger: logger, metrics: metrics, start: start,
                                       summary: "model=\(clientModel) stream=\(request.stream) critique=\(critiqueState)\(skip ? " (background task: primary only)" : "")")
        let run = PipelineRun(plan: plan, request: request, observer: observer)

        if request.stream {
            let writer = SSEResponder(run: run, model: clientModel, includeUsage: request.includeUsage, heartbeat: config.heartbeat,
                                      logger: logger, metrics: metrics, observer: observer, admission: admission, overloaded: overloadedError)
            return HTTPResponse(status: 200, headers: [
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "X-Hydra-Critique": critiqueState,
            ], body: .stream { try await writer.write(to: $0) })
        }

        defer { permit?.release() }
        do {
            let answer = try await run.complete()
            let body = CompletionResponse.json(answer, model: clientModel)
            metrics.relayed(body.count)
            let state = answer.fellBack ? "fallback" : critiqueState == "applied" && !answer.critiqued ? "passthrough" : critiqueState
            observer.done(status: 200, extra: "outcome=\(state)")
            logger.debug("answer: \(ChatRequest.text(of: answer.message["content"]) ?? "")")
            return HTTPResponse(status: 200, headers: ["Content-Type": "application/json", "X-Hydra-Critique": state], body: .bytes(body))
        } catch {
            let e = error.openAI
            observer.done(status: e.status, extra: "error=\(error.upstream.kind)")
            return .error(e)
        }
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

/// Logs each stage as it happens and feeds the metrics.
final class RequestObserver: PipelineObserver {
    let logger: Logger
    let metrics: Metrics
    let start: ContinuousClock.Instant
    let summary: String
    private let timings = Mutex<[String]>([])

    init(logger: Logger, metrics: Metrics, start: ContinuousClock.Instant, summary: String) {
        self.logger = logger
        self.metrics = metrics
        self.start = start
        self.summary = summary
    }

    func stageStarted(_ stage: PipelineStage) {
        logger.info("\(stage.rawValue) started" + (stage == .primary ? " " + summary : ""))
    }

    func firstToken(_ stage: PipelineStage, after: Duration) {
        logger.info("\(stage.rawValue) first token after \(Self.ms(after)) ms")
        metrics.observe(.firstToken, ContinuousClock.now - start)
    }

    func stageFinished(_ stage: PipelineStage, after: Duration) {
        metrics.observe(stage == .primary ? .primary : .critique, after)
        timings.withLock { $0.append("\(stage.rawValue)_ms=\(Self.ms(after))") }
    }

    func upstreamFailed(_ stage: PipelineStage, _ error: UpstreamError) {
        metrics.upstreamError(stage: stage.rawValue, kind: error.kind)
        logger.warning("\(stage.rawValue) failed: \(error.kind)")
    }

    func critiqueFellBack(_ error: UpstreamError) {
        metrics.fallback()
        logger.warning("critique failed (\(error.kind)); answering with the primary's draft (CRITIQUE_FAILURE=fallback)")
    }

    func done(status: Int, extra: String) {
        let total = ContinuousClock.now - start
        metrics.observe(.total, total)
        let stages = timings.withLock { $0 }
        let parts = ["done status=\(status)", summary] + stages + ["total_ms=\(Self.ms(total))", extra]
        logger.info(parts.filter { !$0.isEmpty }.joined(separator: " "))
    }

    static func ms(_ d: Duration) -> String {
        let v = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        return String(Int(v.rounded()))
    }
}

