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
        /// Every draft's upstream, the primary first; more than one only with a critique to merge them.
        var drafts: [UpstreamEndpoint]
        var primaryFallbacks: [UpstreamEndpoint] = []
        var critiqueFallbacks: [UpstreamEndpoint] = []
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
        var primaries = [config.primary]
        var critique = config.critique
        var prompt = config.critiquePrompt
        var rounds = config.rounds
        var drafts = config.drafts
        var primaryFallbacks = config.primaryFallbacks
        var critiqueFallbacks = config.critiqueFallbacks
        // The request's `model` picks a named pipeline or a passthrough model.
        if let model = request.model, model != config.proxyModelName {
            if let named = config.pipelines.first(where: { $0.id == model }) {
                primaries = named.primaries
                critique = named.critique
                prompt = named.critiquePrompt ?? prompt
                rounds = named.rounds
                drafts = named.drafts ?? named.primaries.count
                primaryFallbacks = named.primaryFallbacks
                critiqueFallbacks = named.critiqueFallbacks
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
        // Several drafts only when a critique will merge them; the primaries are used in turn.
        let draftCount = wanted && !background ? (control.drafts ?? drafts) : 1
        let draftEndpoints = (0..<draftCount).map { primaries[$0 % primaries.count] }
        return .pipeline(PipelineChoice(primary: primaries[0], drafts: draftEndpoints,
                                        primaryFallbacks: primaryFallbacks, critiqueFallbacks: critiqueFallbacks,
                                        critique: wanted && !background ? critique : nil, prompt: prompt,
                                        rounds: control.rounds ?? rounds, showDraft: control.showDraft ?? config.showDraft,
                                        critiqueState: state, isBackgroundTask: background))
    }
}
