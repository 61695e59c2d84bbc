package cidp

/*
#include <stdlib.h>
#include "idp_push.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

// SourceKind is the kind of image store idp_inspect found (idp_source_kind).
type SourceKind int

// Source kinds, as the header numbers them.
const (
	KindLayout        SourceKind = C.IDP_SOURCE_KIND_LAYOUT
	KindOCIArchive    SourceKind = C.IDP_SOURCE_KIND_OCI_ARCHIVE
	KindDockerArchive SourceKind = C.IDP_SOURCE_KIND_DOCKER_ARCHIVE
)

// Inspection is what idp_inspect reported about a source: what a push of it sends under the
// tag, and what the source calls the image.
type Inspection struct {
	Kind SourceKind
	// Digest, MediaType and Manifest are the manifest (or index) a push sends, as it sends it;
	// all empty for a classic docker archive whose layers are compressed during the push (the
	// push makes its manifest, and its result carries the digest).
	Digest    string
	MediaType string
	Manifest  []byte
	// RefName is the org.opencontainers.image.ref.name of the chosen image of an OCI layout or
	// archive ("" when none).
	RefName string
	// RepoTag is, for a docker archive, the NAME[:TAG] asked for, else the image's only
	// RepoTag, in docker's short form ("app:v1"); "" when there is none.
	RepoTag string
}

// Inspect opens source as Push would (same forms, same checks), without network access, and
// reports what a push of it would send. Of o only Platform and KeepUncompressed apply.
func Inspect(source string, o Options) (Inspection, error) {
	call, err := newCall(context.Background(), Options{Platform: o.Platform, KeepUncompressed: o.KeepUncompressed})
	if err != nil {
		return Inspection{}, err
	}
	defer call.close()
	csource := C.CString(source)
	defer C.free(unsafe.Pointer(csource))

	var info C.idp_image_info
	info.struct_size = C.sizeof_idp_image_info
	var message *C.char
	status := C.idp_inspect(csource, call.options, &info, &message)
	if err := makeError(context.Background(), status, message); err != nil { // frees message
		return Inspection{}, err
	}
	defer C.idp_image_info_clear(&info)
	in := Inspection{
		Kind:    SourceKind(info.kind),
		Digest:  cArrayString(info.digest[:]),
		RefName: goStringOrEmpty(info.ref_name),
		RepoTag: goStringOrEmpty(info.repo_tag),
	}
	if info.manifest != nil {
		// Manifests are at most 10 MiB (the library's limit), far from C.int's range.
		in.Manifest = C.GoBytes(unsafe.Pointer(info.manifest), C.int(info.manifest_len))
	}
	in.MediaType = goStringOrEmpty(info.media_type)
	return in, nil
}

func goStringOrEmpty(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}
