import KernelPaths
import Testing

/// OpenBLAS's sgemm, in whatever core this test process runs, against the Double reference.
struct GemmCheckTests {
    @Test func modelShapesAgreeWithTheDoubleReference() {
        for shape in GemmCheck.modelShapes {
            let result = GemmCheck.run(shape)
            #expect(result.passed, "\(shape.use) \(shape.label): \(result.maxRelativeError)")
            // A real float32 product is not bit-exact either: the check measures something.
            #expect(result.maxRelativeError > 0 || shape.k < 4)
        }
    }
}
