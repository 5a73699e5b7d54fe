# jitgate in a container: a build stage with the Rust toolchain and cmake (Pingora needs
# it), and a slim runtime stage with the binary, CA roots and an unprivileged user.
#
#   docker build -t jitgate .
#   docker run --rm -p 8080:8080 jitgate          # the quickstart: http://app.localhost:8080
#   docker run -d -p 443:443 -v /etc/jitgate:/etc/jitgate:ro \
#     -e JITGATE_SESSION_SECRET=... jitgate serve --config /etc/jitgate/jitgate.toml
#
# `docker stop` sends SIGTERM: jitgate drains for server.shutdown_grace (default 10s, the
# same as docker's stop timeout, so give `--stop-timeout 15` or lower the grace).

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin jitgate \
 && cp target/release/jitgate /usr/local/bin/jitgate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin jitgate \
 && install -d -o jitgate -g jitgate -m 0750 /var/lib/jitgate
COPY --from=build /usr/local/bin/jitgate /usr/local/bin/jitgate
# The quickstart, adapted to a container: the proxy listens on every interface (publish it
# with -p 8080:8080) and the store lives in /var/lib/jitgate (a volume keeps it).
COPY config/quickstart.toml config/quickstart-users.toml /etc/jitgate/
RUN sed -i \
      -e 's|^listen_http = "127.0.0.1:8080"|listen_http = "0.0.0.0:8080"|' \
      -e 's|^path = "../data/quickstart.db"|path = "/var/lib/jitgate/quickstart.db"|' \
      /etc/jitgate/quickstart.toml \
 && grep -q '^listen_http = "0.0.0.0:8080"' /etc/jitgate/quickstart.toml \
 && grep -q '^path = "/var/lib/jitgate/quickstart.db"' /etc/jitgate/quickstart.toml
USER jitgate
VOLUME /var/lib/jitgate
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/jitgate"]
CMD ["serve", "--config", "/etc/jitgate/quickstart.toml"]
