package tls_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnoe-io/idp-push/bindings/go/internal/testenv"
	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	cases := []struct {
		o    idptls.Options
		want string // "" for valid
	}{
		{idptls.Options{}, ""},
		{idptls.Options{CAFile: testenv.CAFile(t)}, ""},
		{idptls.Options{Insecure: true}, ""},
		{idptls.Options{PlainHTTP: true}, ""},
		{idptls.Options{CAFile: filepath.Join(dir, "missing.pem")}, "cannot read CA file"},
		{idptls.Options{CAFile: notPEM}, "no PEM certificate"},
		{idptls.Options{CAFile: notPEM, PlainHTTP: true}, "--plain-http"},
	}
	for _, c := range cases {
		err := c.o.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.o, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: err = %v, want %q", c.o, err, c.want)
		}
	}
}

func TestWarning(t *testing.T) {
	if w := (idptls.Options{CAFile: "x"}).Warning("h:1"); w != "" {
		t.Errorf("verified TLS: warning %q", w)
	}
	for _, o := range []idptls.Options{{Insecure: true}, {PlainHTTP: true}, {Insecure: true, PlainHTTP: true}} {
		w := o.Warning("h:1")
		if !strings.HasPrefix(w, "WARNING: ") || !strings.Contains(w, "h:1") || strings.Contains(w, "\n") {
			t.Errorf("%+v: warning %q", o, w)
		}
	}
	if w := (idptls.Options{Insecure: true}).Warning("h:1"); !strings.Contains(w, "TLS certificate verification is disabled for h:1") {
		t.Errorf("insecure: %q", w)
	}
	if w := (idptls.Options{PlainHTTP: true}).Warning("h:1"); !strings.Contains(w, "plain HTTP") {
		t.Errorf("plain HTTP: %q", w)
	}
}
