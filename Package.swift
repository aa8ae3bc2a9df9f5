// swift-tools-version: 6.0
// kennel: a Linux sandbox launcher. One target per concern; see docs/architecture.md.
import PackageDescription

let package = Package(
    name: "kennel",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kennel", targets: ["kennel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // Fixed-argument C wrappers for what Swift cannot import (variadic syscall/prctl,
        // _GNU_SOURCE symbols, function-like macros). No logic lives here.
        .target(name: "CKennel"),
        // libcap (pkg-config libcap, apt libcap-dev): capability sets and the bounding set.
        .systemLibrary(name: "CLibcap", pkgConfig: "libcap",
                       providers: [.apt(["libcap-dev"])]),
        // libseccomp (pkg-config libseccomp, apt libseccomp-dev): building and loading filters.
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        // Typed Linux wrappers: every syscall the launcher makes, throwing `Errno`.
        .target(name: "KennelSystem", dependencies: [
            "CKennel", "CLibcap", "CSeccomp",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // Pure model: the sandbox spec, its validation, id maps, capabilities, seccomp
        // profiles and the ordered launch plan. No syscalls beyond reading files.
        .target(name: "KennelSpec"),
        // The launcher stages: supervisor, setup child, sandbox init, payload.
        .target(name: "KennelLauncher", dependencies: ["KennelSystem", "KennelSpec"]),
        // The `kennel` command line.
        .executableTarget(name: "kennel", dependencies: [
            "KennelLauncher", "KennelSpec",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "KennelSpecTests", dependencies: ["KennelSpec"]),
        .testTarget(name: "KennelCLITests", dependencies: ["kennel", "KennelSpec"]),
        .testTarget(name: "KennelLauncherTests", dependencies: ["KennelLauncher"]),
    ],
    swiftLanguageModes: [.v6]
)
