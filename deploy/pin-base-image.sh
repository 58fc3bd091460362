#!/bin/sh
# Pins the images' base by digest: resolves BASE_IMAGE of deploy/Dockerfile.api
# (a dated tag such as debian:trixie-20251117-slim) to the digest the registry
# serves for it now, and writes tag@sha256:<digest> into the ARG BASE_IMAGE
# line of both Dockerfiles. Run it from the repository root on a machine with
# Docker buildx and registry access, review the diff, commit.
#
#   sh deploy/pin-base-image.sh            # pin the current tag
#   sh deploy/pin-base-image.sh debian:trixie-20260105-slim   # move to a new tag
#
# tests/deploy/check_deploy.sh checks that both Dockerfiles name the same
# base, with a dated tag, and that a digest, when present, is well formed.
set -eu

files="deploy/Dockerfile.api deploy/Dockerfile.worker"
current=$(sed -n 's/^ARG BASE_IMAGE=//p' deploy/Dockerfile.api)
tag=${1:-${current%%@*}}
[ -n "$tag" ] || { echo "pin-base-image: no ARG BASE_IMAGE= line in deploy/Dockerfile.api" >&2; exit 1; }

digest=$(docker buildx imagetools inspect "$tag" | awk '$1 == "Digest:" { print $2; exit }')
case $digest in
sha256:????????????????????????????????????????????????????????????????) ;;
*) echo "pin-base-image: no digest for $tag (got '$digest')" >&2; exit 1 ;;
esac

for f in $files; do
	sed -i "s|^ARG BASE_IMAGE=.*|ARG BASE_IMAGE=$tag@$digest|" "$f"
done
echo "pinned $tag@$digest in $files"
