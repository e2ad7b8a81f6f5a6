# The Buntime container image (docs/kubernetes.md#the-image).
#
# The build context is NOT the repository: `scripts/image-build.sh` assembles it (target/image/context)
# from what the host already built, so no Rust is compiled in here and a build takes seconds:
#   bin/buntime   the newer of target/release and target/debug buntime (or BUNTIME_BINARY), stripped
#   bin/bun       the pinned Bun that scripts/setup.sh installs from the npm registry
#   plugins/      the bundled plugins: each directory's manifest.yaml (the code is in the binary)
#   apps/cpanel/  the admin shell (manifest.yaml and the built dist/)
#   healthcheck   the HEALTHCHECK probe (bash, no curl needed)
#
# BASE_IMAGE must be glibc-compatible with the host that built bin/buntime (Debian 12 here). With a
# registry, the default works; without one, image-build.sh imports a Debian rootfs made by
# debootstrap (with tini and ca-certificates already in it) and passes it here.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# Stage 1: lay out /opt/buntime and check it before anything ships: both binaries start, and every
# bundled plugin would load (`buntime check` exits 1 otherwise).
FROM ${BASE_IMAGE} AS assemble
COPY bin/ /opt/buntime/bin/
COPY healthcheck /opt/buntime/bin/healthcheck
COPY plugins/ /opt/buntime/plugins/
COPY apps/ /opt/buntime/apps/
RUN chmod -R u=rwX,go=rX /opt/buntime \
 && chmod 0755 /opt/buntime/bin/* \
 && /opt/buntime/bin/buntime --version \
 && /opt/buntime/bin/bun --version \
 && cd /tmp \
 && RUNTIME_PLUGIN_DIRS=/opt/buntime/plugins RUNTIME_STATE_DIR=/tmp/state BUNTIME_BUN=/opt/buntime/bin/bun \
    /opt/buntime/bin/buntime check \
 && rm -rf /tmp/state

# Stage 2: the image. Only /opt/buntime (read-only, owned by root) is copied from stage 1.
FROM ${BASE_IMAGE}
# tini is PID 1: it forwards SIGTERM to buntime (which drains and exits 0) and reaps the Bun
# processes' orphans. The debootstrap base already has it; a stock debian image gets it from apt.
RUN if ! command -v tini >/dev/null; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --gid 10001 buntime \
 && useradd --uid 10001 --gid 10001 --home-dir /home/buntime --create-home --shell /usr/sbin/nologin buntime \
 && mkdir -p /data/apps /data/plugins /data/state \
 && chown -R 10001:10001 /data /home/buntime
COPY --from=assemble /opt/buntime /opt/buntime

# /data holds everything that outlives a container: uploaded apps and plugins (listed first, so an
# upload shadows a bundled copy of the same name) and the state (API keys, SQLite databases).
ENV NODE_ENV=production \
    PORT=8000 \
    HOME=/home/buntime \
    PATH=/opt/buntime/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    BUNTIME_BUN=/opt/buntime/bin/bun \
    RUNTIME_PLUGIN_DIRS=/data/plugins:/opt/buntime/plugins \
    RUNTIME_WORKER_DIRS=/data/apps:/opt/buntime/apps \
    RUNTIME_STATE_DIR=/data/state \
    RUNTIME_SHUTDOWN_GRACE_MS=30000

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/opt/buntime/bin/healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/buntime/bin/buntime"]
CMD ["serve"]
