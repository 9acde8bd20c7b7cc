import Federation
import FederationProtocol
import FederationServer
import Foundation
import HTTPTypes
import Hummingbird
import LanguageModelTypes
import Logging
import RunStore

// The routes of docs/server.md, grouped by resource. Each decodes its request, runs the
// aggregation server's call on the blocking-work queue and encodes the reply; failures are
// thrown and answered by RejectionMiddleware.

extension FederationHTTPServer {
    /// The header carrying an upload's ``UploadExtras`` as JSON.
    static let extrasHeader = HTTPField.Name(HTTPTransport.extrasHeader)!
    /// The header carrying the run credential in the reply to a create or a resume.
    static let runCredentialHeader = HTTPField.Name(HTTPTransport.runCredentialHeader)!

    /// `POST /v1/runs`, `POST /v1/runs/{run}/resume`, `POST /v1/runs/{run}/finish`.
    func addRunRoutes(to router: Router<BasicRequestContext>) {
        let runs = router.group("v1/runs")
        runs.post { request, _ in
            try credentials.requireOperator(request.bearer, for: "POST /v1/runs")
            let requested = try await request.decodeJSON(RunConfiguration.self, limit: configuration.maximumJSONBytes)
            let attachment = try await work.run { try aggregation.createRun(requested) }
            logger.info(
                "run \(attachment.runID) created: \(requested.modelLabel), \(requested.rounds) rounds of \(requested.cohort) over \(requested.devices) devices"
            )
            var response = try Reply.response(attachment, status: .created)
            response.headers[Self.runCredentialHeader] = credentials.attach(run: attachment.runID)
            return response
        }
        runs.post(":run/resume") { request, context in
            // The body is `{}`: the run id says it all.
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            try credentials.requireOperator(request.bearer, for: "POST /v1/runs/\(run)/resume")
            let attachment = try await work.run { try aggregation.resumeRun(id: run) }
            logger.info("run \(run) attached at round \(attachment.nextRound)")
            var response = try Reply.response(attachment)
            response.headers[Self.runCredentialHeader] = credentials.attach(run: run)
            return response
        }
        runs.post(":run/finish") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            try credentials.requireRun(request.bearer, run: run, for: "POST /v1/runs/\(run)/finish")
            let finish = try await request.decodeJSON(FinishRequest.self, limit: configuration.maximumJSONBytes)
            try await work.run { try aggregation.finishRun(run, status: finish.finished ? .finished : .interrupted) }
            credentials.detach(run: run)
            logger.info("run \(run) \(finish.finished ? "finished" : "interrupted") and detached")
            return Reply.noContent
        }
    }

    /// `POST …/rounds`, `…/checkin`, `GET …/model`, `PUT …/updates/{device}`, `POST …/close`.
    func addRoundRoutes(to router: Router<BasicRequestContext>) {
        let rounds = router.group("v1/runs/:run/rounds")
        rounds.post { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            try credentials.requireRun(request.bearer, run: run, for: "POST /v1/runs/\(run)/rounds")
            let opening = try await request.decodeJSON(RoundOpening.self, limit: configuration.maximumJSONBytes)
            try await work.run { try aggregation.openRound(run: run, opening) }
            logger.debug("run \(run) round \(opening.round) open for \(opening.selected.count) devices")
            let issued = credentials.openRound(run: run, round: opening.round, devices: opening.selected)
            return try Reply.response(RoundCredentials(credentials: issued))
        }
        rounds.post(":round/checkin") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            let route = "POST /v1/runs/\(run)/rounds/\(round)/checkin"
            // The credential first (any device of the round), then the body, then its device.
            try credentials.requireDevice(request.bearer, run: run, round: round, device: nil, for: route)
            let checkIn = try await request.decodeJSON(CheckInRequest.self, limit: configuration.maximumJSONBytes)
            try credentials.requireDevice(request.bearer, run: run, round: round, device: checkIn.device, for: route)
            let plan = try await work.run { try aggregation.checkIn(run: run, round: round, device: checkIn.device) }
            return try Reply.response(plan)
        }
        rounds.get(":round/model") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            try credentials.requireRunOrDevice(
                request.bearer, run: run, round: round, for: "GET /v1/runs/\(run)/rounds/\(round)/model")
            let bytes = try await work.run { try aggregation.model(run: run, round: round) }
            return Reply.response(bytes: bytes, contentType: "application/octet-stream")
        }
        rounds.put(":round/updates/:device") { request, context in
            let (run, round, device, bytes, extras): (Int64, Int, Int, [UInt8], UploadExtras)
            do {
                run = try context.parameters.requireInteger("run")
                round = try context.parameters.requireInteger("round")
                device = try context.parameters.requireInteger("device")
                // Before the body is read: an upload without the device's credential costs nothing.
                try credentials.requireDevice(
                    request.bearer, run: run, round: round, device: device,
                    for: "PUT /v1/runs/\(run)/rounds/\(round)/updates/\(device)")
                extras = try Self.extras(of: request)
                let body = try await request.readBody(
                    upTo: configuration.maximumUpdateBytes, oversizedReason: .oversizedUpdate)
                bytes = Array(body.readableBytesView)
            } catch {
                // Refused before the aggregation server saw it: counted here, so the metrics
                // show every refused upload.
                let rejection = HTTPRejection(mapping: error)
                aggregation.countRejectedUpload(rejection.rejection)
                throw rejection
            }
            let receipt = try await work.run {
                try aggregation.upload(run: run, round: round, device: device, bytes: bytes, extras: extras)
            }
            return try Reply.response(receipt)
        }
        rounds.post(":round/close") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            try credentials.requireRun(request.bearer, run: run, for: "POST /v1/runs/\(run)/rounds/\(round)/close")
            let closing = try await request.decodeJSON(RoundClosing.self, limit: configuration.maximumJSONBytes)
            guard closing.round == round else {
                throw ServerRejection(.badRequest, "the path closes round \(round) but the body round \(closing.round)")
            }
            let summary = try await work.run { try aggregation.closeRound(run: run, closing) }
            credentials.roundClosed(run: run, round: round)
            let accuracy = summary.evaluation.map { ", acc@1 " + String(format: "%.4f", $0.accuracyAt1) } ?? ""
            logger.info(
                "run \(run) round \(round) committed: \(summary.reported) reports\(summary.abandoned ? " (abandoned)" : "")\(accuracy)"
            )
            return try Reply.response(summary)
        }
    }

    /// `GET /v1/status` and `GET /metrics` (the operator token, unless `/metrics` is open).
    func addMonitoringRoutes(to router: Router<BasicRequestContext>) {
        router.get("v1/status") { request, _ in
            try credentials.requireOperator(request.bearer, for: "GET /v1/status")
            return try Reply.response(try await work.run { aggregation.status() })
        }
        router.get("metrics") { request, _ in
            if !configuration.openMetrics { try credentials.requireOperator(request.bearer, for: "GET /metrics") }
            let text = try await work.run { aggregation.prometheusMetrics() }
            return Reply.response(bytes: Array(text.utf8), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
    }

    /// The upload's extras from its header.
    private static func extras(of request: Request) throws(ServerRejection) -> UploadExtras {
        guard let header = request.headers[extrasHeader] else {
            throw ServerRejection(
                .badRequest, "an update needs the \(HTTPTransport.extrasHeader) header (its UploadExtras as JSON)")
        }
        do {
            return try JSONDecoder().decode(UploadExtras.self, from: Data(header.utf8))
        } catch {
            let detail = ServerRejection(mapping: error).message
            throw ServerRejection(
                .badRequest, "the \(HTTPTransport.extrasHeader) header is not UploadExtras JSON: \(detail)")
        }
    }
}

extension Request {
    /// The bearer credential of the `Authorization` header, if any (never logged).
    var bearer: String? {
        guard let value = headers[.authorization] else { return nil }
        let prefix = "Bearer "
        guard value.count > prefix.count, value.prefix(prefix.count).lowercased() == prefix.lowercased() else {
            return nil
        }
        return String(value.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }
}
