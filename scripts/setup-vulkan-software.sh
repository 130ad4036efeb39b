#!/usr/bin/env bash
# A software Vulkan driver for the webgpu backend on a machine without a GPU: Mesa's lavapipe, which
# runs the GPU code path on the CPU (correctness checks, not speed). Debian 12's own Mesa (22.3) is
# refused by Dawn ("shaderUniform*ArrayDynamicIndexing required"); Mesa 25 from bookworm-backports
# works. Its package is extracted into a private directory, not installed: an install would upgrade
# the system's Mesa packages.
#
#   eval "$(bash scripts/setup-vulkan-software.sh)"
#
# The Vulkan loader and lavapipe's libraries are apt-installed where missing (as root, or through
# sudo); the driver itself goes into the user's directory, downloaded without root.
# Progress goes to stderr; stdout is the one line to evaluate, which points the Vulkan loader at the
# driver (VK_ICD_FILENAMES). Idempotent: a second run reuses what the first extracted.
# FDM_BENCH_VULKAN_DIR chooses the directory (default ~/.cache/fdm-bench/lavapipe).
set -euo pipefail

dir="${FDM_BENCH_VULKAN_DIR:-$HOME/.cache/fdm-bench/lavapipe}"
manifest="$dir/lvp_icd.json"
library="$dir/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
say() { echo "setup-vulkan-software: $*" >&2; }
as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "root is needed for: $*"; exit 1
  fi
}

if [[ "$(uname -m)" != x86_64 ]]; then
  say "only x86_64 is scripted here (found $(uname -m))"
  exit 1
fi

# Dawn opens the Vulkan loader, libvulkan.so.1, from Debian 12 (libvulkan1); lavapipe links LLVM 15
# and a few X/Wayland client libraries, all in Debian 12 (the versions it names are satisfied in practice).
needed=(libvulkan1 libllvm15 libdrm2 libelf1 libexpat1 libwayland-client0 libx11-xcb1 libxcb-dri3-0
  libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb1 libxshmfence1 libzstd1 zlib1g)
missing=()
for pkg in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if [[ ! -f "$library" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$dir"
  cat >"$work/backports.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_private=(-o "Dir::Etc::SourceList=$work/backports.sources" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=$(id -un)")
  say "downloading mesa-vulkan-drivers from bookworm-backports"
  apt-get "${apt_private[@]}" update -q >&2
  (cd "$work" && apt-get "${apt_private[@]}" download mesa-vulkan-drivers >&2)
  dpkg-deb -x "$work"/mesa-vulkan-drivers_*.deb "$dir/root"
fi

# The package's manifest names the library without a path (for the system directory); point it here.
version="$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$dir/root/usr/share/vulkan/icd.d/lvp_icd.json")"
cat >"$manifest" <<EOF
{
    "file_format_version": "1.0.0",
    "ICD": { "library_path": "$library", "api_version": "$version" }
}
EOF
missing_libs="$(ldd "$library" | grep 'not found' || true)"
if [[ -n "$missing_libs" ]]; then
  say "lavapipe cannot load: $missing_libs"
  exit 1
fi
say "lavapipe (Vulkan $version) ready: $manifest"
echo "export VK_ICD_FILENAMES=$manifest"
