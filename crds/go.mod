// Wrapper module: pins the upstream CRDs the local cluster installs (Gateway API standard + experimental, Istio's
// CRDs). No Go code and no YAML copies live here: test/cluster reads the YAMLs from the module cache
// (`go mod download -json <module>` gives the directory), see test/cluster/src/crds/upstream.ts.
module ambit.local/crds

go 1.26.0

require (
	istio.io/api v1.31.1
	sigs.k8s.io/gateway-api v1.6.3
)
