import Foundation
import Glibc

/// Certificates for https tests, generated once per test process with the `openssl` CLI into a
/// temporary directory (removed at exit). Nothing touches the system trust store: clients trust
/// `ca` through a CA file (`TLSContext(client:caFile:extraCAFile:)`, `UPSTREAM_CA_FILE`).
///
/// - `ca`: the test CA.
/// - `server`: `localhost` + `IP:127.0.0.1`, signed by `ca`, valid now.
/// - `expired`: the same names, signed by `ca`, valid only on 1–2 January 2020.
/// - `wrongName`: `DNS:wrong.example` only (no IP), signed by `ca`, valid now.
/// - `otherCA`: an unrelated CA that signed none of the above.
struct TestCertificates: Sendable {
    struct Pair: Sendable {
        let certificate: String
        let privateKey: String
    }

    let directory: String
    let ca: String
    let otherCA: String
    let server: Pair
    let expired: Pair
    let wrongName: Pair

    /// The process-wide set (generated on first use; a generation failure is reported to every caller).
    static func shared() throws -> TestCertificates { try generated.get() }

    private static let generated: Result<TestCertificates, any Error> = Result {
        let directory = NSTemporaryDirectory() + "hydracodedone-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        cleanupDirectory.set(directory)
        atexit { TestCertificates.removeDirectory() }
        return try TestCertificates(generatingIn: directory)
    }

    private static let cleanupDirectory = Locked<String?>(nil)

    private static func removeDirectory() {
        if let directory = cleanupDirectory.value { try? FileManager.default.removeItem(atPath: directory) }
    }

    struct GenerationError: Error, CustomStringConvertible {
        let description: String
    }

    private init(generatingIn directory: String) throws {
        self.directory = directory
        func path(_ name: String) -> String { directory + "/" + name }

        // CAs: self-signed, P-256 keys (fast to generate).
        for (name, subject) in [("ca", "/CN=HydraCodeDone Test CA"), ("other-ca", "/CN=HydraCodeDone Unrelated CA")] {
            try Self.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path("\(name).key")])
            try Self.openssl(["req", "-x509", "-new", "-key", path("\(name).key"), "-out", path("\(name).pem"), "-days", "3650",
                              "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
                              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        let ca = path("ca.pem")
        let otherCA = path("other-ca.pem")

        /// A key and a certificate request for `name`, and an extension file with `names` as SANs.
        func request(_ name: String, names: String) throws {
            try Self.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path("\(name).key")])
            try Self.openssl(["req", "-new", "-key", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)"])
            try Data("subjectAltName=\(names)\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n".utf8)
                .write(to: URL(fileURLWithPath: path("\(name).ext")))
        }
        func sign(_ name: String, serial: Int) throws -> Pair {
            try Self.openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", ca, "-CAkey", path("ca.key"),
                              "-set_serial", "\(serial)", "-days", "30", "-sha256", "-extfile", path("\(name).ext"), "-out", path("\(name).pem")])
            return Pair(certificate: path("\(name).pem"), privateKey: path("\(name).key"))
        }

        try request("server", names: "DNS:localhost,IP:127.0.0.1")
        let server = try sign("server", serial: 2)
        try request("wrong-name", names: "DNS:wrong.example")
        let wrongName = try sign("wrong-name", serial: 3)

        // OpenSSL 3.0's `x509 -req` has no -not_before/-not_after (3.4 added them), but the
        // `ca` command takes explicit -startdate/-enddate: a certificate that expired in 2020.
        try request("expired", names: "DNS:localhost,IP:127.0.0.1")
        try Data().write(to: URL(fileURLWithPath: path("index.txt")))
        try Data("10\n".utf8).write(to: URL(fileURLWithPath: path("serial.txt")))
        try Data("""
            [ ca ]
            default_ca = test_ca
            [ test_ca ]
            database = \(path("index.txt"))
            new_certs_dir = \(directory)
            serial = \(path("serial.txt"))
            default_md = sha256
            policy = any_name
            unique_subject = no
            [ any_name ]
            commonName = supplied

            """.utf8).write(to: URL(fileURLWithPath: path("ca.cnf")))
        try Self.openssl(["ca", "-batch", "-config", path("ca.cnf"), "-cert", ca, "-keyfile", path("ca.key"),
                          "-in", path("expired.csr"), "-out", path("expired.pem"), "-notext",
                          "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", path("expired.ext")])
        let expired = Pair(certificate: path("expired.pem"), privateKey: path("expired.key"))

        // The set is what the tests assume: fail here, with openssl's own words, rather than
        // as a puzzling handshake verdict later.
        try Self.openssl(["verify", "-CAfile", ca, server.certificate])
        try Self.openssl(["verify", "-CAfile", ca, wrongName.certificate])
        try Self.openssl(["x509", "-in", wrongName.certificate, "-noout", "-checkhost", "wrong.example"])
        let expiredVerdict = try Self.openssl(["verify", "-CAfile", ca, expired.certificate], mayFail: true)
        guard expiredVerdict.contains("expired") else {
            throw GenerationError(description: "the expired certificate is not expired: \(expiredVerdict)")
        }
        let unrelated = try Self.openssl(["verify", "-CAfile", otherCA, server.certificate], mayFail: true)
        guard unrelated.contains("unable to get local issuer") else {
            throw GenerationError(description: "the unrelated CA verifies the server certificate: \(unrelated)")
        }
        (self.ca, self.otherCA, self.server, self.expired, self.wrongName) = (ca, otherCA, server, expired, wrongName)
    }

    /// Runs `openssl` (from PATH) with `arguments`; returns stdout + stderr. Unless `mayFail`,
    /// a non-zero exit throws with that output.
    @discardableResult
    static func openssl(_ arguments: [String], mayFail: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if process.terminationStatus != 0, !mayFail {
            throw GenerationError(description: "openssl \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
        }
        return text
    }
}
