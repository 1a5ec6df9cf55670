#!/usr/bin/env bash
# Every sweep behind docs/results/ (docs/experiments.md, "Reproducing the paper's comparisons").
# Resumable: run it again after an interruption. Budgets are fractions of the paper's epochs: small
# enough for a 2-core machine in about two hours, larger where the curves only start to move at
# the small one (Warehouse, Battle-80); see docs/experiments.md. Override with e.g.
#   B_OPS=1 B_OPS_W4=1 B_SOTA_SMALL=1 B_SOTA_W4=1 B_SOTA_LARGE=1 B_SOTA_W16=1 B_SOTA_B80=1 B_ASSIGN=1 B_ASSIGN_W16=1 \
#   B_ASSIGN_B80=1 B_ASSIGN_GS=1 \
#     SEEDS=30 bash docs/results/reproduce.sh        (the paper's full protocol)
# A larger budget after a smaller one extends the finished runs instead of training them again.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${SEEDS:-5}
B_OPS=${B_OPS:-0.1}
B_OPS_W4=${B_OPS_W4:-0.4}
B_SOTA_SMALL=${B_SOTA_SMALL:-0.1}
B_SOTA_W4=${B_SOTA_W4:-0.4}
B_SOTA_LARGE=${B_SOTA_LARGE:-0.05}
B_SOTA_W16=${B_SOTA_W16:-0.2}
B_SOTA_B80=${B_SOTA_B80:-0.15}
B_ASSIGN=${B_ASSIGN:-0.05}
B_ASSIGN_W16=${B_ASSIGN_W16:-0.2}
B_ASSIGN_B80=${B_ASSIGN_B80:-0.15}
B_ASSIGN_GS=${B_ASSIGN_GS:-0.05}
JOBS=${JOBS:-0}   # 0: one run per core
OUT=docs/results
run() { vast experiment --seeds "$SEEDS" --jobs "$JOBS" "$@"; }

# Fig. 3: operators (VAST-{IL,VDN,QMIX,QTRAN}, eta 1/2) on W-4, B-20, GS-200; Warehouse-4 for longer
run --preset paper-operators --budget "$B_OPS" --out "$OUT/operators"
run --preset paper-operators --env warehouse-4 --budget "$B_OPS_W4" --out "$OUT/operators"
# Fig. 4: VAST eta 1/4, 1/2 vs QMIX, QTRAN, IL; small and large environments (different budgets)
run --preset paper-sota --env warehouse-4,battle-20,gaussian-squeeze-200 --budget "$B_SOTA_SMALL" --out "$OUT/sota"
run --preset paper-sota --env warehouse-4 --budget "$B_SOTA_W4" --out "$OUT/sota"
run --preset paper-sota --env warehouse-16,battle-80,gaussian-squeeze-800 --budget "$B_SOTA_LARGE" --out "$OUT/sota"
run --preset paper-sota --env warehouse-16 --budget "$B_SOTA_W16" --out "$OUT/sota"
run --preset paper-sota --env battle-80 --budget "$B_SOTA_B80" --out "$OUT/sota"
# GS-800 with the opt-in return normalisation (the faithful runs above stay at 0): its own run directories
run --preset paper-sota --env gaussian-squeeze-800 --budget "$B_SOTA_LARGE" --set algo.return_norm=batch --out "$OUT/sota"
# Fig. 5: assignment strategies (+ best baseline) on W-16, B-80, GS-800
run --preset paper-assignment --budget "$B_ASSIGN" --out "$OUT/assignment"
run --preset paper-assignment --env warehouse-16 --budget "$B_ASSIGN_W16" --out "$OUT/assignment"
# Battle-80 for longer, and GaussianSqueeze-800 with the opt-in return normalisation: sweeps of their own
run --preset paper-assignment --env battle-80 --budget "$B_ASSIGN_B80" --out "$OUT/assignment-battle-80"
run --preset paper-assignment --env gaussian-squeeze-800 --budget "$B_ASSIGN_GS" --set algo.return_norm=batch \
  --out "$OUT/assignment-gs800-return-norm"

vast plot "$OUT/operators"
vast plot "$OUT/sota"
vast plot "$OUT/sota" --mode D --out "$OUT/sota/diversity"
vast plot "$OUT/assignment"
vast plot "$OUT/assignment-battle-80"
vast plot "$OUT/assignment-gs800-return-norm"
# Fig. 6: sub-team snapshots of MetaGrad and Spatial on Warehouse-16 and Battle-80 (sampled sub-teams,
# as training draws them), a greedy episode as a GIF, and the division diversity of these runs (mode D)
for env in warehouse-16 battle-80; do
  for assign in metagrad spatial; do
    vast train --serial --env "$env" --algo vast --assign "$assign" --eta 0.25 --updates 600 \
      --learner.keep_every 60 --run-dir "$OUT/subteams/runs" --run-name "$env-$assign" --no-progress
    vast evaluate "$OUT/subteams/runs/$env-$assign" --subteams "$OUT/subteams/$env-$assign.png"
  done
done
vast evaluate "$OUT/subteams/runs/warehouse-16-spatial" --render "$OUT/subteams/warehouse-16-spatial.gif" --greedy
vast evaluate "$OUT/subteams/runs/battle-80-metagrad" --render "$OUT/subteams/battle-80-metagrad.gif" --greedy
vast plot "$OUT/subteams/runs" --mode D --out "$OUT/subteams"
