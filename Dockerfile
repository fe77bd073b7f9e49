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
# After the builds, which do not read them (the tests do, when they run): a change to the schema
# alone rebuilds nothing.
COPY schema.sql schemathesis.toml ./
CMD ["swift", "test", "--skip-build", "--filter", "EndToEndTests"]

# psql alone: Debian's package brings Perl for its version wrapper (about 70 MB the image needs not).
FROM debian:bookworm-slim AS psql
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*

FROM debian:bookworm-slim AS run
# psql and the schema.sql these binaries were built with: docker compose's one-shot `schema` applies
# it from the image, so a database is brought to the schema of the services that run on it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libreadline8 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home ecst
COPY --from=psql /usr/lib/postgresql/15/bin/psql /usr/local/bin/psql
COPY --from=build /out/ /usr/local/bin/
COPY schema.sql /usr/share/ecst/schema.sql
USER ecst
ENV HOST=0.0.0.0 LOG_LEVEL=info
EXPOSE 8080 8081
CMD ["user-service"]
