#!/bin/sh
# A live demo: svscan on a small scan directory (a clock service whose output
# goes to multilog, and a flaky service that keeps dying), with svstat and the
# newest log lines refreshed every second.  Ctrl-C stops everything it started.
set -e
cd "$(dirname "$0")"
. tools/bootstrap.sh
PATH=$PWD/.venv/bin:$PATH
export PATH
demo=$(mktemp -d /tmp/svtools-demo.XXXXXX)

mkdir -p "$demo/clock/log" "$demo/flaky"
cat > "$demo/clock/run" <<'RUN'
#!/bin/sh
exec 2>&1
echo "clock starting"
while :; do date '+tick %H:%M:%S'; sleep 1; done
RUN
cat > "$demo/clock/log/run" <<'RUN'
#!/bin/sh
exec multilog t s4096 n3 ./main
RUN
cat > "$demo/flaky/run" <<'RUN'
#!/bin/sh
sleep 3
exit 1
RUN
chmod +x "$demo/clock/run" "$demo/clock/log/run" "$demo/flaky/run"

svscan "$demo" &
scan=$!
stop() {
    trap - INT TERM EXIT
    svc -dx "$demo"/* "$demo"/*/log 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10; do
        svok "$demo/clock" || svok "$demo/flaky" || svok "$demo/clock/log" || break
        sleep 0.2
    done
    kill "$scan" 2>/dev/null || true
    wait "$scan" 2>/dev/null || true
    rm -rf "$demo"
    echo
    echo "demo stopped; scan directory removed."
    exit 0
}
trap stop INT TERM EXIT
# Let svscan start the supervises before the first screen (at most 5 s).
for i in $(seq 50); do
    svok "$demo/clock" && svok "$demo/flaky" && svok "$demo/clock/log" && break
    sleep 0.1
done
while :; do
    if ! kill -0 "$scan" 2>/dev/null; then
        echo "svscan is gone; stopping the demo." >&2
        stop
    fi
    clear 2>/dev/null || printf '\n\n'
    echo "svtools demo: svscan $demo   (Ctrl-C to stop)"
    echo "try in another terminal (copy and paste):"
    echo "    $PWD/.venv/bin/svc -d $demo/clock"
    echo "    $PWD/.venv/bin/svc -u $demo/clock"
    echo "    $PWD/.venv/bin/svc -k $demo/flaky"
    echo "    $PWD/.venv/bin/svctl -d $demo tail -f clock"
    echo
    svstat "$demo"/* "$demo"/*/log
    echo
    svctl -d "$demo" status || true
    echo
    echo "last lines of $demo/clock/log/main/current:"
    tail -n 5 "$demo/clock/log/main/current" 2>/dev/null | tai64nlocal || true
    sleep 1
done
