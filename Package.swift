// swift-tools-version:5.10
import PackageDescription

let package = Package(
    name: "implicitem",
    products: [
        // The C ABI: libimplicitem.so (see the Makefile for the self-contained release build).
        .library(name: "implicitem", type: .dynamic, targets: ["ImplicitEMExports"]),
        // The Swift API for Swift packages.
        .library(name: "ImplicitEM", targets: ["ImplicitEM"]),
    ],
    targets: [
        .target(name: "ImplicitEM"),
        .target(name: "ImplicitEMExports", dependencies: ["ImplicitEM"]),
        .testTarget(name: "ImplicitEMTests", dependencies: ["ImplicitEM"]),
    ]
)
