import Foundation
import OpenAIWire
import Upstream

/// A named pipeline from `PIPELINES_FILE`, chosen by the request's `model`.
public struct NamedPipeline: Sendable {
    public var id: String
    public var primary: UpstreamEndpoint
    public var critique: UpstreamEndpoint?
    public var critiquePrompt: String?
    public var rounds: Int
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
            for key in o.keys where !["id", "primary", "critique", "critique_prompt", "rounds"].contains(key) {
                throw fail(".\(key)", "unknown field (expected id, primary, critique, critique_prompt, rounds)")
            }
            guard let id = o["id"]?.stringValue, !id.isEmpty else { throw fail(".id", "must be a non-empty string") }
            guard seen.insert(id).inserted else { throw fail(".id", "duplicate pipeline id '\(id)'") }
            func stage(_ name: String, _ value: JSONValue?) throws -> UpstreamEndpoint? {
                guard let value, !value.isNull else { return nil }
                guard case .object(let s) = value else { throw fail(".\(name)", "must be an object or null") }
                for key in s.keys where !["base_url", "api_key_env", "model"].contains(key) {
                    throw fail(".\(name).\(key)", "unknown field (expected base_url, api_key_env, model)")
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
            guard let primary = try stage("primary", o["primary"]) else { throw fail(".primary", "is required") }
            let rounds = o["rounds"]?.intValue ?? 1
            guard (1...5).contains(rounds) else { throw fail(".rounds", "must be an integer from 1 to 5") }
            if let p = o["critique_prompt"], !p.isNull, p.stringValue == nil { throw fail(".critique_prompt", "must be a string") }
            return NamedPipeline(id: id, primary: primary, critique: try stage("critique", o["critique"]),
                                 critiquePrompt: o["critique_prompt"]?.stringValue, rounds: rounds)
        }
    }
}
