// The registry plugins get (token METRICS): mesh-api's, the one every Ambit process exposes its metrics with.
export * from '@ambit/mesh-api/metrics';
