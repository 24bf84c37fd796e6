//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package backend

import "github.com/gomlx/go-xla/compute/xla"

const xlaCompiledIn = true

func init() {
	// Never download plugins implicitly: a command must not hang on a
	// download, and offline machines must not fail. Install plugins
	// explicitly (see README).
	xla.EnableAutoInstall(false)
}

func xlaPlugins() []string { return xla.GetAvailablePlugins() }
