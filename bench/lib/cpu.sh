# Sourced by benches that split one wrk run's CPU by process: who spends what per request.
#
# On this 2-core machine wrk, the runtime and Bun share the cores, so a ratio against "direct" is
# bounded by how much CPU each side needs per request. `cpu_run` runs wrk once and reads, from
# /proc, the CPU time (user and kernel apart) of the processes named in CPU_GROUPS while it ran,
# and wrk's own (from /usr/bin/time). `cpu_row` prints it as microseconds per request.
#
# Usage:
#   CPU_GROUPS="runtime:$RT_PID hosts:$(pgrep -d, -P "$RT_PID") app:$BUN_PID"
#   cpu_run URL THREADS CONNS DURATION   # sets CPU_RPS and CPU_US_<group>_{usr,sys}, CPU_US_wrk
#   cpu_row LABEL                        # one line: req/s, then µs/request per group
#   cpu_total GROUP                      # µs/request of a group (user + kernel), or of wrk
#   cpu_bound DIRECT_US RUNTIME APP      # the ratio to a direct run costing DIRECT_US per request
#                                        # (wrk included) if RUNTIME's user time were zero

if [ ! -x /usr/bin/time ]; then
  echo "==> installing time (for wrk's own CPU)"
  (apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; })
fi

# utime+stime ticks of a comma-separated pid list: "usr sys".
cpu_ticks() {
  local usr=0 sys=0 pid fields
  for pid in ${1//,/ }; do
    # Fields 14/15 of /proc/PID/stat, after the ")" that ends the command name.
    fields=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    set -- $fields
    usr=$((usr + ${12})); sys=$((sys + ${13}))
  done
  echo "$usr $sys"
}

cpu_run() {
  local url=$1 threads=$2 conns=$3 duration=$4 hz group name out requests u0 s0 u1 s1
  local -A before=()
  hz=$(getconf CLK_TCK)
  for group in $CPU_GROUPS; do before[${group%%:*}]=$(cpu_ticks "${group#*:}"); done
  out=$(/usr/bin/time -f 'WRKCPU %U %S' wrk -t"$threads" -c"$conns" -d"$duration" "$url" 2>&1)
  CPU_RPS=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  requests=$(echo "$out" | awk '/requests in/ { print $1 }')
  CPU_ROW_GROUPS=""
  for group in $CPU_GROUPS; do
    name=${group%%:*}
    read -r u0 s0 <<<"${before[$name]}"
    read -r u1 s1 <<<"$(cpu_ticks "${group#*:}")"
    printf -v "CPU_US_${name}_usr" '%s' "$(awk -v t=$((u1 - u0)) -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
    printf -v "CPU_US_${name}_sys" '%s' "$(awk -v t=$((s1 - s0)) -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
    CPU_ROW_GROUPS+=" $name"
  done
  CPU_US_wrk=$(echo "$out" | awk -v n="$requests" '/WRKCPU/ { printf "%.1f", ($2 + $3) * 1e6 / n }')
}

cpu_row() {
  local label=$1 name usr sys
  printf '%-22s %8.0f req/s  wrk %5s' "$label" "$CPU_RPS" "$CPU_US_wrk"
  for name in $CPU_ROW_GROUPS; do
    usr="CPU_US_${name}_usr"; sys="CPU_US_${name}_sys"
    printf '  %s %s+%s' "$name" "${!usr}" "${!sys}"
  done
  echo "  (µs of CPU per request, user+kernel)"
}

cpu_total() {
  if [ "$1" = wrk ]; then echo "$CPU_US_wrk"; return; fi
  local usr="CPU_US_${1}_usr" sys="CPU_US_${1}_sys"
  awk -v u="${!usr}" -v s="${!sys}" 'BEGIN { print u + s }'
}

cpu_bound() {
  local sys="CPU_US_${2}_sys"
  awk -v d="$1" -v w="$CPU_US_wrk" -v k="${!sys}" -v a="$(cpu_total "$3")" 'BEGIN { printf "%.2f", d / (w + k + a) }'
}
