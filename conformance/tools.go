//go:build tools

// Package tools only records the upstream packages this wrapper module builds, so `go mod tidy` keeps them.
package tools

import (
	_ "sigs.k8s.io/gateway-api/conformance"
)
