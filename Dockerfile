# Keel in a container: a release build in a Rust image, copied into a distroless runtime (glibc,
# CA certificates, no shell, no package manager) and run as a non-root user.
#
#   docker build -t keel .
#   docker run -p 8080:8080 -e KEEL_ADDR=0.0.0.0:8080 keel        # SQLite in /data, demo catalog
#
# deploy/docker-compose.yml runs it with PostgreSQL, Redis and NATS; deploy/k8s/ on Kubernetes.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The dependency graph first, so a change to Keel's own code reuses the cached dependencies.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p keel -p paysim \
    && cp target/release/keel target/release/paysim /usr/local/bin/ \
    && mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/keel /usr/local/bin/keel
# The payment simulator, for trying a cluster out (deploy/docker-compose.yml); not for production.
COPY --from=build /usr/local/bin/paysim /usr/local/bin/paysim
# The data directory (SQLite file, search index, generated files), owned by the runtime user.
COPY --from=build --chown=65532:65532 /data /data
# glibc's allocator keeps one arena per thread unless told otherwise (docs/PERFORMANCE.md).
ENV KEEL_ADDR=0.0.0.0:8080 \
    KEEL_DATA_DIR=/data \
    KEEL_LOG_FORMAT=json \
    MALLOC_ARENA_MAX=2
WORKDIR /data
USER 65532:65532
EXPOSE 8080
# The health check asks /healthz on KEEL_ADDR: right for `serve` (every role) and `serve --role
# api`. A worker serves no HTTP there: probe `keel probe --addr 127.0.0.1:9090` (its
# KEEL_METRICS_ADDR) instead, and turn the check off for paysim and one-off commands
# (deploy/docker-compose.yml does both).
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/keel", "probe", "--path", "/healthz"]
ENTRYPOINT ["/usr/local/bin/keel"]
CMD ["serve"]
