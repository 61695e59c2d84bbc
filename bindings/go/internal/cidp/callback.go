package cidp

/*
#include <stdint.h>
#include "idp_push.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync"
	"unsafe"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
)

// progress is the Go side of one push's progress callback, reached from C through a
// cgo.Handle.
type progress struct {
	fn    func(types.ProgressEvent)
	token *C.idp_cancel_token // fired when fn panics

	mu       sync.Mutex
	panicked bool
	value    any
}

// idpGoProgress is the C progress callback. It never lets a panic unwind into C: a panic of
// the user's function is recovered, the push is cancelled, and Push re-raises it later.
//
//export idpGoProgress
func idpGoProgress(userdata unsafe.Pointer, event *C.idp_progress_event) {
	if event == nil {
		return
	}
	p := lookup(uintptr(userdata))
	if p == nil {
		return
	}
	p.deliver(types.ProgressEvent{
		Kind:      types.ProgressKind(event.kind),
		Digest:    goString(event.digest),
		MediaType: goString(event.media_type),
		Current:   uint64(event.current),
		Total:     uint64(event.total),
	})
}

func lookup(h uintptr) (p *progress) {
	defer func() {
		if recover() != nil { // an invalid handle: drop the event
			p = nil
		}
	}()
	p, _ = cgo.Handle(h).Value().(*progress)
	return p
}

func (p *progress) deliver(ev types.ProgressEvent) {
	p.mu.Lock()
	stopped := p.panicked
	p.mu.Unlock()
	if stopped {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			p.mu.Lock()
			p.panicked, p.value = true, r
			p.mu.Unlock()
			C.idp_cancel_token_cancel(p.token)
		}
	}()
	p.fn(ev)
}

func (p *progress) recovered() (any, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.value, p.panicked
}

func goString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}
