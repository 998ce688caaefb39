#!/usr/bin/env bash
# Deploys the Waypost app to one region's Fermyon environment:
#
#   SPIN_VARIABLE_IDENTITY_SECRET=... SPIN_VARIABLE_ADMIN_TOKEN=... infra/fermyon/deploy.sh eu
#
# Every variable spin.toml declares `required = true` or `secret = true` must be set in the
# environment as SPIN_VARIABLE_<NAME> (Spin's own convention); the script names each one
# missing and stops before running anything. DRY_RUN=1 prints the commands (secret values
# masked) instead of running them. See README.md beside this file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
manifest="${WAYPOST_MANIFEST:-$root/spin.toml}"

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || die "usage: deploy.sh <region>   (a directory of infra/regions/, not local)"
region="$1"
gateway="$root/infra/regions/$region/gateway.toml"
# `local` is the demo: its secrets are public (infra/regions/local/runtime-config.toml).
[[ "$region" != local ]] || die "local is the demo region, never deployed"
[[ "$region" =~ ^[a-z][a-z0-9-]*$ && -f "$gateway" ]] ||
  die "unknown region '$region': no infra/regions/$region/gateway.toml"
# The config document pushed to this deployment must be the region's own.
doc_region="$(awk '/^\[/ { in_region = ($1 == "[region]") }
  in_region && $1 == "id" { gsub(/"/, "", $3); print $3; exit }' "$gateway")"
[[ "$doc_region" == "$region" ]] || die "$gateway says [region] id = '$doc_region', not '$region'"

# The variables a deployment must supply, read from spin.toml's [variables] table each run
# (components add variables as they land): one `name = { ... }` line each. Strings and
# comments are blanked first, so a default or a comment that reads "secret = true" is not.
secret_variables() {
  awk '/^[[:space:]]*\[/ { in_vars = ($0 ~ /^[[:space:]]*\[variables\][[:space:]]*(#.*)?$/); next }
    in_vars && /^[a-z][a-z0-9_]*[[:space:]]*=[[:space:]]*\{/ {
      line = $0
      gsub(/"([^"\\]|\\.)*"|\047[^\047]*\047/, "\"\"", line)
      sub(/#.*/, "", line)
      if (line ~ /[{,][[:space:]]*(required|secret)[[:space:]]*=[[:space:]]*true/) {
        sub(/[[:space:]]*=.*/, "", line)
        print line
      }
    }' "$manifest"
}

# Plain (non-secret) values this deployment sets.
args=(--variable "region=$region" --variable "seed_demo_config=false")
shown=("${args[@]}")
missing=()
for name in $(secret_variables); do
  env_name="SPIN_VARIABLE_${name^^}"
  if [[ -z "${!env_name:-}" ]]; then
    missing+=("  $env_name (spin.toml variable $name)")
  else
    args+=(--variable "$name=${!env_name}")
    shown+=(--variable "$name=***")
  fi
done
if ((${#missing[@]})); then
  printf 'deploy.sh: region %s: these secret variables are not set in the environment:\n' "$region" >&2
  printf '%s\n' "${missing[@]}" >&2
  exit 1
fi

# Each region is its own Fermyon environment, saved once with
# `spin cloud login --environment-name waypost-<region> --url <that region's instance>`.
build=(spin build --from "$manifest")
deploy=(spin cloud deploy --from "$manifest" --environment-name "waypost-$region")
if [[ "${DRY_RUN:-}" == 1 ]]; then
  echo "${build[*]}"
  echo "${deploy[*]} ${shown[*]}"
  exit 0
fi
"${build[@]}"
"${deploy[@]}" "${args[@]}"
