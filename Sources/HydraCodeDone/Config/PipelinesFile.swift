import Foundation
import OpenAIWire
import Upstream

/// A named pipeline from `PIPELINES_FILE`, chosen by the request's `model`.
public struct NamedPipeline: Sendable {
    public var id: String
    /// Whose drafts the critique merges; one, unless the file lists `primaries`.
    public var primaries: [UpstreamEndpoint]
    public var primary: UpstreamEndpoint { primaries[0] }
    public var critique: UpstreamEndpoint?
    public var critiquePrompt: String?
    public var rounds: Int
    /// `drafts`: parallel drafts (nil: one per primary).
    public var drafts: Int?
    public var primaryFallbacks: [UpstreamEndpoint] = []
    public var critiqueFallbacks: [UpstreamEndpoint] = []
}

/// Reads `Configuration/pipelines.json`-style files. Every schema error names the file, the path
/// inside it and what is wrong.
enum PipelinesFile {
    struct SchemaError: Error, CustomStringConvertible {
        let file: String
        let path: String
        let problem: String
        var description: String { "\(file): \(path): \(problem)" }
    }

    static func load(path: String, lookup: (String) -> String?) throws -> [NamedPipeline] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SchemaError(file: path, path: "$", problem: "cannot read the file")
        }
        let root: JSONValue
        do { root = try JSONParser.parse([UInt8](data)) } catch {
            throw SchemaError(file: path, path: "$", problem: "invalid JSON: \(error.description)")
        }
        guard let list = root["pipelines"]?.arrayValue else {
            throw SchemaError(file: path, path: "$.pipelines", problem: "must be an array of pipelines")
        }
        var seen = Set<String>()
        return try list.enumerated().map { index, item in
            let at = "$.pipelines[\(index)]"
            func fail(_ sub: String, _ problem: String) -> SchemaError { SchemaError(file: path, path: at + sub, problem: problem) }
            guard case .object(let o) = item else { throw fail("", "must be an object") }
            let fields = ["id", "primary", "primaries", "critique", "critique_prompt", "rounds", "drafts"]
            for key in o.keys where !fields.contains(key) {
                throw fail(".\(key)", "unknown field (expected \(fields.joined(separator: ", ")))")
            }
            guard let id = o["id"]?.stringValue, !id.isEmpty else { throw fail(".id", "must be a non-empty string") }
            guard seen.insert(id).inserted else { throw fail(".id", "duplicate pipeline id '\(id)'") }
            func stage(_ name: String, _ value: JSONValue?, fallbacks: inout [UpstreamEndpoint]) throws -> UpstreamEndpoint? {
                guard let value, !value.isNull else { return nil }
                guard case .object(let s) = value else { throw fail(".\(name)", "must be an object or null") }
                for key in s.keys where !["base_url", "api_key_env", "model", "fallbacks"].contains(key) {
                    throw fail(".\(name).\(key)", "unknown field (expected base_url, api_key_env, model, fallbacks)")
                }
                if let list = s["fallbacks"], !list.isNull {
                    guard let items = list.arrayValue else { throw fail(".\(name).fallbacks", "must be an array of {base_url, model, api_key_env}") }
                    var none: [UpstreamEndpoint] = []
                    for (i, item) in items.enumerated() {
                        guard item["fallbacks"] == nil else { throw fail(".\(name).fallbacks[\(i)].fallbacks", "alternatives cannot have alternatives") }
                        if let alternative = try stage("\(name).fallbacks[\(i)]", item, fallbacks: &none) { fallbacks.append(alternative) }
                    }
                }
                guard let base = s["base_url"]?.stringValue else { throw fail(".\(name).base_url", "must be a string URL") }
                guard let model = s["model"]?.stringValue, !model.isEmpty else { throw fail(".\(name).model", "must be a non-empty string") }
                var key: String?
                if let envName = s["api_key_env"] {
                    guard let n = envName.stringValue else { throw fail(".\(name).api_key_env", "must be the name of an environment variable") }
                    key = lookup(n)
                }
                do { return try UpstreamEndpoint(baseURL: base, apiKey: key, model: model) } catch {
                    throw fail(".\(name).base_url", error.description)
                }
            }
            var primaryFallbacks: [UpstreamEndpoint] = [], critiqueFallbacks: [UpstreamEndpoint] = []
            var primaries: [UpstreamEndpoint] = []
            if let list = o["primaries"], !list.isNull {
                guard o["primary"] == nil else { throw fail(".primaries", "give either primary or primaries, not both") }
                guard let items = list.arrayValue, !items.isEmpty, items.count <= 8 else { throw fail(".primaries", "must be an array of 1 to 8 stages") }
                for (i, item) in items.enumerated() {
                    var unused: [UpstreamEndpoint] = []
                    guard let p = try stage("primaries[\(i)]", item, fallbacks: &unused) else { throw fail(".primaries[\(i)]", "must be an object") }
                    guard unused.isEmpty else { throw fail(".primaries[\(i)].fallbacks", "fallbacks go on a single primary, not on each of several drafts") }
                    primaries.append(p)
                }
            } else {
                guard let primary = try stage("primary", o["primary"], fallbacks: &primaryFallbacks) else { throw fail(".primary", "is required") }
                primaries = [primary]
            }
            let rounds = o["rounds"]?.intValue ?? 1
            guard (1...5).contains(rounds) else { throw fail(".rounds", "must be an integer from 1 to 5") }
            var drafts: Int?
            if let d = o["drafts"], !d.isNull {
                guard let n = d.intValue, (1...8).contains(n) else { throw fail(".drafts", "must be an integer from 1 to 8") }
                drafts = n
            }
            if let p = o["critique_prompt"], !p.isNull, p.stringValue == nil { throw fail(".critique_prompt", "must be a string") }
            let critique = try stage("critique", o["critique"], fallbacks: &critiqueFallbacks)
            return NamedPipeline(id: id, primaries: primaries, critique: critique,
                                 critiquePrompt: o["critique_prompt"]?.stringValue, rounds: rounds, drafts: drafts,
                                 primaryFallbacks: primaryFallbacks, critiqueFallbacks: critiqueFallbacks)
        }
    }
}
