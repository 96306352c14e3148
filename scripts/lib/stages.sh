# Stage timing for the test and CI scripts (sourced, not run). Every stage's wall time is
# appended to one log for the whole run, nested scripts included, and the script that started the
# log prints it as a table when it exits, failed or not:
#
#   stage NAME COMMAND...             runs COMMAND in the foreground
#   stage_background NAME COMMAND...  starts COMMAND beside the next stages; its output is kept
#                                     and shown by `stage_join NAME`, which waits for it and
#                                     fails as it failed
#
# COMMAND is a program or script, not a shell function (errexit does not reach into a function
# whose status is tested). The table shows each stage's budget from .ci/stage-budget.tsv (seconds
# per stage name) and its share of the run's wall time; a stage that took more than twice its
# budget, or that has no budget, gets a warning under the table (never a failure: machines are
# noisy). The log is $OUTPOST_STAGE_LOG (tab-separated: stage, start and end in
# seconds since the run's start, exit status, nesting depth); the run's start is
# $OUTPOST_STAGE_T0. Both are exported by the outermost script so that the scripts it calls add
# their stages to its table, indented under the stage that called them.

if [[ -z "${OUTPOST_STAGE_LOG:-}" ]]; then
  OUTPOST_STAGE_LOG="$(mktemp -t outpost-stages.XXXXXX)"
  OUTPOST_STAGE_T0="$(date +%s.%N)"
  export OUTPOST_STAGE_LOG OUTPOST_STAGE_T0
  _stage_owner=1
else
  _stage_owner=0
fi
_stage_output_dir="$(mktemp -d -t outpost-stage-output.XXXXXX)"
declare -A _stage_pids=() _stage_outputs=()

_stage_now() {
  awk -v t0="$OUTPOST_STAGE_T0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - t0 }'
}

stage() {
  local name="$1" start status=0 depth="${OUTPOST_STAGE_DEPTH:-0}"
  shift
  start="$(_stage_now)"
  echo "==> $name"
  OUTPOST_STAGE_DEPTH=$((depth + 1)) "$@" || status=$?
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$start" "$(_stage_now)" "$status" "$depth" \
    >>"$OUTPOST_STAGE_LOG"
  return "$status"
}

stage_background() {
  local name="$1"
  shift
  _stage_outputs[$name]="$_stage_output_dir/${#_stage_outputs[@]}.out"
  (stage "$name" "$@") >"${_stage_outputs[$name]}" 2>&1 &
  _stage_pids[$name]=$!
}

stage_join() {
  local name="$1" status=0
  wait "${_stage_pids[$name]}" || status=$?
  unset '_stage_pids[$name]'
  _stage_show_output "$name"
  return "$status"
}

_stage_show_output() {
  local name="$1"
  while IFS= read -r line; do
    printf '[%s] %s\n' "$name" "$line"
  done <"${_stage_outputs[$name]}"
}

_stage_budget_file="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.ci/stage-budget.tsv"

stage_table() {
  local budget="$_stage_budget_file"
  [[ -f $budget ]] || budget=/dev/null
  sort -t $'\t' -k2,2n -k5,5n "$OUTPOST_STAGE_LOG" | awk -F '\t' -v total="$(_stage_now)" -v budget_file="$budget" '
    BEGIN {
      while ((getline line < budget_file) > 0) {
        if (line ~ /^#/ || line !~ /\t/) continue
        split(line, field, "\t")
        budget[field[1]] = field[2]
      }
      printf "\n%-40s %8s %8s %8s %8s %7s %9s  %s\n", "stage (nested stages indented)", "start s", "end s",
        "wall s", "budget s", "share", "of budget", "result"
    }
    {
      wall = $3 - $2
      name = sprintf("%" (2 * $5) "s%s", "", $1)
      share = sprintf("%.1f%%", (total > 0 ? 100 * wall / total : 0))
      if ($1 in budget) {
        of_budget = sprintf("%.2f", wall / budget[$1])
        if (wall > 2 * budget[$1])
          warnings[++n] = sprintf("warning: stage \"%s\" took %.0f s, more than twice its budget of %d s (.ci/stage-budget.tsv)", $1, wall, budget[$1])
        printf "%-40s %8.1f %8.1f %8.1f %8d %7s %9s  %s\n", name, $2, $3, wall, budget[$1], share, of_budget, ($4 == 0 ? "ok" : "failed (" $4 ")")
      } else {
        warnings[++n] = sprintf("warning: stage \"%s\" has no budget in .ci/stage-budget.tsv", $1)
        printf "%-40s %8.1f %8.1f %8.1f %8s %7s %9s  %s\n", name, $2, $3, wall, "-", share, "-", ($4 == 0 ? "ok" : "failed (" $4 ")")
      }
    }
    END {
      if ("total" in budget)
        printf "%-40s %8s %8.1f %8.1f %8d %7s %9.2f\n", "total", "", total, total, budget["total"], "100%", total / budget["total"]
      else
        printf "%-40s %8s %8.1f %8.1f\n", "total", "", total, total
      if ("total" in budget && total > budget["total"])
        warnings[++n] = sprintf("warning: the run took %.0f s, over its budget of %d s (.ci/stage-budget.tsv)", total, budget["total"])
      for (i = 1; i <= n; i++) print warnings[i]
    }
  '
}

_stage_kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do
    _stage_kill_tree "$child"
  done
  kill "$1" 2>/dev/null || true
}

_stage_exit() {
  local status=$?
  local name
  # Stages still in the background when the script ends (a foreground stage failed): stop them
  # and show what they printed.
  for name in "${!_stage_pids[@]}"; do
    _stage_kill_tree "${_stage_pids[$name]}"
    wait "${_stage_pids[$name]}" 2>/dev/null || true
    echo "stopped unfinished background stage: $name"
    _stage_show_output "$name"
  done
  rm -rf "$_stage_output_dir"
  if [[ $_stage_owner == 1 ]]; then
    stage_table
    rm -f "$OUTPOST_STAGE_LOG"
  fi
  return "$status"
}
trap _stage_exit EXIT
