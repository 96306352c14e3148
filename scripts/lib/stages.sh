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
# whose status is tested). The log is $OUTPOST_STAGE_LOG (tab-separated: stage, start and end in
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

stage_table() {
  sort -t $'\t' -k2,2n -k5,5n "$OUTPOST_STAGE_LOG" | awk -F '\t' -v total="$(_stage_now)" '
    BEGIN { printf "\n%-40s %8s %8s %8s  %s\n", "stage (nested stages indented)", "start s", "end s", "wall s", "result" }
    {
      name = sprintf("%" (2 * $5) "s%s", "", $1)
      printf "%-40s %8.1f %8.1f %8.1f  %s\n", name, $2, $3, $3 - $2, ($4 == 0 ? "ok" : "failed (" $4 ")")
    }
    END { printf "%-40s %8s %8.1f %8.1f\n", "total", "", total, total }
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
