# ---- build stage ----
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Dependencies first so this layer is cached across source changes.
# (No RUN --mount: docker-compose 1.29 may use the classic builder.)
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/smmapi .

# Writable working directory for the embedded SQLite default (smmapi.db).
RUN mkdir -p /out/data

# ---- runtime stage ----
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/smmapi /smmapi
COPY --from=build /src/config.yaml /etc/smmapi/config.yaml
COPY --from=build --chown=nonroot:nonroot /out/data /data

USER nonroot:nonroot
WORKDIR /data

# 8080: public API, 8081: internal API (publish on loopback only).
EXPOSE 8080 8081

# distroless has no shell or curl: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/smmapi","-healthcheck"]

ENTRYPOINT ["/smmapi"]
CMD ["-config","/etc/smmapi/config.yaml"]
