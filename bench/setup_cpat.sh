#!/usr/bin/env bash
# Install what the CPAT side of the benchmark needs, idempotently:
#   * R (Debian's r-base-core), because CPAT 3.0.5 scores ORFs by calling `Rscript`;
#   * a virtualenv of its own, var/bench/cpat-venv (git-ignored), holding cpat==3.0.5.
# The venv is installed from bench/cpat-requirements.lock when that file exists; after a fresh
# install without it, the lock is written from `pip freeze`. Either way the venv's freeze is
# compared with the lock afterwards, and a difference is an error.
#
# Usage: bash bench/setup_cpat.sh          (from anywhere; the repo root is found from this file)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${BENCH_DIR}/.." && pwd)"
VENV="${REPO_ROOT}/var/bench/cpat-venv"
LOCK="${BENCH_DIR}/cpat-requirements.lock"
CPAT_VERSION="3.0.5"
PYTHON="${CPAT_PYTHON:-python3}"

log() { printf '[setup_cpat] %s\n' "$*" >&2; }

# --- R ------------------------------------------------------------------------------------------
if command -v Rscript >/dev/null 2>&1; then
  log "Rscript found: $(command -v Rscript)"
else
  log "Rscript missing: installing r-base-core with apt-get"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  ${SUDO} apt-get update
  ${SUDO} apt-get install -y --no-install-recommends r-base-core
  command -v Rscript >/dev/null 2>&1 || { log "Rscript still missing after install"; exit 1; }
fi

# --- virtualenv with CPAT -----------------------------------------------------------------------
if [ ! -x "${VENV}/bin/python" ]; then
  log "creating ${VENV}"
  mkdir -p "$(dirname "${VENV}")"
  "${PYTHON}" -m venv "${VENV}"
fi
PIP=("${VENV}/bin/python" -m pip)

if [ -f "${LOCK}" ]; then
  log "installing from ${LOCK}"
  "${PIP[@]}" install --quiet -r "${LOCK}"
else
  log "no lock yet: installing cpat==${CPAT_VERSION}"
  "${PIP[@]}" install --quiet "cpat==${CPAT_VERSION}"
fi

FREEZE="$(mktemp)"
trap 'rm -f "${FREEZE}"' EXIT
"${PIP[@]}" freeze --all --exclude pip --exclude setuptools --exclude wheel | LC_ALL=C sort -f >"${FREEZE}"
if [ -f "${LOCK}" ]; then
  if ! diff -u "${LOCK}" "${FREEZE}" >&2; then
    log "the venv differs from ${LOCK} (diff above); remove ${VENV} and rerun, or update the lock"
    exit 1
  fi
  log "venv matches ${LOCK}"
else
  cp "${FREEZE}" "${LOCK}"
  log "wrote ${LOCK}"
fi

# --- smoke check --------------------------------------------------------------------------------
"${VENV}/bin/cpat" --help >/dev/null
log "ok: $("${VENV}/bin/python" -c 'import importlib.metadata as m; print("cpat", m.version("cpat"))'), $(Rscript --version 2>&1 | head -n1)"
