# threadgate in a container: built in Rust's image, run as an unprivileged user on Debian slim,
# its data in a volume, healthy when /readyz says so. Not built in CI (no container engine
# there): README, "Running in production".
#
#   docker build -t threadgate .
#   docker run -d --name threadgate -p 2525:2525 -p 8080:8080 -v threadgate:/var/lib/threadgate \
#       -e THREADGATE_REPLY_DOMAIN=reply.example.com -e THREADGATE_PUBLIC_URL=https://… threadgate

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin threadgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/threadgate --create-home threadgate
COPY --from=build /src/target/release/threadgate /usr/local/bin/threadgate
USER threadgate
WORKDIR /var/lib/threadgate
VOLUME /var/lib/threadgate
# Inside the container the listeners face its network (publish the ports you need).
ENV THREADGATE_DATA_DIR=/var/lib/threadgate \
    THREADGATE_SMTP_LISTEN=0.0.0.0:2525 \
    THREADGATE_HTTP_LISTEN=0.0.0.0:8080
EXPOSE 2525 8080
# The HTTP port above: change both together.
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
# SIGTERM: in-flight transactions and deliveries finish (up to 30 s): give it 45.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/threadgate"]
CMD ["serve"]
