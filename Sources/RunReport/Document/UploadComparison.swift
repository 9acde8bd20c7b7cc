import RunStore

/// The bits-against-accuracy table of a report: per neural run, the bits per parameter on
/// the wire, the upload per device and round, the ratio to a float32 update, and the final
/// accuracy, as `kbd-sim bench quant` prints them; with whether the runs of each seed saw
/// identical cohorts (so that they differ only by their codec).
public struct UploadComparison: Sendable, Equatable {
    /// What the caller knows about a run's model that the store does not hold.
    public struct ModelSize: Sendable, Equatable {
        /// Parameters per update.
        public var parameters: Int
        /// Bytes of one float32 update message (header, 4 bytes per parameter, CRC).
        public var float32UpdateBytes: Int

        public init(parameters: Int, float32UpdateBytes: Int) {
            self.parameters = parameters
            self.float32UpdateBytes = float32UpdateBytes
        }
    }

    /// One run's row.
    public struct Row: Sendable, Equatable {
        public var run: Int64
        public var codec: String
        public var seed: Int64
        public var bitsPerParameter: Double
        public var megabytesUp: Double
        public var uploadBytesPerDeviceRound: Double
        public var ratioToFloat32: Double
        public var finalAccuracyAt1: Double?
        public var finalAccuracyAt3: Double?
    }

    public var rows: [Row]
    /// Whether every seed's runs committed the same cohorts round by round (virtual times,
    /// selected, reported, dropped, stragglers, surplus, tokens).
    public var cohortsIdentical: Bool

    /// The table over the neural runs of `runs` whose model size is in `sizes`; nil if none.
    public init?(runs: [ReportedRun], sizes: [Int64: ModelSize]) {
        var rows: [Row] = []
        for run in runs where !run.isNGram {
            guard let size = sizes[run.id], size.parameters > 0 else { continue }
            let uploads = max(1, run.reportedDevices)
            let perUpload = Double(run.bytesUp) / Double(uploads)
            rows.append(
                Row(
                    run: run.id, codec: run.record.codec, seed: run.record.seed,
                    bitsPerParameter: perUpload * 8 / Double(size.parameters),
                    megabytesUp: Double(run.bytesUp) / 1e6,
                    uploadBytesPerDeviceRound: perUpload,
                    ratioToFloat32: perUpload > 0 ? Double(size.float32UpdateBytes) / perUpload : 0,
                    finalAccuracyAt1: run.finalEvaluation?.acc1, finalAccuracyAt3: run.finalEvaluation?.acc3))
        }
        guard !rows.isEmpty else { return nil }
        self.rows = rows
        let bySeed = Dictionary(grouping: runs.filter { !$0.isNGram && sizes[$0.id] != nil }, by: \.record.seed)
        cohortsIdentical = bySeed.values.allSatisfy { group in
            let keys = group.map { $0.rounds.map(Self.cohortKey) }
            return keys.allSatisfy { $0 == keys[0] }
        }
    }

    static func cohortKey(_ r: RoundRecord) -> [Double] {
        [
            r.virtualStart, r.virtualEnd, Double(r.selected), Double(r.reported), Double(r.dropped),
            Double(r.stragglers), Double(r.surplus), Double(r.tokens),
        ]
    }

    /// The section's HTML.
    var html: String {
        func number(_ x: Double, _ decimals: Int) -> String { NumberText.fixed(x, decimals: decimals) }
        var html = """
            <section class="configuration" id="section-upload-comparison">
            <h2>g. Bits on the wire against accuracy</h2>
            <p class="caption">Per run: bits per parameter over every upload (header, scales and zlib included), MB uploaded (10⁶ bytes), the mean upload per device and round, how many times smaller than a float32 update it is, and the accuracy after the last evaluated round. Identical cohorts for the runs of each seed: \(cohortsIdentical ? "yes" : "no — they differ by more than their codec").</p>
            <table>
            <thead><tr><th scope="col">run</th><th scope="col">codec</th><th scope="col">seed</th><th scope="col">bits/param</th><th scope="col">MB up</th><th scope="col">up bytes/device/round</th><th scope="col">ratio to f32</th><th scope="col">acc@1</th><th scope="col">acc@3</th></tr></thead>
            <tbody>

            """
        for row in rows {
            let cells = [
                String(row.run), row.codec, String(row.seed), number(row.bitsPerParameter, 3),
                number(row.megabytesUp, 3), number(row.uploadBytesPerDeviceRound, 0), number(row.ratioToFloat32, 2),
                row.finalAccuracyAt1.map { number($0, 4) } ?? "—", row.finalAccuracyAt3.map { number($0, 4) } ?? "—",
            ]
            html += "<tr>" + cells.map { "<td>\($0.escapedForMarkup)</td>" }.joined() + "</tr>\n"
        }
        return html + "</tbody>\n</table>\n</section>\n"
    }
}
