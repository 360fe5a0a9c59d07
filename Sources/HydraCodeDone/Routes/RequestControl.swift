import OpenAIWire

/// The optional top-level `hydra` object of a request: per-request switches, removed before the
/// body is forwarded. `{"critique": false}`, `{"show_draft": "reasoning"}`, `{"rounds": 2}`, `{"drafts": 3}`.
struct RequestControl: Sendable {
    var critique: Bool?
    var showDraft: Bool?
    var rounds: Int?
    var drafts: Int?

    /// Takes the `hydra` object out of `request`; invalid values are a 400 naming the field.
    static func take(from request: inout ChatRequest) throws(OpenAIError) -> RequestControl {
        guard let value = request.body["hydra"] else { return RequestControl() }
        request.body["hydra"] = nil
        if value.isNull { return RequestControl() }
        guard case .object(let o) = value else {
            throw .invalidRequest("Invalid type for 'hydra': expected an object, but got \(value.typeName).", param: "hydra")
        }
        var control = RequestControl()
        for entry in o.entries {
            switch entry.key {
            case "critique":
                guard let b = entry.value.boolValue else {
                    throw .invalidRequest("Invalid type for 'hydra.critique': expected a boolean.", param: "hydra.critique")
                }
                control.critique = b
            case "show_draft":
                switch entry.value {
                case .string("reasoning"), .bool(true): control.showDraft = true
                case .string("off"), .bool(false), .null: control.showDraft = false
                default: throw .invalidRequest("Invalid value for 'hydra.show_draft': expected \"reasoning\" or \"off\".", param: "hydra.show_draft")
                }
            case "rounds":
                guard let n = entry.value.intValue, (1...5).contains(n), entry.value.numberIsInteger else {
                    throw .invalidRequest("Invalid value for 'hydra.rounds': expected an integer from 1 to 5.", param: "hydra.rounds")
                }
                control.rounds = n
            case "drafts":
                guard let n = entry.value.intValue, (1...8).contains(n), entry.value.numberIsInteger else {
                    throw .invalidRequest("Invalid value for 'hydra.drafts': expected an integer from 1 to 8.", param: "hydra.drafts")
                }
                control.drafts = n
            default:
                throw .invalidRequest("Unknown field 'hydra.\(entry.key)'; supported: critique, show_draft, rounds, drafts.", param: "hydra.\(entry.key)")
            }
        }
        return control
    }
}

extension JSONValue {
    var numberIsInteger: Bool {
        if case .number(let text) = self { return Int(text) != nil }
        return false
    }
}
