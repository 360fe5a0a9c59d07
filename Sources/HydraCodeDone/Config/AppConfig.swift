import Foundation
import HTTPServer
import Pipeline
import TLS
import Upstream

/// The effective configuration, validated. Built from the environment over a `.env` file.
public struct AppConfig: Sendable {
    public enum LogLevel: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["DEBUG", "INFO", "WARNING", "ERROR"][rawValue] }
    }

    public var host = "0.0.0.0"
    public var port: UInt16 = 3101
    public var logLevel = LogLevel.info
    public var proxyModelName = "hydracodedone"
    public var proxyAPIKey: String?
    /// Web origins allowed to call the API from a page (CORS); empty: none (the default).
    public var corsAllowOrigins: [String] = []
    public var primary: UpstreamEndpoint
    public var critique: UpstreamEndpoint?
    public var critiquePrompt = DefaultPrompt.critique
    public var critiqueFailure = PipelinePlan.CritiqueFailure.fallback
    public var skipPatterns: [SkipPattern] = []
    /// `SHOW_DRAFT=reasoning`: the primary's draft streams as `reasoning_content`.
    public var showDraft = false
    /// `CRITIQUE_ROUNDS`: how many times the critique refines the answer.
    public var rounds = 1
    /// `DRAFTS`: parallel drafts the critique merges (1: the classic single draft).
    public var drafts = 1
    /// `CRITIQUE_MERGE_PROMPT`: the critique's instruction when it merges several drafts.
    public var mergePrompt = DefaultPrompt.merge
    /// `PRIMARY_FALLBACKS` / `CRITIQUE_FALLBACKS`: alternatives tried in order when a stage's
    /// upstream cannot answer.
    public var primaryFallbacks: [UpstreamEndpoint] = []
    public var critiqueFallbacks: [UpstreamEndpoint] = []
    /// `UPSTREAM_RETRIES`, `UPSTREAM_RETRY_MAX_WAIT_SECONDS`, `UPSTREAM_COOLDOWN_SECONDS`.
    public var retry = RetryPolicy()
    /// Named pipelines from `PIPELINES_FILE`, listed in `/v1/models` and chosen by `model`.
    public var pipelines: [NamedPipeline] = []
    /// `STRICT_MODELS=true`: an unknown model is a 404 instead of the default pipeline.
    public var strictModels = false
    /// `PASSTHROUGH_MODELS=true`: the upstream's own models are listed and served unchanged.
    public var passthroughModels = false
    public var upstreamTimeout: Duration = .seconds(300)
    public var heartbeat: Duration = .seconds(10)
    public var limits = ServerLimits()
    public var gracefulShutdown: Duration = .seconds(30)
    public var maxConcurrentRequests = 256
    public var maxQueuedRequests = 1024
    public var maxUpstreamResponseBytes = 64 << 20
    /// TLS trust and proxies for upstream calls.
    public var network = UpstreamNetwork()
    /// `PIPELINES_FILE`, kept so the config watcher can look at it.
    public var pipelinesFile: String?
    /// `CONFIG_WATCH_SECONDS`: how often to look for changed configuration files (nil: never).
    public var configWatch: Duration?

    /// `@unchecked Sendable` is safe: both stored properties are `let`, and NSRegularExpression is
    /// immutable once built and documented thread-safe for matching; Foundation on Linux just does
    /// not mark it Sendable.
    public struct SkipPattern: @unchecked Sendable {
        public let source: String
        let regex: NSRegularExpression
        func matches(_ text: String) -> Bool {
            regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
    }

    public static let defaultSkipPatterns = "^### Task:"

    /// One clear line naming the variable: the process prints it and exits non-zero.
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let variable: String
        public let problem: String
        public var description: String { "invalid configuration: \(variable) \(problem)" }
    }

    /// `environment` wins over `dotEnv`.
    public static func load(environment: [String: String], dotEnv: [String: String]) throws(Invalid) -> AppConfig {
        func value(_ key: String) -> String? {
            if let v = environment[key] { return v }
            return dotEnv[key]
        }
        func nonEmpty(_ key: String) -> String? {
            guard let v = value(key)?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(Invalid) -> Int? {
            guard let text = nonEmpty(key) else { return nil }
            guard let n = Int(text), range.contains(n) else { throw Invalid(variable: key, problem: "must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'") }
            return n
        }
        func seconds(_ key: String) throws(Invalid) -> Duration? {
            guard let text = nonEmpty(key) else { return nil }
            guard let s = Double(text), s > 0, s <= 86_400 * 7 else { throw Invalid(variable: key, problem: "must be a number of seconds greater than 0, got '\(text)'") }
            return .milliseconds(Int64(s * 1000))
        }
        func flag(_ key: String) throws(Invalid) -> Bool? {
            guard let text = nonEmpty(key) else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw Invalid(variable: key, problem: "must be true or false, got '\(text)'")
            }
        }
        func endpoint(_ baseKey: String, _ base: String, key: String?, model: String) throws(Invalid) -> UpstreamEndpoint {
            do { return try UpstreamEndpoint(baseURL: base, apiKey: key, model: model) } catch {
                throw Invalid(variable: baseKey, problem: "\(error.description) (got '\(base)')")
            }
        }

        // The placeholder primary is replaced below; its literal URL always parses.
        var c = AppConfig(primary: try! UpstreamEndpoint(baseURL: "http://localhost:11434/v1", apiKey: nil, model: "placeholder"))
        c.host = nonEmpty("HOST") ?? c.host
        if let p = try integer("PORT", 0...65535) { c.port = UInt16(p) }
        if let level = nonEmpty("LOG_LEVEL") {
            switch level.uppercased() {
            case "DEBUG": c.logLevel = .debug
            case "INFO": c.logLevel = .info
            case "WARNING", "WARN": c.logLevel = .warning
            case "ERROR": c.logLevel = .error
            default: throw Invalid(variable: "LOG_LEVEL", problem: "must be DEBUG, INFO, WARNING or ERROR, got '\(level)'")
            }
        }
        c.proxyModelName = nonEmpty("PROXY_MODEL_NAME") ?? c.proxyModelName
        c.proxyAPIKey = nonEmpty("PROXY_API_KEY")
        if let origins = nonEmpty("CORS_ALLOW_ORIGINS") {
            c.corsAllowOrigins = origins.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
            for origin in c.corsAllowOrigins where origin != "*" {
                let schemeEnd = origin.range(of: "://")
                guard origin.hasPrefix("http://") || origin.hasPrefix("https://"), let end = schemeEnd,
                      !origin[end.upperBound...].isEmpty, !origin[end.upperBound...].contains("/") else {
                    throw Invalid(variable: "CORS_ALLOW_ORIGINS", problem: "must list origins like https://chat.example.com (scheme and host, no path) or *, got '\(origin)'")
                }
            }
        }

        let openAIBase = nonEmpty("OPENAI_BASE_URL") ?? "http://localhost:11434/v1"
        let openAIKey = nonEmpty("OPENAI_API_KEY")
        guard let primaryModel = nonEmpty("PRIMARY_MODEL_NAME") else {
            throw Invalid(variable: "PRIMARY_MODEL_NAME", problem: "is required (the model that writes the first draft, e.g. llama3.2)")
        }
        let primaryBaseKey = nonEmpty("PRIMARY_BASE_URL") != nil ? "PRIMARY_BASE_URL" : "OPENAI_BASE_URL"
        c.primary = try endpoint(primaryBaseKey, nonEmpty("PRIMARY_BASE_URL") ?? openAIBase, key: nonEmpty("PRIMARY_API_KEY") ?? openAIKey, model: primaryModel)
        if let critiqueModel = nonEmpty("CRITIQUE_MODEL_NAME") {
            let critiqueBaseKey = nonEmpty("CRITIQUE_BASE_URL") != nil ? "CRITIQUE_BASE_URL" : "OPENAI_BASE_URL"
            c.critique = try endpoint(critiqueBaseKey, nonEmpty("CRITIQUE_BASE_URL") ?? openAIBase, key: nonEmpty("CRITIQUE_API_KEY") ?? openAIKey, model: critiqueModel)
        }
        if let prompt = value("CRITIQUE_SYSTEM_PROMPT"), !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            c.critiquePrompt = prompt
        }
        if let mode = nonEmpty("CRITIQUE_FAILURE") {
            guard let m = PipelinePlan.CritiqueFailure(rawValue: mode.lowercased()) else {
                throw Invalid(variable: "CRITIQUE_FAILURE", problem: "must be 'fallback' or 'error', got '\(mode)'")
            }
            c.critiqueFailure = m
        }
        if let show = nonEmpty("SHOW_DRAFT") {
            switch show.lowercased() {
            case "reasoning": c.showDraft = true
            case "off", "false", "none": c.showDraft = false
            default: throw Invalid(variable: "SHOW_DRAFT", problem: "must be 'reasoning' or 'off', got '\(show)'")
            }
        }
        c.rounds = try integer("CRITIQUE_ROUNDS", 1...5) ?? c.rounds
        c.drafts = try integer("DRAFTS", 1...8) ?? c.drafts
        if let prompt = value("CRITIQUE_MERGE_PROMPT"), !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            c.mergePrompt = prompt
        }
        c.primaryFallbacks = try parseFallbacks("PRIMARY_FALLBACKS", nonEmpty("PRIMARY_FALLBACKS"), stage: c.primary, lookup: value)
        if let critique = c.critique {
            c.critiqueFallbacks = try parseFallbacks("CRITIQUE_FALLBACKS", nonEmpty("CRITIQUE_FALLBACKS"), stage: critique, lookup: value)
        }
        c.retry.retries = try integer("UPSTREAM_RETRIES", 0...5) ?? c.retry.retries
        c.retry.maxWait = try seconds("UPSTREAM_RETRY_MAX_WAIT_SECONDS") ?? c.retry.maxWait
        if let text = nonEmpty("UPSTREAM_COOLDOWN_SECONDS") {
            guard let s = Double(text), s >= 0, s <= 86_400 else {
                throw Invalid(variable: "UPSTREAM_COOLDOWN_SECONDS", problem: "must be a number of seconds (0 = off), got '\(text)'")
            }
            c.retry.cooldown = .milliseconds(Int64(s * 1000))
        }
        c.strictModels = try flag("STRICT_MODELS") ?? false
        c.passthroughModels = try flag("PASSTHROUGH_MODELS") ?? false
        if let file = nonEmpty("PIPELINES_FILE") {
            c.pipelinesFile = file
            do { c.pipelines = try PipelinesFile.load(path: file, lookup: value) } catch {
                throw Invalid(variable: "PIPELINES_FILE", problem: "\(error)")
            }
        }
        // Unset = Open WebUI's task prompts; set but empty = feature off.
        let patterns = value("CRITIQUE_SKIP_PATTERNS") ?? defaultSkipPatterns
        c.skipPatterns = try parsePatterns(patterns)
        c.upstreamTimeout = try seconds("UPSTREAM_TIMEOUT_SECONDS") ?? c.upstreamTimeout
        c.heartbeat = try seconds("HEARTBEAT_SECONDS") ?? c.heartbeat
        c.gracefulShutdown = try seconds("GRACEFUL_SHUTDOWN_SECONDS") ?? c.gracefulShutdown
        c.limits.headerTimeout = try seconds("HEADER_TIMEOUT_SECONDS") ?? c.limits.headerTimeout
        c.limits.idleTimeout = try seconds("IDLE_TIMEOUT_SECONDS") ?? c.limits.idleTimeout
        c.limits.maxBodyBytes = try integer("MAX_REQUEST_BYTES", 1024...(1 << 30)) ?? c.limits.maxBodyBytes
        c.limits.maxConnections = try integer("MAX_CONNECTIONS", 1...1_000_000) ?? c.limits.maxConnections
        c.maxConcurrentRequests = try integer("MAX_CONCURRENT_REQUESTS", 1...100_000) ?? c.maxConcurrentRequests
        c.maxQueuedRequests = try integer("MAX_QUEUED_REQUESTS", 0...1_000_000) ?? c.maxQueuedRequests
        c.maxUpstreamResponseBytes = try integer("MAX_UPSTREAM_RESPONSE_BYTES", 1024...(1 << 31)) ?? c.maxUpstreamResponseBytes
        if let text = nonEmpty("CONFIG_WATCH_SECONDS") {
            guard let s = Double(text), s >= 0, s <= 86_400 else {
                throw Invalid(variable: "CONFIG_WATCH_SECONDS", problem: "must be a number of seconds (0 = off), got '\(text)'")
            }
            c.configWatch = s == 0 ? nil : .milliseconds(Int64(max(s, 0.1) * 1000))
        }
        c.network.verify = try flag("UPSTREAM_TLS_VERIFY") ?? true
        for (key, path) in [("SSL_CERT_FILE", \AppConfig.network.caFile), ("UPSTREAM_CA_FILE", \AppConfig.network.extraCAFile)] {
            guard let file = nonEmpty(key) else { continue }
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw Invalid(variable: key, problem: "names a file that does not exist or cannot be read: '\(file)'")
            }
            c[keyPath: path] = file
        }
        do { c.network.proxies = try ProxyRules(lookup: value) } catch {
            throw Invalid(variable: "HTTPS_PROXY/HTTP_PROXY", problem: error.description)
        }
        // A private CA that is not PEM fails here, not on the first https request. Only that file
        // is loaded (a small one): the system store is read once, on the first https call.
        if c.network.verify, let file = c.network.extraCAFile {
            do { _ = try TLSContext(client: true, caFile: file) } catch {
                throw Invalid(variable: "UPSTREAM_CA_FILE", problem: error.description)
            }
        }
        return c
    }

    /// `MODEL@BASE_URL[|API_KEY_ENV]`, separated by commas or newlines. Without `|…`, an entry on
    /// the stage's own base URL uses the stage's key; any other gets none.
    static func parseFallbacks(_ variable: String, _ text: String?, stage: UpstreamEndpoint,
                               lookup: (String) -> String?) throws(Invalid) -> [UpstreamEndpoint] {
        guard let text else { return [] }
        var result: [UpstreamEndpoint] = []
        for piece in text.split(whereSeparator: { $0 == "," || $0 == "\n" }) {
            let entry = piece.trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty else { continue }
            guard let at = entry.firstIndex(of: "@"), at != entry.startIndex else {
                throw Invalid(variable: variable, problem: "entries must look like MODEL@BASE_URL or MODEL@BASE_URL|API_KEY_ENV, got '\(entry)'")
            }
            let model = String(entry[..<at])
            var url = String(entry[entry.index(after: at)...])
            var key: String?
            if let bar = url.lastIndex(of: "|") {
                let name = String(url[url.index(after: bar)...])
                url = String(url[..<bar])
                guard let v = lookup(name), !v.isEmpty else {
                    throw Invalid(variable: variable, problem: "names the key variable \(name), which is not set")
                }
                key = v
            }
            do {
                var endpoint = try UpstreamEndpoint(baseURL: url, apiKey: key, model: model)
                if key == nil, endpoint.scheme == stage.scheme, endpoint.host == stage.host, endpoint.port == stage.port {
                    endpoint = try UpstreamEndpoint(baseURL: url, apiKey: stage.apiKey, model: model)
                }
                result.append(endpoint)
            } catch {
                throw Invalid(variable: variable, problem: "\(error.description) (got '\(url)')")
            }
        }
        return result
    }

    /// Patterns are separated by newlines or `||` so a regex may itself contain `|`.
    static func parsePatterns(_ text: String) throws(Invalid) -> [SkipPattern] {
        var result: [SkipPattern] = []
        let pieces = text.components(separatedBy: "\n").flatMap { $0.components(separatedBy: "||") }
        for piece in pieces {
            let p = piece.trimmingCharacters(in: .whitespaces)
            guard !p.isEmpty else { continue }
            do {
                result.append(SkipPattern(source: p, regex: try NSRegularExpression(pattern: p)))
            } catch {
                throw Invalid(variable: "CRITIQUE_SKIP_PATTERNS", problem: "has an invalid regular expression '\(p)'")
            }
        }
        return result
    }

    /// True when the request is a client background task (Open WebUI titles, tags, follow-ups).
    func isBackgroundTask(lastUserText: String?) -> Bool {
        guard let text = lastUserText, !skipPatterns.isEmpty else { return false }
        return skipPatterns.contains { $0.matches(text) }
    }

    /// Secrets shown as their first 3 characters and length only.
    /// Every credential this configuration holds: none of them may ever reach a client.
    public var secrets: [String] {
        var endpoints = [primary] + [critique].compactMap { $0 } + primaryFallbacks + critiqueFallbacks
        for p in pipelines { endpoints += p.primaries + [p.critique].compactMap { $0 } + p.primaryFallbacks + p.critiqueFallbacks }
        return Array(Set(endpoints.compactMap(\.apiKey) + [proxyAPIKey].compactMap { $0 }))
    }

    static func mask(_ secret: String?) -> String {
        guard let s = secret, !s.isEmpty else { return "(unset)" }
        return "\(s.prefix(3))…(\(s.count) chars)"
    }

    /// The effective settings as name/value pairs (values may contain spaces).
    public var summaryItems: [(String, String)] {
        var items: [(String, String)] = [
            ("host", host), ("port", "\(port)"), ("log_level", logLevel.name), ("proxy_model", proxyModelName),
            ("proxy_api_key", Self.mask(proxyAPIKey)), ("cors_allow_origins", corsAllowOrigins.isEmpty ? "off" : corsAllowOrigins.joined(separator: ",")),
            ("primary", "\(primary.model)@\(primary.url(primary.chatPath)) key=\(Self.mask(primary.apiKey))"),
        ]
        if let c = critique {
            items.append(("critique", "\(c.model)@\(c.url(c.chatPath)) key=\(Self.mask(c.apiKey))"))
        } else {
            items.append(("critique", "off"))
        }
        items += [
            ("critique_failure", critiqueFailure.rawValue), ("critique_rounds", "\(rounds)"), ("show_draft", showDraft ? "reasoning" : "off"),
            ("drafts", "\(drafts)"),
            ("primary_fallbacks", primaryFallbacks.isEmpty ? "none" : primaryFallbacks.map { "\($0.model)@\($0.url($0.chatPath))" }.joined(separator: ",")),
            ("critique_fallbacks", critiqueFallbacks.isEmpty ? "none" : critiqueFallbacks.map { "\($0.model)@\($0.url($0.chatPath))" }.joined(separator: ",")),
            ("upstream_retries", "\(retry.retries)"), ("upstream_retry_max_wait", "\(retry.maxWait)"), ("upstream_cooldown", "\(retry.cooldown)"),
            ("critique_prompt", "\(critiquePrompt.count) chars"),
            ("skip_patterns", "\(skipPatterns.map(\.source))"),
            ("upstream_timeout", "\(upstreamTimeout)"), ("heartbeat", "\(heartbeat)"),
            ("max_request_bytes", "\(limits.maxBodyBytes)"), ("max_connections", "\(limits.maxConnections)"),
            ("pipelines", "\(pipelines.map(\.id))"), ("strict_models", "\(strictModels)"), ("passthrough_models", "\(passthroughModels)"),
            ("max_concurrent_requests", "\(maxConcurrentRequests)"), ("max_queued_requests", "\(maxQueuedRequests)"),
            ("config_watch", configWatch.map { "\($0)" } ?? "off"),
        ]
        return items + network.summary
    }

    public var summary: String {
        summaryItems.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }

    /// Settings a person should know are unsafe, one line each (start-up log and check-config).
    public var warnings: [String] {
        network.verify ? [] : ["UPSTREAM_TLS_VERIFY=false: upstream TLS certificates and host names are NOT checked; anyone on the network path can read and alter upstream traffic, including API keys."]
    }
}
