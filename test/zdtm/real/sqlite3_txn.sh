#!/bin/bash
# The sqlite3 shell inside an open write transaction on a database file: 1000 rows inserted and
# not committed, the file locked and its rollback journal open. Checkpointed and restored in the
# middle; on SIGTERM the same sqlite3 process commits, counts, and another sqlite3 reads the file.
for a; do
	case $a in
	--pidfile=*) PIDFILE=${a#*=} ;;
	--outfile=*) OUTFILE=${a#*=} ;;
	esac
done
exec >>"$OUTFILE" 2>&1 </dev/null

if ! command -v sqlite3 >/dev/null; then
	echo "FAIL: sqlite3 is not installed (scripts/install-deps.sh)"
	exit 1
fi
DB=$PWD/txn.db
rm -f "$DB" "$DB-journal"
sqlite3 "$DB" 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (0, "before");'

coproc SQL { exec sqlite3 -batch "$DB"; }
# ask QUERY: one answer line back from the running sqlite3
ask() {
	local line
	echo "$1" >&"${SQL[1]}"
	read -r -t 20 line <&"${SQL[0]}" || { echo "FAIL: no answer from sqlite3 to '$1'"; exit 1; }
	echo "$line"
}
echo "BEGIN IMMEDIATE;" >&"${SQL[1]}"
for i in $(seq 1 1000); do
	echo "INSERT INTO t VALUES ($i, 'row $i');"
done >&"${SQL[1]}"
[ "$(ask 'SELECT count(*) FROM t;')" = 1001 ] || { echo "FAIL: the transaction does not see its rows"; exit 1; }
[ -e "$DB-journal" ] || { echo "FAIL: no rollback journal while the transaction is open"; exit 1; }
outside=$(sqlite3 "$DB" 'SELECT count(*) FROM t;' 2>&1)
[ "$outside" = 1 ] || { echo "FAIL: another reader sees '$outside' before commit"; exit 1; }

term=0
trap 'term=1' TERM
echo $$ >"$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"
while [ $term = 0 ]; do sleep 0.05; done

ok=1
[ "$(ask 'SELECT count(*) FROM t;')" = 1001 ] || { echo "FAIL: rows lost inside the transaction"; ok=0; }
echo "COMMIT;" >&"${SQL[1]}"
[ "$(ask 'SELECT v FROM t WHERE id = 777;')" = "row 777" ] || { echo "FAIL: row 777 after commit"; ok=0; }
echo ".quit" >&"${SQL[1]}"
wait "$SQL_PID"
after=$(sqlite3 "$DB" 'SELECT count(*) FROM t; PRAGMA integrity_check;' | tr '\n' ' ')
[ "$after" = "1001 ok " ] || { echo "FAIL: the file after commit says '$after'"; ok=0; }
[ -e "$DB-journal" ] && { echo "FAIL: the journal is still there"; ok=0; }
rm -f "$DB"
[ $ok = 1 ] && echo PASS
