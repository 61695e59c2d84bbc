package push

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cnoe-io/idp-push/bindings/go/pkg/types"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progressView decouples the library's progress callback from rendering: the callback only
// queues the event (coalescing byte counts of the same blob) and returns at once, so a slow
// terminal never slows the upload; one goroutine renders. Stop drains the queue, finishes the
// renderer and waits for the goroutine.
type progressView struct {
	mu     sync.Mutex
	queue  []types.ProgressEvent
	closed bool
	wake   chan struct{}
	done   chan struct{}
	r      renderer
}

type renderer interface {
	handle(types.ProgressEvent)
	finish(success bool)
}

func startProgress(r renderer) *progressView {
	v := &progressView{wake: make(chan struct{}, 1), done: make(chan struct{}), r: r}
	go v.loop()
	return v
}

// Event is the push's progress callback.
func (v *progressView) Event(ev types.ProgressEvent) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	if n := len(v.queue); n > 0 && ev.Kind == types.BlobProgress {
		if last := &v.queue[n-1]; last.Kind == types.BlobProgress && last.Digest == ev.Digest {
			*last = ev
			v.mu.Unlock()
			return
		}
	}
	v.queue = append(v.queue, ev)
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

func (v *progressView) loop() {
	defer close(v.done)
	for {
		<-v.wake
		v.mu.Lock()
		batch, closed := v.queue, v.closed
		v.queue = nil
		v.mu.Unlock()
		for _, ev := range batch {
			v.r.handle(ev)
		}
		if closed {
			return
		}
	}
}

// Stop renders what is queued, then finishes the renderer. Safe to call more than once.
func (v *progressView) Stop(success bool) {
	v.mu.Lock()
	already := v.closed
	v.closed = true
	v.mu.Unlock()
	if already {
		<-v.done
		return
	}
	select {
	case v.wake <- struct{}{}:
	default:
	}
	<-v.done
	v.r.finish(success)
}

// shortID is the first 12 hex digits of a digest, as docker shows layers.
func shortID(digest string) string {
	_, hex, ok := strings.Cut(digest, ":")
	if !ok {
		hex = digest
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// lineRenderer writes one line per blob, for logs and pipes.
type lineRenderer struct{ w io.Writer }

func (l lineRenderer) handle(ev types.ProgressEvent) {
	switch ev.Kind {
	case types.BlobDone:
		fmt.Fprintf(l.w, "%s: Pushed\n", shortID(ev.Digest))
	case types.BlobSkipped:
		fmt.Fprintf(l.w, "%s: Layer already exists\n", shortID(ev.Digest))
	case types.BlobMounted:
		fmt.Fprintf(l.w, "%s: Mounted from another repository\n", shortID(ev.Digest))
	}
}

func (lineRenderer) finish(bool) {}

// barRenderer draws one mpb bar per blob on a terminal.
type barRenderer struct {
	p    *mpb.Progress
	bars map[string]*mpb.Bar
	done map[string]bool
}

func newBarRenderer(w io.Writer) *barRenderer {
	return &barRenderer{
		p:    mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithAutoRefresh()),
		bars: map[string]*mpb.Bar{},
		done: map[string]bool{},
	}
}

func (b *barRenderer) bar(ev types.ProgressEvent) *mpb.Bar {
	if bar, ok := b.bars[ev.Digest]; ok {
		return bar
	}
	id := shortID(ev.Digest)
	bar := b.p.New(int64(ev.Total), mpb.BarStyle(),
		mpb.BarFillerClearOnComplete(),
		mpb.PrependDecorators(
			decor.Name(id+": "),
			decor.OnAbort(decor.OnComplete(decor.Name("Pushing"), "Pushed"), "Aborted"),
		),
		mpb.AppendDecorators(
			decor.OnCompleteOrOnAbort(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"), ""),
		),
	)
	b.bars[ev.Digest] = bar
	return bar
}

func (b *barRenderer) handle(ev types.ProgressEvent) {
	switch ev.Kind {
	case types.BlobStarted:
		b.bar(ev)
	case types.BlobProgress:
		b.bar(ev).SetCurrent(int64(ev.Current))
	case types.BlobDone:
		b.bar(ev).SetTotal(int64(ev.Total), true)
		b.done[ev.Digest] = true
	case types.BlobSkipped:
		fmt.Fprintf(b.p, "%s: Layer already exists\n", shortID(ev.Digest))
	case types.BlobMounted:
		fmt.Fprintf(b.p, "%s: Mounted from another repository\n", shortID(ev.Digest))
	}
}

func (b *barRenderer) finish(bool) {
	for digest, bar := range b.bars {
		if !b.done[digest] {
			bar.Abort(false)
		}
	}
	b.p.Wait()
}
