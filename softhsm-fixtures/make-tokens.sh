#!/bin/sh
# make-tokens.sh DIR: throwaway SoftHSM2 tokens with known keys for tests,
# benchmarks and the demo. Idempotent: what already exists is kept, what is
# missing is created, nothing is created twice. See README.md for the keys.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
MODULE=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
USER_PIN=1234
SO_PIN=12345678
MAIN=tessera-main
ALWAYS=tessera-always-auth

for tool in softhsm2-util pkcs11-tool openssl; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$0: $tool is missing (apt-get install softhsm2 opensc openssl)" >&2
    exit 1
  }
done
[ -e "$MODULE" ] || { echo "$0: no SoftHSM2 module at $MODULE" >&2; exit 1; }

mkdir -p "$DIR/tokens"
CONF="$DIR/softhsm2.conf"
cat >"$CONF.tmp" <<EOF
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
EOF
mv "$CONF.tmp" "$CONF"
SOFTHSM2_CONF=$CONF
export SOFTHSM2_CONF

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

token_exists() {
  softhsm2-util --show-slots 2>/dev/null | grep -Eq "^ *Label: *$1 *\$"
}

init_token() {
  token_exists "$1" || softhsm2-util --init-token --free --label "$1" --so-pin "$SO_PIN" --pin "$USER_PIN" >/dev/null
}

p11() {  # p11 TOKEN ARGS...: pkcs11-tool logged in to TOKEN
  token=$1
  shift
  pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin "$USER_PIN" "$@"
}

# has_object TOKEN TYPE ID: true if an object of TYPE (privkey, pubkey, cert) with ID exists.
has_object() {
  p11 "$1" --list-objects --type "$2" --id "$3" 2>/dev/null | grep -q "ID: *$3"
}

# keypair TOKEN LABEL ID KEYTYPE [--always-auth]
keypair() {
  if has_object "$1" privkey "$3"; then return 0; fi
  token=$1 label=$2 id=$3 keytype=$4
  shift 4
  p11 "$token" --keypairgen --key-type "$keytype" --label "$label" --id "$id" --usage-sign "$@" >/dev/null 2>&1 || {
    echo "$0: could not generate $label ($keytype) on $token" >&2
    exit 1
  }
}

# cert_key TOKEN LABEL ID CURVE: an EC key made by OpenSSL and written to the
# token as a private key plus an X.509 certificate, with no public key object,
# so that the key is found only through its certificate.
cert_key() {
  token=$1 label=$2 id=$3 curve=$4
  if has_object "$token" privkey "$id" && has_object "$token" cert "$id"; then return 0; fi
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$curve" -out "$WORK/$label.pem" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$WORK/$label.pem" -outform DER -out "$WORK/$label.p8"
  openssl req -new -x509 -key "$WORK/$label.pem" -subj "/CN=tessera $label" -days 3650 \
    -outform DER -out "$WORK/$label.crt" 2>/dev/null
  has_object "$token" privkey "$id" ||
    p11 "$token" --write-object "$WORK/$label.p8" --type privkey --id "$id" --label "$label" --usage-sign \
      >/dev/null 2>&1
  has_object "$token" cert "$id" ||
    p11 "$token" --write-object "$WORK/$label.crt" --type cert --id "$id" --label "$label" >/dev/null 2>&1
}

init_token "$MAIN"
keypair "$MAIN" rsa2048 01 rsa:2048
keypair "$MAIN" rsa3072 02 rsa:3072
keypair "$MAIN" ec256 03 EC:prime256v1
cert_key "$MAIN" ec384 04 P-384
keypair "$MAIN" ec521 05 EC:secp521r1
keypair "$MAIN" ed25519 06 EC:edwards25519

init_token "$ALWAYS"
keypair "$ALWAYS" aa-ec256 11 EC:prime256v1 --always-auth
keypair "$ALWAYS" aa-rsa2048 12 rsa:2048 --always-auth

echo "export SOFTHSM2_CONF=$CONF"
