# HydraCodeDone container image.
#
#   docker build -t hydracodedone .          # compiles inside the official Swift image
#   docker compose up -d --build             # the same, through docker-compose.yaml
#
# Stages:
#   build             compiles the release binary (static Swift runtime) in swift:6.3-bookworm
#   runtime-base      debian:bookworm-slim + Configuration/runtime-packages.txt + a non-root user,
#                     port, health check and entry point: everything but the binary
#   runtime-prebuilt  runtime-base + a binary built on the host exactly like the build stage, at
#                     .build/prebuilt/hydracodedone (`make runtime-check` builds this target)
#   runtime           runtime-base + the build stage's binary: the default target, what ships
# The two final stages differ only in where their one COPY takes the binary from, so the
# runtime that `make runtime-check` tests is the shipped one.

# ---------------------------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
# https upstreams use OpenSSL directly (the CTLS target): the link step needs its development files.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# SwiftPM checks every target's folder, test targets included, even for one product.
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product hydracodedone \
 && mkdir -p /out \
 && cp "$(swift build -c release --static-swift-stdlib --show-bin-path)/hydracodedone" /out/hydracodedone \
 && strip /out/hydracodedone

# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime-base
# The runtime packages are listed once, in Configuration/runtime-packages.txt.
COPY Configuration/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e '/^[[:space:]]*$/d' /tmp/runtime-packages.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && mkdir -p /app \
 && useradd --no-log-init --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin hydracodedone
USER 10001:10001
# A .env mounted at /app/.env is read too (the environment wins).
WORKDIR /app
ENV HOST=0.0.0.0 \
    PORT=3101
EXPOSE 3101
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/hydracodedone", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/hydracodedone"]

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS runtime-prebuilt
COPY .build/prebuilt/hydracodedone /usr/local/bin/hydracodedone

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS runtime
COPY --from=build /out/hydracodedone /usr/local/bin/hydracodedone
