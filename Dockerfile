# Both services and the ecst operations command in one image: build with the Swift toolchain, run on slim Debian with libpq5.
ARG SWIFT_IMAGE=swift:6.3-bookworm

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY schema.sql schemathesis.toml ./
RUN swift build -c release --static-swift-stdlib --product user-service \
 && swift build -c release --static-swift-stdlib --product order-service \
 && swift build -c release --static-swift-stdlib --product ecst \
 && mkdir -p /out \
 && bin="$(swift build -c release --show-bin-path)" \
 && cp "$bin/user-service" "$bin/order-service" "$bin/ecst" /out/

# The end-to-end suite, run by docker compose's integration-tests service against the stack.
FROM build AS test
# schemathesis for the suite's API fuzzing test (without it that test skips), in a venv: Debian's
# Python is externally managed. The version scripts/test installs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/schemathesis \
 && /opt/schemathesis/bin/pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
ENV PATH=/opt/schemathesis/bin:$PATH
RUN swift build --build-tests
CMD ["swift", "test", "--skip-build", "--filter", "EndToEndTests"]

FROM debian:bookworm-slim AS run
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home ecst
COPY --from=build /out/ /usr/local/bin/
USER ecst
ENV HOST=0.0.0.0 LOG_LEVEL=info
EXPOSE 8080 8081
CMD ["user-service"]
