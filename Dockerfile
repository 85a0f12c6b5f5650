# syntax=docker/dockerfile:1
#
# authgate image: docker build -t authgate .
#
# The builder runs scripts/build-static.sh, the same script CI runs, so the binary in the image is exactly the one CI
# builds and tests: target x86_64-unknown-linux-gnu, `cargo build --release --locked`, symbols stripped. Rust code,
# aws-lc and all crates are linked in statically; only glibc (libc, libm, libgcc_s) is dynamic, which is why the
# runtime stage is distroless/cc rather than distroless/static. Both stages are Debian 12 (bookworm), so the glibc the
# binary was linked against is the one it runs with.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    bin="$(scripts/build-static.sh)"; \
    install -D -m 0755 "$bin" /out/authgate

# distroless/cc: glibc, libgcc, CA certificates (/etc/ssl/certs, read by the JWKS and webhook clients), tzdata, and
# the nonroot user 65532. No shell, no package manager.
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/authgate/authgate
LABEL org.opencontainers.image.title="authgate" \
      org.opencontainers.image.description="Forward-auth service for ingress proxies driven by a Hasura DDN AuthConfig" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/authgate /authgate
USER 65532:65532
# data, admin (/healthz, /readyz, /metrics), admission webhook (TLS, when enabled)
EXPOSE 8080 9090 8443
ENTRYPOINT ["/authgate"]
CMD ["serve", "--config", "/etc/authgate/authconfig.yaml"]
