import OpenAIWire
import Upstream

/// Several drafts at once (`DRAFTS`, or a pipeline with several primaries), for a critique that
/// merges them. Structured: the drafts are child tasks of the run, so a client that leaves
/// cancels every draft call, and each reads its own upstream, so a slow one holds up no other.
extension PipelineRun {
    /// The drafts that succeeded, in draft order; nil when none did (the run then failed).
    func runDrafts() async -> [StageOutput]? {
        let stages = [plan.primary] + plan.extraDrafts
        let count = stages.count
        let bodies = stages.enumerated().map { index, stage in
            var body = StageRequests.primary(request, model: stage.endpoint.model, stream: mode == .streamed)
            if index > 0, request.body["temperature"] == nil, stage.endpoint.model == plan.primary.endpoint.model {
                body["temperature"] = .number(StageRequests.draftTemperature)
            }
            return body
        }
        // Shown as reasoning: the first draft live, each other one whole, labelled, once the first
        // is done (so text of two drafts never interleaves).
        let live = plan.showDraft && mode == .streamed
        if live { emit(.delta(["reasoning_content": .string(label(0, count, stages[0]))])) }
        var results = [StageResult?](repeating: nil, count: count)
        var firstDone = !live
        var pending: [Int] = []
        await withTaskGroup(of: (Int, StageResult, Duration).self) { group in
            for index in 0..<count {
                let stage = stages[index], body = bodies[index]
                group.addTask {
                    let started = ContinuousClock.now
                    let result = await self.runStage(.primary, stage, body: body, emit: index == 0 && live ? .reasoning : .hold,
                                                     failureIsFinal: false)
                    return (index, result, ContinuousClock.now - started)
                }
            }
            for await (index, result, took) in group {
                results[index] = result
                switch result {
                case .completed: observer.draftFinished(index, of: count, after: took, error: nil)
                case .failed(let error): observer.draftFinished(index, of: count, after: took, error: error)
                case .stopped: observer.draftFinished(index, of: count, after: took, error: .cancelled)
                }
                guard live else { continue }
                if index == 0 {
                    if case .failed(let error) = result {
                        emit(.delta(["reasoning_content": .string("\n\n— draft 1 failed: \(error.description) —")]))
                    }
                    firstDone = true
                    for other in pending { showDraft(other, results[other], count, stages[other]) }
                    pending = []
                } else if firstDone {
                    showDraft(index, result, count, stages[index])
                } else {
                    pending.append(index)
                }
            }
        }
        if Task.isCancelled { return nil }
        var outputs: [StageOutput] = []
        var firstError: UpstreamError?
        for result in results {
            switch result {
            case .completed(let output)?: outputs.append(output)
            case .failed(let error)?: firstError = firstError ?? error
            default: break
            }
        }
        if plan.showDraft, !live {
            for index in 0..<count { showDraft(index, results[index], count, stages[index]) }
        }
        guard !outputs.isEmpty else {
            emit(.failed(failure(.primary, firstError ?? .cancelled)))
            return nil
        }
        return outputs
    }

    private func label(_ index: Int, _ count: Int, _ stage: PipelinePlan.Stage) -> String {
        "— draft \(index + 1) of \(count) (\(stage.endpoint.model)) —\n\n"
    }

    private func showDraft(_ index: Int, _ result: StageResult?, _ count: Int, _ stage: PipelinePlan.Stage) {
        let separator = index == 0 ? "" : "\n\n"
        switch result {
        case .completed(let output)?:
            emit(.delta(["reasoning_content": .string(separator + label(index, count, stage) + output.text)]))
        case .failed(let error)?:
            emit(.delta(["reasoning_content": .string(separator + "— draft \(index + 1) of \(count) (\(stage.endpoint.model)) failed: \(error.description) —")]))
        default:
            break
        }
    }
}
