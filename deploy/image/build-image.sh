#!/bin/bash
# Builds hsw's container image from built binaries, with no registry and no
# base image: FROM scratch, holding the four binaries, the shared libraries
# they link (as ldd resolves them on this machine) and the dynamic loader.
#
#   deploy/image/build-image.sh [--build DIR] [--tag TAG] [--datapath BIN]
#
#   --build DIR     where the binaries are (DIR/bin; default build)
#   --tag TAG       the image name (default localhost/hsw:VERSION)
#   --datapath BIN  put BIN in the image as hsw-datapath (a test builds the
#                   "next" image of a rolling update with hsw-datapath-next)
#
# PODMAN names the podman command and its global options (default podman);
# the e2e tests give it a private store: PODMAN="podman --root R --runroot RR".
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build
tag=""
datapath=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --datapath) datapath=$2; shift 2 ;;
    *) echo "build-image: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
read -r -a podman <<< "${PODMAN:-podman}"

bins=(hsw-datapath hsw-vswitchd hsw-ctl hsw-sidecar)
for b in "${bins[@]}"; do
  if [ ! -x "$build/bin/$b" ]; then
    echo "build-image: $build/bin/$b is missing (build first: scripts/build.sh)" >&2
    exit 1
  fi
done
if [ -n "$datapath" ] && [ ! -x "$datapath" ]; then
  echo "build-image: --datapath $datapath is not an executable file" >&2
  exit 1
fi
version=$("$build/bin/hsw-ctl" --version | awk '{print $NF}')
tag=${tag:-localhost/hsw:$version}

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
root=$context/rootfs
mkdir -p "$root/usr/bin" "$root/run/hsw" "$root/var/lib/hsw" "$root/var/log/hsw" \
  "$root/etc/hsw" "$root/tmp"
chmod 1777 "$root/tmp"
for b in "${bins[@]}"; do cp "$build/bin/$b" "$root/usr/bin/$b"; done
[ -z "$datapath" ] || cp "$datapath" "$root/usr/bin/hsw-datapath"
# Debug info stays in the build tree: the image carries the code only.
strip --strip-debug "$root"/usr/bin/*

# Every library ldd resolves, and the loader, at the paths the binaries ask
# for (cp --parents keeps /lib/x86_64-linux-gnu/...; -L copies the file a
# symlink names under the symlink's name).
libs=$(for b in "$root"/usr/bin/*; do ldd "$b"; done |
       awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
for lib in $libs; do cp -L --parents "$lib" "$root"; done

cat > "$context/Containerfile" <<CONTAINERFILE
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin
LABEL org.opencontainers.image.title="hsw" org.opencontainers.image.version="$version"
CMD ["/usr/bin/hsw-sidecar"]
CONTAINERFILE
"${podman[@]}" build --quiet --tag "$tag" "$context" >/dev/null
size=$(du -sh "$root" | cut -f1)
echo "build-image: $tag ($size: ${bins[*]}, $(echo "$libs" | wc -l) libraries)"
