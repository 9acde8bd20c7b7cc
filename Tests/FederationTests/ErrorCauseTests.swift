import FederationProtocol
import Fleet
import Foundation
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels
import RunStore
import Testing
import UpdateCodec

@testable import Federation

/// Errors keep the error they wrap as their `cause`, which never takes part in equality.
@Suite("Error causes")
struct ErrorCauseTests {
    struct Underlying: Error {}

    @Test("A cause does not change equality or hashing")
    func causeIsNotPartOfEquality() {
        #expect(CorpusError(.corruptCache, "m", cause: Underlying()) == CorpusError(.corruptCache, "m"))
        #expect(FleetError(.invalidConfiguration, "m", cause: Underlying()) == FleetError(.invalidConfiguration, "m"))
        #expect(RunStoreError(.noSuchRun, "m", cause: Underlying()) == RunStoreError(.noSuchRun, "m"))
        #expect(LanguageModelError(.truncated, "m", cause: Underlying()) == LanguageModelError(.truncated, "m"))
        let codec = UpdateCodecError(code: .truncated, field: "f", message: "m", cause: Underlying())
        #expect(codec == UpdateCodecError(code: .truncated, field: "f", message: "m"))
        #expect(Set([codec, UpdateCodecError(code: .truncated, field: "f", message: "m")]).count == 1)
        let model = NeuralModelError(.io, "m", cause: Underlying())
        #expect(model == NeuralModelError(.io, "m"))
        #expect(model.hashValue == NeuralModelError(.io, "m").hashValue)
        let scheme = CodecSchemeError(code: .unknownToken, token: "t", message: "m", cause: Underlying())
        #expect(scheme == CodecSchemeError(code: .unknownToken, token: "t", message: "m"))
    }

    @Test("A wrapped error is the cause of the error that wraps it")
    func wrappedErrorsKeepTheirCause() throws {
        let stored = #expect(throws: FederationError.self) { try RunConfiguration.decode(json: "{") }
        #expect(stored?.cause is DecodingError)

        let bad = #expect(throws: NeuralModelError.self) { try ModelConfig.decode(json: Data("[]".utf8)) }
        #expect(bad?.cause is DecodingError)
    }
}
