# syntax=docker/dockerfile:1
#
# authgate image. Build it with the version and revision it is made of; they become its OCI labels, and the build
# refuses to start without them (README, "The image"):
#
#   docker build -t REGISTRY/authgate:VERSION \
#     --build-arg VERSION="$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#
# The builder runs scripts/build-static.sh, the same script CI runs, so the binary in the image is built the way CI
# builds and tests it: `cargo build --release --locked`, symbols stripped, for <arch>-unknown-linux-gnu where <arch>
# is the platform being built (BuildKit's TARGETARCH: amd64 or arm64). The builder stage runs on that platform, so
# the build is native; for arm64 on an amd64 host that means emulation (`docker buildx build --platform
# linux/arm64`, with QEMU set up). Only amd64 has been built; arm64 is written for but unproven.
#
# Rust code, aws-lc and all crates are linked in statically; only glibc (libc, libm, libgcc_s) is dynamic, which is
# why the runtime stage is distroless/cc rather than distroless/static. Both stages are Debian 12 (bookworm), so the
# glibc the binary was linked against is the one it runs with.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
# Set by BuildKit to the platform being built; scripts/build-static.sh picks the Rust target from it.
ARG TARGETARCH
ARG VERSION
ARG REVISION
WORKDIR /src
# The context is what .dockerignore admits: the manifest, the lock file, src/, benches/ and the build script.
COPY . .
# The registry cache holds sources only and is shared by every platform; the target directory holds machine code,
# so each platform has its own.
RUN --mount=type=cache,id=authgate-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=authgate-target-${TARGETARCH},target=/src/target,sharing=locked \
    set -eu; \
    crate_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"; \
    if [ -z "${VERSION}" ] || [ -z "${REVISION}" ]; then \
        echo "authgate image: pass --build-arg VERSION=${crate_version} --build-arg REVISION=\$(git rev-parse HEAD)" \
             "(they become the image's OCI labels); see the top of the Dockerfile" >&2; \
        exit 1; \
    fi; \
    if [ "${VERSION}" != "${crate_version}" ]; then \
        echo "authgate image: VERSION=${VERSION} but Cargo.toml says ${crate_version}" >&2; \
        exit 1; \
    fi; \
    bin="$(TARGETARCH="${TARGETARCH}" scripts/build-static.sh)"; \
    install -D -m 0755 "$bin" /out/authgate

# distroless/cc: glibc, libgcc, CA certificates (/etc/ssl/certs, read by the JWKS and webhook clients), tzdata, and
# the nonroot user 65532. No shell, no package manager.
FROM ${RUNTIME_IMAGE}
ARG VERSION
ARG REVISION
# The repository's public URL, when it has one (org.opencontainers.image.source links the image to it).
ARG SOURCE=""
LABEL org.opencontainers.image.title="authgate" \
      org.opencontainers.image.description="Forward-auth service for ingress proxies driven by a Hasura DDN AuthConfig" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=builder /out/authgate /authgate
USER 65532:65532
# data, gRPC ext_authz, admin (/healthz, /readyz, /metrics), admission webhook (TLS, when enabled)
EXPOSE 8080 8081 9090 8443
ENTRYPOINT ["/authgate"]
CMD ["serve", "--config", "/etc/authgate/authconfig.yaml"]
