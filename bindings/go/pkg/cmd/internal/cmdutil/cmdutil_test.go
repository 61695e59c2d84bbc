package cmdutil

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/auth"
	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

func TestOneLine(t *testing.T) {
	inner := &types.Error{Code: types.StatusNetwork, Message: "a\nb\r\n c"}
	err := OneLine(inner)
	if err.Error() != "a b c" || !errors.Is(err, types.ErrNetwork) {
		t.Errorf("OneLine: %q", err)
	}
	plain := errors.New("x")
	if OneLine(plain) != plain || OneLine(nil) != nil {
		t.Error("one-line errors must come back unchanged")
	}
}

func TestWarn(t *testing.T) {
	var b bytes.Buffer
	Warn(&b, "", "one", "", "two")
	if b.String() != "one\ntwo\n" {
		t.Errorf("%q", b.String())
	}
}

func TestRegistryOf(t *testing.T) {
	for in, want := range map[string]string{"h:1/o/n:t": "h:1", "h/n": "h", "h": "h"} {
		if got := RegistryOf(in); got != want {
			t.Errorf("RegistryOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExplainUnauthorized(t *testing.T) {
	unauth := &types.Error{Code: types.StatusUnauthorized, Message: "unauthorized"}
	err := ExplainUnauthorized(unauth, auth.Resolved{}, "h:1")
	if !errors.Is(err, types.ErrUnauthorized) || !strings.Contains(err.Error(), "idpbuilder login h:1") ||
		!strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("looked up: %v", err)
	}
	given := auth.Resolved{Credentials: types.Credentials{Username: "u", Password: "Secret-1"}, PasswordFrom: auth.FromStdin}
	if err := ExplainUnauthorized(unauth, given, "h:1"); err != error(unauth) {
		t.Errorf("given: %v", err)
	}
	other := errors.New("other")
	if ExplainUnauthorized(other, given, "h:1") != other {
		t.Error("other errors must come back unchanged")
	}
}
