//go:build tools

// Package tools only records the upstream programs this wrapper module builds, so `go mod tidy` keeps them.
package tools

import (
	_ "istio.io/istio/pkg/test/echo/cmd/client"
	_ "istio.io/istio/pkg/test/echo/cmd/server"
)
