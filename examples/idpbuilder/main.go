// Command idpbuilder is a stand-in for IDPBuilder's main package, shaped like it, that adds the
// push command the way IDPBuilder would. Build it with
//
//	cargo build --release        # at the repository root: target/release/libidp_push.a
//	cd examples/idpbuilder && go build -o ../../bin/idpbuilder .
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cnoe-io/idp-push/examples/idpbuilder/cmd"
)

func main() {
	// Ctrl-C or SIGTERM cancels the context: a push stops within a second and tags nothing.
	// Once it has, the signals are no longer caught, so a second Ctrl-C ends the process at
	// once, as with docker.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cmd.Execute(ctx)
	stop()
	os.Exit(code)
}
