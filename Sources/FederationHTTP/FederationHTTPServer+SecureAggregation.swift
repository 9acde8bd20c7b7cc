import FederationProtocol
import FederationServer
import Foundation
import Hummingbird
import Logging
import SecureAggregation

// Secure aggregation's routes (docs/server.md, "Secure aggregation"): the fleet driver opens
// a round's protocol and closes each stage with its run credential; every phone sends its
// own stage message with its own device credential, one request per message, so a bad
// message is refused alone, with its status and reason, and the round goes on.

extension FederationHTTPServer {
    /// `POST …/secagg`, `PUT …/secagg/{stage}/{device}`, `POST …/secagg/{stage}/close`.
    func addSecureAggregationRoutes(to router: Router<BasicRequestContext>) {
        let secagg = router.group("v1/runs/:run/rounds/:round/secagg")
        secagg.post { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            try credentials.requireRun(request.bearer, run: run, for: "POST /v1/runs/\(run)/rounds/\(round)/secagg")
            let opening = try await request.decodeJSON(
                SecureAggregationOpening.self, limit: configuration.maximumJSONBytes)
            let setup = try await work.run {
                try aggregation.secureAggregationOpen(run: run, round: round, devices: opening.devices)
            }
            logger.debug("run \(run) round \(round): secure aggregation open for \(setup.devices.count) phones")
            return try Reply.response(setup)
        }
        secagg.put(":stage/:device") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            let device = try context.parameters.requireInteger("device", as: Int.self)
            let stage = try Self.stage(context.parameters)
            // The device's credential before the body: a forged message costs nothing.
            try credentials.requireDevice(
                request.bearer, run: run, round: round, device: device,
                for: "PUT /v1/runs/\(run)/rounds/\(round)/secagg/\(stage.rawValue)/\(device)")
            let limit =
                stage == .maskedInput || stage == .plainInput
                ? configuration.maximumUpdateBytes : configuration.maximumJSONBytes
            let body = try await request.readBody(upTo: limit, oversizedReason: .oversizedUpdate)
            let bytes = Array(body.readableBytesView)
            try await work.run {
                let inbound: SecureAggregationInbound
                do throws(SecureAggregationWire.DecodingFailure) {
                    inbound = try SecureAggregationWire.decodeInbound(bytes, route: stage)
                } catch {
                    throw ServerRejection(.malformedUpdate, error.description)
                }
                try aggregation.secureAggregationReceive(run: run, round: round, device: device, inbound)
            }
            return Reply.noContent
        }
        secagg.post(":stage/close") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            let stage = try Self.stage(context.parameters)
            try credentials.requireRun(
                request.bearer, run: run,
                for: "POST /v1/runs/\(run)/rounds/\(round)/secagg/\(stage.rawValue)/close")
            let bytes = try await work.run { () throws -> [UInt8] in
                switch stage {
                case .advertiseKeys:
                    SecureAggregationWire.encode(
                        try aggregation.secureAggregationAdvertiseKeys(run: run, round: round, []))
                case .shareKeys:
                    SecureAggregationWire.encode(try aggregation.secureAggregationShareKeys(run: run, round: round, []))
                case .maskedInput:
                    SecureAggregationWire.encode(
                        try aggregation.secureAggregationMaskedInputs(
                            run: run, round: round, [], tokens: [], closesStage: true))
                case .unmask:
                    SecureAggregationWire.encode(try aggregation.secureAggregationUnmask(run: run, round: round, []))
                case .plainInput:
                    SecureAggregationWire.encode(
                        try aggregation.secureAggregationPlainInputs(run: run, round: round, []))
                }
            }
            logger.debug("run \(run) round \(round): secure aggregation closed \(stage.rawValue)")
            return Reply.response(bytes: bytes, contentType: SecureAggregationWire.contentType)
        }
    }

    /// The path's stage, or `400` naming the stages there are.
    private static func stage(_ parameters: Parameters) throws(ServerRejection) -> SecureAggregationRoute {
        let text = parameters.get("stage") ?? ""
        guard let stage = SecureAggregationRoute(rawValue: text) else {
            throw ServerRejection(
                .badRequest,
                "'\(text.prefix(24))' is not a secure-aggregation stage; the stages are \(SecureAggregationRoute.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return stage
    }
}

/// `POST …/secagg` body: the phones that trained, in phone-index order.
public struct SecureAggregationOpening: Codable, Sendable, Equatable {
    public var devices: [UInt32]
    public init(devices: [UInt32]) { self.devices = devices }
}
