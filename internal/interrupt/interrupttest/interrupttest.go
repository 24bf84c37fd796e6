// Package interrupttest lets tests deliver signals to the commands'
// watchers (package interrupt) without signalling the process: it replaces
// interrupt.Notify and interrupt.Stop with a hub that records the channels
// registered.
package interrupttest

import (
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/interrupt"
)

// Hub holds the channels that interrupt.Watch has registered and not yet
// unregistered.
type Hub struct {
	mu   sync.Mutex
	live []chan<- os.Signal
}

// Install replaces interrupt.Notify and interrupt.Stop with a new hub's
// until the end of the test.
func Install(t testing.TB) *Hub {
	h := &Hub{}
	notify, stop := interrupt.Notify, interrupt.Stop
	interrupt.Notify = func(c chan<- os.Signal) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.live = append(h.live, c)
	}
	interrupt.Stop = func(c chan<- os.Signal) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.live = slices.DeleteFunc(h.live, func(x chan<- os.Signal) bool { return x == c })
	}
	t.Cleanup(func() { interrupt.Notify, interrupt.Stop = notify, stop })
	return h
}

// Send delivers sig to every registered channel.
func (h *Hub) Send(sig os.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.live {
		c <- sig
	}
}

// Registered is the number of channels registered now.
func (h *Hub) Registered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live)
}
