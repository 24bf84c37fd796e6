package main

import (
	"testing"

	"github.com/gomlx/compute"

	"github.com/godiffusion/diffusion-models/backend"
)

func backendForTest(t *testing.T) compute.Backend {
	t.Helper()
	b, err := backend.Shared()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
