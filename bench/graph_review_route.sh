#!/usr/bin/env bash
# process: graph with a review route, on the embedded model, offline: the shipped inbox crew in a copy of the
# project with `process: graph` and `- {when: "confidence < THRESHOLD", goto: review}` after transform; a plain
# run (inside `unshare -n` when it can), then `review --export`, every row marked accept, `review --import`, and
# the target's row counts. Prints the run's summary, the routes `show --json` counts and the import's line.
# Usage: bench/graph_review_route.sh [THRESHOLD (0.8)] [WORK_DIR (a new temp dir)]
# Needs the default model's weights (`python main.py models pull`; ETLCREW_MODEL_CACHE points at them). ~13 min.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threshold="${1:-0.8}"
work="${2:-$(mktemp -d)}"
mkdir -p "$work"
(cd "$root" && git archive HEAD config data | tar -x -C "$work")
python - "$work/config/crews.yaml" "$threshold" <<'PY'
import sys
from pathlib import Path
path, threshold = Path(sys.argv[1]), sys.argv[2]
text = path.read_text()
old = "  process: sequential\n"
if old not in text:
    sys.exit(f"{path}: '{old.strip()}' not found; the shipped crew changed")
route = f'  process: graph\n  routes:\n    transform:\n      - {{when: "confidence < {threshold}", goto: review}}\n'
path.write_text(text.replace(old, route, 1))
PY
export ETLCREW_PROJECT_DIR="$work" ETLCREW_HOME="$work/state" ETLCREW_OUTPUT_DIR="$work/out"
cli() { python "$root/main.py" "$@"; }
offline() { if unshare -n true 2>/dev/null; then unshare -n sh -c 'ip link set lo up && "$@"' sh "$@"; else "$@"; fi; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
offline python "$root/main.py" run > "$work/run.txt" 2>&1 || true
grep -E "^run |items:|model:" "$work/run.txt"
cli show --json > "$work/show.json"
python - "$work/show.json" <<'PY'
import json, sys
shown = json.load(open(sys.argv[1]))
print("routes:", shown.get("routes"), "status:", shown.get("status"))
PY
cli review --export "$work/held.csv"
python - "$work/held.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8", newline="")))
for row in rows:
    row["decision"] = "accept"
if rows:
    with open(sys.argv[1], "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
print(f"{len(rows)} held rows marked accept")
PY
cli review --import "$work/held.csv" --reviewer bench
python - "$work/out/support_inbox.duckdb" <<'PY'
import sys
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as con:
    rows, items = con.execute("SELECT count(*), count(DISTINCT item_id) FROM etlcrew.tickets").fetchone()
    held = con.execute("SELECT count(*) FROM etlcrew.tickets__review").fetchone()[0]
print(f"table: {rows} rows, {items} items; review table: {held} rows")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); work dir: $work"
