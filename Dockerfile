# Builds the tocsin binary and ships it in a slim image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin tocsin

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/tocsin /usr/local/bin/tocsin
COPY config/ /etc/tocsin/
WORKDIR /var/lib/tocsin
EXPOSE 8080
ENTRYPOINT ["tocsin"]
CMD ["run", "--config", "/etc/tocsin/docker.toml"]
