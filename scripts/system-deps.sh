#!/usr/bin/env bash
# Debian packages the tests need: SoftHSM2 (the PKCS#11 KEK provider) and PostgreSQL (the storage tests).
# Idempotent; runs as root (as on CI and the developers' machines), or through sudo when available.
set -euo pipefail
PKGS=(softhsm2 opensc postgresql)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
