# syntax=docker/dockerfile:1
#
# vos-gateway container image: the gateway (the entrypoint) and the demo agent
# (`vos-agent-demo`, from the workspace's agent crate), so the compose stack builds one image.
#
#   docker build -t vos-gateway --build-arg VOS_GIT_COMMIT=$(git rev-parse --short HEAD) .
#
# Stages: chef (toolchain + cargo-chef) -> planner (dependency recipe) -> builder
# (dependencies cooked in their own layer, then the crate) -> runtime (slim, non-root).
# Editing src/ only rebuilds the last builder layer; the dependency layer is reused
# until Cargo.toml or Cargo.lock change.

FROM rust:1.95-slim-bookworm AS chef
# Pinned so the recipe format cannot change under a cached planner layer.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# Queries are checked at run time, so no database is needed to compile; this only
# guards against a stray `query!` macro trying to reach one during the build.
ENV SQLX_OFFLINE=true
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --workspace --recipe-path recipe.json
COPY . .
# Reported as the `commit` label of `vos_build_info`. Declared after `cook` so a new
# commit does not invalidate the dependency layer.
ARG VOS_GIT_COMMIT=unknown
ENV VOS_GIT_COMMIT=${VOS_GIT_COMMIT}
RUN cargo build --release --locked -p vos-gateway -p vos-agent --bin vos-gateway --bin vos-agent-demo

FROM debian:bookworm-slim AS runtime
# ca-certificates only: rustls needs the system roots for TLS to RabbitMQ and OTLP
# endpoints. Not version-pinned: bookworm-slim already fixes the release, and pinning
# would break the build whenever Debian ships a security update and drops the old one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 vos \
    && useradd --system --uid 10001 --gid vos --no-create-home --shell /usr/sbin/nologin vos
WORKDIR /app
COPY --from=builder /src/target/release/vos-gateway /usr/local/bin/vos-gateway
COPY --from=builder /src/target/release/vos-agent-demo /usr/local/bin/vos-agent-demo
# The defaults are compiled into the binary; the files are shipped as reference and as
# a base for `--config /app/config/<file>.toml` overrides.
COPY config/ /app/config/
USER 10001:10001
EXPOSE 8080
# `vos-gateway healthcheck` GETs http://127.0.0.1:8080/health/ready and exits 0 or 1,
# so the image needs no curl. The start period covers migrations at start.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["vos-gateway", "healthcheck"]
ENTRYPOINT ["vos-gateway"]
CMD ["serve"]
