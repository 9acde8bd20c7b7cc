import Aggregation
import FederatedCore
import UpdateCodec

/// A run configuration is stored as one flat JSON object, the client's settings among the
/// rest (as every configuration before ``ClientTrainingConfiguration`` existed was), so any
/// stored run still resumes. Optional fields are left out when nil.
extension RunConfiguration {
    enum CodingKeys: String, CodingKey {
        case corpus, format, vocabularySize, modelName, model, zipfBias
        case devices, cohort, rounds, overSelection, reportingDeadline, minimumReportFraction, trainingDays
        case homeWiFiFraction, roundInterval, startTime
        case serverOptimizer, codec, aggregationStages, privacy, participation, shardSize, evalEvery, federatedEval,
            evaluateStart,
            checkpointEvery, seed
        case uploadTiming
        case attackers, attack, backdoorTrigger, backdoorTarget
        case split, userThreshold, personalization, regressionGuard, branchedFrom
        case secureAggregation
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        corpus = try c.decode(String.self, forKey: .corpus)
        format = try c.decodeIfPresent(String.self, forKey: .format)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        modelName = try c.decode(String.self, forKey: .modelName)
        model = try c.decode(ModelKind.self, forKey: .model)
        zipfBias = try c.decode(Bool.self, forKey: .zipfBias)
        devices = try c.decode(Int.self, forKey: .devices)
        cohort = try c.decode(Int.self, forKey: .cohort)
        rounds = try c.decode(Int.self, forKey: .rounds)
        overSelection = try c.decode(Double.self, forKey: .overSelection)
        reportingDeadline = try c.decode(Int.self, forKey: .reportingDeadline)
        minimumReportFraction = try c.decode(Double.self, forKey: .minimumReportFraction)
        trainingDays = try c.decode(Int.self, forKey: .trainingDays)
        homeWiFiFraction = try c.decodeIfPresent(Double.self, forKey: .homeWiFiFraction)
        roundInterval = try c.decode(Int.self, forKey: .roundInterval)
        startTime = try c.decode(Int.self, forKey: .startTime)
        client = try ClientTrainingConfiguration(from: decoder)
        serverOptimizer = try c.decode(ParsedSetting<ServerOptimizerSpec>.self, forKey: .serverOptimizer)
        codec = try c.decode(ParsedSetting<CodecScheme>.self, forKey: .codec)
        aggregationStages = try c.decodeIfPresent([String].self, forKey: .aggregationStages)
        privacy = try c.decodeIfPresent(PrivacyConfiguration.self, forKey: .privacy)
        participation = try c.decodeIfPresent(ParticipationLimits.self, forKey: .participation)
        shardSize = try c.decodeIfPresent(Int.self, forKey: .shardSize)
        evalEvery = try c.decode(Int.self, forKey: .evalEvery)
        federatedEval = try c.decode(Bool.self, forKey: .federatedEval)
        evaluateStart = try c.decodeIfPresent(Bool.self, forKey: .evaluateStart)
        checkpointEvery = try c.decode(Int.self, forKey: .checkpointEvery)
        seed = try c.decode(UInt64.self, forKey: .seed)
        uploadTiming = try c.decodeIfPresent(UploadTiming.self, forKey: .uploadTiming)
        attackers = try c.decodeIfPresent(Double.self, forKey: .attackers)
        attack = try c.decodeIfPresent(ParsedSetting<AttackKind>.self, forKey: .attack)
        backdoorTrigger = try c.decodeIfPresent(String.self, forKey: .backdoorTrigger)
        backdoorTarget = try c.decodeIfPresent(String.self, forKey: .backdoorTarget)
        split = try c.decodeIfPresent(String.self, forKey: .split)
        userThreshold = try c.decodeIfPresent(Double.self, forKey: .userThreshold)
        personalization = try c.decodeIfPresent(PersonalizationConfiguration.self, forKey: .personalization)
        regressionGuard = try c.decodeIfPresent(RegressionGuard.self, forKey: .regressionGuard)
        branchedFrom = try c.decodeIfPresent(RunLineage.self, forKey: .branchedFrom)
        secureAggregation = try c.decodeIfPresent(SecureAggregationSettings.self, forKey: .secureAggregation)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(corpus, forKey: .corpus)
        try c.encodeIfPresent(format, forKey: .format)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(modelName, forKey: .modelName)
        try c.encode(model, forKey: .model)
        try c.encode(zipfBias, forKey: .zipfBias)
        try c.encode(devices, forKey: .devices)
        try c.encode(cohort, forKey: .cohort)
        try c.encode(rounds, forKey: .rounds)
        try c.encode(overSelection, forKey: .overSelection)
        try c.encode(reportingDeadline, forKey: .reportingDeadline)
        try c.encode(minimumReportFraction, forKey: .minimumReportFraction)
        try c.encode(trainingDays, forKey: .trainingDays)
        try c.encodeIfPresent(homeWiFiFraction, forKey: .homeWiFiFraction)
        try c.encode(roundInterval, forKey: .roundInterval)
        try c.encode(startTime, forKey: .startTime)
        try client.encode(to: encoder)
        try c.encode(serverOptimizer, forKey: .serverOptimizer)
        try c.encode(codec, forKey: .codec)
        try c.encodeIfPresent(aggregationStages, forKey: .aggregationStages)
        try c.encodeIfPresent(privacy, forKey: .privacy)
        try c.encodeIfPresent(participation, forKey: .participation)
        try c.encodeIfPresent(shardSize, forKey: .shardSize)
        try c.encode(evalEvery, forKey: .evalEvery)
        try c.encode(federatedEval, forKey: .federatedEval)
        try c.encodeIfPresent(evaluateStart, forKey: .evaluateStart)
        try c.encode(checkpointEvery, forKey: .checkpointEvery)
        try c.encode(seed, forKey: .seed)
        try c.encodeIfPresent(uploadTiming, forKey: .uploadTiming)
        try c.encodeIfPresent(attackers, forKey: .attackers)
        try c.encodeIfPresent(attack, forKey: .attack)
        try c.encodeIfPresent(backdoorTrigger, forKey: .backdoorTrigger)
        try c.encodeIfPresent(backdoorTarget, forKey: .backdoorTarget)
        try c.encodeIfPresent(split, forKey: .split)
        try c.encodeIfPresent(userThreshold, forKey: .userThreshold)
        try c.encodeIfPresent(personalization, forKey: .personalization)
        try c.encodeIfPresent(regressionGuard, forKey: .regressionGuard)
        try c.encodeIfPresent(branchedFrom, forKey: .branchedFrom)
        try c.encodeIfPresent(secureAggregation, forKey: .secureAggregation)
    }
}
