#!/usr/bin/env bash
# Certificates for the trust and mutual-TLS tests, made with openssl.
#
#   certs.sh ca DIR NAME                    DIR/NAME.crt + DIR/NAME.key: a CA (EC P-256)
#   certs.sh client DIR NAME CA_CRT CA_KEY  DIR/NAME.cert + DIR/NAME.key: a client certificate
#                                           signed by the CA (the certs.d naming)
#   certs.sh server DIR NAME CA_CRT CA_KEY  DIR/NAME.crt + DIR/NAME.key: a server certificate
#                                           signed by the CA, for $SAN (default
#                                           IP:127.0.0.1,DNS:localhost)
#   certs.sh signing DIR NAME               DIR/NAME.crt + DIR/NAME.key: a self-signed RSA
#                                           certificate for signing tokens (RS256)
set -euo pipefail
usage="usage: certs.sh ca|client|server|signing DIR NAME [CA_CRT CA_KEY]"
cmd=${1:?$usage}
dir=${2:?$usage}
name=${3:?$usage}
mkdir -p "$dir"

signed() { # EXT_LINES OUT_CERT
  local csr="$dir/$name.csr" ext="$dir/$name.ext"
  local ca_crt=${4:?$usage} ca_key=${5:?$usage}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$csr" 2>/dev/null
  printf '%b' "$6" >"$ext"
  openssl x509 -req -in "$csr" -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial -days 3 \
    -extfile "$ext" -out "$7" 2>/dev/null
  rm -f "$csr" "$ext"
}

case "$cmd" in
  ca)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3 \
      -subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null ;;
  client)
    signed "$@" 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' "$dir/$name.cert" ;;
  server)
    signed "$@" "subjectAltName=${SAN:-IP:127.0.0.1,DNS:localhost}\nbasicConstraints=CA:FALSE\n" "$dir/$name.crt" ;;
  signing)
    openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=$name" \
      -keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
