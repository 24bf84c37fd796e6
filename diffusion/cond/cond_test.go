package cond

import (
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
)

// TestConditionHost checks the host side: lengths (and their mismatches),
// slicing, and the order of Args.
func TestConditionHost(t *testing.T) {
	c := Classes([]int32{3, 1, 4, 1, 5})
	if n, err := c.Len(); err != nil || n != 5 {
		t.Fatalf("Len = %d, %v", n, err)
	}
	if n, _ := (Condition{}).Len(); n != -1 {
		t.Errorf("the zero condition has length %d, want −1 (any)", n)
	}
	bad := c
	bad.Null = []bool{true}
	if _, err := bad.Len(); err == nil || !strings.Contains(err.Error(), "null mask has 1") {
		t.Errorf("mismatched null mask: %v", err)
	}
	two := Condition{Inputs: map[string]*tensors.Tensor{Class: tensors.FromValue([]int32{1, 2}), "text": tensors.FromValue([]int32{7})}}
	if _, err := two.Len(); err == nil || !strings.Contains(err.Error(), "examples") {
		t.Errorf("inputs of different lengths: %v", err)
	}
	s, err := c.Slice(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Labels(); len(l) != 3 || l[0] != 1 || l[1] != 4 || l[2] != 1 {
		t.Errorf("Slice(1, 3) labels %v", l)
	}
	if _, err := c.Slice(4, 3); err == nil {
		t.Errorf("Slice past the end accepted")
	}
	if names := two.Names(); names[0] != Class || names[1] != "text" {
		t.Errorf("Names %v not sorted", names)
	}
	args := c.Args(5, true)
	if len(args) != 2 {
		t.Fatalf("Args: %d values, want labels and a mask", len(args))
	}
	if m := args[1].(*tensors.Tensor); m.Shape().Dimensions[0] != 5 {
		t.Errorf("Args made a mask shaped %s", m.Shape())
	}
}

// TestCheckLen checks that a condition fits a batch of its own length, that
// the zero condition and a bare null mask of the right length fit, and that a
// wrong length or inconsistent inputs are refused with the lengths named.
func TestCheckLen(t *testing.T) {
	c := Classes([]int32{3, 1, 4})
	if err := c.CheckLen(3); err != nil {
		t.Errorf("3 labels for 3 examples: %v", err)
	}
	if err := (Condition{}).CheckLen(7); err != nil {
		t.Errorf("the zero condition refused: %v", err)
	}
	if err := (Condition{Null: []bool{true, false}}).CheckLen(2); err != nil {
		t.Errorf("a null mask of 2 for 2 examples: %v", err)
	}
	if err := c.CheckLen(4); err == nil || !strings.Contains(err.Error(), "has 3 examples, want 4") {
		t.Errorf("3 labels for 4 examples: %v", err)
	}
	if err := (Condition{Null: []bool{true}}).CheckLen(2); err == nil || !strings.Contains(err.Error(), "has 1 examples, want 2") {
		t.Errorf("a null mask of 1 for 2 examples: %v", err)
	}
	bad := c
	bad.Null = []bool{true}
	if err := bad.CheckLen(3); err == nil || !strings.Contains(err.Error(), "null mask has 1") {
		t.Errorf("mismatched null mask: %v", err)
	}
}

// TestNodes checks the graph side: FromArgs rebuilds what Args fed,
// WithNull doubles the batch with the second half null, Or merges masks,
// and the zero Nodes is all null.
func TestNodes(t *testing.T) {
	c := Classes([]int32{3, 1, 4})
	c.Null = []bool{false, true, false}
	exec, err := NewExec(backend.MustShared(), func(in []*Node) []*Node {
		n, rest := FromArgs(c.Names(), true, in)
		if len(rest) != 0 {
			panic("unused arguments")
		}
		g := in[0].Graph()
		d := n.WithNull(g, 3)
		or := n.Or(Const(g, []bool{true, false, false}))
		return []*Node{d.Get(Class), ConvertDType(d.Null, in[0].DType()), ConvertDType(or.Null, in[0].DType()),
			ConvertDType(Nodes{}.NullMask(g, 2), in[0].DType())}
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Call(c.Args(3, true)...)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{{3, 1, 4, 3, 1, 4}, {0, 1, 0, 1, 1, 1}, {1, 1, 0}, {1, 1}}
	for i, o := range outs {
		got := tensors.MustCopyFlatData[int32](o)
		for j := range want[i] {
			if got[j] != want[i][j] {
				t.Errorf("output %d = %v, want %v", i, got, want[i])
				break
			}
		}
	}
}
