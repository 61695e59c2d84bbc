package types

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &Error{Code: StatusUnauthorized, Message: "unauthorized: no"})
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrDenied) {
		t.Fatal("errors.Is does not match by code")
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != StatusUnauthorized || e.Error() != "unauthorized: no" {
		t.Fatalf("errors.As: %#v", e)
	}
	c := &Error{Code: StatusCancelled, Message: "push cancelled", Cause: context.Canceled}
	if !errors.Is(c, ErrCancelled) || !errors.Is(c, context.Canceled) {
		t.Fatal("a cancelled error matches neither ErrCancelled nor context.Canceled")
	}
	if (&Error{Code: StatusTLS}).Error() != "TLS error" {
		t.Error("empty message does not fall back to the status name")
	}
	if Status(99).String() != "status 99" {
		t.Error(Status(99).String())
	}
}

func TestCredentialsHidePassword(t *testing.T) {
	for _, c := range []Credentials{
		{Username: "giteaAdmin", Password: "s3cret"},
		{IdentityToken: "s3cret"},
		{Username: "u", IdentityToken: "s3cret"},
	} {
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
			if strings.Contains(s, "s3cret") || !strings.Contains(s, "********") {
				t.Errorf("%q shows the secret (or hides that there is one)", s)
			}
		}
		if c.IsZero() {
			t.Errorf("%v: IsZero", c)
		}
	}
	if !(Credentials{}).IsZero() || (Credentials{Username: "u"}).IsZero() {
		t.Error("IsZero")
	}
}

func TestLoginEnumStrings(t *testing.T) {
	if AuthBearer.String() != "bearer" || AuthScheme(9).String() != "AuthScheme(9)" {
		t.Error(AuthBearer.String(), AuthScheme(9).String())
	}
	if SourceCredentialHelper.String() != "credential helper" || CredentialSource(9).String() != "CredentialSource(9)" {
		t.Error(SourceCredentialHelper.String(), CredentialSource(9).String())
	}
}

func TestProgressKindString(t *testing.T) {
	if BlobMounted.String() != "BlobMounted" || ProgressKind(77).String() != "ProgressKind(77)" {
		t.Error(BlobMounted.String(), ProgressKind(77).String())
	}
}

func TestPinned(t *testing.T) {
	if got := (PushResult{Reference: "h/o/n:1", Digest: "sha256:ab"}).Pinned(); got != "h/o/n:1@sha256:ab" {
		t.Error(got)
	}
}
