import NIOSSL

/// The server's TLS identity: a certificate chain and its private key, as PEM files
/// (`kbd-sim server --tls-cert FILE --tls-key FILE`). TLS itself is swift-nio-ssl's
/// (BoringSSL), through Hummingbird's TLS channel; nothing of it is written here.
public struct TLSFiles: Sendable, Equatable {
    /// The certificate chain, leaf first (PEM).
    public var certificateChain: String
    /// The leaf's private key (PEM, unencrypted).
    public var privateKey: String

    public init(certificateChain: String, privateKey: String) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }

    /// A certificate or key file that could not be read or parsed: which one, and what to do.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The server configuration of these files (TLS 1.2 or later, swift-nio-ssl's defaults).
    func serverConfiguration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
        } catch {
            throw Failure(
                description:
                    "--tls-cert \(certificateChain) is not a readable PEM certificate chain (\(error)); pass the server's certificate, leaf first"
            )
        }
        guard !chain.isEmpty else {
            throw Failure(
                description: "--tls-cert \(certificateChain) holds no certificate; pass a PEM certificate chain")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
        } catch {
            // The key's contents are never echoed, only the path.
            throw Failure(
                description:
                    "--tls-key \(privateKey) is not a readable unencrypted PEM private key; pass the key of the certificate in --tls-cert"
            )
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}
