import Foundation

/// `CONFIG_WATCH_SECONDS`: polls the `.env` file and the pipelines file and reloads like SIGHUP
/// when either changes. Kubernetes updates a mounted ConfigMap by swapping a symlink and sends
/// no signal; comparing contents (read through the symlink) notices the swap whatever the
/// timestamps say. A bad file keeps the previous configuration; it is reported once, not on
/// every poll.
struct ConfigWatcher: Sendable {
    let store: ConfigStore
    let envFilePath: String

    /// What the watched files hold now (nil for a missing file).
    func snapshot(pipelinesFile: String?) -> [String: Data?] {
        var files = [envFilePath: FileManager.default.contents(atPath: envFilePath)]
        if let pipelinesFile { files[pipelinesFile] = FileManager.default.contents(atPath: pipelinesFile) }
        return files
    }

    func run(every interval: Duration, logger: Logger) async {
        var seen = snapshot(pipelinesFile: await store.current.pipelinesFile)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            let now = snapshot(pipelinesFile: await store.current.pipelinesFile)
            guard now != seen else { continue }
            seen = now
            switch await store.reload() {
            case .success(let fresh):
                logger.info("configuration changed on disk, reloaded: \(fresh.summary)")
                for warning in fresh.warnings { logger.warning(warning) }
                // The pipelines file may have moved with the reload: watch the new one from now.
                seen = snapshot(pipelinesFile: fresh.pipelinesFile)
            case .failure(let error):
                logger.error("configuration changed on disk but is invalid, keeping the previous one: \(error)")
            }
        }
    }
}
