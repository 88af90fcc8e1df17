# syntax=docker/dockerfile:1.7
#
# One image for Freight: `freight` (api | worker | all | migrate | token |
# openapi) and `freight-mcp`, running as an unprivileged user.
#
#   docker build -t freight:local .
#   docker run --rm freight:local --help
#   docker run --rm --entrypoint freight-mcp freight:local --help

# The toolchain the tests run with (the workspace's minimum is 1.94); build
# and runtime share the Debian release, so the binaries find the same glibc.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

# ---- build ------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# aws-lc-sys (TLS, JWT) and libsqlite3-sys compile C/C++: gcc comes with the
# image, g++ does not. No CMake, clang or Go: only FIPS builds need them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything the build reads: the workspace manifests and lock file, every
# member's sources, `migrations/` (embedded by sqlx::migrate!) and
# `openapi/` (freight-mcp generates its tools from it at build time).
# .dockerignore keeps target/ and local files out.
COPY . .
# The cache mounts keep the registry and compiled dependencies between
# builds; the binaries are copied out of the (cached) target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p freight -p freight-mcp --bins \
 && mkdir -p /out \
 && cp target/release/freight target/release/freight-mcp /out/

# ---- runtime ----------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to source/target databases; curl: compose health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 freight \
 && useradd --system --uid 10001 --gid freight --home-dir /var/lib/freight \
      --create-home --shell /usr/sbin/nologin freight
COPY --from=build /out/freight /out/freight-mcp /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/freight
ENV FREIGHT_HOST=0.0.0.0 \
    FREIGHT_PORT=8000 \
    METRICS_PORT=9090 \
    LOG_FORMAT=json
# 8000: REST API (`freight api`, `freight all`); 9090: Prometheus /metrics.
EXPOSE 8000 9090
# Freight drains on SIGTERM within SHUTDOWN_GRACE_SECONDS (default 30 s):
# give the container a longer stop timeout (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["freight"]
CMD ["api"]
