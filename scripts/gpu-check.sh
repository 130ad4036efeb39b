#!/usr/bin/env bash
# What to run on a machine with a GPU (after `npm ci`): which WebGPU adapter Dawn finds, the webgpu
# parity tests (every task's loss and gradients against the cpu backend), then `bench` of every task
# at its paper preset on webgpu and on wasm. Writes one JSON (default gpu-check.json):
#
#   bash scripts/gpu-check.sh [out.json] [preset]
#
# (preset: paper by default; `ci` makes a quick dry run of the script, e.g. on the software driver.)
# Dawn finds the GPU through its Vulkan driver. NVIDIA's driver installs its manifest (nvidia_icd.json)
# under /usr/share/vulkan/icd.d or /etc/vulkan/icd.d; in a container that has the driver's libraries
# but not the manifest, point VK_ICD_FILENAMES at one (see README, "Training on a GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check.json}"
preset="${2:-paper}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

npx tsc -p . >/dev/null
# The adapter the webgpu backend opens, as environment.json records it.
node -e "
  const { initBackend } = require('./dist/src/backend/backend');
  initBackend('webgpu').then((info) => { console.log(JSON.stringify({ label: info.label, adapter: info.adapter })); process.exit(0); },
    (err) => { console.error(err.message); process.exit(1); });
" >"$work/adapter.json"
echo "adapter: $(cat "$work/adapter.json")"

FDM_BENCH_REQUIRE_WEBGPU=1 node --test --test-reporter=tap dist/test/webgpu.test.js >"$work/parity.tap" && parity=passed || parity=failed
grep -E '^ *# (cfm|fdm|adapter):|^ *not ok' "$work/parity.tap" || true
echo "parity tests: $parity"

tasks=$(node bin/run.js list --json | node -e "
  const { tasks } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  console.log(tasks.filter((t) => process.argv[1] in t.presets).map((t) => t.name).join(' '));" "$preset")
for backend in webgpu wasm; do
  for task in $tasks; do
    echo "bench $task --preset $preset --backend $backend"
    node bin/run.js bench "$task" --preset "$preset" --backend "$backend" --json >"$work/bench-$backend-$task.json" ||
      echo "{\"error\": \"bench $task on $backend failed\"}" >"$work/bench-$backend-$task.json"
  done
done

node - "$work" "$out" "$parity" "$preset" <<'EOF'
const fs = require('fs');
const path = require('path');
const [work, out, parity] = process.argv.slice(2, 5);
const read = (file) => JSON.parse(fs.readFileSync(path.join(work, file), 'utf8'));
const bench = {};
for (const file of fs.readdirSync(work).filter((f) => f.startsWith('bench-'))) {
  const [, backend, ...task] = path.basename(file, '.json').split('-');
  (bench[task.join('-')] ??= {})[backend] = read(file);
}
// The parity test's diagnostics: per task and method, the relative errors of the loss and gradients.
const diagnostics = fs.readFileSync(path.join(work, 'parity.tap'), 'utf8').split('\n').filter((l) => /^ *# (cfm|fdm):/.test(l)).map((l) => l.trim().slice(2));
const report = { date: new Date().toISOString(), preset: process.argv[5], webgpu: read('adapter.json'), parity: { tests: parity, diagnostics }, bench };
fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
console.log(`gpu-check: ${out}`);
EOF
