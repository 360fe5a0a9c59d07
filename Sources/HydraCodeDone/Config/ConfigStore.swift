import Foundation

/// Owns the configuration. Each request takes a snapshot when it arrives, so a reload never
/// changes a request already in flight.
public actor ConfigStore {
    public private(set) var current: AppConfig
    private let environment: [String: String]
    private let envFilePath: String

    public init(environment: [String: String], envFilePath: String) throws {
        self.environment = environment
        self.envFilePath = envFilePath
        self.current = try Self.read(environment: environment, envFilePath: envFilePath)
    }

    /// Reads `.env` (if present) under the real environment.
    public static func read(environment: [String: String], envFilePath: String) throws -> AppConfig {
        var dotEnv: [String: String] = [:]
        if FileManager.default.fileExists(atPath: envFilePath) {
            guard let data = FileManager.default.contents(atPath: envFilePath) else {
                throw AppConfig.Invalid(variable: "ENV_FILE", problem: "cannot read \(envFilePath)")
            }
            do {
                for (k, v) in try DotEnv.parse(String(decoding: data, as: UTF8.self)) { dotEnv[k] = v }
            } catch {
                throw AppConfig.Invalid(variable: "ENV_FILE", problem: "\(envFilePath) \(error.description)")
            }
        }
        return try AppConfig.load(environment: environment, dotEnv: dotEnv)
    }

    /// Re-reads `.env`; a bad file keeps the current configuration and says why.
    public func reload() -> Result<AppConfig, Error> {
        do {
            let fresh = try Self.read(environment: environment, envFilePath: envFilePath)
            current = fresh
            return .success(fresh)
        } catch {
            return .failure(error)
        }
    }
}
