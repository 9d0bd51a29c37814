#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: tessera-keygen makes a
# key of every type, prints fingerprints and randomart, and OpenSSH's own
# ssh-keygen reads what tessera wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null

KEYGEN=$PWD/build/bin/tessera-keygen
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

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
