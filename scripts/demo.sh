#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: tessera-keygen makes a
# key of every type, prints fingerprints and randomart, and OpenSSH's own
# ssh-keygen reads what tessera wrote; then tessera-agent holds the keys and
# serves the keys of two SoftHSM2 tokens (softhsm-fixtures/) through its
# PKCS#11 helper, OpenSSH's ssh-add lists and uses them all, and tessera-add
# -T tests them all, PINs of always-authenticate keys asked per signature.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null

KEYGEN=$PWD/build/bin/tessera-keygen
DIR=$(mktemp -d)
AGENT_PID=
trap '[[ -n $AGENT_PID ]] && kill $AGENT_PID 2>/dev/null; rm -rf "$DIR"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

for spec in "ed25519:" "ecdsa:256" "ecdsa:384" "ecdsa:521" "rsa:3072"; do
  type=${spec%%:*}
  bits=${spec#*:}
  file=$DIR/demo_${type}${bits}
  args=(-t "$type" -q -N "demo passphrase" -a 8 -C "demo ${type}${bits}" -f "$file")
  [[ -n $bits ]] && args+=(-b "$bits")
  say "tessera-keygen ${args[*]}"
  "$KEYGEN" "${args[@]}"
  say "tessera-keygen -l -v -f $(basename "$file").pub"
  "$KEYGEN" -l -v -f "$file.pub"
  say "OpenSSH reads tessera's encrypted private key: ssh-keygen -y -P ... -f $(basename "$file")"
  ours=$(cut -d' ' -f1,2 "$file.pub")
  theirs=$(ssh-keygen -y -P "demo passphrase" -f "$file" | cut -d' ' -f1,2)
  echo "$theirs"
  if [[ "$ours" == "$theirs" ]]; then
    echo "-> same public key as tessera's .pub"
  else
    echo "-> MISMATCH" >&2
    exit 1
  fi
done

say "OpenSSH's ssh-keygen -l agrees with tessera-keygen -l"
for f in "$DIR"/*.pub; do
  diff <("$KEYGEN" -l -f "$f") <(ssh-keygen -l -f "$f") && echo "same: $(ssh-keygen -l -f "$f")"
done

say "softhsm-fixtures/make-tokens.sh: two SoftHSM2 tokens (PIN 1234), one with always-authenticate keys"
softhsm-fixtures/make-tokens.sh "$DIR/tokens" >/dev/null
export SOFTHSM2_CONF=$DIR/tokens/softhsm2.conf
softhsm2-util --show-slots | grep -E '^ *(Label|Serial number):' | sed 's/^ */  /'

# The askpass program stands in for the user: the passphrase of the demo keys,
# and the PIN whenever the agent asks for one (printing what it was asked).
cat > "$DIR/askpass" <<'ASKPASS'
#!/bin/sh
case $1 in
  *PIN*) printf '  [askpass] %s\n' "$1" >&2; echo 1234 ;;
  *) echo "demo passphrase" ;;
esac
ASKPASS
chmod 700 "$DIR/askpass"
export SSH_ASKPASS=$DIR/askpass SSH_ASKPASS_REQUIRE=force

say "tessera-agent holds the demo keys (added with tessera-add; the passphrase comes through SSH_ASKPASS)"
"$PWD/build/bin/tessera-agent" -D -a "$DIR/agent.sock" 2>&1 | grep --line-buffered askpass &
AGENT_PID=$(pgrep -n -f "tessera-agent -D -a $DIR/agent.sock" || true)
for _ in $(seq 50); do [[ -S $DIR/agent.sock ]] && break; sleep 0.1; done
[[ -z $AGENT_PID ]] && AGENT_PID=$(pgrep -n -f "tessera-agent -D -a $DIR/agent.sock")
export SSH_AUTH_SOCK=$DIR/agent.sock
for f in "$DIR"/demo_*; do
  [[ $f == *.pub ]] && continue
  "$PWD/build/bin/tessera-add" "$f" </dev/null
done

say "tessera-add -s softhsm2: the token keys join them (p11-kit's module name; the PIN is typed at the prompt)"
echo 1234 | SSH_ASKPASS_REQUIRE=never "$PWD/build/bin/tessera-add" -s softhsm2

say "OpenSSH's ssh-add -l lists what tessera-agent holds"
ssh-add -l

say "OpenSSH's ssh-add -T: the agent signs, OpenSSH verifies (file keys, then token keys)"
for f in "$DIR"/demo_*.pub; do ssh-add -T "$f" && echo "ok: $(basename "$f")"; done
ssh-add -L | grep 'token=tessera-main' | while read -r line; do
  printf '%s\n' "$line" > "$DIR/token.pub"
  ssh-add -T "$DIR/token.pub" && echo "ok: ${line##*object=}"
done

say "tessera-add -T: every key in the agent signs and verifies, with timings (the always-authenticate keys ask for their PIN)"
"$PWD/build/bin/tessera-add" -T
