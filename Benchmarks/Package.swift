// swift-tools-version:6.1
import PackageDescription

// Benchmarks live in their own package so that the product's default build and
// `make test` never compile them. `make bench` builds this in release mode.
let package = Package(
    name: "DisputedBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "disputed", path: ".."),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        .target(name: "CMallocInfo"),
        .target(name: "BenchSupport", dependencies: ["CMallocInfo"]),
        .executableTarget(
            name: "TimerBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "TimerWheel", package: "disputed"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        .executableTarget(
            name: "CalendarBenchmarks",
            dependencies: ["BenchSupport", .product(name: "BusinessCalendar", package: "disputed")]
        ),
        .executableTarget(name: "IngestLoad", dependencies: [.product(name: "ControlProtocol", package: "disputed")]),
        .executableTarget(
            name: "SpoolBenchmarks",
            dependencies: ["BenchSupport", .product(name: "NoticeSpool", package: "disputed")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
