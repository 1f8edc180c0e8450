#!/bin/bash
# A bash interpreter in a loop that forks a sleep each round, holding variables, an array and a
# function: on SIGTERM it recomputes them and checks the loop went on.
for a; do
	case $a in
	--pidfile=*) PIDFILE=${a#*=} ;;
	--outfile=*) OUTFILE=${a#*=} ;;
	esac
done
exec >>"$OUTFILE" 2>&1 </dev/null

square_mod() { echo $(($1 * $1 % 9973)); }
declare -a arr
for i in $(seq 1 500); do arr[i]=$(square_mod "$i"); done
sum() { local s=0 v; for v in "${arr[@]}"; do s=$((s + v)); done; echo $s; }
sum0=$(sum)
text="zdtm bash state: ${#arr[@]} entries, sum $sum0"
term=0
trap 'term=1' TERM
count=0

echo $$ >"$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"
while [ $term = 0 ]; do
	count=$((count + 1))
	sleep 0.05 &
	wait $! 2>/dev/null
done

ok=1
[ "$(sum)" = "$sum0" ] || { echo "FAIL: array sum $(sum), was $sum0"; ok=0; }
[ "$text" = "zdtm bash state: 500 entries, sum $sum0" ] || { echo "FAIL: text is '$text'"; ok=0; }
[ "${arr[77]}" = "$(square_mod 77)" ] || { echo "FAIL: arr[77] is ${arr[77]}"; ok=0; }
[ $count -gt 1 ] || { echo "FAIL: the loop ran $count times"; ok=0; }
echo "bash loop: $count rounds"
[ $ok = 1 ] && echo PASS
