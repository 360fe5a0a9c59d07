import OpenAIWire
import Pipeline
import Upstream

/// Decides what a chat request becomes, from the request, its `hydra` control object and one
/// configuration snapshot: a pipeline run, a passthrough call, or an error. Pure: no I/O, no
/// clock, so every rule here is tested without a socket.
struct RequestPlanner {
    let config: AppConfig
    /// The upstream's own models (ModelRegistry), for passthrough.
    let upstreamModels: [String]

    enum Plan {
        case pipeline(PipelineChoice)
        case passthrough(UpstreamEndpoint)
        case rejected(OpenAIError)
    }

    /// The pipeline a request runs, before transports are attached.
    struct PipelineChoice: Equatable {
        var primary: UpstreamEndpoint
        /// nil: the primary's answer is the answer.
        var critique: UpstreamEndpoint?
        var prompt: String
        var rounds: Int
        var showDraft: Bool
        /// What `X-Hydra-Critique` and the log say: off, skipped (a background task) or applied.
        var critiqueState: String
        var isBackgroundTask: Bool
    }

    func plan(_ request: ChatRequest, control: RequestControl) -> Plan {
        var primary = config.primary
        var critique = config.critique
        var prompt = config.critiquePrompt
        var rounds = config.rounds
        // The request's `model` picks a named pipeline or a passthrough model.
        if let model = request.model, model != config.proxyModelName {
            if let named = config.pipelines.first(where: { $0.id == model }) {
                primary = named.primary
                critique = named.critique
                prompt = named.critiquePrompt ?? prompt
                rounds = named.rounds
            } else if config.passthroughModels, upstreamModels.contains(model) {
                return .passthrough(config.primary)
            } else if config.strictModels {
                return .rejected(OpenAIError(status: 404, message: "The model '\(model)' does not exist on this proxy (STRICT_MODELS=true). GET /v1/models lists the available ones.",
                                             type: "invalid_request_error", param: "model", code: "model_not_found"))
            }
        }
        let background = critique != nil && config.isBackgroundTask(lastUserText: request.lastUserText)
        let wanted = critique != nil && control.critique != false
        let state = !wanted ? "off" : background ? "skipped" : "applied"
        return .pipeline(PipelineChoice(primary: primary, critique: wanted && !background ? critique : nil, prompt: prompt,
                                        rounds: control.rounds ?? rounds, showDraft: control.showDraft ?? config.showDraft,
                                        critiqueState: state, isBackgroundTask: background))
    }
}
