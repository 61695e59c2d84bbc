// Package tls holds the TLS settings of a registry connection and checks them before use.
//
// The TLS handshake itself happens in the Rust library (rustls); this package only validates
// what the user asked for, so that mistakes are reported early and clearly.
package tls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Options are the TLS settings of a registry connection. The zero value verifies the server
// against the system roots.
type Options struct {
	// CAFile is a PEM file with CA certificates to trust besides the system roots.
	CAFile string
	// Insecure skips certificate verification (for example Gitea's self-signed certificate).
	Insecure bool
	// PlainHTTP talks HTTP instead of HTTPS.
	PlainHTTP bool
}

// Conflict reports settings that exclude each other, without touching any file.
func (o Options) Conflict() error {
	if o.PlainHTTP && o.CAFile != "" {
		return errors.New("--ca-file cannot be used with --plain-http")
	}
	return nil
}

// Validate checks Conflict and that CAFile, when set, is a readable PEM file holding at least
// one certificate: the commands call it to report a bad flag before reading stdin or touching
// the network (the push library checks the file again when it uses it).
func (o Options) Validate() error {
	if err := o.Conflict(); err != nil {
		return err
	}
	if o.CAFile == "" {
		return nil
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return fmt.Errorf("cannot read CA file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
	}
	return nil
}

// Warning is the one-line warning a command prints on stderr before talking to registry
// (host[:port]) with these options, or "" when there is nothing to warn about: --plain-http
// sends everything unencrypted, --insecure accepts any certificate. The library never prints;
// this is for the command line.
func (o Options) Warning(registry string) string {
	switch {
	case o.PlainHTTP:
		return "WARNING: talking to " + registry + " over plain HTTP (--plain-http): credentials and images travel unencrypted"
	case o.Insecure:
		return "WARNING: TLS certificate verification is disabled for " + registry + " (--insecure): anyone on the network path could pose as the registry"
	}
	return ""
}
