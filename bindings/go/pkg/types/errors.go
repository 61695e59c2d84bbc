package types

import "fmt"

// Status says what kind of error a push or login ran into. The numbers are those of the
// C ABI (idp_status) and never change.
type Status uint32

// Status codes.
const (
	StatusOK               Status = 0
	StatusNullParameter    Status = 1
	StatusInvalidUTF8      Status = 2
	StatusInvalidArgument  Status = 3
	StatusInvalidReference Status = 4
	StatusInvalidSource    Status = 5
	StatusDigestMismatch   Status = 6
	StatusUnauthorized     Status = 7
	StatusDenied           Status = 8
	StatusTLS              Status = 9
	StatusNetwork          Status = 10
	StatusRegistry         Status = 11
	StatusCancelled        Status = 12
	StatusIO               Status = 13
	StatusPanic            Status = 14
	StatusInternal         Status = 15
)

var statusNames = [...]string{
	"ok", "null parameter", "invalid UTF-8", "invalid argument", "invalid reference",
	"invalid source", "digest mismatch", "unauthorized", "denied", "TLS error",
	"network error", "registry error", "cancelled", "I/O error", "panic", "internal error",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status %d", uint32(s))
}

// Error is a failed push or login: a Status and a one-line message. The message never holds
// the password.
type Error struct {
	Code    Status
	Message string
	// Cause is the context error when the operation was cancelled through its context, so
	// that errors.Is(err, context.Canceled) holds; nil otherwise.
	Cause error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Message
}

// Unwrap returns the cause (the context's error for a cancelled operation), or nil.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf is an *Error with code and a formatted message.
func Errorf(code Status, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Is makes errors.Is(err, ErrUnauthorized) and friends work: a target *Error without a
// message matches every *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Cause == nil && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidArgument  = &Error{Code: StatusInvalidArgument}
	ErrInvalidReference = &Error{Code: StatusInvalidReference}
	ErrInvalidSource    = &Error{Code: StatusInvalidSource}
	ErrDigestMismatch   = &Error{Code: StatusDigestMismatch}
	ErrUnauthorized     = &Error{Code: StatusUnauthorized}
	ErrDenied           = &Error{Code: StatusDenied}
	ErrTLS              = &Error{Code: StatusTLS}
	ErrNetwork          = &Error{Code: StatusNetwork}
	ErrRegistry         = &Error{Code: StatusRegistry}
	ErrCancelled        = &Error{Code: StatusCancelled}
	ErrIO               = &Error{Code: StatusIO}
	ErrPanic            = &Error{Code: StatusPanic}
	ErrInternal         = &Error{Code: StatusInternal}
)
