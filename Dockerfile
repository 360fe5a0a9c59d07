# HydraCodeDone container image.
#
#   docker build -t hydracodedone .                 # compiles inside the official Swift image
#   docker compose up -d --build                    # same, through docker-compose.yaml
#
# The runtime stage takes its binary from the stage named by BINARY_SOURCE:
#   build     (default) the release binary compiled by the `build` stage below;
#   prebuilt  a binary built on the host exactly like the build stage and placed at
#             .build/prebuilt/hydracodedone (this is what `make runtime-check` uses, so the
#             runtime stage it tests is the one shipped, byte for byte in this file).
ARG BINARY_SOURCE=build

# ---------------------------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
# FoundationNetworking links libcurl: the static-stdlib link step needs its development files.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4-openssl-dev \
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
FROM scratch AS prebuilt
COPY .build/prebuilt/hydracodedone /out/hydracodedone

# ---------------------------------------------------------------------------------------------
FROM ${BINARY_SOURCE} AS binary

# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# The runtime packages are listed once, in Configuration/runtime-packages.txt.
COPY Configuration/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e '/^[[:space:]]*$/d' /tmp/runtime-packages.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && mkdir -p /app \
 && useradd --no-log-init --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin hydracodedone
COPY --from=binary /out/hydracodedone /usr/local/bin/hydracodedone
USER 10001:10001
# A .env mounted at /app/.env is read too (the environment wins).
WORKDIR /app
ENV HOST=0.0.0.0 \
    PORT=3101
EXPOSE 3101
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/hydracodedone", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/hydracodedone"]
