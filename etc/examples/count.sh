#!/bin/sh
# Example command job: counts to N (payload {"to": N}), one step a second, writing progress
# and a checkpoint to fd 3 (DROVER_STATUS_FD) so a later attempt resumes where this one stopped.
to=$(sed -n 's/.*"to"[^0-9]*\([0-9]*\).*/\1/p')
[ -n "$to" ] || to=10
i=0
if [ -n "$DROVER_CHECKPOINT" ]; then
  i=$(printf '%s' "$DROVER_CHECKPOINT" | sed -n 's/.*"i"[^0-9]*\([0-9]*\).*/\1/p')
  echo "resuming at $i" >&2
fi
while [ "$i" -lt "$to" ]; do
  i=$((i + 1))
  sleep 1
  printf '{"progress": %s, "message": "step %s/%s", "checkpoint": {"i": %s}}\n' \
    "$(awk "BEGIN{print $i/$to}")" "$i" "$to" "$i" >&3
done
echo "{\"counted\": $to}"
