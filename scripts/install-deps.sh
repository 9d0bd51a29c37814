#!/usr/bin/env bash
# Installs, with apt-get, whatever tessera needs to build and test that this
# Debian 12 machine lacks. Safe to run again: it installs nothing when all is
# present. Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  g++ make cmake ninja-build pkg-config   # toolchain
  libssl-dev                               # OpenSSL 3 libcrypto
  libseccomp-dev                           # tessera-sshd's pre-auth sandbox (seccomp filter)
  libfido2-dev libcbor-dev                 # FIDO security keys (tessera's middleware; the test authenticator's CBOR)
  libgtest-dev libgmock-dev                # unit tests
  clang libclang-rt-14-dev                 # libFuzzer builds and clang sanitizer runtimes
  openssh-client openssh-server openssl    # interop peers: ssh, sshd, ssh-add, ssh-agent, ssh-keygen, openssl(1)
  softhsm2 opensc libp11-kit-dev p11-kit    # PKCS#11: SoftHSM2 tokens, pkcs11-tool, p11-kit
  libpcsclite-dev                          # smart card reader events (pcsc-lite), in the agent and the fault module
  pcscd vsmartcard-vpcd vsmartcard-vpicc python3-pycryptodome  # a virtual reader and card for the reader tests
  procps                                   # pkill, for the helper-kill test
  libpq-dev postgresql                     # tessera-keygen --ca-store (libpq); its tests start their own server
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "tessera: installing missing packages: ${missing[*]}" >&2
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    echo "tessera: missing packages (${missing[*]}) and not root: run this script as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
