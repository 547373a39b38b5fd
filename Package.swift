// swift-tools-version:6.1
import PackageDescription

// Dependencies point inward: the pure modules (BusinessCalendar, TimerWheel,
// DisputeWorkflow, the MIME composer in NoticeSpool) import nothing of the shell.
// Only DisputeDaemon and the two executables know about all of them.
let package = Package(
    name: "disputed",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "disputed", targets: ["disputed"]),
        .executable(name: "disputectl", targets: ["disputectl"]),
        // Libraries so that the Benchmarks package can measure the real modules.
        .library(name: "TimerWheel", targets: ["TimerWheel"]),
        .library(name: "BusinessCalendar", targets: ["BusinessCalendar"]),
        .library(name: "NoticeSpool", targets: ["NoticeSpool"]),
        .library(name: "ControlProtocol", targets: ["ControlProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(
            name: "TOMLDocument",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]
        ),
        // Header only: the processor's prefetch hint, which Swift cannot spell.
        .systemLibrary(name: "CPrefetch"),
        .target(name: "TimerWheel", dependencies: ["CPrefetch"]),
        .target(name: "BusinessCalendar", dependencies: ["TOMLDocument"]),
        .target(name: "DisputeWorkflow", dependencies: ["BusinessCalendar", "ControlProtocol"]),
        .target(
            name: "NoticeSpool",
            dependencies: ["CSystemd", "BusinessCalendar", "DisputeWorkflow", "TOMLDocument", .product(name: "Mustache", package: "swift-mustache")]
        ),
        .target(name: "ControlProtocol"),
        .target(
            name: "SystemdSupport",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "DisputeStore",
            dependencies: ["DisputeWorkflow", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "DisputeDaemon",
            dependencies: [
                "TOMLDocument", "TimerWheel", "BusinessCalendar", "DisputeWorkflow", "NoticeSpool", "ControlProtocol", "SystemdSupport", "DisputeStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "disputed",
            dependencies: [
                "DisputeDaemon", "ControlProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "disputectl",
            dependencies: [
                "ControlProtocol", "BusinessCalendar", "TOMLDocument",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TOMLDocumentTests", dependencies: ["TOMLDocument"]),
        .testTarget(name: "TimerWheelTests", dependencies: ["TimerWheel"]),
        .testTarget(name: "BusinessCalendarTests", dependencies: ["BusinessCalendar"]),
        .testTarget(name: "NoticeSpoolTests", dependencies: ["NoticeSpool", "DisputeWorkflow"], exclude: ["Golden"]),
        .testTarget(name: "DisputeWorkflowTests", dependencies: ["DisputeWorkflow", "BusinessCalendar", "ControlProtocol"]),
        .testTarget(name: "ControlProtocolTests", dependencies: ["ControlProtocol"]),
        .testTarget(name: "SystemdSupportTests", dependencies: ["SystemdSupport"]),
        .testTarget(name: "DisputeStoreTests", dependencies: ["DisputeStore", "DisputeWorkflow", "BusinessCalendar", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "DisputeDaemonTests",
            dependencies: ["DisputeDaemon", "ControlProtocol", "DisputeStore", "DisputeWorkflow", "BusinessCalendar", "NoticeSpool", .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
