import Federation
import FederationProtocol
import FederationServer
import Foundation
import Hummingbird
import Logging

// Scale-out routes (docs/scale-out.md): the fleet driver publishes a round's shards and
// watches them; workers lease shards, download the model, and upload one partial each.

extension FederationHTTPServer {
    /// `POST|GET /v1/runs/{run}/rounds/{round}/shards` (run credential) and the `/v1/work` routes.
    func addWorkRoutes(to router: Router<BasicRequestContext>) {
        let rounds = router.group("v1/runs/:run/rounds")
        rounds.post(":round/shards") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            try credentials.requireRun(request.bearer, run: run, for: "POST /v1/runs/\(run)/rounds/\(round)/shards")
            let publication = try await request.decodeJSON(ShardPublication.self, limit: configuration.maximumJSONBytes)
            guard publication.round == round else {
                throw ServerRejection(
                    .badRequest, "the path names round \(round) but the body round \(publication.round)")
            }
            try await work.run { try aggregation.publishShards(run: run, publication) }
            logger.debug("run \(run) round \(round): \(publication.shards.count) shards published")
            return Reply.noContent
        }
        rounds.get(":round/shards") { request, context in
            let run = try context.parameters.requireInteger("run", as: Int64.self)
            let round = try context.parameters.requireInteger("round", as: Int.self)
            try credentials.requireRun(request.bearer, run: run, for: "GET /v1/runs/\(run)/rounds/\(round)/shards")
            return try Reply.response(try await work.run { try aggregation.shardProgress(run: run, round: round) })
        }

        let leases = router.group("v1/work")
        leases.post("lease") { request, _ in
            try credentials.requireOperator(request.bearer, for: "POST /v1/work/lease")
            let asked = try await request.decodeJSON(LeaseRequest.self, limit: configuration.maximumJSONBytes)
            guard var lease = try await work.run({ aggregation.leaseShard(worker: String(asked.worker.prefix(100))) })
            else { return Reply.noContent }
            lease.credential = credentials.issueLease(lease.lease)
            logger.debug("lease \(lease.lease): run \(lease.run) round \(lease.round) shard \(lease.shard.index)")
            return try Reply.response(lease)
        }
        leases.get("leases/:lease/model") { request, context in
            let lease = try context.parameters.requireInteger("lease", as: Int64.self)
            try credentials.requireLease(request.bearer, lease: lease, for: "GET /v1/work/leases/\(lease)/model")
            let bytes = try await work.run { try aggregation.model(forLease: lease) }
            return Reply.response(bytes: bytes, contentType: "application/octet-stream")
        }
        leases.put("leases/:lease/partial") { request, context in
            let lease = try context.parameters.requireInteger("lease", as: Int64.self)
            try credentials.requireLease(request.bearer, lease: lease, for: "PUT /v1/work/leases/\(lease)/partial")
            let body = try await request.readBody(
                upTo: configuration.maximumUpdateBytes, oversizedReason: .oversizedUpdate)
            let bytes = Array(body.readableBytesView)
            let receipt = try await work.run { try aggregation.submitPartial(lease: lease, bytes: bytes) }
            return try Reply.response(receipt)
        }
        leases.post("leases/:lease/return") { request, context in
            let lease = try context.parameters.requireInteger("lease", as: Int64.self)
            try credentials.requireLease(request.bearer, lease: lease, for: "POST /v1/work/leases/\(lease)/return")
            try await work.run { aggregation.returnLease(lease) }
            return Reply.noContent
        }
    }
}
