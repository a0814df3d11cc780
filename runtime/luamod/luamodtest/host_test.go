package luamodtest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/chorus-dev/chorus/runtime/luamod"
)

var _ luamod.Host = (*Host)(nil)

func TestHostRecords(t *testing.T) {
	h := &Host{Budget: 10}
	resume := h.Blocking()
	if !h.Blocked() {
		t.Fatal("Blocked() = false inside Blocking")
	}
	h.Note("server")
	resume()
	resume()
	if h.Blocked() {
		t.Fatal("Blocked() = true after resume")
	}
	if err := h.Charge(6); err != nil {
		t.Fatal(err)
	}
	if err := h.Charge(5); !errors.Is(err, ErrBudget) {
		t.Fatalf("Charge over budget: %v, want ErrBudget", err)
	}
	want := []string{"block", "server", "resume", "resume again", "charge 6", "charge 5"}
	if got := h.Events(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if h.Charged() != 6 {
		t.Fatalf("Charged() = %d, want 6", h.Charged())
	}
	if h.Context() == nil {
		t.Fatal("nil context")
	}
}
