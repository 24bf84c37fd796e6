package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var got []string
	fake := func(plugin, dir string) error { got = append(got, plugin+"@"+dir); return nil }
	var out, errb bytes.Buffer
	if err := run([]string{"--cpu", "--cuda", "--path", "/x/go-xla"}, &out, &errb, fake); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "cpu@/x/go-xla,cuda@/x/go-xla" {
		t.Errorf("installed %v", got)
	}
	if err := run(nil, &out, &errb, fake); err == nil || !strings.Contains(err.Error(), "--cpu") {
		t.Errorf("no flags: error %v", err)
	}
	failing := func(string, string) error { return errors.New("no network") }
	if err := run([]string{"--cuda", "--path", "/x"}, &out, &errb, failing); err == nil || !strings.Contains(err.Error(), "cuda plugin: no network") {
		t.Errorf("failing install: error %v", err)
	}
}
