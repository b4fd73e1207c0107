# Ambit's container images, one build target each. Build from the repository root (the build context is the whole
# monorepo; .dockerignore keeps node_modules, dist and the local cluster's state out of it):
#   docker build --target controller -t ambit/controller:0.1.0 .
#   docker build --target ztunnel    -t ambit/ztunnel:0.1.0 .
#   docker build --target waypoint   -t ambit/waypoint:0.1.0 .
# and the Bookinfo services, as the upstream images samples/manifests/bookinfo.yaml asks for:
#   docker build --target bookinfo-productpage -t istio/examples-bookinfo-productpage-v1:1.20.3 .
#   docker build --target bookinfo-details     -t istio/examples-bookinfo-details-v1:1.20.3 .
#   docker build --target bookinfo-ratings     -t istio/examples-bookinfo-ratings-v1:1.20.3 .
#   docker build --target bookinfo-reviews --build-arg SERVICE_VERSION=v1 --build-arg ENABLE_RATINGS=false --build-arg STAR_COLOR=black -t istio/examples-bookinfo-reviews-v1:1.20.3 .
#   docker build --target bookinfo-reviews --build-arg SERVICE_VERSION=v2 --build-arg ENABLE_RATINGS=true --build-arg STAR_COLOR=black -t istio/examples-bookinfo-reviews-v2:1.20.3 .
#   docker build --target bookinfo-reviews --build-arg SERVICE_VERSION=v3 --build-arg ENABLE_RATINGS=true --build-arg STAR_COLOR=red -t istio/examples-bookinfo-reviews-v3:1.20.3 .
# (the reviews build args are the ENV test/cluster/images.json gives each reviews version), the curl client of
# samples/manifests/sleep.yaml and notsleep.yaml, and the one tools image the tests' pods run:
#   docker build --target curl       -t curlimages/curl:8.16.0 .
#   docker build --target test-tools -t ambit/test-tools:0.1.0 .
# and the metrics add-on samples/addons/prometheus.yaml deploys (`ambit install --addons prometheus`):
#   docker build --target prometheus -t ambit/prometheus:0.1.0 .
#
# The ambit/* tags follow VERSION in controller/src/install/version.ts (the VERSION build arg below defaults to it):
# controller/manifests/20-controller.yaml and ztunnel.yaml run ambit/controller and ambit/ztunnel, and the
# controller renders each waypoint Gateway's Deployment with ambit/waypoint (controller/src/gateway/render.ts,
# unless AMBIT_WAYPOINT_IMAGE overrides it). Each ENTRYPOINT is the script the local cluster runs for that image
# (test/cluster/images.json); test/e2e/test/dockerfiles.test.ts checks all of this.
#
# Without Docker, `npm run images` (scripts/images.sh) builds every target with buildah into OCI archives, on a
# base it makes itself from Debian's packages (mmdebstrap) and the Node binary of the npm package `node`, passed
# in as NODE_IMAGE and DEBIAN_IMAGE; with Docker the defaults below are the official images.
#
# Layout: `manifests` (the package files npm needs) -> `build` (npm ci and tsc -b, once for every image) and
# `runtime` (the shared runtime base) -> one stage per image, each with only its workspaces' production
# dependencies and compiled code. BuildKit and `buildah bud --layers` build only the stages a target needs and
# cache them, so building all the targets runs `npm ci` and `tsc -b` once. npm's download cache is a cache mount,
# shared by every `npm ci` and never part of an image.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim
# Only the Prometheus add-on's image compiles Go (its prometheus-go stage; scripts/images.sh skips that stage).
ARG GOLANG_IMAGE=golang:1.26-bookworm
ARG VERSION=0.1.0
# A machine whose egress re-signs TLS (a corporate or sandbox proxy) passes its CA bundle to npm as a build secret:
#   --secret id=extra-ca,src=<bundle> --build-arg NODE_EXTRA_CA_CERTS=/run/secrets/extra-ca
# (scripts/images.sh does when NODE_EXTRA_CA_CERTS is set). The secret is mounted for the `npm ci` steps only and
# never stored in an image; without it Node warns that the file is missing and uses its own CAs.
ARG NODE_EXTRA_CA_CERTS=

# The root and workspace package files and the lock, alone: the `npm ci` layers that follow them stay cached until
# a dependency changes. npm ci checks the lock against every workspace, so all of them are here, and the committed
# launcher controller/bin (npm links the `ambit` bin while installing).
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY package.json package-lock.json ./
COPY mesh-api/package.json mesh-api/
COPY ztunnel-runtime/package.json ztunnel-runtime/
COPY plugins/sdk/package.json plugins/sdk/
COPY plugins/builtin/package.json plugins/builtin/
COPY waypoint-runtime/package.json waypoint-runtime/
COPY controller/package.json controller/
COPY controller/bin controller/bin
COPY samples/package.json samples/
COPY test/cluster/package.json test/cluster/
COPY test/e2e/package.json test/e2e/

# Every dependency (TypeScript is a dev dependency), then one `tsc -b` over the packages the images ship (and the
# projects they reference). Nothing of this stage but the dist folders reaches an image, and of those only the
# JavaScript: compiled tests and benchmarks, declarations, source maps and tsc's build info are removed.
FROM manifests AS build
ARG NODE_EXTRA_CA_CERTS
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=extra-ca npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -b mesh-api controller ztunnel-runtime waypoint-runtime samples \
  && find . -name node_modules -prune -o -type d \( -path '*/dist/test' -o -path '*/dist/bench' \) -prune -exec rm -rf {} + \
  && find . -name node_modules -prune -o -path '*/dist/*' -type f \( -name '*.d.ts' -o -name '*.map' -o -name '*.tsbuildinfo' \) \
    -exec rm -f {} +

# The shared runtime base: Node and the package files, so each image's `npm ci --omit=dev --workspace …` installs
# the production dependencies of its own workspaces only (then drops their type declarations, source maps and
# markdown, a third of node_modules that nothing reads at run time). NODE_ENV=production for the images' code and for npm.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=manifests /src/ ./

# ambit/controller: the control plane (istiod's role: CA, xDS push, the waypoint Gateway controller) and the
# `ambit` CLI; the manifest runs it with args ["discovery", ...]. Non-root: it needs no privileges.
FROM runtime AS controller
ARG VERSION
ARG NODE_EXTRA_CA_CERTS
LABEL org.opencontainers.image.ref.name="ambit/controller" org.opencontainers.image.version="${VERSION}"
# Production dependencies of the controller and of the workspace it imports (@ambit/mesh-api).
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=extra-ca npm ci --omit=dev --no-audit --no-fund --workspace controller --workspace mesh-api \
  && find . -path '*/node_modules/*' -type f \( -name '*.d.ts' -o -name '*.d.[cm]ts' -o -name '*.map' -o \( -name '*.md' ! -iname 'licen[cs]e*' \) \) -delete
COPY --from=build /src/mesh-api/dist mesh-api/dist
COPY --from=build /src/controller/dist controller/dist
USER node
ENTRYPOINT ["node", "controller/dist/src/main.js"]

# ambit/ztunnel: the node proxy (DaemonSet, controller/manifests/ztunnel.yaml, args ["proxy", "ztunnel"]).
# Runs as root, on purpose (no USER): the node agent enters pods' network namespaces (setns through koffi, nsenter)
# and writes their iptables rules, which needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN (the DaemonSet's
# securityContext grants them; hostPath /var/run/netns). Hence iptables, iproute2 and util-linux (nsenter).
FROM runtime AS ztunnel
ARG VERSION
ARG NODE_EXTRA_CA_CERTS
LABEL org.opencontainers.image.ref.name="ambit/ztunnel" org.opencontainers.image.version="${VERSION}"
RUN apt-get update && apt-get install -y --no-install-recommends iptables iproute2 util-linux \
  && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# Production dependencies of ztunnel and of the workspace it imports (@ambit/mesh-api). koffi ships prebuilt
# binaries; its install script only picks one, so scripts stay on for these workspaces.
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=extra-ca npm ci --omit=dev --no-audit --no-fund --workspace ztunnel-runtime --workspace mesh-api \
  && find . -path '*/node_modules/*' -type f \( -name '*.d.ts' -o -name '*.d.[cm]ts' -o -name '*.map' -o \( -name '*.md' ! -iname 'licen[cs]e*' \) \) -delete
COPY --from=build /src/mesh-api/dist mesh-api/dist
COPY --from=build /src/ztunnel-runtime/dist ztunnel-runtime/dist
ENTRYPOINT ["node", "ztunnel-runtime/dist/src/main.js"]

# ambit/waypoint: the L7 proxy the controller renders for each waypoint Gateway. Non-root: it only listens on
# unprivileged ports (15008 HBONE, 15020/15021 status, 15090 metrics).
FROM runtime AS waypoint
ARG VERSION
ARG NODE_EXTRA_CA_CERTS
LABEL org.opencontainers.image.ref.name="ambit/waypoint" org.opencontainers.image.version="${VERSION}"
# Production dependencies of the waypoint and of the workspaces it imports (plugin SDK, built-in plugins, mesh-api).
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=extra-ca npm ci --omit=dev --no-audit --no-fund --workspace waypoint-runtime \
    --workspace plugins/sdk --workspace plugins/builtin --workspace mesh-api \
  && find . -path '*/node_modules/*' -type f \( -name '*.d.ts' -o -name '*.d.[cm]ts' -o -name '*.map' -o \( -name '*.md' ! -iname 'licen[cs]e*' \) \) -delete
COPY --from=build /src/mesh-api/dist mesh-api/dist
COPY --from=build /src/plugins/sdk/dist plugins/sdk/dist
COPY --from=build /src/plugins/builtin/dist plugins/builtin/dist
COPY --from=build /src/waypoint-runtime/dist waypoint-runtime/dist
USER node
ENTRYPOINT ["node", "waypoint-runtime/dist/src/main.js"]

# The Bookinfo services share one image body: the samples have no runtime dependencies (no npm ci), only their
# compiled code (samples/package.json, from the base, makes Node load it as ES modules). Non-root, port 9080.
FROM runtime AS bookinfo
COPY --from=build /src/samples/dist samples/dist
USER node
EXPOSE 9080

FROM bookinfo AS bookinfo-productpage
ENTRYPOINT ["node", "samples/dist/src/bookinfo/productpage.js"]

FROM bookinfo AS bookinfo-details
ENTRYPOINT ["node", "samples/dist/src/bookinfo/details.js"]

FROM bookinfo AS bookinfo-ratings
ENTRYPOINT ["node", "samples/dist/src/bookinfo/ratings.js"]

# One target for reviews v1, v2 and v3: the build args (see the header) become the image's ENV.
FROM bookinfo AS bookinfo-reviews
ARG SERVICE_VERSION=v1
ARG ENABLE_RATINGS=false
ARG STAR_COLOR=black
ENV SERVICE_VERSION=${SERVICE_VERSION} ENABLE_RATINGS=${ENABLE_RATINGS} STAR_COLOR=${STAR_COLOR}
ENTRYPOINT ["node", "samples/dist/src/bookinfo/reviews.js"]

# curlimages/curl:8.16.0, the client of samples/manifests/sleep.yaml and notsleep.yaml: Debian's curl (bookworm
# ships 7.88; the tag is the name the manifests ask for), ENTRYPOINT curl like the upstream image, and its non-root
# user, uid 100. The manifests run it with command ["/bin/sleep", "infinity"] and `kubectl exec ... curl`.
FROM ${DEBIAN_IMAGE} AS curl
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
  && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
  && groupadd --gid 101 curl_group && useradd --uid 100 --gid 101 --no-create-home --shell /bin/sh curl_user
USER 100:101
ENTRYPOINT ["curl"]

# ambit/test-tools: the one image the tests' pods run in place of busybox, alpine, python:3.12 and curlimages/curl:
# sh and coreutils (sleep, cat, echo), python3 with its standard library (python3 -m http.server), curl and nc.
# Root, like busybox and python: test pods write to volumes and bind low ports. No ENTRYPOINT; the default is sh.
FROM ${DEBIAN_IMAGE} AS test-tools
ARG VERSION
LABEL org.opencontainers.image.ref.name="ambit/test-tools" org.opencontainers.image.version="${VERSION}"
RUN apt-get update && apt-get install -y --no-install-recommends python3 curl ca-certificates netcat-openbsd \
  && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
CMD ["sh"]

# ambit/prometheus: the add-on samples/addons/prometheus.yaml runs (`ambit install --addons prometheus`), a real
# Prometheus (3.16, the version test/prometheus/go.mod pins), as Istio's samples/addons run the upstream image.
# Built from its Go module, not Debian's package: Debian builds Prometheus without Kubernetes service discovery,
# which the add-on's scrape config needs. test/prometheus/build.sh keeps only that discovery (and file/http) and
# embeds no web UI (the React app is not in the module): the HTTP API is what the mesh's tools read.
#
# prometheus-go compiles prometheus and promtool in the official Go image; prometheus-build is just the two
# binaries at its root. scripts/images.sh builds them on the host with the same script and passes that directory
# as the prometheus-build stage (`buildah bud --build-context prometheus-build=<dir>`), so it needs no Go image.
FROM ${GOLANG_IMAGE} AS prometheus-go
WORKDIR /src
COPY test/prometheus/ test/prometheus/
RUN --mount=type=cache,target=/cache/ambit bin=$(AMBIT_CACHE=/cache/ambit bash test/prometheus/build.sh | tail -n 1) \
  && mkdir /out && cp "$bin/prometheus" "$bin/promtool" /out/

FROM scratch AS prometheus-build
COPY --from=prometheus-go /out/ /

# On plain Debian (ca-certificates for https scrapes), non-root: nobody (65534) like the upstream image; it only
# needs a writable data directory (the add-on mounts an emptyDir at /data; /prometheus is the default here).
FROM ${DEBIAN_IMAGE} AS prometheus
ARG VERSION
LABEL org.opencontainers.image.ref.name="ambit/prometheus" org.opencontainers.image.version="${VERSION}"
COPY --from=prometheus-build /prometheus /promtool /usr/bin/
RUN mkdir -p /prometheus /etc/prometheus && chown 65534:65534 /prometheus \
  && printf 'global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ["localhost:9090"]\n' >/etc/prometheus/prometheus.yml \
  && /usr/bin/promtool check config /etc/prometheus/prometheus.yml && /usr/bin/prometheus --version
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
