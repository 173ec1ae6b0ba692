# fleetbench in a container: the binary the README builds (`cargo build --release`, here
# `--locked` to Cargo.lock), on a small Debian runtime, run as a non-root user, the binary as
# the entrypoint. With no arguments it runs the built-in default scenario, as
# `cargo run --release` does. Kubernetes: deploy/kubernetes/ and docs/distributed.md.
#
#   docker build -t fleetbench:latest .
#   docker run --rm fleetbench:latest run --clock virtual --duration 1m

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, from the manifests alone, so a change to our code rebuilds only ours.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY harness harness
COPY benches benches
COPY tests tests
COPY fixtures fixtures
COPY examples examples
COPY docs docs
RUN cargo build --release --locked --bin fleetbench \
    && cp target/release/fleetbench /fleetbench

FROM debian:bookworm-slim
# The platform's CA roots: providers over https:// are checked against them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin fleetbench
COPY --from=build /fleetbench /usr/local/bin/fleetbench
USER 10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/fleetbench"]
