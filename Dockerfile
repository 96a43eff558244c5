# syntax=docker/dockerfile:1
#
# The hello-service image: one static binary on distroless, run as a non-root user.
#
#   docker build --build-arg HELLO_BUILD_ID="$(git rev-parse --short=7 HEAD)" -t hello-ecs .
#
# Build args:
#   HELLO_BUILD_ID  the image tag; baked into the binary, so x-app-version and /version report it
#                   (without it the binary reports `src-<hash>` over its sources)
#   GIT_COMMIT      full commit sha, for the org.opencontainers.image.revision label
#   SOURCE_URL      repository URL, for the org.opencontainers.image.source label
#
# Only hello-service is built: the rest of the workspace (deploy-sdk and its AWS SDK
# dependencies, xtask, local-ecs, local-stack, tests) is present for `cargo metadata`, never
# compiled.

ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The recipe: hello-service's manifest and the part of the lockfile it uses. `--bin` leaves the
# other members out, so their dependency changes do not invalidate the cached layer below.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin hello-service

# hello-service's dependencies, compiled: the expensive layer, rebuilt only when they change.
# buildspec.yml pushes this stage as the `build-cache` image so CodeBuild reuses it.
FROM chef AS dependencies
# Static glibc (static-pie): runs on distroless/static or scratch, keeps glibc's allocator (the
# one the README's benchmark figures were measured with), and works on any host architecture.
ENV RUSTFLAGS="-C target-feature=+crt-static"
COPY --from=planner /src/recipe.json recipe.json
# An explicit --target keeps RUSTFLAGS away from build scripts and proc-macros.
RUN cargo chef cook --release --locked --package hello-service \
        --target "$(rustc --print host-tuple)" --recipe-path recipe.json

FROM dependencies AS builder
COPY . .
# Declared after the cook so a new tag does not invalidate the dependency layer.
ARG HELLO_BUILD_ID
RUN cargo build --release --locked --package hello-service --target "$(rustc --print host-tuple)" \
    && cp "target/$(rustc --print host-tuple)/release/hello-service" /usr/local/bin/hello-service

FROM gcr.io/distroless/static-debian12:nonroot
ARG HELLO_BUILD_ID
ARG GIT_COMMIT
ARG SOURCE_URL
LABEL org.opencontainers.image.title="hello-service" \
      org.opencontainers.image.description="Greeting server deployed to Amazon ECS: HTTP on 8080, /ping health check, drains on SIGTERM" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.version="${HELLO_BUILD_ID}"
COPY --from=builder /usr/local/bin/hello-service /usr/local/bin/hello-service
# distroless's `nonroot` user, by number so runtimes can verify it is not root.
USER 65532:65532
EXPOSE 8080
# No shell or curl in the image: the binary checks itself (GET /ping on 127.0.0.1).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/hello-service", "healthcheck"]
# Exec form: the binary is PID 1 and receives SIGTERM itself, then drains.
ENTRYPOINT ["/usr/local/bin/hello-service"]
CMD ["serve"]
