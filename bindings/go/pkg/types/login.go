package types

import (
	"strconv"
	"time"

	idptls "github.com/cnoe-io/idp-push/bindings/go/pkg/tls"
)

// LoginOptions are the settings of LoginReporter.LoginWithResult.
type LoginOptions struct {
	TLS idptls.Options
	// Save stores the verified credentials as `docker login` does: through the docker
	// config's credential helper (credHelpers entry or credsStore) when there is one, else in
	// the docker config's auths (file mode 0600). It needs credentials to store: with none
	// given or found the login fails with StatusInvalidArgument.
	Save bool
	// Timeout is as in PushOptions.
	Timeout time.Duration
}

// AuthScheme is how a registry authenticated the caller. The numbers are those of the C ABI
// (idp_auth_scheme).
type AuthScheme uint32

// Authentication schemes.
const (
	AuthNone   AuthScheme = 0 // the registry needs no credentials
	AuthBasic  AuthScheme = 1 // HTTP Basic
	AuthBearer AuthScheme = 2 // a bearer token from the registry's token service
)

func (s AuthScheme) String() string {
	switch s {
	case AuthNone:
		return "none"
	case AuthBasic:
		return "basic"
	case AuthBearer:
		return "bearer"
	}
	return "AuthScheme(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// CredentialSource is where the credentials of a login came from. The numbers are those of
// the C ABI (idp_credential_source).
type CredentialSource uint32

// Credential sources.
const (
	// SourceExplicit: given by the caller (Credentials not zero).
	SourceExplicit CredentialSource = 0
	// SourceDockerConfig: an auths entry of the docker config ($DOCKER_CONFIG/config.json or
	// ~/.docker/config.json).
	SourceDockerConfig CredentialSource = 1
	// SourceCredentialHelper: a docker-credential-<name> helper named by the docker config
	// (credHelpers or credsStore).
	SourceCredentialHelper CredentialSource = 2
	// SourceContainersAuthFile: $REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json.
	SourceContainersAuthFile CredentialSource = 3
	// SourceAnonymous: none given or found.
	SourceAnonymous CredentialSource = 4
)

func (s CredentialSource) String() string {
	switch s {
	case SourceExplicit:
		return "explicit"
	case SourceDockerConfig:
		return "docker config"
	case SourceCredentialHelper:
		return "credential helper"
	case SourceContainersAuthFile:
		return "containers auth file"
	case SourceAnonymous:
		return "anonymous"
	}
	return "CredentialSource(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// LoginResult is what a login found out.
type LoginResult struct {
	// Scheme is how the registry authenticated the credentials.
	Scheme AuthScheme
	// Source is where the credentials came from; SourceDescription says the same in words,
	// with the file or helper ("docker config /root/.docker/config.json", "credential helper
	// docker-credential-pass"). Neither ever holds a secret.
	Source            CredentialSource
	SourceDescription string
	// SavedTo is where LoginOptions.Save stored the credentials ("docker config
	// /root/.docker/config.json", "credential helper docker-credential-pass"); "" when they
	// were not saved.
	SavedTo string
}
