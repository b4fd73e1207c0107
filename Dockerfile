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
# (the reviews build args are the ENV test/cluster/images.json gives each reviews version).
#
# The ambit/* tags follow VERSION in controller/src/install/version.ts (the VERSION build arg below defaults to it):
# controller/manifests/20-controller.yaml and ztunnel.yaml run ambit/controller and ambit/ztunnel, and the
# controller renders each waypoint Gateway's Deployment with ambit/waypoint (controller/src/gateway/render.ts,
# unless AMBIT_WAYPOINT_IMAGE overrides it). Each ENTRYPOINT is the script the local cluster runs for that image
# (test/cluster/images.json); test/e2e/test/dockerfiles.test.ts checks all of this.
#
# Not built here: the machines this project is developed and tested on have no container engine (the local cluster
# runs images as processes), so this file is checked by that test, never by a `docker build`.
#
# Layout: `manifests` (the package files npm needs) -> `build` (npm ci and tsc -b, once for every image) and
# `runtime` (the shared runtime base) -> one stage per image, each with only its workspaces' production
# dependencies and compiled code. BuildKit (Docker's default builder) builds only the stages a target needs and
# caches them, so building all the targets runs `npm ci` and `tsc -b` once.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG VERSION=0.1.0

# The root and workspace package files and the lock, alone: the `npm ci` layers that follow them stay cached until
# a dependency changes. npm ci checks the lock against every workspace, so all of them are here, and the committed
# launcher controller/bin (npm links the `ambit` bin while installing).
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY package.json package-lock.json ./
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
# projects they reference). Nothing of this stage but the dist folders reaches an image.
FROM manifests AS build
RUN npm ci
COPY . .
RUN npx tsc -b controller ztunnel-runtime waypoint-runtime samples

# The shared runtime base: Node and the package files, so each image's `npm ci --omit=dev --workspace …` installs
# the production dependencies of its own workspaces only. NODE_ENV=production for the images' code and for npm.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=manifests /src/ ./

# ambit/controller: the control plane (istiod's role: CA, xDS push, the waypoint Gateway controller) and the
# `ambit` CLI; the manifest runs it with args ["discovery", ...]. Non-root: it needs no privileges.
FROM runtime AS controller
ARG VERSION
LABEL org.opencontainers.image.ref.name="ambit/controller" org.opencontainers.image.version="${VERSION}"
# Production dependencies of the controller and of the workspace it imports (@ambit/ztunnel-runtime).
RUN npm ci --omit=dev --workspace controller --workspace ztunnel-runtime && npm cache clean --force
COPY --from=build /src/ztunnel-runtime/dist ztunnel-runtime/dist
COPY --from=build /src/controller/dist controller/dist
USER node
ENTRYPOINT ["node", "controller/dist/src/main.js"]

# ambit/ztunnel: the node proxy (DaemonSet, controller/manifests/ztunnel.yaml, args ["proxy", "ztunnel"]).
# Runs as root, on purpose (no USER): the node agent enters pods' network namespaces (setns through koffi, nsenter)
# and writes their iptables rules, which needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN (the DaemonSet's
# securityContext grants them; hostPath /var/run/netns). Hence iptables, iproute2 and util-linux (nsenter).
FROM runtime AS ztunnel
ARG VERSION
LABEL org.opencontainers.image.ref.name="ambit/ztunnel" org.opencontainers.image.version="${VERSION}"
RUN apt-get update && apt-get install -y --no-install-recommends iptables iproute2 util-linux \
  && rm -rf /var/lib/apt/lists/*
# koffi ships prebuilt binaries; its install script only picks one, so scripts stay on for this workspace.
RUN npm ci --omit=dev --workspace ztunnel-runtime && npm cache clean --force
COPY --from=build /src/ztunnel-runtime/dist ztunnel-runtime/dist
ENTRYPOINT ["node", "ztunnel-runtime/dist/src/main.js"]

# ambit/waypoint: the L7 proxy the controller renders for each waypoint Gateway. Non-root: it only listens on
# unprivileged ports (15008 HBONE, 15020/15021 status, 15090 metrics).
FROM runtime AS waypoint
ARG VERSION
LABEL org.opencontainers.image.ref.name="ambit/waypoint" org.opencontainers.image.version="${VERSION}"
# Production dependencies of the waypoint and of the workspaces it imports (plugin SDK, built-in plugins, ztunnel-runtime).
RUN npm ci --omit=dev --workspace waypoint-runtime --workspace plugins/sdk --workspace plugins/builtin \
    --workspace ztunnel-runtime && npm cache clean --force
COPY --from=build /src/ztunnel-runtime/dist ztunnel-runtime/dist
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
