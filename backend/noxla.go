//go:build !cgo || noxla || !((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package backend

const xlaCompiledIn = false

func xlaPlugins() []string { return nil }
