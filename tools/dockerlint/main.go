// Command dockerlint checks Dockerfiles with BuildKit's own linter — the
// checks `docker build --check` runs — without a Docker engine.
//
//	go run ./dockerlint ../docker/Dockerfile
//
// It prints every warning with its line and exits 1 if there is any warning
// or the Dockerfile does not parse.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerlint DOCKERFILE...")
		os.Exit(2)
	}
	bad := 0
	for _, path := range os.Args[1:] {
		n, err := lint(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dockerlint: %s: %v\n", path, err)
			bad++
			continue
		}
		if n > 0 {
			bad++
		} else {
			fmt.Printf("dockerlint: %s: no warnings\n", path)
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}

// offline answers every base-image lookup with an empty Linux image, so that
// linting needs no registry (the checks are about the Dockerfile itself).
type offline struct{}

func (offline) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`)
	return ref, digest.FromBytes(cfg), cfg, nil
}

func lint(path string) (int, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	src := llb.Local("dockerfile")
	def, err := src.Marshal(ctx)
	if err != nil {
		return 0, err
	}
	smap := llb.NewSourceMap(&src, path, "Dockerfile", dt)
	smap.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{SourceMap: smap, MetaResolver: offline{}})
	if err != nil {
		return 0, err
	}
	if res.Error != nil {
		return 0, fmt.Errorf("does not build: %s", res.Error.Message)
	}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		fmt.Printf("%s:%d: %s: %s (%s)\n", path, line, w.RuleName, w.Detail, w.URL)
	}
	return len(res.Warnings), nil
}
