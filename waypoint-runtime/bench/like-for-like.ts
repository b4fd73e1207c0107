// What every proxy under test in the bench shares, so they are compared like for like.

/** Keep-alive connections each proxy keeps to the upstream (the waypoint, @fastify/http-proxy and nginx alike). */
export const UPSTREAM_CONNECTIONS = 64;
