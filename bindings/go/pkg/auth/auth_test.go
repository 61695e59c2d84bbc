package auth

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestResolvePrecedence(t *testing.T) {
	both := map[string]string{EnvUsername: "envuser", EnvPassword: "envpw"}
	cases := []struct {
		name           string
		in             Input
		user, password string
		userFrom       string
		passFrom       string
		warnings       int
	}{
		// Nothing given: no credentials, so that the library looks in the docker config,
		// the credential helpers and the auth file (then goes anonymous).
		{"nothing: the library looks them up", Input{Getenv: env(nil)}, "", "", FromNone, FromNone, 0},
		{"env user alone: the library looks them up", Input{Getenv: env(map[string]string{EnvUsername: "envuser"})}, "", "", FromNone, FromNone, 0},
		// The default user applies only to a password without a user.
		{"env password with default user", Input{Getenv: env(map[string]string{EnvPassword: "envpw"})}, DefaultUsername, "envpw", FromDefault, FromEnv, 0},
		{"env both", Input{Getenv: env(both)}, "envuser", "envpw", FromEnv, FromEnv, 0},
		{"flags beat env", Input{Username: "u", UsernameSet: true, Password: "p", PasswordSet: true, Getenv: env(both)}, "u", "p", FromFlag, FromFlag, 1},
		{"flag password, default user", Input{Password: "p", PasswordSet: true, Getenv: env(nil)}, DefaultUsername, "p", FromDefault, FromFlag, 1},
		{"stdin beats env", Input{PasswordStdin: true, Stdin: strings.NewReader("pw\n"), Getenv: env(both)}, "envuser", "pw", FromEnv, FromStdin, 0},
		{"stdin with flag user", Input{Username: "u", UsernameSet: true, PasswordStdin: true, Stdin: strings.NewReader("pw\n"), Getenv: env(both)}, "u", "pw", FromFlag, FromStdin, 0},
		{"flag user with env password", Input{Username: "u", UsernameSet: true, Getenv: env(both)}, "u", "envpw", FromFlag, FromEnv, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Resolve(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Credentials.Username != c.user || r.Credentials.Password != c.password || r.Credentials.IdentityToken != "" ||
				r.UsernameFrom != c.userFrom || r.PasswordFrom != c.passFrom || len(r.Warnings) != c.warnings {
				t.Errorf("got %+v (%v)", r, r.Credentials)
			}
			if r.Explicit() != (c.password != "") {
				t.Errorf("Explicit() = %v", r.Explicit())
			}
			for _, w := range r.Warnings {
				if w != PasswordOnCommandLineWarning {
					t.Errorf("warning %q", w)
				}
			}
		})
	}
}

func TestPasswordSource(t *testing.T) {
	for from, want := range map[string]string{FromStdin: "--password-stdin", FromFlag: "--password", FromEnv: "$" + EnvPassword, FromNone: ""} {
		if got := (Resolved{PasswordFrom: from}).PasswordSource(); got != want {
			t.Errorf("PasswordSource(%q) = %q, want %q", from, got, want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	const secret = "Zq9-distinctive-secret"
	cases := []struct {
		in   Input
		want string
	}{
		{Input{PasswordStdin: true, PasswordSet: true, Password: secret, Stdin: strings.NewReader(secret)}, "mutually exclusive"},
		{Input{PasswordStdin: true}, "no standard input"},
		{Input{PasswordStdin: true, Stdin: strings.NewReader("")}, "empty"},
		{Input{PasswordStdin: true, Stdin: iotest.ErrReader(errors.New("boom"))}, "boom"},
		{Input{UsernameSet: true, Username: "", PasswordSet: true, Password: secret}, "username is empty"},
		{Input{UsernameSet: true, Username: "bob"}, "--username needs a password"},
		{Input{PasswordSet: true, Password: ""}, "--password is empty"},
	}
	for _, c := range cases {
		c.in.Getenv = env(nil)
		_, err := Resolve(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestReadPassword(t *testing.T) {
	for in, want := range map[string]string{
		"pw":                 "pw",
		"pw\n":               "pw",
		"pw\r\n":             "pw",
		" pw with spaces \n": " pw with spaces ",
		"pw\n\n":             "pw\n",
	} {
		got, err := ReadPassword(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("ReadPassword(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ReadPassword(strings.NewReader(strings.Repeat("x", maxPasswordSize+1))); err == nil {
		t.Error("no error for a huge password")
	}
}

// Ctrl-C while waiting for a password on stdin that never comes: Resolve returns at once.
func TestPasswordStdinGivesUpWhenCancelled(t *testing.T) {
	stdin, writer := io.Pipe()
	defer writer.Close() // ends the abandoned read
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Resolve(Input{PasswordStdin: true, Stdin: stdin, Context: ctx, Getenv: env(nil)})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "--password-stdin") {
			t.Errorf("error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Resolve still waits for stdin after the context was cancelled")
	}
	// Without cancellation the password is read as before.
	r, err := Resolve(Input{PasswordStdin: true, Stdin: strings.NewReader("pw\n"), Context: context.Background(), Getenv: env(nil)})
	if err != nil || r.Credentials.Password != "pw" {
		t.Errorf("%v %v", r.Credentials.Username, err)
	}
}
